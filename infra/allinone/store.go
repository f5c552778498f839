package allinone

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/boltstore"
	"github.com/mqttless/mqttless/infra/config"
	"github.com/mqttless/mqttless/infra/dynamo"
	"github.com/mqttless/mqttless/infra/memstore"
)

// BoltFile is the name of the embedded store's file in -data-dir.
const BoltFile = "mqttless.db"

// storeLockTimeout is how long OpenStore waits for the file lock of the
// embedded store, which a running broker holds.
const storeLockTimeout = 2 * time.Second

// OpenStore opens the store cfg names (cfg.Kind, with cfg.DataDir or
// cfg.Table) and returns it with the function that closes it. Every store
// also implements auth.Store. The embedded store's file is locked while it
// is open: when another process (a running broker) holds it, OpenStore
// fails after a short wait with an error that says so.
func OpenStore(cfg config.Store, log *slog.Logger) (session.Store, func() error, error) {
	switch cfg.Kind {
	case "memory":
		return memstore.New(), func() error { return nil }, nil
	case "dynamo":
		return openDynamo(cfg, log)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, nil, fmt.Errorf("-data-dir %s: %w", cfg.DataDir, err)
	}
	path := filepath.Join(cfg.DataDir, BoltFile)
	opts := []boltstore.Option{boltstore.WithLockTimeout(storeLockTimeout), boltstore.WithGroupCommit(),
		boltstore.WithStreamRetention(cfg.StreamRetention)}
	if !cfg.Fsync {
		opts = append(opts, boltstore.WithNoSync())
	}
	st, err := boltstore.Open(path, opts...)
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, nil, fmt.Errorf("the store in %s is in use by another process (a broker serving no admin socket there, or another mqttless-admin): %w", cfg.DataDir, err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open the store in -data-dir %s: %w", cfg.DataDir, err)
	}
	return st, st.Close, nil
}

// openDynamo opens the DynamoDB store on cfg.Table, creating the table
// from template.yaml first when -create-table is set.
func openDynamo(cfg config.Store, log *slog.Logger) (session.Store, func() error, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	db, err := dynamo.NewClient(ctx)
	if err != nil {
		return nil, nil, err
	}
	if cfg.CreateTable {
		_, created, err := dynamo.CreateTableFromTemplate(ctx, db, cfg.Template, cfg.Table)
		if err != nil {
			return nil, nil, fmt.Errorf("-create-table (from -template %s): %w", cfg.Template, err)
		}
		if created {
			log.Info("created the DynamoDB table", "table", cfg.Table)
		}
	}
	return dynamo.New(db, cfg.Table, dynamo.WithLogger(log), dynamo.WithStreamRetention(cfg.StreamRetention)), func() error { return nil }, nil
}
