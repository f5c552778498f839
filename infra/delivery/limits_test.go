package delivery_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/delivery"
)

// rawPost writes a POST to the endpoint by hand: its headers, with
// Content-Length (or chunked when length < 0), then only sendBody bytes
// of the body. It returns the status and body of the answer, read while
// the rest of the body is still unsent: an answer shows the endpoint
// decided without reading it.
func rawPost(t *testing.T, base string, hdr map[string]string, length int64, sendBody []byte) (int, string) {
	t.Helper()
	u, _ := url.Parse(base)
	nc, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var b strings.Builder
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\n", delivery.Path, u.Host)
	for k, v := range hdr {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	if length < 0 {
		b.WriteString("Transfer-Encoding: chunked\r\n\r\n")
	} else {
		fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", length)
	}
	if _, err := io.WriteString(nc, b.String()); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(sendBody); err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatalf("no answer before the body was sent: %v", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(data))
}

// Every refusal is the same answer, whatever its reason, and none depends
// on the endpoint's clock; what the headers decide is decided before a
// byte of the body is read.
func TestEndpointRefusesBeforeTheBody(t *testing.T) {
	const huge = 60 << 20
	fresh := func() string { return strconv.FormatInt(nowMs(), 10) }
	fakeSig := strings.Repeat("ab", 32)
	cases := []struct {
		name   string
		hdr    map[string]string
		length int64
		want   error
	}{
		{"unsigned 60 MB", nil, huge, delivery.ErrUnsigned},
		{"signature not hex", map[string]string{delivery.HeaderTimestamp: fresh(), delivery.HeaderSignature: strings.Repeat("zz", 32)}, huge, delivery.ErrBadSignature},
		{"signature too short", map[string]string{delivery.HeaderTimestamp: fresh(), delivery.HeaderSignature: "abcd"}, huge, delivery.ErrBadSignature},
		{"stale timestamp", map[string]string{delivery.HeaderTimestamp: "1", delivery.HeaderSignature: fakeSig}, huge, delivery.ErrStale},
		{"future timestamp", map[string]string{delivery.HeaderTimestamp: strconv.FormatInt(nowMs()+3_600_000, 10), delivery.HeaderSignature: fakeSig}, huge, delivery.ErrStale},
		{"signed-looking, 60 MB", map[string]string{delivery.HeaderTimestamp: fresh(), delivery.HeaderSignature: fakeSig}, huge, delivery.ErrTooLarge},
		{"signed-looking, chunked", map[string]string{delivery.HeaderTimestamp: fresh(), delivery.HeaderSignature: fakeSig}, -1, delivery.ErrTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ep := newEndpoint(t, delivery.ServerConfig{})
			code, body := rawPost(t, ep.url, tc.hdr, tc.length, nil)
			wantRefused(t, ep, code, body, tc.want)
			if strings.Contains(body, "ms") || strings.ContainsAny(body, "0123456789") {
				t.Errorf("the refusal %q carries numbers", body)
			}
		})
	}
}

// A body that is not what its signature signed is read (up to its length,
// under MaxBody) and refused with the same answer.
func TestEndpointRefusesWrongBodySame(t *testing.T) {
	ep := newEndpoint(t, delivery.ServerConfig{})
	body := []byte(`{"deliveries":[]}`)
	code, resp := rawPost(t, ep.url, map[string]string{
		delivery.HeaderTimestamp: strconv.FormatInt(nowMs(), 10),
		delivery.HeaderSignature: strings.Repeat("ab", 32),
	}, int64(len(body)), body)
	wantRefused(t, ep, code, resp, delivery.ErrBadSignature)
}

// MaxBody defaults to what a Client sends when no packet passes
// MaxPacketSize, far under the 64 MiB the endpoint used to read.
func TestMaxBodyFor(t *testing.T) {
	if got := delivery.MaxBodyFor(1 << 20); got > 8<<20 {
		t.Errorf("MaxBodyFor(1 MiB) = %d, want at most 8 MiB", got)
	}
	// A 100 MB packet is 133 MB of base64: it must fit.
	if got := delivery.MaxBodyFor(100_000_000); got < 133_333_336 {
		t.Errorf("MaxBodyFor(100 MB) = %d, below the packet's base64", got)
	}
}

