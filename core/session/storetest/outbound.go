package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/mqttless/mqttless/core/session"
)

var outboundTests = []test{
	{"EnqueueQueueOnly", testEnqueueQueueOnly},
	{"EnqueueMaxQueued", testEnqueueMaxQueued},
	{"EnqueueDispatches", testEnqueueDispatches},
	{"EnqueueAssigns", testEnqueueAssigns},
	{"UnknownSession", testOutboundUnknown},
	{"DispatchWindow", testDispatchWindow},
	{"DispatchQoS0", testDispatchQoS0},
	{"DispatchRefill", testDispatchRefill},
	{"DispatchAfter", testDispatchAfter},
	{"Inflight", testInflight},
	{"Acks", testAcks},
	{"PacketIDsUnique", testPacketIDsUnique},
	{"PacketIDWraparound", testPacketIDWraparound},
}

// connected connects a new client of the test and returns its id.
func (e *env) connected(name string) string {
	e.Helper()
	c := e.client(name)
	e.connect(c, "conn1", false)
	return c
}

// testEnqueueQueueOnly: Enqueue with window 0 only queues; Dispatch then
// hands the messages out as they were enqueued.
func testEnqueueQueueOnly(e *env) {
	c := e.connected("c")
	in := []*session.Outbound{out(1, "a"), out(2, "b"), out(0, "c")}
	in[1].Retain, in[2].SubIDs = true, nil
	n, d := e.enqueue(c, 100, 0, in...)
	if n != 3 || len(d) != 0 {
		e.Fatalf("Enqueue with window 0: accepted %d, dispatched %s; want 3, none", n, show(d))
	}
	e.eq("in flight", states(e.inflight(c)), []string{})
	got := e.dispatch(c, 10)
	if len(got) != len(in) {
		e.Fatalf("Dispatch = %s, want the %d enqueued messages", show(got), len(in))
	}
	for i, o := range got {
		want := *in[i]
		want.Seq, want.PacketID, want.State = o.Seq, o.PacketID, o.State
		if o.QoS == 0 {
			want.PacketID, want.State = 0, o.State
		}
		e.eq("dispatched message "+strconv.Itoa(i), o, &want)
	}
}

// testEnqueueMaxQueued: Enqueue keeps at most maxQueued messages queued
// (in-flight messages do not count), accepting the first ones and dropping
// the rest.
func testEnqueueMaxQueued(e *env) {
	c := e.connected("c")
	if n, _ := e.enqueue(c, 3, 0, outs(1, "1", "2", "3", "4", "5")...); n != 3 {
		e.Fatalf("accepted %d of 5 with maxQueued 3, want 3", n)
	}
	if n, _ := e.enqueue(c, 3, 0, out(1, "6")); n != 0 {
		e.Fatalf("accepted %d into a full queue, want 0", n)
	}
	e.eq("dispatched", payloads(e.dispatch(c, 2)), []string{"1", "2"})
	if n, _ := e.enqueue(c, 3, 0, outs(1, "7", "8", "9")...); n != 2 {
		e.Fatalf("accepted %d with one queued and maxQueued 3, want 2", n)
	}
	e.eq("dispatched", payloads(e.dispatch(c, 100)), []string{"3", "7", "8"})
	// QoS 0 messages count as queued.
	if n, _ := e.enqueue(c, 1, 0, out(0, "q0"), out(1, "x")); n != 1 {
		e.Fatalf("accepted %d with maxQueued 1, want 1", n)
	}
	e.eq("dispatched", payloads(e.dispatch(c, 100)), []string{"q0"})
}

