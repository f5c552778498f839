// Package authtest is the contract suite every auth.Store runs: Run checks
// an implementation against the behaviour the Store interface documents,
// so that the broker's authentication and authorization can rely on any
// adapter alike.
//
// # Shared and isolated stores
//
// Users and rules are global to a store, and a store backed by a server (a
// DynamoDB table) is costly to create per test. So every test asks
// newStore for a store and may share it with the others: it names its
// users and rule IDs after the test plus a random suffix (and puts that
// prefix in its rules' filters), looks only at the users and rules it
// created (the results of Users and Rules are filtered by that prefix and
// by the IDs the store assigned to it), and deletes what it created when it
// ends. The tests run in parallel. The order of the whole of a Users or
// Rules result is checked all the same, whoever wrote its entries.
//
// With the option Isolated, which promises that every store newStore
// returns is new and used by that test alone, the suite also checks what
// only such a store shows: a new store has no users and no rules, and
// Users and Rules return exactly what the test put.
//
// # Readings of the contract
//
// Where the Store documentation leaves room, the suite holds stores to
// these readings:
//
//   - Names and IDs are compared as Go strings: case and every byte
//     matter, and Users and Rules order by byte (UTF-8) order.
//   - User of a name never added (the empty name included) is ErrNotFound,
//     as are DeleteUser and DeleteRule of a name or ID that does not exist
//     (the empty ID included).
//   - PutUser with replace of a name that does not exist adds the user.
//   - PutUser of a nil user or of one with an empty name, and PutUser or
//     PutRule of anything with a string that is not valid UTF-8, is
//     ErrInvalid, as is a rule whose Access is not Publish, Subscribe or
//     Both or whose Filter is empty. Nothing is stored then. The suite does
//     not parse filters: that is the auth package's business.
//   - Users are stored as given: a Hash of any bytes comes back exactly
//     (one of length 0 may come back nil or empty), Created unchanged.
//   - PutRule with an empty ID assigns an ID that no other rule of the
//     store has; its form is the store's. A rule with an ID is stored
//     under it whether or not it existed.
//   - Values are copied both ways: changing the Hash of a user passed in or
//     returned never changes what the store holds.
package authtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/mqttless/mqttless/core/auth"
)

// Option configures Run.
type Option func(*options)

type options struct {
	isolated bool
}

// Isolated tells Run that every store newStore returns is new, empty and
// used by the calling test alone, which enables the checks that need such a
// store (see the package documentation).
func Isolated() Option { return func(o *options) { o.isolated = true } }

// Run runs the contract suite against the stores newStore returns.
// newStore is called once per test, from that test's goroutine, and should
// return an empty store or one shared with other tests (see the package
// documentation), and register its cleanup with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) auth.Store, opts ...Option) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	for _, g := range groups {
		if g.isolated && !o.isolated {
			continue
		}
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					tc.fn(setup(t, newStore, o))
				})
			}
		})
	}
}

// test is one contract test.
type test struct {
	name string
	fn   func(e *env)
}

// groups are the contract tests by subject. Those of an isolated group run
// only with Isolated.
var groups = []struct {
	name     string
	isolated bool
	tests    []test
}{
	{"Users", false, userTests},
	{"Rules", false, ruleTests},
	{"Concurrency", false, concurrencyTests},
	{"Isolated", true, isolatedTests},
}

// env is one test's fixture: its store, the unique prefix id of its user
// names, rule IDs and filters, and what it created. It embeds the test's
// T.
type env struct {
	*testing.T
	st       auth.Store
	ctx      context.Context
	id       string
	isolated bool

	mu    sync.Mutex
	users map[string]bool // names put
	rules map[string]bool // rule IDs put or assigned
}

// setup marks t parallel, opens its store and registers the cleanup of what
// the test creates.
func setup(t *testing.T, newStore func(t *testing.T) auth.Store, o options) *env {
	t.Parallel()
	e := &env{
		T: t, st: newStore(t), ctx: t.Context(), id: uniqueID(t), isolated: o.isolated,
		users: map[string]bool{}, rules: map[string]bool{},
	}
	// Registered after newStore's cleanups, so it runs before them.
	t.Cleanup(e.cleanup)
	return e
}

// uniqueID returns the test's name, reduced to ASCII letters, digits, '-'
// and '_', with a random suffix.
func uniqueID(t *testing.T) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, t.Name())
	return name + "-" + hex.EncodeToString(b[:])
}

