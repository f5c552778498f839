package proxy

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// orderConn returns a connection whose queue the test reads: it is not
// established, so no writer runs.
func orderConn(wait time.Duration) *conn {
	cfg := Config{MaxSendBytes: 1 << 20, MaxSendBytesTotal: 1 << 30, OrderWait: wait}
	return &conn{srv: &Server{cfg: cfg, log: slog.New(slog.NewTextHandler(io.Discard, nil))}}
}

// stopOrder drops what c holds (the connection has no socket to close).
func stopOrder(c *conn) {
	c.mu.Lock()
	c.stopOrderLocked()
	c.mu.Unlock()
}

// pub returns a QoS 1 PUBLISH frame with packet id pid and payload p.
func pub(t *testing.T, pid uint16, p string) []byte {
	t.Helper()
	b, err := (&packet.Publish{Topic: "t", QoS: 1, PacketID: pid, Payload: []byte(p)}).Append(nil, packet.V311)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// queuedPayloads returns what the connection queued, PUBLISH payloads by
// name and other frames as their type.
func queuedPayloads(t *testing.T, c *conn) string {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, f := range c.queue {
		p, err := packet.Decode(f, packet.V311)
		if err != nil {
			t.Fatal(err)
		}
		if pp, ok := p.(*packet.Publish); ok {
			out = append(out, string(pp.Payload))
			continue
		}
		out = append(out, p.Type().String())
	}
	return strings.Join(out, " ")
}

// A frame is written only after the frame it names as After, however late
// that one comes; frames without an order (here a PUBACK) are not held
// [MQTT-4.6.0-6].
func TestOrderHoldsUntilPredecessor(t *testing.T) {
	c := orderConn(time.Minute)
	puback, _ := (&packet.Puback{PacketID: 9}).Append(nil, packet.V311)
	c.pushOrdered([][]byte{pub(t, 3, "m3"), puback}, []session.Order{{PacketID: 3, Seq: 3, After: 2}}, false)
	c.pushOrdered([][]byte{pub(t, 2, "m2")}, []session.Order{{PacketID: 2, Seq: 2, After: 1}}, false)
	if got := queuedPayloads(t, c); got != "PUBACK" {
		t.Fatalf("queued %q before the first message came, want only the PUBACK", got)
	}
	c.pushOrdered([][]byte{pub(t, 1, "m1")}, []session.Order{{PacketID: 1, Seq: 1}}, false)
	if got, want := queuedPayloads(t, c), "PUBACK m1 m2 m3"; got != want {
		t.Fatalf("queued %q, want %q", got, want)
	}
	stopOrder(c)
}

// A skip (a message handed out but not sent) takes its place in the order,
// even when it comes before its own predecessor.
func TestOrderSkip(t *testing.T) {
	c := orderConn(time.Minute)
	c.pushOrdered([][]byte{pub(t, 3, "m3")}, []session.Order{{PacketID: 3, Seq: 3, After: 2}}, false)
	c.pushOrdered(nil, []session.Order{{PacketID: 2, Seq: 2, After: 1, Skip: true}}, false)
	if got := queuedPayloads(t, c); got != "" {
		t.Fatalf("queued %q before the first message came", got)
	}
	c.pushOrdered([][]byte{pub(t, 1, "m1")}, []session.Order{{PacketID: 1, Seq: 1}}, false)
	if got, want := queuedPayloads(t, c), "m1 m3"; got != want {
		t.Fatalf("queued %q, want %q", got, want)
	}
	stopOrder(c)
}

// What waits for a predecessor that never comes is written after the
// invoke timeout, in Seq order, and counted.
func TestOrderGapTimesOut(t *testing.T) {
	c := orderConn(50 * time.Millisecond)
	c.pushOrdered([][]byte{pub(t, 6, "m6")}, []session.Order{{PacketID: 6, Seq: 6, After: 5}}, false)
	c.pushOrdered([][]byte{pub(t, 5, "m5")}, []session.Order{{PacketID: 5, Seq: 5, After: 4}}, false)
	deadline := time.Now().Add(5 * time.Second)
	for queuedPayloads(t, c) == "" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got, want := queuedPayloads(t, c), "m5 m6"; got != want {
		t.Fatalf("queued %q after the wait, want %q", got, want)
	}
	if n := c.srv.OrderGaps.Load(); n != 1 {
		t.Fatalf("OrderGaps %d, want 1", n)
	}
	stopOrder(c)
}

// publishPacketID finds the packet id past a remaining length of several
// bytes and a long topic, and only in QoS 1 and 2 PUBLISH frames.
func TestPublishPacketID(t *testing.T) {
	b, _ := (&packet.Publish{Topic: strings.Repeat("t", 300), QoS: 2, PacketID: 0xBEEF, Payload: make([]byte, 20000)}).Append(nil, packet.V5)
	if pid, ok := publishPacketID(b); !ok || pid != 0xBEEF {
		t.Fatalf("publishPacketID = %#x, %v; want 0xbeef", pid, ok)
	}
	q0, _ := (&packet.Publish{Topic: "t", Payload: []byte("x")}).Append(nil, packet.V311)
	ack, _ := (&packet.Puback{PacketID: 7}).Append(nil, packet.V311)
	for _, f := range [][]byte{q0, ack, {0x32}, nil} {
		if _, ok := publishPacketID(f); ok {
			t.Fatalf("publishPacketID(% x) found a packet id", f)
		}
	}
}

// One delivery of many frames out of order (past the size at which the
// orders are looked up in a map) is written in order.
func TestOrderManyInOneDelivery(t *testing.T) {
	c := orderConn(time.Minute)
	var frames [][]byte
	var order []session.Order
	var want []string
	for i := 20; i >= 1; i-- {
		frames = append(frames, pub(t, uint16(i), fmt.Sprintf("m%d", i)))
		order = append(order, session.Order{PacketID: uint16(i), Seq: uint64(i), After: uint64(i - 1)})
		want = append([]string{fmt.Sprintf("m%d", i)}, want...)
	}
	c.pushOrdered(frames, order, false)
	if got := queuedPayloads(t, c); got != strings.Join(want, " ") {
		t.Fatalf("queued %q, want %q", got, strings.Join(want, " "))
	}
	stopOrder(c)
}
