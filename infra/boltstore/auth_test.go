package boltstore_test

import (
	"path/filepath"
	"testing"

	"github.com/mqttless/mqttless/core/auth"
	"github.com/mqttless/mqttless/core/auth/authtest"
	"github.com/mqttless/mqttless/infra/boltstore"
)

// TestAuth runs the auth contract suite, each test on a file of its own.
func TestAuth(t *testing.T) {
	t.Parallel()
	authtest.Run(t, func(t *testing.T) auth.Store { return open(t, boltstore.WithNoSync()) }, authtest.Isolated())
}

// TestAuthGroupCommit runs the auth contract suite on one file shared by
// every test, with group commits, whose sessions' writes share
// transactions: the auth writes must not take part in them. It is skipped
// with -short.
func TestAuthGroupCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("the contract suite already ran with plain transactions")
	}
	t.Parallel()
	st := open(t, boltstore.WithNoSync(), boltstore.WithGroupCommit())
	authtest.Run(t, func(*testing.T) auth.Store { return st })
}

// TestAuthReopen checks that users and rules survive closing and opening
// the file again, and that a file without the users and rules buckets
// (written before they existed) reads as having none.
func TestAuthReopen(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "store.db")
	st, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if us, err := st.Users(ctx); err != nil || len(us) != 0 {
		t.Fatalf("Users of a new file: %v, %v; want none", us, err)
	}
	if rs, err := st.Rules(ctx); err != nil || len(rs) != 0 {
		t.Fatalf("Rules of a new file: %v, %v; want none", rs, err)
	}
	u := &auth.User{Name: "alice", Hash: []byte("$2a$10$hash"), Created: 1_700_000_000_000}
	if err := st.PutUser(ctx, u, false); err != nil {
		t.Fatal(err)
	}
	r := auth.Rule{User: "alice", Access: auth.Both, Filter: "%u/#"}
	if r.ID, err = st.PutRule(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if st, err = boltstore.Open(path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	})
	got, err := st.User(ctx, "alice")
	if err != nil || got.Name != u.Name || string(got.Hash) != string(u.Hash) || got.Created != u.Created {
		t.Fatalf("User after reopening: %+v, %v; want %+v", got, err, u)
	}
	rs, err := st.Rules(ctx)
	if err != nil || len(rs) != 1 || rs[0] != r {
		t.Fatalf("Rules after reopening: %+v, %v; want [%+v]", rs, err, r)
	}
}
