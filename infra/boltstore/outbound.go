package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/mqttless/mqttless/core/session"
)

// counters are a session's outbound bookkeeping.
type counters struct {
	seq      uint64 // the last Seq assigned
	pid      uint16 // the last packet id assigned
	queued   uint32 // messages in bucket q
	inflight uint32 // messages in bucket f
	// bytes is the Message.Size of the messages in bucket q, for
	// QueueLimit.Bytes. A file written before it was kept has 18-byte
	// counters and starts it at 0: its old queue is not counted.
	bytes uint64
}

// getCounters reads the counters of the session bucket cb.
func getCounters(cb *bolt.Bucket) counters {
	v := cb.Get(kCounters)
	if len(v) != 18 && len(v) != 26 {
		return counters{}
	}
	n := counters{
		seq:      binary.BigEndian.Uint64(v),
		pid:      binary.BigEndian.Uint16(v[8:]),
		queued:   binary.BigEndian.Uint32(v[10:]),
		inflight: binary.BigEndian.Uint32(v[14:]),
	}
	if len(v) == 26 {
		n.bytes = binary.BigEndian.Uint64(v[18:])
	}
	return n
}

// putCounters writes n to the session bucket cb, and adds the change of
// its bytes to the store's count (kQueuedBytes).
func putCounters(cb *bolt.Bucket, n counters) error {
	if err := addQueuedBytes(cb.Tx(), int64(n.bytes)-int64(getCounters(cb).bytes)); err != nil {
		return err
	}
	v := make([]byte, 0, 26)
	v = binary.BigEndian.AppendUint64(v, n.seq)
	v = binary.BigEndian.AppendUint16(v, n.pid)
	v = binary.BigEndian.AppendUint32(v, n.queued)
	v = binary.BigEndian.AppendUint32(v, n.inflight)
	v = binary.BigEndian.AppendUint64(v, n.bytes)
	return cb.Put(kCounters, v)
}

// Enqueue implements session.Store.
func (st *Store) Enqueue(ctx context.Context, clientID string, msgs []*session.Outbound, limit session.QueueLimit, conn string, window int) (int, []*session.Outbound, error) {
	var (
		accepted   int
		dispatched []*session.Outbound
	)
	var early bool
	var fence error // a dispatch fenced off (the queue is written)
	err := st.update(ctx, true, &early, func(tx *bolt.Tx) error {
		accepted, dispatched, fence = 0, nil, nil
		early = st.endingCached(clientID)
		cb := tx.Bucket(bSessions).Bucket([]byte(clientID))
		if cb == nil {
			return errNoSession(clientID)
		}
		n := getCounters(cb)
		total := queuedBytes(tx)
		if len(msgs) > 0 && int64(n.queued) < int64(limit.Messages) {
			q, err := cb.CreateBucketIfNotExists(bQueued)
			if err != nil {
				return err
			}
			for _, m := range msgs {
				if !limit.Takes(int(n.queued), int(min(n.bytes, 1<<62)), total) {
					break
				}
				n.bytes += uint64(m.Message.Size())
				total += int64(m.Message.Size())
				o := *m
				n.seq++
				o.Seq, o.State, o.PacketID = n.seq, session.Queued, 0
				if err := putRecord(q, seqKey(o.Seq), &o); err != nil {
					return err
				}
				n.queued++
				accepted++
			}
		}
		if window > 0 {
			if err := dispatchFence(cb, clientID, conn); err != nil {
				fence = err // the messages are queued all the same
			} else if dispatched, err = dispatch(cb, &n, window, st.pidMax()); err != nil {
				return err
			}
		}
		return putCounters(cb, n)
	})
	if err != nil {
		return 0, nil, wrap(err, "enqueue for %q", clientID)
	}
	if fence != nil {
		return accepted, nil, wrap(fence, "enqueue for %q", clientID)
	}
	return accepted, dispatched, nil
}

// dispatchFence returns ErrFenced when conn is not empty and not the
// connection of the session bucket cb (session.Store.Dispatch, Receive,
// Acknowledge): checked in the transaction that writes, so no takeover
// comes between the check and the write.
func dispatchFence(cb *bolt.Bucket, clientID, conn string) error {
	if conn == "" {
		return nil
	}
	s, err := getSessionHead(cb)
	if err != nil {
		return err
	}
	if s.Conn != conn {
		return errFenced(clientID, conn)
	}
	return nil
}

// Dispatch implements session.Store.
func (st *Store) Dispatch(ctx context.Context, clientID, conn string, window int) ([]*session.Outbound, error) {
	var dispatched []*session.Outbound
	var early bool
	err := st.update(ctx, true, &early, func(tx *bolt.Tx) error {
		dispatched = nil
		early = st.endingCached(clientID)
		cb := tx.Bucket(bSessions).Bucket([]byte(clientID))
		if cb == nil {
			return nil
		}
		if err := dispatchFence(cb, clientID, conn); err != nil {
			return err
		}
		n := getCounters(cb)
		if n.queued == 0 {
			return nil
		}
		var err error
		if dispatched, err = dispatch(cb, &n, window, st.pidMax()); err != nil {
			return err
		}
		return putCounters(cb, n)
	})
	if err != nil {
		return nil, wrap(err, "dispatch for %q", clientID)
	}
	return dispatched, nil
}

