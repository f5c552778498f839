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
	for _, u := range []*auth.User{{Name: "alice", Hash: hash}, {Name: "carol", Hash: hash, ClientIDs: "%u"}, {Name: "device-8", ClientIDs: "dev-*"}} {
		if err := store.PutUser(t.Context(), u, false); err != nil {
			t.Fatal(err)
		}
	}
	type login struct {
		user         string
		pass         string
		hasUser      bool
		hasPass      bool
		certIdentity string
	}
	cases := []struct {
		name    string
		opts    auth.Options
		in      login
		want    auth.Identity
		wantErr error
	}{
		{name: "right password", in: login{"alice", "pw", true, true, ""}, want: auth.Identity{User: "alice"}},
		{name: "wrong password", in: login{"alice", "pW", true, true, ""}, wantErr: auth.ErrWrongPassword},
		{name: "no password", in: login{"alice", "", true, false, ""}, wantErr: auth.ErrWrongPassword},
		{name: "password flag unset", in: login{"alice", "pw", true, false, ""}, wantErr: auth.ErrWrongPassword},
		{name: "unknown user", in: login{"bob", "pw", true, true, ""}, wantErr: auth.ErrUnknownUser},
		{name: "empty username", in: login{"", "pw", true, true, ""}, wantErr: auth.ErrUnknownUser},
		{name: "anonymous refused", in: login{}, wantErr: auth.ErrAnonymous},
		{name: "anonymous allowed", opts: auth.Options{AllowAnonymous: true}, in: login{}, want: auth.Identity{}},
		{name: "anonymous with a password", opts: auth.Options{AllowAnonymous: true}, in: login{"", "x", false, true, ""}, want: auth.Identity{}},
		{name: "anonymous allowed, user still checked", opts: auth.Options{AllowAnonymous: true},
			in: login{"alice", "bad", true, true, ""}, wantErr: auth.ErrBadCredentials},
		{name: "certificate identity", opts: auth.Options{CertIdentity: true},
			in: login{certIdentity: "device-7"}, want: auth.Identity{User: "device-7", Cert: true}},
		{name: "certificate identity with another username is refused", opts: auth.Options{CertIdentity: true},
			in: login{"alice", "wrong", true, true, "device-7"}, wantErr: auth.ErrCertUsername},
		{name: "certificate identity with another user's right password is refused", opts: auth.Options{CertIdentity: true},
			in: login{"alice", "pw", true, true, "device-7"}, wantErr: auth.ErrCertUsername},
		{name: "certificate identity with its own username, password not checked", opts: auth.Options{CertIdentity: true},
			in: login{"device-7", "anything", true, true, "device-7"}, want: auth.Identity{User: "device-7", Cert: true}},
		{name: "certificate identity off", in: login{"alice", "pw", true, true, "device-7"}, want: auth.Identity{User: "alice"}},
		{name: "certificate identity off, no login", in: login{certIdentity: "device-7"}, wantErr: auth.ErrNotAuthorized},
		{name: "no certificate falls back to the password", opts: auth.Options{CertIdentity: true},
			in: login{"alice", "pw", true, true, ""}, want: auth.Identity{User: "alice"}},
		// The client-id pattern in force: the user's own, else the default.
		{name: "default client-id pattern", opts: auth.Options{ClientIDs: "%u-*"},
			in: login{"alice", "pw", true, true, ""}, want: auth.Identity{User: "alice", ClientIDs: "%u-*"}},
		{name: "the user's own pattern wins", opts: auth.Options{ClientIDs: "%u-*"},
			in: login{"carol", "pw", true, true, ""}, want: auth.Identity{User: "carol", ClientIDs: "%u"}},
		{name: "anonymous gets the default pattern", opts: auth.Options{AllowAnonymous: true, ClientIDs: "x-*"},
			in: login{}, want: auth.Identity{ClientIDs: "x-*"}},
		{name: "certificate identity with a stored pattern", opts: auth.Options{CertIdentity: true, ClientIDs: "%u"},
			in: login{certIdentity: "device-8"}, want: auth.Identity{User: "device-8", Cert: true, ClientIDs: "dev-*"}},
		{name: "certificate identity without a stored user", opts: auth.Options{CertIdentity: true, ClientIDs: "%u"},
			in: login{certIdentity: "device-7"}, want: auth.Identity{User: "device-7", Cert: true, ClientIDs: "%u"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // bcrypt is slow under the race detector
			c := auth.NewChecker(store, tc.opts)
			id, err := c.Authenticate(t.Context(), tc.in.user, []byte(tc.in.pass), tc.in.hasUser, tc.in.hasPass, tc.in.certIdentity)
			if !errors.Is(err, tc.wantErr) || (err != nil) != (tc.wantErr != nil) {
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if id != tc.want {
				t.Errorf("identity %+v, want %+v", id, tc.want)
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

// Each refusal is answered as the sentinel it wraps: the client cannot
// tell an unknown user from a wrong password, nor a back-off from either.
func TestRefusalsWrapTheirAnswer(t *testing.T) {
	for _, e := range []error{auth.ErrUnknownUser, auth.ErrWrongPassword, auth.ErrBackedOff, auth.ErrCertUsername} {
		if !errors.Is(e, auth.ErrBadCredentials) || errors.Is(e, auth.ErrNotAuthorized) {
			t.Errorf("%v: want it to wrap ErrBadCredentials alone", e)
		}
	}
	if !errors.Is(auth.ErrAnonymous, auth.ErrNotAuthorized) || errors.Is(auth.ErrAnonymous, auth.ErrBadCredentials) {
		t.Errorf("%v: want it to wrap ErrNotAuthorized alone", auth.ErrAnonymous)
	}
}
