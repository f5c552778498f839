package boltstore

import (
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/mqttless/mqttless/core/session"
)

// bRetainedBy counts the retained messages by the identity recorded with
// them (session.Message.Identity; "" for the broker's own and for messages
// retained before identities were recorded), for the per-identity limits
// of SetRetained: key retainedByKey(identity), value a retainedTotals. Every write to the
// retained bucket updates it in the same transaction; an identity that
// holds nothing has no key.
var bRetainedBy = []byte("retainedBy")

// retainedByKey is the key of identity in bRetainedBy: "i/" and the
// identity, since bbolt takes no empty key.
func retainedByKey(identity string) []byte { return []byte("i/" + identity) }

// getRetainedBy returns what identity's retained messages hold.
func getRetainedBy(tx *bolt.Tx, identity string) (retainedTotals, error) {
	var t retainedTotals
	v := tx.Bucket(bRetainedBy).Get(retainedByKey(identity))
	if v == nil {
		return t, nil
	}
	if err := json.Unmarshal(v, &t); err != nil {
		return t, fmt.Errorf("retained totals of %q: %w", identity, err)
	}
	return t, nil
}

// addRetainedBy adds n messages and bytes to what identity holds.
func addRetainedBy(tx *bolt.Tx, identity string, n int, bytes int64) error {
	t, err := getRetainedBy(tx, identity)
	if err != nil {
		return err
	}
	t.N += n
	t.Bytes += bytes
	if t.N <= 0 {
		return tx.Bucket(bRetainedBy).Delete(retainedByKey(identity))
	}
	return putJSON(tx.Bucket(bRetainedBy), retainedByKey(identity), &t)
}

// initRetainedBy counts the retained bucket by identity in a file written
// before the counts were kept.
func initRetainedBy(tx *bolt.Tx) error {
	if tx.Bucket(bRetainedBy) != nil {
		return nil
	}
	if _, err := tx.CreateBucket(bRetainedBy); err != nil {
		return err
	}
	return tx.Bucket(bRetained).ForEach(func(k, v []byte) error {
		var m session.Message
		if err := json.Unmarshal(v, &m); err != nil {
			return fmt.Errorf("retained %q: %w", k, err)
		}
		return addRetainedBy(tx, m.Identity, 1, int64(m.Size()))
	})
}
