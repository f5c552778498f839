package boltstore

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/mqttless/mqttless/core/session"
)

// Receive implements session.Store.
func (st *Store) Receive(ctx context.Context, clientID, conn string, in *session.Inbound) (*session.Inbound, error) {
	var existing *session.Inbound
	err := st.update(ctx, true, nil, func(tx *bolt.Tx) error {
		existing = nil
		cb := tx.Bucket(bSessions).Bucket([]byte(clientID))
		if cb == nil {
			return errNoSession(clientID)
		}
		if err := dispatchFence(cb, clientID, conn); err != nil {
			return err
		}
		b, err := cb.CreateBucketIfNotExists(bInbound)
		if err != nil {
			return err
		}
		k := pidKey(in.PacketID)
		if v := b.Get(k); v != nil {
			existing = new(session.Inbound)
			return getRecord(v, existing)
		}
		return putRecord(b, k, in)
	})
	if err != nil {
		return nil, wrap(err, "receive packet id %d", in.PacketID)
	}
	return existing, nil
}

// inbound runs fn on the receive state of packetID of clientID.
func (st *Store) inbound(ctx context.Context, clientID, conn string, packetID uint16, fn func(b *bolt.Bucket, k, v []byte) error) error {
	return st.update(ctx, true, nil, func(tx *bolt.Tx) error {
		notFound := fmt.Errorf("receive state of packet id %d of %q: %w", packetID, clientID, session.ErrNotFound)
		cb := tx.Bucket(bSessions).Bucket([]byte(clientID))
		if cb == nil {
			return notFound
		}
		if err := dispatchFence(cb, clientID, conn); err != nil {
			return err
		}
		b := cb.Bucket(bInbound)
		if b == nil {
			return notFound
		}
		k := pidKey(packetID)
		v := b.Get(k)
		if v == nil {
			return notFound
		}
		return fn(b, k, v)
	})
}

// MarkFannedOut implements session.Store.
func (st *Store) MarkFannedOut(ctx context.Context, clientID, conn string, packetID uint16) error {
	err := st.inbound(ctx, clientID, conn, packetID, func(b *bolt.Bucket, k, v []byte) error {
		var in session.Inbound
		if err := getRecord(v, &in); err != nil {
			return err
		}
		if in.Routed {
			return nil
		}
		in.Routed = true
		return putRecord(b, k, &in)
	})
	return wrap(err, "mark fanned out")
}

// Receiving implements session.Store. It counts the keys of bucket i, at
// most the server's Receive Maximum of them.
func (st *Store) Receiving(ctx context.Context, clientID string) (int, error) {
	n := 0
	err := st.view(ctx, func(tx *bolt.Tx) error {
		n = 0
		cb := tx.Bucket(bSessions).Bucket([]byte(clientID))
		if cb == nil || cb.Bucket(bInbound) == nil {
			return nil
		}
		c := cb.Bucket(bInbound).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			n++
		}
		return nil
	})
	return n, wrap(err, "receiving of %q", clientID)
}

// Forget implements session.Store.
func (st *Store) Forget(ctx context.Context, clientID, conn string, packetID uint16) error {
	err := st.inbound(ctx, clientID, conn, packetID, func(b *bolt.Bucket, k, _ []byte) error {
		return b.Delete(k)
	})
	return wrap(err, "forget")
}
