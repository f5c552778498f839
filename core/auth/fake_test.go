package auth_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/mqttless/mqttless/core/auth"
)

// fakeStore is an in-memory auth.Store for the tests of this package. It
// counts Rules calls, can fail them, and can hold them until released.
type fakeStore struct {
	mu    sync.Mutex
	users map[string]*auth.User
	rules []auth.Rule
	err   error // returned by User and Rules when set

	ruleReads atomic.Int64
	gate      chan struct{} // when set, Rules waits for a receive from it
}

func newFakeStore() *fakeStore { return &fakeStore{users: map[string]*auth.User{}} }

func (s *fakeStore) User(_ context.Context, name string) (*auth.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	u, ok := s.users[name]
	if !ok {
		return nil, auth.ErrNotFound
	}
	c := *u
	return &c, nil
}

func (s *fakeStore) PutUser(_ context.Context, u *auth.User, replace bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[u.Name]; ok && !replace {
		return auth.ErrExists
	}
	c := *u
	s.users[u.Name] = &c
	return nil
}

func (s *fakeStore) DeleteUser(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[name]; !ok {
		return auth.ErrNotFound
	}
	delete(s.users, name)
	return nil
}

func (s *fakeStore) Users(context.Context) ([]*auth.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*auth.User
	for _, u := range s.users {
		c := *u
		out = append(out, &c)
	}
	slices.SortFunc(out, func(a, b *auth.User) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (s *fakeStore) Rules(ctx context.Context) ([]auth.Rule, error) {
	s.ruleReads.Add(1)
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	return slices.Clone(s.rules), nil
}

func (s *fakeStore) PutRule(_ context.Context, r auth.Rule) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.ID == "" {
		r.ID = string(rune('a' + len(s.rules)))
	}
	for i := range s.rules {
		if s.rules[i].ID == r.ID {
			s.rules[i] = r
			return r.ID, nil
		}
	}
	s.rules = append(s.rules, r)
	return r.ID, nil
}

func (s *fakeStore) DeleteRule(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.rules {
		if s.rules[i].ID == id {
			s.rules = slices.Delete(s.rules, i, i+1)
			return nil
		}
	}
	return auth.ErrNotFound
}

var _ auth.Store = (*fakeStore)(nil)
