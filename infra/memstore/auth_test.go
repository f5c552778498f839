package memstore_test

import (
	"testing"

	"github.com/mqttless/mqttless/core/auth"
	"github.com/mqttless/mqttless/core/auth/authtest"
	"github.com/mqttless/mqttless/infra/memstore"
)

func TestAuth(t *testing.T) {
	authtest.Run(t, func(*testing.T) auth.Store { return memstore.New() }, authtest.Isolated())
}

// TestAuthShared runs the contract suite with one store for every test, as
// a DynamoDB table is shared.
func TestAuthShared(t *testing.T) {
	st := memstore.New()
	authtest.Run(t, func(*testing.T) auth.Store { return st })
}
