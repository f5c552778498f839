package boltstore

import (
	"context"
	"encoding/binary"

	bolt "go.etcd.io/bbolt"

	"github.com/mqttless/mqttless/core/session"
)

// kQueuedBytes, in bucket meta, is the Message.Size of the queued
// messages of every session (session.StoreBytesCounter), an 8-byte
// big-endian count: the sum of the sessions' counters.bytes. putCounters
// adds each change of a session's counters.bytes to it, and deleteSession
// takes off what a deleted session held, in the same transaction, so it is
// always that of the committed file. A file written before it was kept
// has none: init counts it from the sessions' counters.
var kQueuedBytes = []byte("queuedBytes")

var _ session.StoreBytesCounter = (*Store)(nil)

// queuedBytes returns the count of kQueuedBytes in tx.
func queuedBytes(tx *bolt.Tx) int64 {
	v := tx.Bucket(bMeta).Get(kQueuedBytes)
	if len(v) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(v))
}

// addQueuedBytes adds delta to the count of kQueuedBytes, never below 0.
func addQueuedBytes(tx *bolt.Tx, delta int64) error {
	if delta == 0 {
		return nil
	}
	n := max(queuedBytes(tx)+delta, 0)
	return tx.Bucket(bMeta).Put(kQueuedBytes, binary.BigEndian.AppendUint64(nil, uint64(n)))
}

// initQueuedBytes counts kQueuedBytes in a file written before it was kept.
func initQueuedBytes(tx *bolt.Tx) error {
	meta := tx.Bucket(bMeta)
	if meta.Get(kQueuedBytes) != nil {
		return nil
	}
	var n uint64
	sessions := tx.Bucket(bSessions)
	err := sessions.ForEachBucket(func(id []byte) error {
		n += getCounters(sessions.Bucket(id)).bytes
		return nil
	})
	if err != nil {
		return err
	}
	return meta.Put(kQueuedBytes, binary.BigEndian.AppendUint64(nil, n))
}

// QueuedStoreBytes implements session.StoreBytesCounter.
func (st *Store) QueuedStoreBytes(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, wrap(err, "queued bytes")
	}
	var n int64
	err := st.db.View(func(tx *bolt.Tx) error {
		n = queuedBytes(tx)
		return nil
	})
	if err != nil {
		return 0, wrap(err, "queued bytes")
	}
	return n, nil
}
