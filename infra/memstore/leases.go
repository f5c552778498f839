package memstore

import (
	"context"
	"fmt"

	"github.com/mqttless/mqttless/core/session"
)

// RenewLease implements session.Store.
func (st *Store) RenewLease(_ context.Context, proxy string, until int64) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.leases == nil {
		st.leases = map[string]session.Lease{}
	}
	st.leases[proxy] = session.Lease{Proxy: proxy, Until: until}
	return nil
}

// Leases implements session.Store. Ended leases are kept: one small
// record per proxy id that ever ran on the store.
func (st *Store) Leases(context.Context) ([]session.Lease, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]session.Lease, 0, len(st.leases))
	for _, l := range st.leases {
		out = append(out, l)
	}
	return out, nil
}

// MarkUnreachable implements session.Store.
func (st *Store) MarkUnreachable(_ context.Context, proxy string, until int64) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	l, ok := st.leases[proxy]
	if !ok || l.Until != until {
		return fmt.Errorf("memstore: lease of %q until %d: %w", proxy, until, session.ErrNotFound)
	}
	l.Unreachable = true
	st.leases[proxy] = l
	return nil
}

// EndLease implements session.Store.
func (st *Store) EndLease(_ context.Context, proxy string, until int64) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	l, ok := st.leases[proxy]
	if !ok || l.Ended || l.Until != until {
		return fmt.Errorf("memstore: lease of %q until %d: %w", proxy, until, session.ErrNotFound)
	}
	l.Ended = true
	st.leases[proxy] = l
	return nil
}
