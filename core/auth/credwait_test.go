package auth_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/auth"
)

// A storm of concurrent CONNECTs of few usernames costs one password check
// per username (a reconnection storm after a proxy drains: issue 15,
// item 4), and each client still gets the answer its own password earns.
func TestCoalescedChecks(t *testing.T) {
	const users, perUser = 20, 10
	e := newGuardEnv(t, auth.Options{MaxPasswordChecks: 2})
	for u := range users {
		setPassword(t, e.store, fmt.Sprint("dev", u), "pw")
	}
	// Every client finds the checks busy, as in a storm, so that all are
	// under way at once.
	release := auth.HoldPasswordChecks(e.c, 2)
	var wg sync.WaitGroup
	errs := make(chan error, users*perUser)
	for u := range users {
		for range perUser {
			wg.Go(func() {
				_, err := e.c.AuthenticateFrom(t.Context(), "192.0.2.1:1", fmt.Sprint("dev", u), []byte("pw"), true, true, "")
				errs <- err
			})
		}
	}
	time.Sleep(100 * time.Millisecond) // let them all reach the checks
	release()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("a client with the right password: %v", err)
		}
	}
	if got := e.c.Stats().PasswordChecks; got != users {
		t.Errorf("%d password checks for %d concurrent CONNECTs of %d usernames, want %d", got, users*perUser, users, users)
	}
}

// A client with a wrong password that waits for another's check of its
// username is checked itself, and refused; one with the right password
// that waits for a wrong one's check is checked, and accepted.
func TestCoalescedChecksWrongPassword(t *testing.T) {
	e := newGuardEnv(t, auth.Options{MaxPasswordChecks: 1})
	release := auth.HoldPasswordChecks(e.c, 1)
	results := make(map[string]chan error)
	for _, pw := range []string{"wrong", "pw", "wrong2"} {
		results[pw] = make(chan error, 1)
		go func() {
			_, err := e.c.AuthenticateFrom(t.Context(), "192.0.2.1:1", "alice", []byte(pw), true, true, "")
			results[pw] <- err
		}()
		time.Sleep(20 * time.Millisecond) // in this order
	}
	release()
	if err := <-results["pw"]; err != nil {
		t.Errorf("the right password after a wrong one: %v", err)
	}
	for _, pw := range []string{"wrong", "wrong2"} {
		if err := <-results[pw]; !errors.Is(err, auth.ErrBadCredentials) {
			t.Errorf("password %q: %v, want ErrBadCredentials", pw, err)
		}
	}
}

// CredentialTTL, not CacheTTL, bounds the verified credentials when set:
// a storm that lasts minutes costs one check per username, while the
// rules are read every CacheTTL; a negative CredentialTTL keeps none.
func TestCredentialTTL(t *testing.T) {
	e := newGuardEnv(t, auth.Options{CacheTTL: 10 * time.Second, CredentialTTL: 10 * time.Minute})
	for range 3 {
		if err := e.login(t, "", "alice", "pw"); err != nil {
			t.Fatal(err)
		}
		e.clk.Advance(time.Minute)
	}
	if n := e.c.Stats().PasswordChecks; n != 1 {
		t.Errorf("%d checks for 3 logins a minute apart within a 10 min CredentialTTL, want 1", n)
	}
	e.clk.Advance(10 * time.Minute)
	e.login(t, "", "alice", "pw")
	if n := e.c.Stats().PasswordChecks; n != 2 {
		t.Errorf("%d checks after CredentialTTL, want 2", n)
	}
	off := newGuardEnv(t, auth.Options{CacheTTL: 10 * time.Second, CredentialTTL: -1})
	off.login(t, "", "alice", "pw")
	off.login(t, "", "alice", "pw")
	if n := off.c.Stats().PasswordChecks; n != 2 {
		t.Errorf("%d checks with CredentialTTL < 0, want 2", n)
	}
}
