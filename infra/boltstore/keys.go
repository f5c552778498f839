package boltstore

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Bucket names and keys.
var (
	bMeta     = []byte("meta")
	bSessions = []byte("sessions")
	bRetained = []byte("retained")
	bDue      = []byte("due")

	kFormat   = []byte("format")
	kSession  = []byte("s")
	kCounters = []byte("n")
	bQueued   = []byte("q")
	bInflight = []byte("f")
	bPIDs     = []byte("p")
	bInbound  = []byte("i")
	bSubs     = []byte("u")
)

// format is the layout version written to meta.
const format = "1"

// putJSON stores v encoded as JSON under k.
func putJSON(b *bolt.Bucket, k []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(k, data)
}

// seqKey is the key of Seq seq.
func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq) }

// pidKey is the key of packet id id.
func pidKey(id uint16) []byte { return binary.BigEndian.AppendUint16(make([]byte, 0, 2), id) }

// dueKey is the due-bucket key of clientID at time t (Unix ms).
func dueKey(t int64, clientID string) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(clientID)), uint64(max(t, 0)))
	return append(k, clientID...)
}

// decodeAll decodes, in key order, every value (JSON or a record) of the
// nested bucket name of clientID's session bucket; a missing session or
// bucket holds none.
func decodeAll[T any](tx *bolt.Tx, clientID string, name []byte) ([]T, error) {
	cb := tx.Bucket(bSessions).Bucket([]byte(clientID))
	if cb == nil || cb.Bucket(name) == nil {
		return nil, nil
	}
	var out []T
	err := cb.Bucket(name).ForEach(func(k, v []byte) error {
		var x T
		if err := getRecord(v, &x); err != nil {
			return fmt.Errorf("decode %s %x: %w", name, k, err)
		}
		out = append(out, x)
		return nil
	})
	return out, err
}
