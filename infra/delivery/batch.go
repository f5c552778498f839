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
// base64 stays under BatchBytes each (but for a single packet, which goes
// alone), in order; Close is on the last. Each carries d's Order: the
// proxy finds a frame's place by its packet identifier, and takes a skip
// twice as once.
func cutDelivery(d session.Delivery) []session.Delivery {
	size := 0
	for _, p := range d.Packets {
		size += base64.StdEncoding.EncodedLen(len(p)) + 3
	}
	if size <= BatchBytes-bodySlack {
		return []session.Delivery{d}
	}
	var parts []session.Delivery
	cur := session.Delivery{Proxy: d.Proxy, Conn: d.Conn, Client: d.Client, Order: d.Order}
	size = 0
	for _, p := range d.Packets {
		n := base64.StdEncoding.EncodedLen(len(p)) + 3
		if len(cur.Packets) > 0 && size+n > BatchBytes-bodySlack {
			parts = append(parts, cur)
			cur = session.Delivery{Proxy: d.Proxy, Conn: d.Conn, Client: d.Client, Order: d.Order}
			size = 0
		}
		cur.Packets = append(cur.Packets, p)
		size += n
	}
	cur.Close, cur.Streams = d.Close, d.Streams // delivery v2's entries after the frames (not counted in the cut yet)
	return append(parts, cur)
}