// cleanup deletes the users and rules the test created, for stores shared
// between tests. It uses a fresh context: the test's is canceled by now.
func (e *env) cleanup() {
	ctx := context.Background()
	e.mu.Lock()
	users := maps.Clone(e.users)
	e.mu.Unlock()
	for name := range users {
		_ = e.st.DeleteUser(ctx, name)
	}
	rules, _ := e.st.Rules(ctx)
	for _, r := range rules {
		if e.mineRule(r) {
			_ = e.st.DeleteRule(ctx, r.ID)
		}
	}
}

// name returns the user name suffix of this test, and records it for the
// cleanup.
func (e *env) name(suffix string) string {
	n := e.id + "-" + suffix
	e.mu.Lock()
	e.users[n] = true
	e.mu.Unlock()
	return n
}

// ruleID returns the rule ID suffix of this test, and records it for the
// cleanup.
func (e *env) ruleID(suffix string) string {
	id := e.id + "-" + suffix
	e.track(id)
	return id
}

// track records a rule ID the store assigned.
func (e *env) track(id string) {
	e.mu.Lock()
	e.rules[id] = true
	e.mu.Unlock()
}

// topic returns a topic filter under this test's prefix.
func (e *env) topic(levels ...string) string {
	return strings.Join(append([]string{e.id}, levels...), "/")
}

// mineUser reports whether the user named name belongs to this test.
func (e *env) mineUser(name string) bool { return strings.HasPrefix(name, e.id+"-") }

// mineRule reports whether r belongs to this test: its ID was put or
// assigned by it, or its ID, user or filter carries its prefix.
func (e *env) mineRule(r auth.Rule) bool {
	e.mu.Lock()
	tracked := e.rules[r.ID]
	e.mu.Unlock()
	return tracked || strings.HasPrefix(r.ID, e.id) || strings.HasPrefix(r.User, e.id) || strings.HasPrefix(r.Filter, e.id)
}

// must fails the test when err is not nil.
func (e *env) must(err error, what string) {
	e.Helper()
	if err != nil {
		e.Fatalf("%s: %v", what, err)
	}
}

// wantErr fails the test unless errors.Is(err, target).
func (e *env) wantErr(err, target error, what string) {
	e.Helper()
	if !errors.Is(err, target) {
		e.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}

// eq fails the test when got and want differ (reflect.DeepEqual).
func (e *env) eq(what string, got, want any) {
	e.Helper()
	if !reflect.DeepEqual(got, want) {
		e.Fatalf("%s:\n got  %s\n want %s", what, show(got), show(want))
	}
}

// show formats v for a failure message, following pointers.
func show(v any) string {
	switch v := v.(type) {
	case *auth.User:
		if v != nil {
			return fmt.Sprintf("&{Name:%q Hash:%q Created:%d}", v.Name, v.Hash, v.Created)
		}
	case []*auth.User:
		s := make([]string, len(v))
		for i, u := range v {
			s[i] = show(u)
		}
		return "[" + strings.Join(s, " ") + "]"
	case []string:
		return fmt.Sprintf("%q", v)
	}
	return fmt.Sprintf("%+v", v)
}

// newUser returns a user named name with hash and created time created.
func newUser(name, hash string, created int64) *auth.User {
	return &auth.User{Name: name, Hash: []byte(hash), Created: created}
}

// sameUser reports whether a and b are equal, a Hash of length 0 being
// equal to any other.
func sameUser(a, b *auth.User) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Name == b.Name && a.Created == b.Created && bytes.Equal(a.Hash, b.Hash) && a.ClientIDs == b.ClientIDs
}

// eqUser fails the test unless got and want are the same user.
func (e *env) eqUser(what string, got, want *auth.User) {
	e.Helper()
	if !sameUser(got, want) {
		e.Fatalf("%s:\n got  %s\n want %s", what, show(got), show(want))
	}
}

// eqUsers fails the test unless got and want hold the same users in the
// same order.
func (e *env) eqUsers(what string, got, want []*auth.User) {
	e.Helper()
	if len(got) != len(want) {
		e.Fatalf("%s:\n got  %s\n want %s", what, show(got), show(want))
	}
	for i := range got {
		if !sameUser(got[i], want[i]) {
			e.Fatalf("%s:\n got  %s\n want %s", what, show(got), show(want))
		}
	}
}

// putUser adds u, which must succeed.
func (e *env) putUser(u *auth.User, replace bool) {
	e.Helper()
	e.must(e.st.PutUser(e.ctx, u, replace), fmt.Sprintf("PutUser %q (replace %v)", u.Name, replace))
}

