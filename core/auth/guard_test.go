package auth_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/mqttless/mqttless/core/auth"
)

// guardEnv is a Checker with user alice (password "pw", at bcrypt's lowest
// cost) on a fake clock.
type guardEnv struct {
	store *fakeStore
	clk   *fakeClock
	c     *auth.Checker
}

func newGuardEnv(t *testing.T, opts auth.Options) *guardEnv {
	t.Helper()
	store := newFakeStore()
	setPassword(t, store, "alice", "pw")
	clk := &fakeClock{t: time.Unix(1000, 0)}
	opts.Now = clk.Now
	return &guardEnv{store: store, clk: clk, c: auth.NewChecker(store, opts)}
}

func setPassword(t *testing.T, store *fakeStore, user, pw string) {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.PutUser(t.Context(), &auth.User{Name: user, Hash: hash}, true); err != nil {
		t.Fatal(err)
	}
}

func (e *guardEnv) login(t *testing.T, remote, user, pw string) error {
	t.Helper()
	_, err := e.c.AuthenticateFrom(t.Context(), remote, user, []byte(pw), true, true, "")
	if err != nil && !errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("login: %v", err)
	}
	return err
}

// After 10 failures from one source, its attempts are refused without a
// check, as a wrong password is, even with the right password; other
// sources with other usernames are checked. The back-off ends, and doubles
// with the next failure.
func TestBackoffBySource(t *testing.T) {
	e := newGuardEnv(t, auth.Options{CacheTTL: -1})
	setPassword(t, e.store, "bob", "pw2")
	const attacker = "192.0.2.7:40000"
	// Distinct usernames: only the source's failures add up. (Known
	// users, whose hashes are cheap; an unknown one costs the dummy hash's
	// full bcrypt cost.)
	for i := range 11 {
		setPassword(t, e.store, "u"+strconv.Itoa(i), "pw")
	}
	for i := range 10 {
		if e.login(t, attacker, "u"+strconv.Itoa(i), "x") == nil {
			t.Fatal("wrong password accepted")
		}
	}
	if s := e.c.Stats(); s.PasswordChecks != 10 || s.BackedOff != 0 {
		t.Fatalf("stats %+v, want 10 checks, none backed off", s)
	}
	for range 20 {
		if e.login(t, "192.0.2.7:40001", "alice", "pw") == nil {
			t.Fatal("the right password was checked during the back-off of its source")
		}
	}
	if s := e.c.Stats(); s.PasswordChecks != 10 || s.BackedOff != 20 {
		t.Fatalf("stats %+v, want 10 checks and 20 backed off", s)
	}
	if err := e.login(t, "198.51.100.1:1", "bob", "pw2"); err != nil {
		t.Fatalf("another source: %v", err)
	}
	// After the back-off (1s), one more failure blocks for 2s.
	e.clk.Advance(time.Second)
	if e.login(t, attacker, "u10", "x") == nil {
		t.Fatal("wrong password accepted")
	}
	e.clk.Advance(1500 * time.Millisecond)
	if e.login(t, attacker, "alice", "pw") == nil {
		t.Fatal("checked 1.5s into a 2s back-off")
	}
	e.clk.Advance(time.Second)
	if err := e.login(t, attacker, "alice", "pw"); err != nil {
		t.Fatalf("after the back-off: %v", err)
	}
}

// A username that failed 3 times in a row is backed off from every
// source, but credentials verified within CacheTTL still pass; a success
// ends the run of failures.
func TestBackoffByUsername(t *testing.T) {
	e := newGuardEnv(t, auth.Options{CacheTTL: time.Minute})
	if err := e.login(t, "203.0.113.9:1", "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		e.login(t, "192.0.2."+string(rune('1'+i))+":5", "alice", "guess")
	}
	before := e.c.Stats()
	if e.login(t, "192.0.2.9:5", "alice", "guess") == nil {
		t.Fatal("accepted")
	}
	if s := e.c.Stats(); s.PasswordChecks != before.PasswordChecks || s.BackedOff != before.BackedOff+1 {
		t.Fatalf("a fourth source was checked: %+v then %+v", before, s)
	}
	if err := e.login(t, "203.0.113.9:2", "alice", "pw"); err != nil {
		t.Fatalf("cached credentials refused during the username's back-off: %v", err)
	}
	// Two failures, a success, two failures: no back-off.
	f := newGuardEnv(t, auth.Options{CacheTTL: -1})
	for _, pw := range []string{"x", "x", "pw", "x", "x", "pw"} {
		err := f.login(t, "203.0.113.9:1", "alice", pw)
		if (err == nil) != (pw == "pw") {
			t.Fatalf("password %q: %v", pw, err)
		}
	}
}

// Verified credentials skip bcrypt for CacheTTL, while the user's hash is
// unchanged: a new password or a removed user ends them at once.
func TestCredentialCache(t *testing.T) {
	e := newGuardEnv(t, auth.Options{CacheTTL: 10 * time.Second})
	for range 5 {
		if err := e.login(t, "", "alice", "pw"); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.c.Stats().PasswordChecks; n != 1 {
		t.Fatalf("%d checks for 5 logins within the TTL, want 1", n)
	}
	if e.login(t, "", "alice", "other") == nil {
		t.Fatal("another password accepted from the cache")
	}
	setPassword(t, e.store, "alice", "new")
	if e.login(t, "", "alice", "pw") == nil {
		t.Fatal("the old password accepted after it was changed")
	}
	if err := e.login(t, "", "alice", "new"); err != nil {
		t.Fatal(err)
	}
	if err := e.store.DeleteUser(t.Context(), "alice"); err != nil {
		t.Fatal(err)
	}
	if e.login(t, "", "alice", "new") == nil {
		t.Fatal("a removed user accepted from the cache")
	}
	// After the TTL the password is checked again.
	setPassword(t, e.store, "alice", "pw")
	e.login(t, "", "alice", "pw")
	n := e.c.Stats().PasswordChecks
	e.clk.Advance(10 * time.Second)
	e.login(t, "", "alice", "pw")
	if got := e.c.Stats().PasswordChecks; got != n+1 {
		t.Fatalf("no check after the TTL")
	}
	// CacheTTL < 0 keeps nothing.
	off := newGuardEnv(t, auth.Options{CacheTTL: -1})
	off.login(t, "", "alice", "pw")
	off.login(t, "", "alice", "pw")
	if n := off.c.Stats().PasswordChecks; n != 2 {
		t.Fatalf("%d checks without a cache, want 2", n)
	}
}

// A negative FailureBackoff checks every attempt.
func TestBackoffOff(t *testing.T) {
	e := newGuardEnv(t, auth.Options{CacheTTL: -1, FailureBackoff: -1})
	for range 6 {
		e.login(t, "192.0.2.1:1", "alice", "x")
	}
	if err := e.login(t, "192.0.2.1:1", "alice", "pw"); err != nil {
		t.Fatalf("refused with the back-off off: %v", err)
	}
}

// A check waiting for a slot gives up with its context, with an error that
// is no refusal.
func TestPasswordCheckWaitCancelled(t *testing.T) {
	e := newGuardEnv(t, auth.Options{MaxPasswordChecks: 1})
	release := auth.HoldPasswordChecks(e.c, 1)
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := e.c.AuthenticateFrom(ctx, "", "alice", []byte("pw"), true, true, "")
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, auth.ErrBadCredentials) {
		t.Fatalf("err %v, want the context's", err)
	}
}
