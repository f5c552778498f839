package delivery

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/mqttless/mqttless/core/session"
)

// A request's size is bounded on both sides: a Client cuts deliveries into
// requests of at most BatchBytes of JSON each (a delivery whose packets
// pass it is cut into several for the same connection, in order), except
// that a single packet goes alone whatever its size; a Server refuses a
// body over MaxBodyFor the largest packet the handlers send, which leaves
// room for both.
const (
	// BatchBytes is the size a Client fills a request up to.
	BatchBytes = 3 << 20
	// bodySlack bounds what a request holds besides its packets' base64:
	// the request's id, and the proxy, connection and client id of its
	// delivery (a client id of 65,535 bytes is at most 6 times as long in
	// JSON).
	bodySlack = 1 << 20
)

// MaxBodyFor returns the largest request body a Client sends when no
// packet is longer than maxPacket bytes: the bound a Server holds bodies
// to.
func MaxBodyFor(maxPacket int) int64 {
	return int64(max(BatchBytes, base64.StdEncoding.EncodedLen(maxPacket))) + bodySlack
}

// requestBodies encodes ds as the bodies of one or more requests, each
// with an id of its own and, but for a single large packet, at most
// BatchBytes long. A connection's packets keep their order across bodies,
// and a delivery's Close goes with its last packet.
func requestBodies(ds []session.Delivery) ([][]byte, error) {
	var (
		bodies [][]byte
		cur    []byte // the body being filled, without its closing "]}"
		n      int    // deliveries in cur
	)
	start := func() {
		var id [12]byte
		_, _ = rand.Read(id[:])
		cur = append(cur[:0:0], `{"id":"`+hex.EncodeToString(id[:])+`","deliveries":[`...)
		n = 0
	}
	finish := func() {
		bodies = append(bodies, append(cur, "]}"...))
		cur = nil
	}
	for _, d := range ds {
		for _, part := range cutDelivery(d) {
			b, err := json.Marshal(part)
			if err != nil {
				return nil, fmt.Errorf("delivery: encoding the request: %w", err)
			}
			if cur != nil && len(cur)+1+len(b)+2 > BatchBytes {
				finish()
			}
			if cur == nil {
				start()
			}
			if n > 0 {
				cur = append(cur, ',')
			}
			cur = append(cur, b...)
			n++
		}
	}
	if cur == nil {
		start() // a request with no deliveries, as before
	}
	finish()
	return bodies, nil
}

// cutDelivery cuts d into deliveries for its connection whose packets'
// base64 and stream entries stay under BatchBytes each (but for a single
// packet or entry, which goes alone), in order: the packets first, then
// the entries, each sub-stream's in offset order (its GoneBelow with its
// first part, its skips with its last); Close is on the last. Each carries
// d's Order: the proxy finds a frame's place by its packet identifier, and
// takes a skip twice as once; its window takes a sub-stream's entries in
// any order and cuts.
func cutDelivery(d session.Delivery) []session.Delivery {
	size := 0
	for _, p := range d.Packets {
		size += packetSize(p)
	}
	for i := range d.Streams {
		size += streamSize(&d.Streams[i])
	}
	if size <= BatchBytes-bodySlack {
		return []session.Delivery{d}
	}
	var parts []session.Delivery
	cur := session.Delivery{Proxy: d.Proxy, Conn: d.Conn, Client: d.Client, Order: d.Order}
	size = 0
	// room makes room for n more bytes: cur goes out first when it holds
	// something and n would take it past the bound.
	room := func(n int) {
		if (len(cur.Packets) > 0 || len(cur.Streams) > 0) && size+n > BatchBytes-bodySlack {
			parts = append(parts, cur)
			cur = session.Delivery{Proxy: d.Proxy, Conn: d.Conn, Client: d.Client, Order: d.Order}
			size = 0
		}
		size += n
	}
	for _, p := range d.Packets {
		room(packetSize(p))
		cur.Packets = append(cur.Packets, p)
	}
	for _, sd := range d.Streams {
		// part is sd's part in cur: cur.Streams' last, when it is sd's.
		part := func() *session.StreamDelivery {
			if n := len(cur.Streams); n > 0 && cur.Streams[n-1].Stream == sd.Stream {
				return &cur.Streams[n-1]
			}
			cur.Streams = append(cur.Streams, session.StreamDelivery{Stream: sd.Stream})
			return &cur.Streams[len(cur.Streams)-1]
		}
		room(streamHeadSize)
		part().GoneBelow = sd.GoneBelow
		for _, e := range sd.Entries {
			room(entrySize(&e))
			p := part()
			p.Entries = append(p.Entries, e)
		}
		if len(sd.Skips) > 0 {
			room(len(sd.Skips) * 21)
			part().Skips = sd.Skips
		}
	}
	cur.Close = d.Close
	return append(parts, cur)
}

// packetSize bounds a packet's share of a request's JSON.
func packetSize(p []byte) int { return base64.StdEncoding.EncodedLen(len(p)) + 3 }

// streamHeadSize bounds a StreamDelivery's JSON but for its entries and
// skips: its sub-stream's filter counts in entrySize's way, with the rest.
const streamHeadSize = 128

// streamSize bounds sd's JSON.
func streamSize(sd *session.StreamDelivery) int {
	n := streamHeadSize + jsonStringSize(sd.Stream.Filter) + len(sd.Skips)*21
	for i := range sd.Entries {
		n += entrySize(&sd.Entries[i])
	}
	return n
}

// entrySize bounds a stream entry's JSON: base64 for its byte slices, six
// bytes a byte (\u00XX) for its strings, and room for the names and
// numbers.
func entrySize(e *session.StreamEntry) int {
	m := &e.Message
	n := 256 + base64.StdEncoding.EncodedLen(len(m.Payload)) + base64.StdEncoding.EncodedLen(len(m.Props.CorrelationData)) +
		jsonStringSize(m.Topic) + jsonStringSize(m.Publisher) + jsonStringSize(m.Identity) + jsonStringSize(m.Receipt) +
		jsonStringSize(m.Props.ContentType) + jsonStringSize(m.Props.ResponseTopic)
	for _, u := range m.Props.User {
		n += 16 + jsonStringSize(u.Key) + jsonStringSize(u.Value)
	}
	return n
}

// jsonStringSize bounds the JSON of string s: every byte escaped.
func jsonStringSize(s string) int { return 6*len(s) + 2 }
