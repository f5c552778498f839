package adminsock_test

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/mqttless/mqttless/core/auth"
	"github.com/mqttless/mqttless/core/auth/authtest"
	"github.com/mqttless/mqttless/infra/adminsock"
	"github.com/mqttless/mqttless/infra/memstore"
)

// serve serves st on a socket in a new directory and returns its path.
func serve(t *testing.T, st auth.Store) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "adminsock") // short: a socket path has at most 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, adminsock.SocketFile)
	ln, err := adminsock.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go adminsock.Serve(ln, st, slog.New(slog.DiscardHandler))
	return path
}

// The client over the socket is an auth.Store as the contract suite
// defines one, its errors matching the sentinels.
func TestClientContract(t *testing.T) {
	authtest.Run(t, func(t *testing.T) auth.Store {
		return &adminsock.Client{Path: serve(t, memstore.New())}
	}, authtest.Isolated())
}

// The socket is private to the broker's user, Running tells a serving
// broker from a stale socket file, and Listen replaces a stale one.
func TestSocketFile(t *testing.T) {
	st := memstore.New()
	path := serve(t, st)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("socket mode %v, want 0600", perm)
	}
	if !adminsock.Running(path) {
		t.Fatal("Running is false while the socket is served")
	}
	c := &adminsock.Client{Path: path}
	if err := c.PutUser(t.Context(), &auth.User{Name: "alice", Hash: []byte("h")}, false); err != nil {
		t.Fatal(err)
	}
	if u, err := st.User(t.Context(), "alice"); err != nil || string(u.Hash) != "h" {
		t.Fatalf("the served store has %+v, %v", u, err)
	}
	if err := c.PutUser(t.Context(), &auth.User{Name: "alice", Hash: []byte("h")}, false); !errors.Is(err, auth.ErrExists) {
		t.Errorf("adding alice again: %v, want ErrExists", err)
	}

	// A socket file nobody serves: not running; Listen takes it over.
	stale := filepath.Join(filepath.Dir(path), "stale.sock")
	ln, err := adminsock.Listen(stale)
	if err != nil {
		t.Fatal(err)
	}
	ln.(interface{ SetUnlinkOnClose(bool) }).SetUnlinkOnClose(false)
	ln.Close()
	if adminsock.Running(stale) {
		t.Fatal("Running is true for a socket nobody serves")
	}
	ln, err = adminsock.Listen(stale)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	ln.Close()
}
