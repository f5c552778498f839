package auth_test

import (
	"context"
	"errors"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/mqttless/mqttless/core/auth"
)

func TestAuthenticate(t *testing.T) {
	t.Parallel()
	store := newFakeStore()
	// bcrypt's lowest cost: the race detector makes bcrypt slow, and
	// CheckPassword reads the cost from the hash.
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.PutUser(t.Context(), &auth.User{Name: "alice", Hash: hash}, false); err != nil {
		t.Fatal(err)
	}
	type login struct {
		user         string
		pass         string
		hasUser      bool
		hasPass      bool
		certIdentity string
	}
	cases := []struct {
		name     string
		opts     auth.Options
		in       login
		wantUser string
		wantErr  error
	}{
		{name: "right password", in: login{"alice", "pw", true, true, ""}, wantUser: "alice"},
		{name: "wrong password", in: login{"alice", "pW", true, true, ""}, wantErr: auth.ErrBadCredentials},
		{name: "no password", in: login{"alice", "", true, false, ""}, wantErr: auth.ErrBadCredentials},
		{name: "password flag unset", in: login{"alice", "pw", true, false, ""}, wantErr: auth.ErrBadCredentials},
		{name: "unknown user", in: login{"bob", "pw", true, true, ""}, wantErr: auth.ErrBadCredentials},
		{name: "empty username", in: login{"", "pw", true, true, ""}, wantErr: auth.ErrBadCredentials},
		{name: "anonymous refused", in: login{}, wantErr: auth.ErrNotAuthorized},
		{name: "anonymous allowed", opts: auth.Options{AllowAnonymous: true}, in: login{}, wantUser: ""},
		{name: "anonymous with a password", opts: auth.Options{AllowAnonymous: true}, in: login{"", "x", false, true, ""}, wantUser: ""},
		{name: "anonymous allowed, user still checked", opts: auth.Options{AllowAnonymous: true},
			in: login{"alice", "bad", true, true, ""}, wantErr: auth.ErrBadCredentials},
		{name: "certificate identity", opts: auth.Options{CertIdentity: true},
			in: login{certIdentity: "device-7"}, wantUser: "device-7"},
		{name: "certificate identity ignores the username", opts: auth.Options{CertIdentity: true},
			in: login{"alice", "wrong", true, true, "device-7"}, wantUser: "device-7"},
		{name: "certificate identity off", in: login{"alice", "pw", true, true, "device-7"}, wantUser: "alice"},
		{name: "certificate identity off, no login", in: login{certIdentity: "device-7"}, wantErr: auth.ErrNotAuthorized},
		{name: "no certificate falls back to the password", opts: auth.Options{CertIdentity: true},
			in: login{"alice", "pw", true, true, ""}, wantUser: "alice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // bcrypt is slow under the race detector
			c := auth.NewChecker(store, tc.opts)
			user, err := c.Authenticate(t.Context(), tc.in.user, []byte(tc.in.pass), tc.in.hasUser, tc.in.hasPass, tc.in.certIdentity)
			if !errors.Is(err, tc.wantErr) || (err != nil) != (tc.wantErr != nil) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if user != tc.wantUser {
				t.Errorf("user %q, want %q", user, tc.wantUser)
			}
		})
	}
}

// A store failure is no refusal: it comes back wrapped, as neither
// sentinel, for the broker to answer as a server error.
func TestAuthenticateStoreError(t *testing.T) {
	store := newFakeStore()
	boom := errors.New("disk on fire")
	store.err = boom
	c := auth.NewChecker(store, auth.Options{})
	_, err := c.Authenticate(context.Background(), "alice", []byte("pw"), true, true, "")
	if !errors.Is(err, boom) || errors.Is(err, auth.ErrBadCredentials) || errors.Is(err, auth.ErrNotAuthorized) {
		t.Fatalf("err %v, want the store's error wrapped", err)
	}
}
