package boltstore

import (
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/mqttless/mqttless/core/session"
)

// bLeases holds the proxies' leases: <proxy> → session.Lease (JSON). Ended
// leases are kept: one small record per proxy id that ever ran on the
// file.
var bLeases = []byte("leases")

// RenewLease implements session.Store.
func (st *Store) RenewLease(ctx context.Context, proxy string, until int64) error {
	err := st.write(ctx, nil, func(tx *bolt.Tx) error {
		return putJSON(tx.Bucket(bLeases), []byte(proxy), session.Lease{Proxy: proxy, Until: until})
	}, func() {})
	return wrap(err, "renew the lease of %q", proxy)
}

// Leases implements session.Store.
func (st *Store) Leases(ctx context.Context) ([]session.Lease, error) {
	var out []session.Lease
	err := st.view(ctx, func(tx *bolt.Tx) error {
		out = nil
		return tx.Bucket(bLeases).ForEach(func(_, v []byte) error {
			var l session.Lease
			if err := json.Unmarshal(v, &l); err != nil {
				return err
			}
			out = append(out, l)
			return nil
		})
	})
	return out, wrap(err, "leases")
}

// EndLease implements session.Store.
func (st *Store) EndLease(ctx context.Context, proxy string, until int64) error {
	return st.changeLease(ctx, proxy, until, "end", func(l *session.Lease) bool {
		if l.Ended {
			return false
		}
		l.Ended = true
		return true
	})
}

// MarkUnreachable implements session.Store.
func (st *Store) MarkUnreachable(ctx context.Context, proxy string, until int64) error {
	return st.changeLease(ctx, proxy, until, "mark unreachable", func(l *session.Lease) bool {
		l.Unreachable = true
		return true
	})
}

// changeLease applies change to the lease of proxy whose Until is until,
// in one transaction; ErrNotFound when there is none, or change refuses.
func (st *Store) changeLease(ctx context.Context, proxy string, until int64, what string, change func(*session.Lease) bool) error {
	err := st.write(ctx, nil, func(tx *bolt.Tx) error {
		b := tx.Bucket(bLeases)
		var l session.Lease
		v := b.Get([]byte(proxy))
		if v != nil {
			if err := json.Unmarshal(v, &l); err != nil {
				return err
			}
		}
		if v == nil || l.Until != until || !change(&l) {
			return fmt.Errorf("lease of %q until %d: %w", proxy, until, session.ErrNotFound)
		}
		return putJSON(b, []byte(proxy), l)
	}, func() {})
	return wrap(err, "%s the lease of %q", what, proxy)
}