// When every slot is taken, a request waits MaxWait without its body
// being read, then gets the same refusal; the slot's request is served.
func TestEndpointConcurrencyCap(t *testing.T) {
	ep := newEndpoint(t, delivery.ServerConfig{MaxConcurrent: 1, MaxWait: 200 * time.Millisecond})
	body := requestBody(t, sampleDeliveries())
	ts, sig := signed(secret, nowMs(), body)
	// The first request takes the slot and sends half its body.
	u, _ := url.Parse(ep.url)
	hold := func() net.Conn {
		nc, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(nc, "POST %s HTTP/1.1\r\nHost: x\r\n%s: %s\r\n%s: %s\r\nContent-Length: %d\r\n\r\n",
			delivery.Path, delivery.HeaderTimestamp, ts, delivery.HeaderSignature, sig, len(body))
		nc.Write(body[:len(body)/2])
		return nc
	}
	nc := hold()
	defer func() { nc.Close() }()
	// Wait until the endpoint holds it: a second request is then refused.
	deadline := time.Now().Add(10 * time.Second)
	for {
		// A first request that waited for the slot while a second one
		// held it was refused after MaxWait (a loaded machine): send it
		// again.
		nc.SetReadDeadline(time.Now().Add(time.Millisecond))
		if n, err := nc.Read(make([]byte, 1)); n > 0 || (err != nil && !errors.Is(err, os.ErrDeadlineExceeded)) {
			nc.Close()
			ts, sig = signed(secret, nowMs(), body)
			nc = hold()
		}
		nc.SetReadDeadline(time.Time{})
		ts2, sig2 := signed(secret, nowMs(), body)
		code, resp := post(t, ep.url, ts2, sig2, body)
		if code != http.StatusOK {
			if code != http.StatusUnauthorized || resp != delivery.ErrRefused.Error() {
				t.Fatalf("busy endpoint answered %d %q, want the one refusal", code, resp)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the endpoint never ran out of slots")
		}
		time.Sleep(10 * time.Millisecond)
	}
	before := len(ep.delivered())
	// The rest of the first body: it is served.
	nc.Write(body[len(body)/2:])
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the request holding the slot: status %d, want 200", resp.StatusCode)
	}
	if n := len(ep.delivered()); n != before+1 {
		t.Fatalf("DeliverFunc called %d more times, want 1", n-before)
	}
}

// A Client cuts what passes BatchBytes into several requests, each under
// the endpoint's MaxBody, that deliver every packet in order, with the
// Close after the last.
func TestForwardCutsLargeBatches(t *testing.T) {
	ep := newEndpoint(t, delivery.ServerConfig{MaxPacketSize: 1 << 20})
	c := newClient(t, secret)
	pkt := func(i int) []byte {
		b := bytes.Repeat([]byte{byte(i)}, 900<<10)
		return append([]byte{0x30}, b...)
	}
	// conn-0's 4 packets pass BatchBytes' share for packets alone and are
	// cut; conn-1's one goes in a later request.
	var ds []session.Delivery
	want := map[string]int{}
	for conn, n := range []int{4, 1} {
		d := session.Delivery{Proxy: ep.url, Conn: "conn-" + strconv.Itoa(conn), Close: conn == 0}
		for i := range n {
			d.Packets = append(d.Packets, pkt(conn*10+i))
		}
		want[d.Conn] = len(d.Packets)
		ds = append(ds, d)
	}
	if _, err := c.Forward(context.Background(), ep.url, ds); err != nil {
		t.Fatalf("Forward: %v", err)
	}
	calls := ep.delivered()
	if len(calls) < 2 {
		t.Fatalf("%d requests for 6 MB of base64, want several", len(calls))
	}
	got := map[string][][]byte{}
	closed := map[string]int{}
	for _, call := range calls {
		for _, d := range call {
			if closed[d.Conn] > 0 {
				t.Fatalf("%s: packets after its Close", d.Conn)
			}
			got[d.Conn] = append(got[d.Conn], d.Packets...)
			if d.Close {
				closed[d.Conn]++
			}
		}
	}
	for conn, n := range want {
		if len(got[conn]) != n {
			t.Fatalf("%s: %d packets, want %d", conn, len(got[conn]), n)
		}
		for i, p := range got[conn] {
			if want := pkt(int(conn[len(conn)-1]-'0')*10 + i); !bytes.Equal(p, want) {
				t.Fatalf("%s packet %d out of order", conn, i)
			}
		}
	}
	if closed["conn-0"] != 1 || closed["conn-1"] != 0 {
		t.Fatalf("closes %v, want conn-0 once", closed)
	}
}

