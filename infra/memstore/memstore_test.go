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

// Under delivery v2 the queues keep to packet identifiers 1..max
// (session.PacketIDLimiter): the identifiers above are the streams'.
func TestLimitPacketIDs(t *testing.T) {
	storetest.PacketIDLimit(t, memstore.New(), "c")
}
