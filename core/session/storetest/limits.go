package storetest

import (
	"bytes"

	"github.com/mqttless/mqttless/core/session"
)

// limitTests cover what the broker's limits rely on: the byte bound of a
// queue, the count of QoS 2 receive states, wills left out of Sessions,
// and payloads kept byte for byte.
var limitTests = []test{
	{"EnqueueMaxBytes", testEnqueueMaxBytes},
	{"EnqueueMaxBytesCleared", testEnqueueMaxBytesCleared},
	{"Receiving", testReceiving},
	{"SessionsWithoutWill", testSessionsWithoutWill},
	{"BinaryPayloads", testBinaryPayloads},
}

// sized returns a QoS 1 message whose Message.Size is n bytes or more.
func sized(n int) *session.Outbound {
	o := out(1, "x")
	o.Message.Payload = bytes.Repeat([]byte{'p'}, max(n-o.Message.Size()+1, 0))
	return o
}

// testEnqueueMaxBytes: Enqueue takes messages while the queue holds fewer
// bytes than QueueLimit.Bytes (the message that crosses it included) and
// drops the rest; messages leaving the queue for the window free their
// bytes.
func testEnqueueMaxBytes(e *env) {
	c := e.connected("c")
	lim := session.QueueLimit{Messages: 100, Bytes: 1000}
	msgs := []*session.Outbound{sized(400), sized(400), sized(400), sized(400)}
	n, _, err := e.st.Enqueue(e.ctx, c, msgs, lim, 0)
	e.must(err, "Enqueue")
	if n != 3 { // 0, 400+, 800+ are below 1000; then 1200+ is not
		e.Fatalf("Enqueue accepted %d of 4 messages of 400 bytes with Bytes 1000, want 3", n)
	}
	n, _, err = e.st.Enqueue(e.ctx, c, []*session.Outbound{sized(1)}, lim, 0)
	e.must(err, "Enqueue")
	if n != 0 {
		e.Fatalf("Enqueue into a queue past Bytes accepted %d", n)
	}
	if d := e.dispatch(c, 2); len(d) != 2 {
		e.Fatalf("Dispatch with window 2 gave %d", len(d))
	}
	// One message of 400 left queued: room again.
	n, _, err = e.st.Enqueue(e.ctx, c, []*session.Outbound{sized(400), sized(400), sized(400)}, lim, 0)
	e.must(err, "Enqueue")
	if n != 2 {
		e.Fatalf("Enqueue after 2 left the queue accepted %d, want 2", n)
	}
	// Bytes 0 bounds nothing.
	n, _, err = e.st.Enqueue(e.ctx, c, []*session.Outbound{sized(400)}, session.QueueLimit{Messages: 100}, 0)
	e.must(err, "Enqueue")
	if n != 1 {
		e.Fatalf("Enqueue with Bytes 0 accepted %d", n)
	}
}

// testEnqueueMaxBytesCleared: a clean Connect empties the queue, and its
// bytes with it.
func testEnqueueMaxBytesCleared(e *env) {
	c := e.connected("c")
	lim := session.QueueLimit{Messages: 100, Bytes: 1000}
	if n, _, err := e.st.Enqueue(e.ctx, c, []*session.Outbound{sized(2000)}, lim, 0); err != nil || n != 1 {
		e.Fatalf("Enqueue: %d, %v", n, err)
	}
	e.connect(c, "conn2", true)
	if n, _, err := e.st.Enqueue(e.ctx, c, []*session.Outbound{sized(400)}, lim, 0); err != nil || n != 1 {
		e.Fatalf("Enqueue after a clean Connect: %d, %v; want 1 accepted", n, err)
	}
}

// testReceiving: Receiving counts the receive states; a session that does
// not exist has none.
func testReceiving(e *env) {
	c := e.connected("c")
	count := func(want int) {
		e.Helper()
		n, err := e.st.Receiving(e.ctx, c)
		e.must(err, "Receiving")
		if n != want {
			e.Fatalf("Receiving = %d, want %d", n, want)
		}
	}
	count(0)
	for _, pid := range []uint16{1, 2, 3} {
		if _, err := e.st.Receive(e.ctx, c, "conn1", &session.Inbound{PacketID: pid, Message: out(2, "m").Message}); err != nil {
			e.Fatalf("Receive: %v", err)
		}
	}
	count(3)
	e.must(e.st.Forget(e.ctx, c, "conn1", 2), "Forget")
	count(2)
	n, err := e.st.Receiving(e.ctx, e.client("none"))
	e.must(err, "Receiving of no session")
	if n != 0 {
		e.Fatalf("Receiving of no session = %d", n)
	}
}

// testSessionsWithoutWill: Sessions leaves the will out; Session and
// Connect's previous session have it.
func testSessionsWithoutWill(e *env) {
	c := e.client("c")
	w := will(e.topic("w"), "bye", 5)
	e.connectSession(newSessionWithWill(c, "conn1", w), false)
	if got := e.session(c); got.Will == nil || string(got.Will.Message.Payload) != "bye" {
		e.Fatalf("Session lost the will: %s", show(got.Will))
	}
	all, err := e.st.Sessions(e.ctx, []string{c})
	e.must(err, "Sessions")
	if all[c] == nil {
		e.Fatalf("Sessions did not find %s", c)
	}
	if all[c].Will != nil {
		e.Fatalf("Sessions returned a will: %s", show(all[c].Will))
	}
	want := newSessionWithWill(c, "conn1", w)
	want.Will = nil
	e.eq("session from Sessions", all[c], want)
	prev := e.connectSession(newSession(c, "conn2"), false)
	if prev == nil || prev.Will == nil || string(prev.Will.Message.Payload) != "bye" {
		e.Fatalf("Connect's previous session lost the will")
	}
}

// testBinaryPayloads: payloads of any bytes, as large as a packet may be,
// come back byte for byte from the queue, the window, the receive state
// and the will.
func testBinaryPayloads(e *env) {
	c := e.client("c")
	p := make([]byte, 300<<10)
	for i := range p {
		p[i] = byte(i * 7)
	}
	p[0] = '{'
	w := will(e.topic("w"), "", 0)
	w.Message.Payload = p
	e.connectSession(newSessionWithWill(c, "conn1", w), false)
	if got := e.session(c).Will; got == nil || !bytes.Equal(got.Message.Payload, p) {
		e.Fatalf("will payload changed")
	}
	o := out(1, "x")
	o.Message.Payload = p
	e.enqueue(c, 10, 0, o, out(1, "empty"))
	d := e.dispatch(c, 10)
	if len(d) != 2 || !bytes.Equal(d[0].Message.Payload, p) {
		e.Fatalf("dispatched payload changed")
	}
	f, err := e.st.Inflight(e.ctx, c)
	e.must(err, "Inflight")
	if len(f) != 2 || !bytes.Equal(f[0].Message.Payload, p) || string(f[1].Message.Payload) != "empty" {
		e.Fatalf("in-flight payload changed")
	}
	in := &session.Inbound{PacketID: 9, Message: o.Message}
	if _, err := e.st.Receive(e.ctx, c, "conn1", in); err != nil {
		e.Fatalf("Receive: %v", err)
	}
	got, err := e.st.Receive(e.ctx, c, "conn1", &session.Inbound{PacketID: 9, Message: out(2, "other").Message})
	e.must(err, "Receive again")
	if got == nil || !bytes.Equal(got.Message.Payload, p) {
		e.Fatalf("receive state payload changed")
	}
}
