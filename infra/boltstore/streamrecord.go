package boltstore

import (
	"encoding/binary"
	"errors"

	"github.com/mqttless/mqttless/core/packet"
)

// A stream entry (streams.go) is written as a stream record, a binary form
// of streamRecord: every published QoS 1 and 2 message under delivery v2
// is one, so it is encoded without reflection and takes fewer bytes than a
// record's JSON header (records.go). Its layout, after the byte
// recordStream:
//
//	at, expiresAt          8 bytes big-endian each (Unix ms)
//	qos, flags, has, pfi   1 byte each (flags: 1 retain, 2 receipt)
//	topic, publisher, identity, content type, response topic,
//	[receipt, with flag 2,]
//	correlation data       each a uvarint length then its bytes
//	user properties        a uvarint count, then key and value as above
//	payload                the rest, raw
//
// getRecord reads it as well as the JSON forms, so that entries written
// before it (records, recordV1) stay readable. A string or byte slice that
// is empty reads back as "" or nil, as with the JSON header's omitempty.
const recordStream = 0x02

const (
	flagRetain  = 1
	flagReceipt = 2 // a QoS 2 message's Receipt follows the response topic; entries written before it have none
)

// encodeStreamRecord encodes r as a stream record.
func encodeStreamRecord(r *streamRecord) []byte {
	m := &r.Message
	n := 1 + 8 + 8 + 4 + 7*binary.MaxVarintLen32 + len(m.Topic) + len(m.Publisher) + len(m.Identity) + len(m.Receipt) +
		len(m.Props.ContentType) + len(m.Props.ResponseTopic) + len(m.Props.CorrelationData) + binary.MaxVarintLen32 + len(m.Payload)
	for _, u := range m.Props.User {
		n += 2*binary.MaxVarintLen32 + len(u.Key) + len(u.Value)
	}
	b := make([]byte, 0, n)
	b = append(b, recordStream)
	b = binary.BigEndian.AppendUint64(b, uint64(r.At))
	b = binary.BigEndian.AppendUint64(b, uint64(m.ExpiresAt))
	var flags byte
	if m.Retain {
		flags |= flagRetain
	}
	if m.Receipt != "" {
		flags |= flagReceipt
	}
	b = append(b, m.QoS, flags, m.Props.Has, m.Props.PayloadFormat)
	for _, s := range []string{m.Topic, m.Publisher, m.Identity, m.Props.ContentType, m.Props.ResponseTopic} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	if m.Receipt != "" {
		b = binary.AppendUvarint(b, uint64(len(m.Receipt)))
		b = append(b, m.Receipt...)
	}
	b = binary.AppendUvarint(b, uint64(len(m.Props.CorrelationData)))
	b = append(b, m.Props.CorrelationData...)
	b = binary.AppendUvarint(b, uint64(len(m.Props.User)))
	for _, u := range m.Props.User {
		b = binary.AppendUvarint(b, uint64(len(u.Key)))
		b = append(b, u.Key...)
		b = binary.AppendUvarint(b, uint64(len(u.Value)))
		b = append(b, u.Value...)
	}
	return append(b, m.Payload...)
}

var errStreamRecord = errors.New("malformed stream record")

// decodeStreamRecord decodes what encodeStreamRecord wrote into r, copying
// every byte it keeps: data belongs to the transaction.
func decodeStreamRecord(data []byte, r *streamRecord) error {
	d := data[1:]
	if len(d) < 20 {
		return errStreamRecord
	}
	*r = streamRecord{At: int64(binary.BigEndian.Uint64(d))}
	m := &r.Message
	m.ExpiresAt = int64(binary.BigEndian.Uint64(d[8:]))
	m.QoS, m.Retain, m.Props.Has, m.Props.PayloadFormat = d[16], d[17]&flagRetain != 0, d[18], d[19]
	receipt := d[17]&flagReceipt != 0
	d = d[20:]
	next := func() ([]byte, bool) {
		n, k := binary.Uvarint(d)
		if k <= 0 || n > uint64(len(d)-k) {
			return nil, false
		}
		s := d[k : k+int(n)]
		d = d[k+int(n):]
		return s, true
	}
	for _, p := range []*string{&m.Topic, &m.Publisher, &m.Identity, &m.Props.ContentType, &m.Props.ResponseTopic} {
		s, ok := next()
		if !ok {
			return errStreamRecord
		}
		*p = string(s)
	}
	if receipt {
		s, ok := next()
		if !ok {
			return errStreamRecord
		}
		m.Receipt = string(s)
	}
	cd, ok := next()
	if !ok {
		return errStreamRecord
	}
	if len(cd) > 0 {
		m.Props.CorrelationData = append([]byte(nil), cd...)
	}
	count, k := binary.Uvarint(d)
	if k <= 0 || count > uint64(len(d)) { // each property takes 2 bytes at least
		return errStreamRecord
	}
	d = d[k:]
	if count > 0 {
		m.Props.User = make([]packet.UserProperty, count)
		for i := range m.Props.User {
			key, ok1 := next()
			val, ok2 := next()
			if !ok1 || !ok2 {
				return errStreamRecord
			}
			m.Props.User[i] = packet.UserProperty{Key: string(key), Value: string(val)}
		}
	}
	if len(d) > 0 {
		m.Payload = append([]byte(nil), d...)
	}
	return nil
}

// getStreamRecord decodes a stream entry's value: a stream record, or a
// record or plain JSON written before stream records.
func getStreamRecord(data []byte, r *streamRecord) error {
	if len(data) > 0 && data[0] == recordStream {
		return decodeStreamRecord(data, r)
	}
	return getRecord(data, r)
}
