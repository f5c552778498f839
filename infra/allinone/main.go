package allinone

import (
	"context"
	"io"
	"log/slog"
	"net/http"
)

// Main is the composition root of cmd/mqttless: it parses the
// configuration, starts the broker and runs it until ctx ends.
func Main(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	cfg, err := ParseConfig(args, getenv, stderr)
	if err != nil {
		return err
	}
	if cfg.DeliveryURL == DeliveryURLAutoECS {
		if cfg.DeliveryURL, err = ECSDeliveryURL(ctx, http.DefaultClient, getenv("ECS_CONTAINER_METADATA_URI_V4"), cfg.DeliveryAddr); err != nil {
			return err
		}
	}
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	var h slog.Handler = slog.NewTextHandler(stderr, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(stderr, opts)
	}
	b, err := Start(cfg, slog.New(h))
	if err != nil {
		return err
	}
	return b.Run(ctx)
}
