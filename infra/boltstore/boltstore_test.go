package boltstore_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/core/session/storetest"
	"github.com/mqttless/mqttless/infra/boltstore"
)

// open opens a store in a new file that is closed when t ends.
func open(t testing.TB, opts ...boltstore.Option) *boltstore.Store {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "store.db"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	return st
}

// TestStore runs the contract suite. It skips the fsync of each commit,
// which only matters when the machine crashes: with it, the tens of
// thousands of commits of the packet id wraparound test take minutes.
func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) session.Store { return open(t, boltstore.WithNoSync()) })
}

// Under delivery v2 the queues keep to packet identifiers 1..max
// (session.PacketIDLimiter): the identifiers above are the streams'.
func TestLimitPacketIDs(t *testing.T) {
	t.Parallel()
	storetest.PacketIDLimit(t, open(t, boltstore.WithNoSync()), "c")
	storetest.PacketIDLimit(t, open(t, boltstore.WithGroupCommit()), "c")
}

// TestStoreBatch runs the contract suite with batched writes, whose
// transaction functions bbolt may run more than once. It is skipped with
// -short.
func TestStoreBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("the contract suite already ran with plain transactions")
	}
	t.Parallel()
	storetest.Run(t, func(t *testing.T) session.Store {
		return open(t, boltstore.WithNoSync(), boltstore.WithBatch(time.Microsecond))
	})
}

// TestStoreGroupCommit runs the contract suite with group commits, whose
// transaction functions may run more than once. It is skipped with -short.
func TestStoreGroupCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("the contract suite already ran with plain transactions")
	}
	t.Parallel()
	storetest.Run(t, func(t *testing.T) session.Store {
		return open(t, boltstore.WithNoSync(), boltstore.WithGroupCommit())
	})
}
