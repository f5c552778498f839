package boltstore

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/mqttless/mqttless/core/session"
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
	bPos      = []byte("pos")
	bStreams  = []byte("streams")
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

// streamKey is the key of sub-stream id, in the streams bucket and in a
// session's pos bucket: the filter, a zero byte (which no filter holds: a
// UTF-8 string carries no U+0000 [MQTT-1.5.4-2]) and the shard (4 bytes
// big-endian). The positions of a filter thus share the prefix
// filterPrefix(filter).
func streamKey(id session.StreamID) []byte {
	return binary.BigEndian.AppendUint32(filterPrefix(id.Filter), uint32(id.Shard))
}

// filterPrefix is the prefix of the streamKeys of filter.
func filterPrefix(filter string) []byte {
	return append(append(make([]byte, 0, len(filter)+5), filter...), 0)
}

// parseStreamKey reads a streamKey.
func parseStreamKey(k []byte) (session.StreamID, bool) {
	n := len(k) - 5
	if n < 0 || k[n] != 0 {
		return session.StreamID{}, false
	}
	return session.StreamID{Filter: string(k[:n]), Shard: int(binary.BigEndian.Uint32(k[n+1:]))}, true
}

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
