package memstore_test

import (
	"testing"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/core/session/storetest"
	"github.com/mqttless/mqttless/infra/memstore"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(*testing.T) session.Store { return memstore.New() })
}
