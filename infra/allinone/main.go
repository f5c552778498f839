package allinone

import (
	"context"
	"io"
	"net/http"

	"github.com/mqttless/mqttless/infra/config"
	"github.com/mqttless/mqttless/infra/gctune"
)

// Main is the composition root of cmd/mqttless: it parses the
// configuration, starts the broker and runs it until ctx ends.
func Main(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := config.Parse(args, getenv, stderr)
	if err != nil {
		return err
	}
	if cfg.Delivery.URL == config.DeliveryURLAutoECS {
		if cfg.Delivery.URL, err = ECSDeliveryURL(ctx, http.DefaultClient, getenv("ECS_CONTAINER_METADATA_URI_V4"), cfg.Delivery.Addr); err != nil {
			return err
		}
	}
	log := cfg.Log.NewLogger(stderr)
	switch {
	case getenv("GOGC") != "":
		log.Info("garbage collector: GOGC from the environment; -gc-headroom not applied", "GOGC", getenv("GOGC"))
	case cfg.Proxy.GCHeadroom > 0:
		defer gctune.Start(uint64(cfg.Proxy.GCHeadroom), log).Stop()
	}
	b, err := Start(cfg, log)
	if err != nil {
		return err
	}
	return b.Run(ctx)
}
