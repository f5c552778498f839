package boltstore

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/core/topic"
)

// subFilters returns the filters subscribed in the session bucket cb.
func subFilters(cb *bolt.Bucket) []string {
	u := cb.Bucket(bSubs)
	if u == nil {
		return nil
	}
	var out []string
	_ = u.ForEach(func(k, _ []byte) error {
		out = append(out, string(k))
		return nil
	})
	return out
}

// Subscribe implements session.Store. The subscriptions are stored with
// ClientID set to clientID.
func (st *Store) Subscribe(ctx context.Context, clientID, conn string, subs []session.Subscription) ([]bool, error) {
	existed := make([]bool, len(subs))
	err := st.changeSubs(ctx, clientID, conn, existed, func(cb *bolt.Bucket) error {
		u, err := cb.CreateBucketIfNotExists(bSubs)
		if err != nil {
			return err
		}
		for i, s := range subs {
			k := []byte(s.Filter)
			existed[i] = u.Get(k) != nil
			if !existed[i] {
				// A new subscription starts with no stream position.
				if err := dropPositions(cb, s.Filter); err != nil {
					return err
				}
			}
			s.ClientID = clientID
			if err := putJSON(u, k, s); err != nil {
				return fmt.Errorf("filter %q: %w", s.Filter, err)
			}
		}
		return nil
	}, func() {
		for _, s := range subs {
			s.ClientID = clientID
			st.subs.Add(s.Filter, clientID, s)
		}
	})
	if err != nil {
		return nil, wrap(err, "subscribe %q", clientID)
	}
	return existed, nil
}

// Unsubscribe implements session.Store.
func (st *Store) Unsubscribe(ctx context.Context, clientID, conn string, filters []string) ([]bool, error) {
	existed := make([]bool, len(filters))
	err := st.changeSubs(ctx, clientID, conn, existed, func(cb *bolt.Bucket) error {
		u := cb.Bucket(bSubs)
		if u == nil {
			return nil
		}
		for i, f := range filters {
			k := []byte(f)
			if len(k) == 0 || u.Get(k) == nil {
				continue
			}
			existed[i] = true
			if err := u.Delete(k); err != nil {
				return err
			}
			if err := dropPositions(cb, f); err != nil {
				return err
			}
		}
		return nil
	}, func() {
		for i, f := range filters {
			if existed[i] {
				st.subs.Remove(f, clientID)
			}
		}
	})
	if err != nil {
		return nil, wrap(err, "unsubscribe %q", clientID)
	}
	return existed, nil
}

// changeSubs runs change on the session bucket of clientID, which conn
// must own, in a write (see Store.write) whose after updates the
// subscription index. existed (one flag a filter, set by change) is
// cleared first, since the group commit may run change more than once. The
// write may return before it is durable when the session ends with its
// connection (see ending).
func (st *Store) changeSubs(ctx context.Context, clientID, conn string, existed []bool, change func(cb *bolt.Bucket) error, after func()) error {
	var early bool
	return st.write(ctx, &early, func(tx *bolt.Tx) error {
		clear(existed)
		early = false
		cb, s, err := owned(tx, clientID, conn)
		if err != nil {
			return err
		}
		early = ending(s)
		return change(cb)
	}, after)
}

// Subscriptions implements session.Store. They come in filter order.
func (st *Store) Subscriptions(ctx context.Context, clientID string) ([]session.Subscription, error) {
	var out []session.Subscription
	err := st.view(ctx, func(tx *bolt.Tx) error {
		var err error
		out, err = decodeAll[session.Subscription](tx, clientID, bSubs)
		return err
	})
	if err != nil {
		return nil, wrap(err, "subscriptions of %q", clientID)
	}
	return out, nil
}

// Match implements session.Store, from the in-memory index.
func (st *Store) Match(ctx context.Context, name string) ([]session.Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, wrap(err, "match %q", name)
	}
	var out []session.Subscription
	st.subs.Match(name, func(e *topic.Entry[session.Subscription]) bool {
		out = append(out, e.Value)
		return true
	})
	return out, nil
}
