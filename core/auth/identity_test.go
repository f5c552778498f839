package auth_test

import (
	"errors"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/auth"
)

func TestIdentityString(t *testing.T) {
	for _, tc := range []struct {
		id   auth.Identity
		want string
	}{
		{auth.Identity{}, "anonymous"},
		{auth.Identity{User: "alice"}, "user:alice"},
		{auth.Identity{User: "alice", Cert: true}, "cert:alice"},
		{auth.Identity{User: "anonymous"}, "user:anonymous"}, // not the anonymous clients
		{auth.Identity{User: "alice", ClientIDs: "%u"}, "user:alice"},
	} {
		if got := tc.id.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.id, got, tc.want)
		}
		back, ok := auth.ParseIdentity(tc.want)
		tc.id.ClientIDs = ""
		if !ok || back != tc.id {
			t.Errorf("ParseIdentity(%q) = %+v, %v; want %+v", tc.want, back, ok, tc.id)
		}
	}
	for _, s := range []string{"", "user:", "cert:", "alice", "Anonymous"} {
		if _, ok := auth.ParseIdentity(s); ok {
			t.Errorf("ParseIdentity(%q) ok, want not an identity", s)
		}
	}
}

func TestMatchClientID(t *testing.T) {
	alice := func(p string) auth.Identity { return auth.Identity{User: "alice", ClientIDs: p} }
	anon := func(p string) auth.Identity { return auth.Identity{ClientIDs: p} }
	for _, tc := range []struct {
		id        auth.Identity
		clientID  string
		ok, bound bool
	}{
		{alice(""), "anything", true, false},
		{alice(""), "alice", true, true}, // the username itself binds
		{alice("%u"), "alice", true, true},
		{alice("%u"), "alice2", false, false},
		{alice("%u-*"), "alice-phone", true, true},
		{alice("%u-*"), "alice-", true, true},
		{alice("%u-*"), "bob-phone", false, false},
		{alice("%u-*"), "alice", false, false},
		{alice("sensor-*"), "sensor-1", true, false}, // allowed, but not bound to alice
		{alice("sensor-*"), "alice", false, false},
		{alice("*-%u"), "phone-alice", true, true},
		{alice("a*b*c"), "abc", true, false},
		{alice("a*b*c"), "a-b-b-c", true, false},
		{alice("a*b*c"), "acb", false, false},
		{alice("*"), "", true, false},
		{auth.Identity{User: "a*", ClientIDs: "%u"}, "a*", true, true},
		{auth.Identity{User: "a*", ClientIDs: "%u"}, "ab", false, false}, // the username is literal
		{anon(""), "anything", true, false},
		{anon("dev-*"), "dev-1", true, false},
		{anon("%u-*"), "-x", false, false}, // %u matches no anonymous client
		{anon("%u"), "", false, false},
	} {
		ok, bound := tc.id.MatchClientID(tc.clientID)
		if ok != tc.ok || bound != tc.bound {
			t.Errorf("%+v.MatchClientID(%q) = %v, %v; want %v, %v", tc.id, tc.clientID, ok, bound, tc.ok, tc.bound)
		}
	}
}

func TestValidateClientIDPattern(t *testing.T) {
	for _, p := range []string{"", "%u", "%u-*", "sensor-*", "*"} {
		if err := auth.ValidateClientIDPattern(p); err != nil {
			t.Errorf("ValidateClientIDPattern(%q) = %v, want nil", p, err)
		}
	}
	for _, p := range []string{"%c-*", "100%", "a%%u", "\xff"} {
		if err := auth.ValidateClientIDPattern(p); !errors.Is(err, auth.ErrInvalid) {
			t.Errorf("ValidateClientIDPattern(%q) = %v, want ErrInvalid", p, err)
		}
	}
}

// Exists tells whether a user was removed, read once per CacheTTL; a
// certificate identity and anonymous clients always stand.
func TestExists(t *testing.T) {
	store := newFakeStore()
	if err := store.PutUser(t.Context(), &auth.User{Name: "alice"}, false); err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{t: time.Unix(1000, 0)}
	c := auth.NewChecker(store, auth.Options{Now: clk.Now, CacheTTL: 10 * time.Second})
	want := func(id auth.Identity, exists bool) {
		t.Helper()
		got, err := c.Exists(t.Context(), id)
		if err != nil || got != exists {
			t.Fatalf("Exists(%+v) = %v, %v; want %v", id, got, err, exists)
		}
	}
	alice := auth.Identity{User: "alice"}
	want(alice, true)
	want(auth.Identity{User: "bob"}, false)
	want(auth.Identity{User: "bob", Cert: true}, true)
	want(auth.Identity{}, true)
	if err := store.DeleteUser(t.Context(), "alice"); err != nil {
		t.Fatal(err)
	}
	want(alice, true) // cached
	clk.Advance(10 * time.Second)
	want(alice, false)

	boom := errors.New("store down")
	store.mu.Lock()
	store.err = boom
	store.mu.Unlock()
	clk.Advance(10 * time.Second)
	if _, err := c.Exists(t.Context(), alice); !errors.Is(err, boom) {
		t.Errorf("Exists with a failing store: %v, want the store's error", err)
	}
}