// testEnqueueDispatches: Enqueue with a window dispatches as Dispatch does
// and returns what it put in flight.
func testEnqueueDispatches(e *env) {
	c := e.connected("c")
	n, d := e.enqueue(c, 100, 2, outs(1, "1", "2", "3")...)
	if n != 3 {
		e.Fatalf("accepted %d, want 3", n)
	}
	e.eq("dispatched by Enqueue", payloads(d), []string{"1", "2"})
	e.eq("in flight", e.inflight(c), d)
	e.eq("dispatched", payloads(e.dispatch(c, 2)), []string{})
	_, d2 := e.enqueue(c, 100, 2, out(1, "4"))
	e.eq("dispatched by Enqueue with a full window", payloads(d2), []string{})
	e.must(e.st.Acknowledge(e.ctx, c, "conn1", d[0].PacketID), "Acknowledge")
	_, d2 = e.enqueue(c, 100, 2, out(1, "5"))
	e.eq("dispatched by Enqueue after an ack", payloads(d2), []string{"3"})
	e.eq("dispatched", payloads(e.dispatch(c, 4)), []string{"4", "5"})
}

// testEnqueueAssigns: the store assigns Seq, State and PacketID, ignoring
// what the caller put there; Seq keeps increasing.
func testEnqueueAssigns(e *env) {
	c := e.connected("c")
	a := out(1, "a")
	a.Seq, a.PacketID, a.State = 99, 7, session.Sent
	e.enqueue(c, 100, 0, a)
	e.eq("in flight after enqueueing a Sent message", states(e.inflight(c)), []string{})
	b := out(1, "b")
	b.Seq = 1
	e.enqueue(c, 100, 0, b)
	d := e.dispatch(c, 10)
	e.eq("dispatched", states(d), []string{"a:1", "b:1"})
	e.enqueue(c, 100, 0, out(1, "c"))
	d2 := e.dispatch(c, 10)
	if len(d2) != 1 || d2[0].Seq <= d[1].Seq {
		e.Fatalf("later message %s does not follow seq %d", show(d2), d[1].Seq)
	}
}

// testOutboundUnknown: Enqueue to an unknown session is ErrNotFound and
// creates nothing; Dispatch and Inflight find nothing.
func testOutboundUnknown(e *env) {
	c := e.client("nobody")
	_, _, err := e.st.Enqueue(e.ctx, c, outs(1, "a"), session.QueueLimit{Messages: 100}, "", 10)
	e.wantErr(err, session.ErrNotFound, "Enqueue to an unknown session")
	_, err = e.st.Session(e.ctx, c)
	e.wantErr(err, session.ErrNotFound, "Session after Enqueue")
	d, err := e.st.Dispatch(e.ctx, c, "", 10)
	if len(d) != 0 || err != nil && !errors.Is(err, session.ErrNotFound) {
		e.Fatalf("Dispatch of an unknown session = %s, %v; want none", show(d), err)
	}
	f, err := e.st.Inflight(e.ctx, c)
	if len(f) != 0 || err != nil && !errors.Is(err, session.ErrNotFound) {
		e.Fatalf("Inflight of an unknown session = %s, %v; want none", show(f), err)
	}
}

// testDispatchWindow: Dispatch keeps at most window QoS 1 and 2 messages
// in flight, Sent and Released alike, in order.
func testDispatchWindow(e *env) {
	c := e.connected("c")
	e.enqueue(c, 100, 0, out(2, "a"), out(2, "b"), out(1, "c"), out(1, "d"), out(1, "e"))
	d := e.dispatch(c, 2)
	e.eq("dispatched", payloads(d), []string{"a", "b"})
	e.must(e.st.Release(e.ctx, c, "conn1", d[0].PacketID), "Release")
	e.must(e.st.Release(e.ctx, c, "conn1", d[1].PacketID), "Release")
	e.eq("dispatched with two Released in flight", payloads(e.dispatch(c, 2)), []string{})
	e.eq("dispatched with a smaller window", payloads(e.dispatch(c, 1)), []string{})
	e.eq("dispatched with window 0", payloads(e.dispatch(c, 0)), []string{})
	e.must(e.st.Complete(e.ctx, c, "conn1", d[0].PacketID), "Complete")
	e.eq("dispatched after Complete", payloads(e.dispatch(c, 2)), []string{"c"})
	e.eq("dispatched with a larger window", payloads(e.dispatch(c, 4)), []string{"d", "e"})
	e.eq("in flight", states(e.inflight(c)), []string{"b:2", "c:1", "d:1", "e:1"})
}

