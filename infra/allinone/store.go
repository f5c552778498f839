package allinone

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/boltstore"
	"github.com/mqttless/mqttless/infra/memstore"
)

// openStore opens the store the configuration names and returns it with
// the function that closes it.
func openStore(cfg Config) (session.Store, func() error, error) {
	if cfg.Store == "memory" {
		return memstore.New(), func() error { return nil }, nil
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
