package boltstore

import (
	"reflect"
	"testing"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// A stream entry reads back as the message appended, whichever of its
// fields are set, and entries written as records before stream records
// existed still read.
func TestStreamRecordRoundTrip(t *testing.T) {
	full := streamRecord{At: 1764751234567, Message: session.Message{
		Topic: "a/b", Payload: []byte{0, 1, 2, 0xff}, QoS: 2, Retain: true, Publisher: "pub", Identity: "id",
		ExpiresAt: 1764751299999,
		Props: session.Props{PayloadFormat: 1, ContentType: "text/plain", ResponseTopic: "r/t",
			CorrelationData: []byte("corr"), User: []packet.UserProperty{{Key: "k", Value: "v"}, {Key: "", Value: "empty key"}},
			Has: 0x0f},
	}}
	for _, r := range []streamRecord{full, {At: 1, Message: session.Message{Topic: "t", QoS: 1}}} {
		data := encodeStreamRecord(&r)
		var got streamRecord
		if err := getStreamRecord(data, &got); err != nil {
			t.Fatalf("decode %+v: %v", r, err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Fatalf("decoded %+v, want %+v", got, r)
		}
		old, err := encodeRecord(&r)
		if err != nil {
			t.Fatal(err)
		}
		got = streamRecord{}
		if err := getStreamRecord(old, &got); err != nil || !reflect.DeepEqual(got, r) {
			t.Fatalf("record decoded %+v, %v; want %+v", got, err, r)
		}
	}
}

// A stream record cut short is an error, not a panic or a wrong message.
func TestStreamRecordTruncated(t *testing.T) {
	r := streamRecord{At: 5, Message: session.Message{Topic: "a/b", Publisher: "p", QoS: 1,
		Props: session.Props{User: []packet.UserProperty{{Key: "k", Value: "v"}}}}}
	data := encodeStreamRecord(&r)
	for n := 1; n < len(data); n++ { // no payload: every shorter form lacks a field
		var got streamRecord
		if err := getStreamRecord(data[:n], &got); err == nil {
			t.Fatalf("%d of %d bytes decoded as %+v", n, len(data), got)
		}
	}
}