// dispatch moves queued messages of the session bucket cb in flight as
// Dispatch describes, updating n, and returns them, with packet ids in
// 1..maxPID (LimitPacketIDs).
func dispatch(cb *bolt.Bucket, n *counters, window int, maxPID uint16) ([]*session.Outbound, error) {
	q := cb.Bucket(bQueued)
	if q == nil || n.queued == 0 {
		return nil, nil
	}
	// There are only maxPID packet ids to hand out.
	window = min(window, int(maxPID))
	var f, p *bolt.Bucket
	var out []*session.Outbound
	var after uint64 // the latest Seq in flight (Outbound.After)
	if f = cb.Bucket(bInflight); f != nil {
		if k, _ := f.Cursor().Last(); len(k) == 8 {
			after = binary.BigEndian.Uint64(k)
		}
	}
	c := q.Cursor()
	for k, v := c.First(); k != nil; k, v = c.First() {
		o := new(session.Outbound)
		if err := getRecord(v, o); err != nil {
			return nil, fmt.Errorf("decode outbound message %x: %w", k, err)
		}
		if o.QoS > 0 && int64(n.inflight) >= int64(window) {
			break // keep order: nothing overtakes a waiting message
		}
		key := bytes.Clone(k)
		if err := c.Delete(); err != nil {
			return nil, err
		}
		n.queued--
		n.bytes -= min(n.bytes, uint64(o.Message.Size()))
		out = append(out, o)
		if o.QoS == 0 {
			continue // handed out and gone
		}
		if f == nil || p == nil {
			var err error
			if f, err = cb.CreateBucketIfNotExists(bInflight); err != nil {
				return nil, err
			}
			if p, err = cb.CreateBucketIfNotExists(bPIDs); err != nil {
				return nil, err
			}
		}
		pid, err := allocPID(p, n, maxPID)
		if err != nil {
			return nil, err
		}
		o.PacketID, o.State = pid, session.Sent
		if err := putRecord(f, key, o); err != nil {
			return nil, err
		}
		if err := p.Put(pidKey(pid), key); err != nil {
			return nil, err
		}
		o.After, after = after, o.Seq // not stored
		n.inflight++
	}
	return out, nil
}

// allocPID returns the packet id after n.pid (wrapping past maxPID, never
// 0) that no message in flight uses, per the packet id bucket p.
func allocPID(p *bolt.Bucket, n *counters, maxPID uint16) (uint16, error) {
	for range int(maxPID) {
		n.pid++
		if n.pid == 0 || n.pid > maxPID {
			n.pid = 1
		}
		if p.Get(pidKey(n.pid)) == nil {
			return n.pid, nil
		}
	}
	return 0, errors.New("every packet id is in flight")
}

// Inflight implements session.Store.
func (st *Store) Inflight(ctx context.Context, clientID string) ([]*session.Outbound, error) {
	var out []*session.Outbound
	err := st.view(ctx, func(tx *bolt.Tx) error {
		msgs, err := decodeAll[session.Outbound](tx, clientID, bInflight)
		for i := range msgs {
			out = append(out, &msgs[i])
		}
		return err
	})
	if err != nil {
		return nil, wrap(err, "in flight for %q", clientID)
	}
	return out, nil
}

// Acknowledge implements session.Store.
func (st *Store) Acknowledge(ctx context.Context, clientID, conn string, packetID uint16) error {
	return st.ack(ctx, clientID, conn, packetID, 1, session.Sent, false)
}

// Release implements session.Store.
func (st *Store) Release(ctx context.Context, clientID, conn string, packetID uint16) error {
	return st.ack(ctx, clientID, conn, packetID, 2, session.Sent, true)
}

// Complete implements session.Store.
func (st *Store) Complete(ctx context.Context, clientID, conn string, packetID uint16) error {
	return st.ack(ctx, clientID, conn, packetID, 2, session.Released, false)
}

// ack applies an acknowledgement of connection conn (fenced on it, see
// dispatchFence) to the in-flight message under packetID, which must have
// QoS qos and be in state from (or already Released, when release):
// release makes it Released, otherwise it is removed.
func (st *Store) ack(ctx context.Context, clientID, conn string, packetID uint16, qos byte, from session.OutState, release bool) error {
	var early bool
	err := st.update(ctx, true, &early, func(tx *bolt.Tx) error {
		early = st.endingCached(clientID)
		notFound := fmt.Errorf("packet id %d of %q: %w", packetID, clientID, session.ErrNotFound)
		cb := tx.Bucket(bSessions).Bucket([]byte(clientID))
		if cb == nil {
			return notFound
		}
		if err := dispatchFence(cb, clientID, conn); err != nil {
			return err
		}
		p, f := cb.Bucket(bPIDs), cb.Bucket(bInflight)
		if p == nil || f == nil {
			return notFound
		}
		pk := pidKey(packetID)
		key := p.Get(pk)
		if key == nil {
			return notFound
		}
		key = bytes.Clone(key)
		var o session.Outbound
		if err := getRecord(f.Get(key), &o); err != nil {
			return fmt.Errorf("decode outbound message %x: %w", key, err)
		}
		if o.QoS != qos || o.State != from && !(release && o.State == session.Released) {
			return notFound
		}
		if release {
			if o.State == session.Released {
				return nil
			}
			o.State = session.Released
			return putRecord(f, key, &o)
		}
		if err := f.Delete(key); err != nil {
			return err
		}
		if err := p.Delete(pk); err != nil {
			return err
		}
		n := getCounters(cb)
		n.inflight--
		return putCounters(cb, n)
	})
	return wrap(err, "acknowledge")
}
