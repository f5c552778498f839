package allinone

import (
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/memstore"
)

// openStore opens the store the configuration names and returns it with
// the function that closes it.
func openStore(cfg Config) (session.Store, func() error, error) {
	return memstore.New(), func() error { return nil }, nil
}