// testDispatchQoS0: queued QoS 0 messages are handed out and removed
// without counting against the window, but do not overtake a QoS 1 message
// waiting for room in the window.
func testDispatchQoS0(e *env) {
	c := e.connected("c")
	e.enqueue(c, 100, 0, out(1, "a"), out(0, "b"), out(0, "c"), out(1, "d"), out(0, "e"))
	d := e.dispatch(c, 1)
	e.eq("dispatched", payloads(d), []string{"a", "b", "c"})
	e.eq("in flight", states(e.inflight(c)), []string{"a:1"})
	e.eq("dispatched with a full window", payloads(e.dispatch(c, 1)), []string{})
	e.must(e.st.Acknowledge(e.ctx, c, "conn1", d[0].PacketID), "Acknowledge")
	d = e.dispatch(c, 1)
	e.eq("dispatched after the ack", payloads(d), []string{"d", "e"})
	e.eq("in flight", states(e.inflight(c)), []string{"d:1"})
	e.must(e.st.Acknowledge(e.ctx, c, "conn1", d[0].PacketID), "Acknowledge")
	e.eq("dispatched once QoS 0 messages are gone", payloads(e.dispatch(c, 1)), []string{})
}

// testDispatchRefill: acknowledgements make room that Dispatch fills again,
// in order.
func testDispatchRefill(e *env) {
	c := e.connected("c")
	var all []string
	for i := range 10 {
		all = append(all, strconv.Itoa(i))
	}
	e.enqueue(c, 100, 0, outs(1, all...)...)
	var got []string
	for len(got) < len(all) {
		d := e.dispatch(c, 3)
		if want := min(3, len(all)-len(got)); len(d) != want {
			e.Fatalf("dispatched %d with an empty window of 3, want %d", len(d), want)
		}
		e.eq("in flight", e.inflight(c), d)
		for _, o := range d {
			got = append(got, string(o.Message.Payload))
			e.must(e.st.Acknowledge(e.ctx, c, "conn1", o.PacketID), "Acknowledge")
		}
	}
	e.eq("dispatched", got, all)
}

// testDispatchAfter: a message put in flight names, as After, the latest
// QoS 1 or 2 message put in flight before it while one is still in flight
// (across calls as within one), and 0 when none is; QoS 0 messages name
// none. The proxy writes it only after that one [MQTT-4.6.0-6].
func testDispatchAfter(e *env) {
	c := e.connected("c")
	e.enqueue(c, 100, 0, out(1, "a"), out(2, "b"), out(0, "c"), out(1, "d"), out(1, "e"))
	after := func(window int) map[string]uint64 {
		e.Helper()
		d, err := e.st.Dispatch(e.ctx, c, "", window)
		e.must(err, "Dispatch")
		got := map[string]uint64{}
		for _, o := range d {
			got[string(o.Message.Payload)] = o.After
		}
		e.checkDispatched(d)
		return got
	}
	first := after(2)
	e.eq("dispatched", len(first), 3) // a, b, c
	f := e.inflight(c)
	seq := map[string]uint64{}
	for _, o := range f {
		seq[string(o.Message.Payload)] = o.Seq
		if o.After != 0 {
			e.Fatalf("Inflight returned %q with After %d, want 0", o.Message.Payload, o.After)
		}
	}
	e.eq("After of the first in flight", first["a"], uint64(0))
	e.eq("After of b", first["b"], seq["a"])
	e.eq("After of QoS 0 c", first["c"], uint64(0))
	e.must(e.st.Acknowledge(e.ctx, c, "conn1", f[0].PacketID), "Acknowledge a")
	e.eq("After of d, with b still in flight", after(2)["d"], seq["b"])
	f = e.inflight(c)
	e.must(e.st.Release(e.ctx, c, "conn1", f[0].PacketID), "Release b")
	e.must(e.st.Complete(e.ctx, c, "conn1", f[0].PacketID), "Complete b")
	e.must(e.st.Acknowledge(e.ctx, c, "conn1", f[1].PacketID), "Acknowledge d")
	e.eq("After of e, with none in flight", after(2)["e"], uint64(0))
}