// user returns the user named name, which must exist.
func (e *env) user(name string) *auth.User {
	e.Helper()
	u, err := e.st.User(e.ctx, name)
	e.must(err, fmt.Sprintf("User %q", name))
	if u == nil {
		e.Fatalf("User %q: nil user and no error", name)
	}
	return u
}

// noUser checks that there is no user named name.
func (e *env) noUser(name string) {
	e.Helper()
	u, err := e.st.User(e.ctx, name)
	e.wantErr(err, auth.ErrNotFound, fmt.Sprintf("User %q", name))
	if u != nil {
		e.Fatalf("User %q: %s with ErrNotFound, want nil", name, show(u))
	}
}

// listUsers returns this test's users as Users returns them, having
// checked that the whole result is ordered by name without repeats (and,
// with Isolated, holds no other users).
func (e *env) listUsers() []*auth.User {
	e.Helper()
	all, err := e.st.Users(e.ctx)
	e.must(err, "Users")
	var mine []*auth.User
	for i, u := range all {
		if u == nil {
			e.Fatalf("Users: nil user at %d", i)
		}
		if i > 0 && all[i-1].Name >= u.Name {
			e.Fatalf("Users: %q after %q, want ordered by name without repeats", u.Name, all[i-1].Name)
		}
		if e.mineUser(u.Name) {
			mine = append(mine, u)
		} else if e.isolated {
			e.Fatalf("Users of a store of this test's own: %q, which it did not put", u.Name)
		}
	}
	return mine
}

// names returns the names of us.
func names(us []*auth.User) []string {
	out := []string{}
	for _, u := range us {
		out = append(out, u.Name)
	}
	return out
}

// putRule puts r, which must succeed, and returns its ID.
func (e *env) putRule(r auth.Rule) string {
	e.Helper()
	id, err := e.st.PutRule(e.ctx, r)
	e.must(err, fmt.Sprintf("PutRule %+v", r))
	if id == "" {
		e.Fatalf("PutRule %+v: empty ID", r)
	}
	e.track(id)
	if r.ID != "" && id != r.ID {
		e.Fatalf("PutRule %+v: ID %q, want the rule's own", r, id)
	}
	return id
}

// listRules returns this test's rules as Rules returns them, having
// checked that the whole result is ordered by ID without repeats (and,
// with Isolated, holds no other rules).
func (e *env) listRules() []auth.Rule {
	e.Helper()
	all, err := e.st.Rules(e.ctx)
	e.must(err, "Rules")
	mine := []auth.Rule{}
	for i, r := range all {
		if i > 0 && all[i-1].ID >= r.ID {
			e.Fatalf("Rules: %q after %q, want ordered by ID without repeats", r.ID, all[i-1].ID)
		}
		if e.mineRule(r) {
			mine = append(mine, r)
		} else if e.isolated {
			e.Fatalf("Rules of a store of this test's own: %+v, which it did not put", r)
		}
	}
	return mine
}

// ids returns the IDs of rs.
func ids(rs []auth.Rule) []string {
	out := []string{}
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

var isolatedTests = []test{
	{"Empty", testEmpty},
}

// testEmpty: a new store has no users and no rules; once the test's users
// and rules are deleted it has none again.
func testEmpty(e *env) {
	us, err := e.st.Users(e.ctx)
	e.must(err, "Users")
	if len(us) != 0 {
		e.Fatalf("Users of a new store: %s, want none", show(us))
	}
	rs, err := e.st.Rules(e.ctx)
	e.must(err, "Rules")
	if len(rs) != 0 {
		e.Fatalf("Rules of a new store: %+v, want none", rs)
	}
	name := e.name("u")
	e.putUser(newUser(name, "h", 1), false)
	id := e.putRule(auth.Rule{Access: auth.Both, Filter: "#"})
	e.eqUsers("users", e.listUsers(), []*auth.User{newUser(name, "h", 1)})
	e.eq("rules", e.listRules(), []auth.Rule{{ID: id, Access: auth.Both, Filter: "#"}})
	e.must(e.st.DeleteUser(e.ctx, name), "DeleteUser")
	e.must(e.st.DeleteRule(e.ctx, id), "DeleteRule")
	e.eqUsers("users after deleting", e.listUsers(), nil)
	e.eq("rules after deleting", e.listRules(), []auth.Rule{})
}
