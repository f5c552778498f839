package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mqttless/mqttless/core/session"
)

// The store steps of delivery v2 (session.StreamStore; docs/architecture.md,
// "Delivery v2"):
//
//   - Append: in the streams bucket, the nested bucket of the sub-stream
//     (streamKey) takes the entry under its next offset (8 bytes
//     big-endian), which is the bucket's sequence (bolt.Bucket.NextSequence):
//     it is part of the transaction, so a transaction that does not commit
//     (a group commit that runs again without a failed call) gives its
//     offsets back, and offsets are dense whatever runs concurrently. The
//     sequence, not the last key, is the head: trimming the oldest entries
//     never lowers it. Append is a durable write (update with batch set):
//     with WithGroupCommit or WithBatch concurrent Appends share one
//     commit and its fsync, and an Append returns once that commit is
//     done, never early.
//   - ReadStream: a cursor from after+1. Heads: each bucket's sequence.
//   - SavePositions: in the session bucket's pos bucket, one value per
//     sub-stream (encodePosition), in the transaction that checks conn
//     (owned). Only subscribed filters are written; Subscribe (of a new
//     subscription) and Unsubscribe remove a filter's positions, a Connect
//     that clears the session deletes the pos bucket (clearSession), and
//     DeleteSession the whole session bucket.
//   - Retention: see trimFront.

var _ session.StreamStore = (*Store)(nil)

// streamRecord is a stream entry as the file holds it, a record (see
// records.go): the message and when it was appended (Unix ms), which
// retention reads.
type streamRecord struct {
	At      int64           `json:"at"`
	Message session.Message `json:"m"`
}

// streamFill is the fill percent of stream buckets: entries are only added
// at the end, so pages split full rather than half full.
const streamFill = 0.95

// Trimming on Append: every trimEvery-th offset of a sub-stream, Append
// removes up to trimBatch of its oldest entries that are past retention;
// more than one per Append, so that a backlog left by a change of
// retention drains.
const (
	trimEvery = 64
	trimBatch = 128
)

// Append implements session.StreamStore.
func (st *Store) Append(ctx context.Context, id session.StreamID, msg *session.Message) (uint64, error) {
	offs, err := st.AppendBatch(ctx, []session.StreamAppend{{ID: id, Msg: msg}})
	if err != nil {
		return 0, err
	}
	return offs[0], nil
}

var _ session.StreamBatcher = (*Store)(nil)

// AppendBatch implements session.StreamBatcher: the entries are put in one
// transaction (and so share the group commit's fsync with other writers),
// each as Append puts it.
func (st *Store) AppendBatch(ctx context.Context, batch []session.StreamAppend) ([]uint64, error) {
	return st.AppendBatchShown(ctx, batch, nil)
}

var _ session.StreamShower = (*Store)(nil)

// AppendBatchShown implements session.StreamShower: with WithGroupCommit,
// shown gets the offsets once every function of the group commit has run,
// before the commit (group.commit); without it, shown is not called.
func (st *Store) AppendBatchShown(ctx context.Context, batch []session.StreamAppend, shown func(offs []uint64)) ([]uint64, error) {
	at := time.Now().UnixMilli()
	data := make([][]byte, len(batch))
	for i, a := range batch {
		if !fitsUint32(a.ID.Shard) {
			return nil, fmt.Errorf("boltstore: append to %q: shard %d out of range", a.ID.Filter, a.ID.Shard)
		}
		data[i] = encodeStreamRecord(&streamRecord{At: at, Message: *a.Msg})
	}
	offs := make([]uint64, len(batch))
	fn := func(tx *bolt.Tx) error {
		for i, a := range batch {
			sb, err := tx.Bucket(bStreams).CreateBucketIfNotExists(streamKey(a.ID))
			if err != nil {
				return err
			}
			sb.FillPercent = streamFill
			next, err := sb.NextSequence()
			if err != nil {
				return err
			}
			if next%trimEvery == 0 { // before the Put: never the entry appended
				if _, err := trimFront(sb, at, st.streamRetention, trimBatch); err != nil {
					return err
				}
			}
			if err := sb.Put(seqKey(next), data[i]); err != nil {
				return err
			}
			offs[i] = next
		}
		return nil
	}
	var err error
	if shown != nil && st.group != nil {
		if err = ctx.Err(); err == nil {
			err = st.group.updateShown(fn, nil, nil, func() { shown(slices.Clone(offs)) })
		}
	} else {
		err = st.update(ctx, true, nil, fn)
	}
	if err != nil {
		return nil, wrap(err, "append %d entries", len(batch))
	}
	return offs, nil
}