// testInflight: Inflight lists the Sent and Released messages in order.
func testInflight(e *env) {
	c := e.connected("c")
	_, d := e.enqueue(c, 100, 4, out(1, "a"), out(2, "b"), out(1, "c"), out(2, "d"), out(1, "queued"))
	e.eq("in flight", e.inflight(c), d)
	e.must(e.st.Release(e.ctx, c, "conn1", d[1].PacketID), "Release")
	d[1].State = session.Released
	e.eq("in flight after Release", e.inflight(c), d)
	e.must(e.st.Acknowledge(e.ctx, c, "conn1", d[0].PacketID), "Acknowledge")
	e.eq("in flight after Acknowledge", e.inflight(c), d[1:])
	e.must(e.st.Release(e.ctx, c, "conn1", d[3].PacketID), "Release")
	d[3].State = session.Released
	e.must(e.st.Complete(e.ctx, c, "conn1", d[1].PacketID), "Complete")
	e.eq("in flight after Complete", e.inflight(c), d[2:])
}

// ackOps are the acknowledgements of outbound messages.
var ackOps = []struct {
	name string
	do   func(s session.Store) func(context.Context, string, string, uint16) error
}{
	{"Acknowledge", func(s session.Store) func(context.Context, string, string, uint16) error { return s.Acknowledge }},
	{"Release", func(s session.Store) func(context.Context, string, string, uint16) error { return s.Release }},
	{"Complete", func(s session.Store) func(context.Context, string, string, uint16) error { return s.Complete }},
}

// testAcks: each acknowledgement applies only to a message in the right
// QoS and state; otherwise it is ErrNotFound and changes nothing.
func testAcks(e *env) {
	const gone, nf = "gone", "ErrNotFound"
	targets := []string{"QoS1Sent", "QoS2Sent", "QoS2Released", "NotInFlight", "UnknownSession"}
	// outcome[op][target] is the target's state afterwards, or nf.
	outcome := map[string][]string{
		"Acknowledge": {gone, nf, nf, nf, nf},
		"Release":     {nf, "2", "2", nf, nf},
		"Complete":    {nf, nf, gone, nf, nf},
	}
	for _, op := range ackOps {
		for i, target := range targets {
			e.run(op.name+"_"+target, func(e *env) {
				c := e.connected("c")
				qos := byte(1)
				if target == "QoS2Sent" || target == "QoS2Released" {
					qos = 2
				}
				_, d := e.enqueue(c, 100, 10, out(qos, "t"), out(1, "o"), out(2, "p"))
				pid := d[0].PacketID
				if target == "QoS2Released" {
					e.must(e.st.Release(e.ctx, c, "conn1", pid), "Release")
				}
				before := states(e.inflight(c))
				id := c
				switch target {
				case "NotInFlight":
					pid = max(d[0].PacketID, d[1].PacketID, d[2].PacketID) + 1
				case "UnknownSession":
					id = e.client("nobody")
				}
				err := op.do(e.st)(e.ctx, id, "conn1", pid)
				want := outcome[op.name][i]
				if want == nf {
					e.wantErr(err, session.ErrNotFound, fmt.Sprintf("%s of %s", op.name, target))
					e.eq("in flight", states(e.inflight(c)), before)
					return
				}
				e.must(err, op.name)
				after := []string{"t:" + want, before[1], before[2]}
				if want == gone {
					after = after[1:]
				}
				e.eq("in flight", states(e.inflight(c)), after)
				if op.name == "Release" {
					// Idempotent: a repeated PUBREC finds the message Released.
					e.must(op.do(e.st)(e.ctx, id, "conn1", pid), "second Release")
					e.eq("in flight", states(e.inflight(c)), after)
				} else {
					e.wantErr(op.do(e.st)(e.ctx, id, "conn1", pid), session.ErrNotFound, "second "+op.name)
				}
			})
		}
	}
}

