package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/auth"
	"github.com/mqttless/mqttless/infra/adminsock"
	"github.com/mqttless/mqttless/infra/allinone"
	"github.com/mqttless/mqttless/infra/config"
	"github.com/mqttless/mqttless/infra/dynamo"
)

// admin runs the command with args, stdin as its standard input, and
// returns what it wrote.
func admin(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

// mustAdmin is admin that fails the test on an error.
func mustAdmin(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := admin(t, stdin, args...)
	if err != nil {
		t.Fatalf("mqttless-admin %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// boltArgs returns the flags that select a bolt store in a new directory;
// the directory is the fourth.
func boltArgs(t *testing.T) []string {
	return []string{"-store", "bolt", "-data-dir", t.TempDir()}
}

// exercise runs users add, list and remove and acl add, list and remove on
// the store of storeArgs and checks what each prints and stores.
func exercise(t *testing.T, storeArgs []string, check func(name, password string)) {
	t.Helper()
	with := func(args ...string) []string { return append(args, storeArgs...) }
	const password = "correct horse battery staple"
	if out := mustAdmin(t, password+"\n", with("users", "add", "alice", "-password-stdin")...); !strings.Contains(out, "added user alice") {
		t.Errorf("users add printed %q", out)
	}
	// Flags may also come before the name; the password is read without
	// -password-stdin too, and a final newline is optional.
	mustAdmin(t, "hunter2", with("users", "add", "-password-stdin", "bob")...)
	if _, _, err := admin(t, "again\n", with("users", "add", "alice")...); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("adding alice twice: err = %v, want one saying alice exists", err)
	}
	if check != nil {
		check("alice", password)
	}
	// A client-id pattern: set, shown, kept by a password change, refused
	// when invalid.
	if out := mustAdmin(t, "", with("users", "set", "bob", "-client-ids", "%u-*")...); !strings.Contains(out, "saved user bob") {
		t.Errorf("users set printed %q", out)
	}
	mustAdmin(t, "hunter3\n", with("users", "add", "bob", "-replace")...)
	if _, _, err := admin(t, "", with("users", "set", "bob", "-client-ids", "%c-*")...); err == nil || !strings.Contains(err.Error(), "-client-ids") {
		t.Errorf("users set -client-ids %%c-*: err = %v, want one naming -client-ids", err)
	}
	if _, _, err := admin(t, "", with("users", "set", "nobody", "-client-ids", "%u")...); err == nil || !strings.Contains(err.Error(), "no user nobody") {
		t.Errorf("users set of an unknown user: err = %v", err)
	}
	out, errOut, err := admin(t, "", with("users", "list")...)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], "alice ") || !strings.HasPrefix(lines[2], "bob ") || !strings.Contains(lines[1], "T") ||
		!strings.HasSuffix(lines[2], " %u-*") {
		t.Errorf("users list printed\n%s\nwant a header, then alice and bob with their creation times", out)
	}
	for _, secret := range []string{password, "hunter2", "hunter3", "$2"} {
		if strings.Contains(out+errOut, secret) {
			t.Errorf("users list printed %q:\n%s%s", secret, out, errOut)
		}
	}
	if out := mustAdmin(t, "", with("users", "remove", "bob")...); !strings.Contains(out, "removed user bob") {
		t.Errorf("users remove printed %q", out)
	}
	if _, _, err := admin(t, "", with("users", "remove", "bob")...); err == nil || !strings.Contains(err.Error(), "no user bob") {
		t.Errorf("removing bob twice: err = %v", err)
	}
	if out := mustAdmin(t, "", with("users", "list")...); strings.Contains(out, "bob") || !strings.Contains(out, "alice") {
		t.Errorf("after removing bob, users list printed\n%s", out)
	}

	out = mustAdmin(t, "", with("acl", "add", "-user", "alice", "-access", "publish", "-filter", "devices/%c/#")...)
	id1, ok := strings.CutPrefix(strings.TrimSpace(out), "added rule ")
	if !ok || id1 == "" {
		t.Fatalf("acl add printed %q, want added rule ID", out)
	}
	out = mustAdmin(t, "", with("acl", "add", "-client", "c1", "-access", "both", "-filter", "#", "-deny")...)
	id2, _ := strings.CutPrefix(strings.TrimSpace(out), "added rule ")
	out = mustAdmin(t, "", with("acl", "list")...)
	for _, want := range []string{id1 + " ", "alice", "devices/%c/#", "publish", "allow", id2 + " ", "c1", "both", "deny"} {
		if !strings.Contains(out, want) {
			t.Errorf("acl list printed\n%s\nwant %q in it", out, want)
		}
	}
	if out := mustAdmin(t, "", with("acl", "remove", id1)...); !strings.Contains(out, "removed rule "+id1) {
		t.Errorf("acl remove printed %q", out)
	}
	if _, _, err := admin(t, "", with("acl", "remove", id1)...); err == nil || !strings.Contains(err.Error(), "no rule") {
		t.Errorf("removing rule %s twice: err = %v", id1, err)
	}
	if out := mustAdmin(t, "", with("acl", "list")...); strings.Contains(out, id1+" ") || !strings.Contains(out, id2+" ") {
		t.Errorf("after removing %s, acl list printed\n%s", id1, out)
	}
}

// TestBolt runs the user and rule commands on a bolt store, then checks
// what the broker will find in it: a password hash that checks out.
func TestBolt(t *testing.T) {
	args := boltArgs(t)
	exercise(t, args, nil)
	st, closeSt, err := allinone.OpenStore(config.Store{Kind: "bolt", DataDir: args[3]}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer closeSt()
	u, err := st.(auth.Store).User(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(u.Hash, []byte("correct horse")) || !auth.CheckPassword(u.Hash, []byte("correct horse battery staple")) || auth.CheckPassword(u.Hash, []byte("hunter2")) {
		t.Errorf("alice's hash %q does not check out", u.Hash)
	}
}

// A bad flag value is refused, naming the flag, before the store is
// touched.
func TestBadValues(t *testing.T) {
	args := boltArgs(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"acl", "add", "-access", "read", "-filter", "a"}, "-access"},
		{[]string{"acl", "add", "-access", "both"}, "-filter"},
		{[]string{"acl", "add", "-access", "both", "-filter", "a/#/b"}, "-filter"},
		{[]string{"users", "add", "carol", "-password", "x", "-password-stdin"}, "not both"},
		{[]string{"users", "add"}, "NAME"},
		{[]string{"users", "add", "carol"}, "password"}, // empty stdin
		{[]string{"users", "remove", "a", "b"}, "NAME"},
		{[]string{"users", "frobnicate"}, "frobnicate"},
		{[]string{"users", "set", "carol"}, "-client-ids"},
		{[]string{"users", "add", "carol", "-password", "x", "-client-ids", "100%"}, "-client-ids"},
		{[]string{"users", "list", "-store", "memory"}, "-store"},
		{[]string{"users", "list", "-store", "bolt", "-data-dir", t.TempDir()}, "no store"},
		{[]string{"nonsense"}, "nonsense"},
	} {
		all := tc.args
		if !slices.Contains(all, "-store") && !slices.Contains(all, "-data-dir") {
			all = append(all, args...)
		}
		_, _, err := admin(t, "", all...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want one naming %s", tc.args, err, tc.want)
		}
	}
}

// -password works, with a warning that it lands in the shell history;
// the password itself is never printed.
func TestPasswordFlag(t *testing.T) {
	args := boltArgs(t)
	out, errOut, err := admin(t, "", append([]string{"users", "add", "dave", "-password", "pa55word"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut, "shell history") {
		t.Errorf("stderr %q, want a warning about the shell history", errOut)
	}
	if strings.Contains(out+errOut, "pa55word") {
		t.Errorf("the password was printed: %q %q", out, errOut)
	}
	if _, _, err := admin(t, "n3w\n", append([]string{"users", "add", "dave", "-replace"}, args...)...); err != nil {
		t.Errorf("-replace: %v", err)
	}
}

// While another process holds the bolt store without serving its admin
// socket (another mqttless-admin, or a broker that could not open the
// socket), the commands fail at once with a message that says so.
func TestBoltInUse(t *testing.T) {
	args := boltArgs(t)
	mustAdmin(t, "pw\n", append([]string{"users", "add", "erin"}, args...)...)
	_, closeSt, err := allinone.OpenStore(config.Store{Kind: "bolt", DataDir: args[3]}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer closeSt()
	_, _, err = admin(t, "", append([]string{"users", "list"}, args...)...)
	if err == nil || !strings.Contains(err.Error(), "is in use by another process") {
		t.Errorf("err = %v, want one saying the store is in use", err)
	}
}

// While a broker runs on the bolt store, the commands go through its
// admin socket: users and rules added, listed and removed, and the
// broker's store holds them at once.
func TestBoltWhileBrokerRuns(t *testing.T) {
	args := boltArgs(t)
	cfg, err := config.Parse([]string{"-addr", "127.0.0.1:0", "-data-dir", args[3], "-sys-interval", "0"},
		func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	b, err := allinone.Start(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("broker: %v", err)
		}
	})
	sock := filepath.Join(args[3], "admin.sock")
	deadline := time.Now().Add(5 * time.Second)
	for !adminsock.Running(sock) {
		if time.Now().After(deadline) {
			t.Fatal("the broker serves no admin socket")
		}
		time.Sleep(10 * time.Millisecond)
	}
	exercise(t, args, nil)
	mustAdmin(t, "pw\n", append([]string{"users", "add", "frank"}, args...)...)
	if out := mustAdmin(t, "", append([]string{"users", "list"}, args...)...); !strings.Contains(out, "frank") {
		t.Errorf("users list through the running broker: %q", out)
	}
}

// TestDynamo runs the commands on a DynamoDB table, created with
// create-tables: against moto (localstack/with-moto.sh) when
// AWS_ENDPOINT_URL is set.
func TestDynamo(t *testing.T) {
	if os.Getenv("AWS_ENDPOINT_URL") == "" {
		t.Skip("no DynamoDB endpoint: run with localstack/with-moto.sh (make test does)")
	}
	table := "mqttless-admin-" + randomSuffix(t)
	mustAdmin(t, "", "create-tables", "-template", "../../template.yaml", "-table", table)
	t.Cleanup(func() {
		db, err := dynamo.NewClient(context.Background())
		if err == nil {
			err = dynamo.DeleteTable(context.Background(), db, table)
		}
		if err != nil {
			t.Errorf("delete table %s: %v", table, err)
		}
	})
	exercise(t, []string{"-store", "dynamo", "-table", table}, nil)
}

func randomSuffix(t *testing.T) string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}