// A refused Forward wraps ErrRefused and no other sentinel.
func TestForwardRefusedIsOneError(t *testing.T) {
	ep := newEndpoint(t, delivery.ServerConfig{})
	_, err := newClient(t, otherSecret).Forward(context.Background(), ep.url, sampleDeliveries())
	if !errors.Is(err, delivery.ErrRefused) || errors.Is(err, delivery.ErrBadSignature) {
		t.Fatalf("Forward error %v, want ErrRefused only", err)
	}
}

// A packet as large as the endpoint's MaxPacketSize, past BatchBytes in
// base64, goes alone and is served.
func TestForwardOneLargePacket(t *testing.T) {
	const size = 3 << 20
	ep := newEndpoint(t, delivery.ServerConfig{MaxPacketSize: size})
	c := newClient(t, secret)
	p := append([]byte{0x30}, bytes.Repeat([]byte{'<'}, size-1)...)
	ds := []session.Delivery{{Proxy: ep.url, Conn: "conn-1", Client: strings.Repeat("c", 65535), Packets: [][]byte{p}}}
	if _, err := c.Forward(context.Background(), ep.url, ds); err != nil {
		t.Fatalf("Forward of one %d-byte packet: %v", size, err)
	}
	if calls := ep.delivered(); len(calls) != 1 || !bytes.Equal(calls[0][0].Packets[0], p) {
		t.Fatalf("the packet did not arrive whole")
	}
}

// Delivery v2's stream entries count in the cut as packets do: a
// delivery whose entries pass BatchBytes goes in several requests, each
// served, that carry every entry of each sub-stream in offset order, its
// skips, and the Close after the last. (Before, the entries went whole
// with the delivery's last part: 7 MB of them were one request over the
// endpoint's MaxBody, refused.)
func TestForwardCutsLargeStreams(t *testing.T) {
	ep := newEndpoint(t, delivery.ServerConfig{MaxPacketSize: 1 << 20})
	c := newClient(t, secret)
	d := session.Delivery{Proxy: ep.url, Conn: "conn-0", Close: true, Packets: [][]byte{{0x30, 3, 0, 1, 'a'}}}
	for s, filter := range []string{"a/#", "b/+"} {
		sd := session.StreamDelivery{Stream: session.StreamID{Filter: filter}, GoneBelow: 5, Skips: []uint64{20}}
		for i := range 4 {
			sd.Entries = append(sd.Entries, session.StreamEntry{Offset: uint64(10 + i), Message: session.Message{
				Topic: filter, QoS: 1, Payload: bytes.Repeat([]byte{byte(s*10 + i)}, 900<<10)}})
		}
		d.Streams = append(d.Streams, sd)
	}
	if _, err := c.Forward(context.Background(), ep.url, []session.Delivery{d}); err != nil {
		t.Fatalf("Forward of 7 MB of entries: %v", err)
	}
	calls := ep.delivered()
	if len(calls) < 2 {
		t.Fatalf("%d requests for 7 MB of entries, want several", len(calls))
	}
	offsets := map[string][]uint64{}
	gone, skips, closes, packets := map[string]uint64{}, map[string][]uint64{}, 0, 0
	for _, call := range calls {
		for _, got := range call {
			if closes > 0 {
				t.Fatal("a part after the Close")
			}
			packets += len(got.Packets)
			for _, sd := range got.Streams {
				f := sd.Stream.Filter
				for _, e := range sd.Entries {
					if e.Message.Payload[0] != d.Streams[map[string]int{"a/#": 0, "b/+": 1}[f]].Entries[e.Offset-10].Message.Payload[0] || len(e.Message.Payload) != 900<<10 {
						t.Fatalf("%s entry %d arrived changed", f, e.Offset)
					}
					offsets[f] = append(offsets[f], e.Offset)
				}
				if sd.GoneBelow != 0 {
					gone[f] = sd.GoneBelow
				}
				skips[f] = append(skips[f], sd.Skips...)
			}
			if got.Close {
				closes++
			}
		}
	}
	for _, f := range []string{"a/#", "b/+"} {
		if !slices.Equal(offsets[f], []uint64{10, 11, 12, 13}) || gone[f] != 5 || !slices.Equal(skips[f], []uint64{20}) {
			t.Errorf("%s: entries %v, gone below %d, skips %v; want 10 to 13 in order, 5, [20]", f, offsets[f], gone[f], skips[f])
		}
	}
	if packets != 1 || closes != 1 {
		t.Errorf("%d packets and %d closes, want 1 each", packets, closes)
	}
}