// testPacketIDsUnique: through many exchanges, Dispatch never hands out
// packet id 0 nor one still in flight, and the window holds.
func testPacketIDsUnique(e *env) {
	c := e.connected("c")
	const window = 10
	type flight struct {
		o        *session.Outbound
		released bool
	}
	var inflight []*flight // in dispatch order
	used := map[uint16]bool{}
	take := func(d []*session.Outbound) {
		for _, o := range d {
			if used[o.PacketID] {
				e.Fatalf("packet id %d handed out while in flight", o.PacketID)
			}
			used[o.PacketID] = true
			inflight = append(inflight, &flight{o: o})
		}
		if len(inflight) > window {
			e.Fatalf("%d in flight with window %d", len(inflight), window)
		}
	}
	for round := range 300 {
		_, d := e.enqueue(c, 1000, window, out(byte(1+round%2), "a"), out(1, "b"), out(2, "c"))
		take(d)
		// Finish some exchanges, not always the oldest.
		for n := rand.N(4); n > 0 && len(inflight) > 0; n-- {
			i := rand.N(len(inflight))
			f := inflight[i]
			pid := f.o.PacketID
			switch {
			case f.o.QoS == 1:
				e.must(e.st.Acknowledge(e.ctx, c, "conn1", pid), "Acknowledge")
			case !f.released:
				e.must(e.st.Release(e.ctx, c, "conn1", pid), "Release")
				f.released = true
				continue
			default:
				e.must(e.st.Complete(e.ctx, c, "conn1", pid), "Complete")
			}
			delete(used, pid)
			inflight = append(inflight[:i], inflight[i+1:]...)
		}
		take(e.dispatch(c, window))
		got := map[uint16]bool{}
		for _, o := range e.inflight(c) {
			got[o.PacketID] = true
		}
		e.eq("packet ids in flight", got, used)
	}
}

// testPacketIDWraparound: packet ids wrap around past 65535 without ever
// being 0 or colliding with messages that stay in flight. With
// WithPacketIDsFrom the messages after the two held ones start at 65385,
// so that the wrap and the held identifiers (1 and 2) come within 400
// messages; without it, 70,000 go round the whole space.
func testPacketIDWraparound(e *env) {
	c := e.connected("c")
	_, held := e.enqueue(c, 100, 2, out(1, "held1"), out(2, "held2"))
	e.must(e.st.Release(e.ctx, c, "conn1", held[1].PacketID), "Release")
	held[1].State = session.Released
	total := 70_000
	if e.opts != nil && e.opts.pidsFrom != nil {
		e.must(e.opts.pidsFrom(e.ctx, e.st, c, 65535-150), "WithPacketIDsFrom")
		total = 400
	}
	const batch = 64
	wrapped, prev := false, uint16(0)
	for sent := 0; sent < total; {
		n := min(batch, total-sent)
		msgs := make([]*session.Outbound, n)
		for i := range msgs {
			msgs[i] = &session.Outbound{QoS: 1, Message: session.Message{Topic: "t", Payload: []byte("m"), QoS: 1}}
		}
		_, d := e.enqueue(c, batch, 2+batch, msgs...)
		if len(d) != n {
			e.Fatalf("dispatched %d of %d after %d messages", len(d), n, sent)
		}
		for _, o := range d {
			if o.PacketID == held[0].PacketID || o.PacketID == held[1].PacketID {
				e.Fatalf("packet id %d handed out after %d messages while still in flight", o.PacketID, sent)
			}
			if o.PacketID < prev {
				wrapped = true
			}
			prev = o.PacketID
			e.must(e.st.Acknowledge(e.ctx, c, "conn1", o.PacketID), "Acknowledge")
		}
		sent += n
	}
	if !wrapped {
		e.Fatalf("packet ids did not wrap around in %d messages (the last %d)", total, prev)
	}
	e.eq("in flight", e.inflight(c), held)
	e.must(e.st.Acknowledge(e.ctx, c, "conn1", held[0].PacketID), "Acknowledge of the held message")
	e.must(e.st.Complete(e.ctx, c, "conn1", held[1].PacketID), "Complete of the held message")
}

