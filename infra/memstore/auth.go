package memstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/mqttless/mqttless/core/auth"
)

var _ auth.Store = (*Store)(nil)

// authData is the users and rules of one Store. mu guards both maps; each
// method holds it for its whole run, which makes each method atomic.
// Users go in and come out as copies.
type authData struct {
	mu    sync.Mutex
	users map[string]*auth.User
	rules map[string]auth.Rule
}

// auth returns the users and rules of st.
func (st *Store) auth() *authData { return &st.users }

// cloneUser returns a copy of u that shares no memory with it.
func cloneUser(u *auth.User) *auth.User {
	c := *u
	c.Hash = bytes.Clone(u.Hash)
	return &c
}

// User implements auth.Store.
func (st *Store) User(_ context.Context, name string) (*auth.User, error) {
	a := st.auth()
	a.mu.Lock()
	defer a.mu.Unlock()
	u := a.users[name]
	if u == nil {
		return nil, fmt.Errorf("memstore: user %q: %w", name, auth.ErrNotFound)
	}
	return cloneUser(u), nil
}

// PutUser implements auth.Store.
func (st *Store) PutUser(_ context.Context, u *auth.User, replace bool) error {
	if err := auth.CheckStorableUser(u, 0); err != nil {
		return fmt.Errorf("memstore: put user: %w", err)
	}
	a := st.auth()
	a.mu.Lock()
	defer a.mu.Unlock()
	if !replace && a.users[u.Name] != nil {
		return fmt.Errorf("memstore: put user %q: %w", u.Name, auth.ErrExists)
	}
	a.users[u.Name] = cloneUser(u)
	return nil
}

// DeleteUser implements auth.Store.
func (st *Store) DeleteUser(_ context.Context, name string) error {
	a := st.auth()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.users[name] == nil {
		return fmt.Errorf("memstore: delete user %q: %w", name, auth.ErrNotFound)
	}
	delete(a.users, name)
	return nil
}

// Users implements auth.Store.
func (st *Store) Users(_ context.Context) ([]*auth.User, error) {
	a := st.auth()
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]*auth.User, 0, len(a.users))
	for _, u := range a.users {
		out = append(out, cloneUser(u))
	}
	slices.SortFunc(out, func(x, y *auth.User) int { return strings.Compare(x.Name, y.Name) })
	return out, nil
}

// Rules implements auth.Store.
func (st *Store) Rules(_ context.Context) ([]auth.Rule, error) {
	a := st.auth()
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]auth.Rule, 0, len(a.rules))
	for _, r := range a.rules {
		out = append(out, r)
	}
	slices.SortFunc(out, func(x, y auth.Rule) int { return strings.Compare(x.ID, y.ID) })
	return out, nil
}

// PutRule implements auth.Store. An ID it assigns is 16 random hex digits.
func (st *Store) PutRule(_ context.Context, r auth.Rule) (string, error) {
	if err := auth.CheckStorableRule(r, 0); err != nil {
		return "", fmt.Errorf("memstore: put rule: %w", err)
	}
	a := st.auth()
	a.mu.Lock()
	defer a.mu.Unlock()
	for r.ID == "" {
		id := auth.NewRuleID()
		if _, taken := a.rules[id]; !taken {
			r.ID = id
		}
	}
	a.rules[r.ID] = r
	return r.ID, nil
}

// DeleteRule implements auth.Store.
func (st *Store) DeleteRule(_ context.Context, id string) error {
	a := st.auth()
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.rules[id]; !ok {
		return fmt.Errorf("memstore: delete rule %q: %w", id, auth.ErrNotFound)
	}
	delete(a.rules, id)
	return nil
}
