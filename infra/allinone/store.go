package allinone

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/boltstore"
	"github.com/mqttless/mqttless/infra/dynamo"
	"github.com/mqttless/mqttless/infra/memstore"
)

// openStore opens the store the configuration names and returns it with
// the function that closes it.
func openStore(cfg Config, log *slog.Logger) (session.Store, func() error, error) {
	switch cfg.Store {
	case "memory":
		return memstore.New(), func() error { return nil }, nil
	case "dynamo":
		return openDynamo(cfg, log)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("-data-dir %s: %w", cfg.DataDir, err)
	}
	path := filepath.Join(cfg.DataDir, "mqttless.db")
	st, err := boltstore.Open(path, boltstore.WithLockTimeout(2*time.Second), boltstore.WithGroupCommit())
	if err != nil {
		return nil, nil, fmt.Errorf("open the store in -data-dir %s (is another broker using it?): %w", cfg.DataDir, err)
	}
	return st, st.Close, nil
}

// openDynamo opens the DynamoDB store on cfg.Table, creating the table
// from template.yaml first when -create-table is set.
func openDynamo(cfg Config, log *slog.Logger) (session.Store, func() error, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	db, err := dynamo.NewClient(ctx)
	if err != nil {
		return nil, nil, err
	}
	if cfg.CreateTable {
		data, err := os.ReadFile(cfg.Template)
		if err != nil {
			return nil, nil, fmt.Errorf("-template: %w", err)
		}
		specs, err := dynamo.ParseTemplate(data)
		if err != nil {
			return nil, nil, err
		}
		created, err := dynamo.CreateTable(ctx, db, specs[0], cfg.Table)
		if err != nil {
			return nil, nil, fmt.Errorf("-create-table: %w", err)
		}
		if created {
			log.Info("created the DynamoDB table", "table", cfg.Table)
		}
	}
	return dynamo.New(db, cfg.Table, dynamo.WithLogger(log)), func() error { return nil }, nil
}