var inboundTests = []test{
	{"Lifecycle", testInboundLifecycle},
	{"NotFound", testInboundNotFound},
	{"Fenced", testInboundFenced},
}

// inbound returns a QoS 2 message received under pid.
func (e *env) inbound(pid uint16, payload string) *session.Inbound {
	return &session.Inbound{PacketID: pid, Message: session.Message{Topic: e.topic("in"), Payload: []byte(payload), QoS: 2, Publisher: "pub", Receipt: "rc-" + payload}}
}

// receive calls Receive and returns the existing record.
func (e *env) receive(c string, in *session.Inbound) *session.Inbound {
	e.Helper()
	existing, err := e.st.Receive(e.ctx, c, "", in)
	e.must(err, "Receive")
	return existing
}

// testInboundLifecycle: Receive records once and then returns the record;
// MarkFannedOut marks it; Forget removes it.
func testInboundLifecycle(e *env) {
	c := e.connected("c")
	if got := e.receive(c, e.inbound(5, "one")); got != nil {
		e.Fatalf("first Receive: existing = %s, want nil", show(got))
	}
	e.eq("second Receive", e.receive(c, e.inbound(5, "two")), e.inbound(5, "one"))
	e.must(e.st.MarkFannedOut(e.ctx, c, "", 5), "MarkFannedOut")
	routed := e.inbound(5, "one")
	routed.Routed = true
	e.eq("Receive after MarkFannedOut", e.receive(c, e.inbound(5, "three")), routed)
	if got := e.receive(c, e.inbound(6, "six")); got != nil {
		e.Fatalf("Receive of another packet id: existing = %s, want nil", show(got))
	}
	e.must(e.st.Forget(e.ctx, c, "", 5), "Forget")
	e.wantErr(e.st.Forget(e.ctx, c, "", 5), session.ErrNotFound, "second Forget")
	e.wantErr(e.st.MarkFannedOut(e.ctx, c, "", 5), session.ErrNotFound, "MarkFannedOut after Forget")
	if got := e.receive(c, e.inbound(5, "four")); got != nil {
		e.Fatalf("Receive after Forget: existing = %s, want nil", show(got))
	}
	e.eq("Receive of the new record", e.receive(c, e.inbound(5, "five")), e.inbound(5, "four"))
	e.eq("Receive of the other", e.receive(c, e.inbound(6, "x")), e.inbound(6, "six"))
	e.must(e.st.Forget(e.ctx, c, "", 6), "Forget")
}

// testInboundNotFound: MarkFannedOut and Forget of unknown packet ids, and
// Receive on unknown sessions, are ErrNotFound.
func testInboundNotFound(e *env) {
	c := e.connected("c")
	e.wantErr(e.st.MarkFannedOut(e.ctx, c, "", 9), session.ErrNotFound, "MarkFannedOut of an unknown packet id")
	e.wantErr(e.st.Forget(e.ctx, c, "", 9), session.ErrNotFound, "Forget of an unknown packet id")
	nobody := e.client("nobody")
	_, err := e.st.Receive(e.ctx, nobody, "", e.inbound(1, "x"))
	e.wantErr(err, session.ErrNotFound, "Receive on an unknown session")
	e.wantErr(e.st.MarkFannedOut(e.ctx, nobody, "", 1), session.ErrNotFound, "MarkFannedOut on an unknown session")
	e.wantErr(e.st.Forget(e.ctx, nobody, "", 1), session.ErrNotFound, "Forget on an unknown session")
	_, err = e.st.Session(e.ctx, nobody)
	e.wantErr(err, session.ErrNotFound, "Session after Receive")
}
