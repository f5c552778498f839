package boltstore

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/mqttless/mqttless/core/session"
)

// A record is how the file holds a value that carries a message (an
// outbound message, a QoS 2 receive state, a will, a stream entry): recordV1, the length of
// a header (4 bytes big-endian), the header (the value as JSON, the
// message's payload left out) and then the payload's raw bytes. The payload
// thus costs its own size on disk, not the third more of base64 in JSON.
// Values written before records were introduced are plain JSON, which
// starts with '{'; getRecord reads both.
const recordV1 = 0x01

// withoutPayload returns a copy of v (an *Outbound, *Inbound, *Will or *streamRecord)
// whose message has no payload, and that payload; v itself for any other
// value, with a nil payload.
func withoutPayload(v any) (any, []byte) {
	switch x := v.(type) {
	case *session.Outbound:
		c := *x
		c.Message.Payload = nil
		return &c, x.Message.Payload
	case *session.Inbound:
		c := *x
		c.Message.Payload = nil
		return &c, x.Message.Payload
	case *session.Will:
		c := *x
		c.Message.Payload = nil
		return &c, x.Message.Payload
	case *streamRecord:
		c := *x
		c.Message.Payload = nil
		return &c, x.Message.Payload
	}
	return v, nil
}

// messageOf returns the message inside v, or nil for a value without one.
func messageOf(v any) *session.Message {
	switch x := v.(type) {
	case *session.Outbound:
		return &x.Message
	case *session.Inbound:
		return &x.Message
	case *session.Will:
		return &x.Message
	case *streamRecord:
		return &x.Message
	}
	return nil
}

// encodeRecord encodes v (an *Outbound, *Inbound, *Will or *streamRecord) as a record.
func encodeRecord(v any) ([]byte, error) {
	hv, payload := withoutPayload(v)
	hdr, err := json.Marshal(hv)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, 5+len(hdr)+len(payload))
	b = append(b, recordV1)
	b = binary.BigEndian.AppendUint32(b, uint32(len(hdr)))
	b = append(b, hdr...)
	return append(b, payload...), nil
}

// putRecord stores v (an *Outbound, *Inbound, *Will or *streamRecord) as a record under k.
func putRecord(b *bolt.Bucket, k []byte, v any) error {
	data, err := encodeRecord(v)
	if err != nil {
		return err
	}
	return b.Put(k, data)
}

// getRecord decodes data, a record or plain JSON, into v. The payload is
// copied: data belongs to the transaction.
func getRecord(data []byte, v any) error {
	if len(data) == 0 || data[0] == '{' {
		return json.Unmarshal(data, v)
	}
	if data[0] != recordV1 || len(data) < 5 {
		return errors.New("unknown record format")
	}
	n := binary.BigEndian.Uint32(data[1:])
	if uint64(n) > uint64(len(data)-5) {
		return errors.New("truncated record")
	}
	if err := json.Unmarshal(data[5:5+n], v); err != nil {
		return err
	}
	m := messageOf(v)
	if m == nil {
		return fmt.Errorf("record of a %T", v)
	}
	if rest := data[5+n:]; len(rest) > 0 {
		m.Payload = append([]byte(nil), rest...)
	} else {
		m.Payload = nil
	}
	return nil
}