// ReadStream implements session.StreamStore.
func (st *Store) ReadStream(ctx context.Context, id session.StreamID, after uint64, limit int) ([]session.StreamEntry, error) {
	if after == math.MaxUint64 || limit <= 0 || !fitsUint32(id.Shard) {
		return nil, nil
	}
	var out []session.StreamEntry
	err := st.view(ctx, func(tx *bolt.Tx) error {
		out = nil
		sb := tx.Bucket(bStreams).Bucket(streamKey(id))
		if sb == nil {
			return nil
		}
		c := sb.Cursor()
		for k, v := c.Seek(seqKey(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			var r streamRecord
			if err := getStreamRecord(v, &r); err != nil {
				return fmt.Errorf("decode entry %x: %w", k, err)
			}
			out = append(out, session.StreamEntry{Offset: binary.BigEndian.Uint64(k), Message: r.Message})
		}
		return nil
	})
	if err != nil {
		return nil, wrap(err, "read stream %q shard %d", id.Filter, id.Shard)
	}
	return out, nil
}

// Heads implements session.StreamStore.
func (st *Store) Heads(ctx context.Context, ids []session.StreamID) (map[session.StreamID]uint64, error) {
	out := make(map[session.StreamID]uint64, len(ids))
	err := st.view(ctx, func(tx *bolt.Tx) error {
		streams := tx.Bucket(bStreams)
		for _, id := range ids {
			out[id] = 0
			if !fitsUint32(id.Shard) {
				continue
			}
			if sb := streams.Bucket(streamKey(id)); sb != nil {
				out[id] = sb.Sequence()
			}
		}
		return nil
	})
	if err != nil {
		return nil, wrap(err, "heads")
	}
	return out, nil
}

// SavePositions implements session.StreamStore. A position of a filter the
// session does not subscribe to is not written: the subscription went, and
// its positions with it.
func (st *Store) SavePositions(ctx context.Context, clientID, conn string, pos session.Positions) error {
	vals := make(map[string][]byte, len(pos))
	for id, p := range pos {
		if !fitsUint32(id.Shard) || !fitsUint32(p.Number) {
			return fmt.Errorf("boltstore: positions of %q: sub-stream %q shard %d, number %d out of range", clientID, id.Filter, id.Shard, p.Number)
		}
		vals[string(streamKey(id))] = encodePosition(p)
	}
	var early bool
	err := st.update(ctx, true, &early, func(tx *bolt.Tx) error {
		early = false
		cb, ends, err := ownedFence(tx, clientID, conn)
		if err != nil {
			return err
		}
		// Positions of a session that ends with its connection are of no
		// use after a crash (see "Durability of ending sessions").
		early = ends
		u := cb.Bucket(bSubs)
		var pb *bolt.Bucket
		for k, v := range vals {
			id, _ := parseStreamKey([]byte(k))
			if u == nil || u.Get([]byte(id.Filter)) == nil {
				continue
			}
			if pb == nil {
				if pb, err = cb.CreateBucketIfNotExists(bPos); err != nil {
					return err
				}
			}
			if err := pb.Put([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	})
	return wrap(err, "positions of %q", clientID)
}

// Positions implements session.StreamStore. Those of filters the session
// does not subscribe to are left out, as the contract reads (none are
// written, see SavePositions and dropPositions).
func (st *Store) Positions(ctx context.Context, clientID string) (session.Positions, error) {
	out := session.Positions{}
	err := st.view(ctx, func(tx *bolt.Tx) error {
		clear(out)
		cb := tx.Bucket(bSessions).Bucket([]byte(clientID))
		if cb == nil || cb.Bucket(bPos) == nil {
			return nil
		}
		u := cb.Bucket(bSubs)
		return cb.Bucket(bPos).ForEach(func(k, v []byte) error {
			id, ok := parseStreamKey(k)
			if !ok {
				return fmt.Errorf("position key %x", k)
			}
			if u == nil || u.Get([]byte(id.Filter)) == nil {
				return nil
			}
			p, err := decodePosition(v)
			if err != nil {
				return fmt.Errorf("position of %q shard %d: %w", id.Filter, id.Shard, err)
			}
			out[id] = p
			return nil
		})
	})
	if err != nil {
		return nil, wrap(err, "positions of %q", clientID)
	}
	return out, nil
}

// dropPositions removes the positions of filter from the session bucket cb.
func dropPositions(cb *bolt.Bucket, filter string) error {
	pb := cb.Bucket(bPos)
	if pb == nil {
		return nil
	}
	prefix := filterPrefix(filter)
	var keys [][]byte
	c := pb.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := pb.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// fitsUint32 reports whether n has 4 bytes in a key or a position.
func fitsUint32(n int) bool { return n >= 0 && uint64(n) <= math.MaxUint32 }

// encodePosition encodes p: Number (4 bytes big-endian), Acked (8) and
// each of Released (8).
func encodePosition(p session.Position) []byte {
	b := make([]byte, 0, 12+8*len(p.Released))
	b = binary.BigEndian.AppendUint32(b, uint32(p.Number))
	b = binary.BigEndian.AppendUint64(b, p.Acked)
	for _, r := range p.Released {
		b = binary.BigEndian.AppendUint64(b, r)
	}
	return b
}

// decodePosition decodes what encodePosition wrote, into new memory.
func decodePosition(b []byte) (session.Position, error) {
	if len(b) < 12 || (len(b)-12)%8 != 0 {
		return session.Position{}, errors.New("malformed position")
	}
	p := session.Position{Number: int(binary.BigEndian.Uint32(b)), Acked: binary.BigEndian.Uint64(b[4:])}
	for b = b[12:]; len(b) > 0; b = b[8:] {
		p.Released = append(p.Released, binary.BigEndian.Uint64(b))
	}
	return p, nil
}

// WithStreamRetention keeps a stream entry at least d after its append:
// later, it is removed (see trimFront), as it is once its message has
// expired. The design's rule (docs/architecture.md, "Delivery v2",
// "Retention") makes d the longest session expiry plus a day: a session
// offline longer than its expiry is gone, so none still needs the entry.
// 0, the default, removes entries only when their message expires.
func WithStreamRetention(d time.Duration) Option {
	return func(o *options) { o.streamRetention = d }
}

// trimFront removes the oldest entries of the sub-stream bucket sb, up to
// limit, as long as they are expired at now (Unix ms): appended more than
// retention ago (retention > 0), or holding a message past its expiry. It
// stops at the first entry that stays, so a sub-stream always holds the
// offsets from its oldest entry to its head, without holes: ReadStream
// from a position below the oldest entry starts at the oldest entry. The
// bucket stays when it is emptied, since its sequence is the head.
func trimFront(sb *bolt.Bucket, now int64, retention time.Duration, limit int) (int, error) {
	var keys [][]byte
	c := sb.Cursor()
	for k, v := c.First(); k != nil && len(keys) < limit; k, v = c.Next() {
		var r streamRecord
		if err := getStreamRecord(v, &r); err != nil {
			return 0, fmt.Errorf("decode entry %x: %w", k, err)
		}
		old := retention > 0 && r.At+retention.Milliseconds() <= now
		expired := r.Message.ExpiresAt != 0 && r.Message.ExpiresAt <= now
		if !old && !expired {
			break
		}
		keys = append(keys, bytes.Clone(k))
	}
	for _, k := range keys {
		if err := sb.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(keys), nil
}

// TrimStreams removes, in one transaction, up to limit of the entries past
// retention at now (Unix ms; see trimFront) from the front of every
// sub-stream, and returns how many it removed. Append trims the sub-stream
// it writes to as it goes; TrimStreams is for those that get no more
// appends, run from a periodic sweep.
func (st *Store) TrimStreams(ctx context.Context, now int64, limit int) (int, error) {
	var n int
	err := st.update(ctx, false, nil, func(tx *bolt.Tx) error {
		n = 0
		streams := tx.Bucket(bStreams)
		var keys [][]byte
		if err := streams.ForEachBucket(func(k []byte) error {
			keys = append(keys, bytes.Clone(k))
			return nil
		}); err != nil {
			return err
		}
		for _, k := range keys {
			if n >= limit {
				break
			}
			m, err := trimFront(streams.Bucket(k), now, st.streamRetention, limit-n)
			if err != nil {
				return fmt.Errorf("stream %x: %w", k, err)
			}
			n += m
		}
		return nil
	})
	if err != nil {
		return 0, wrap(err, "trim streams")
	}
	return n, nil
}

var _ session.StreamTrimmer = (*Store)(nil)
