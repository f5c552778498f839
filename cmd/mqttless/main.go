// Command mqttless runs the all-in-one broker: the proxy, the handlers and
// the embedded store in one process.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/mqttless/mqttless/infra/allinone"
	"github.com/mqttless/mqttless/infra/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := allinone.Main(ctx, os.Args[1:], os.Getenv, os.Stderr); err != nil {
		if !errors.Is(err, config.ErrUsage) {
			fmt.Fprintln(os.Stderr, "mqttless:", err)
		}
		os.Exit(2)
	}
}
