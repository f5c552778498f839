package storetest

import (
	"github.com/mqttless/mqttless/core/session"
)

// ackFenceTests check the fence of the acknowledgements (Acknowledge,
// Release, Complete) on the connection that sends them.
var ackFenceTests = []test{
	{"Owner", testAckOwner},
	{"FencedAfterTakeover", testAckFencedAfterTakeover},
	{"FencedAfterCleanStart", testAckFencedAfterCleanStart},
	{"FencedOffline", testAckFencedOffline},
}

// acks runs Acknowledge, Release and Complete of pid from conn and returns
// their errors, in that order.
func (e *env) acks(c, conn string, pid uint16) []error {
	return []error{
		e.st.Acknowledge(e.ctx, c, conn, pid),
		e.st.Release(e.ctx, c, conn, pid),
		e.st.Complete(e.ctx, c, conn, pid),
	}
}

// wantFenced checks that each of errs is ErrFenced.
func (e *env) wantFenced(errs []error, what string) {
	e.Helper()
	for i, err := range errs {
		e.wantErr(err, session.ErrFenced, what+": "+ackOps[i].name)
	}
}

// testAckOwner: the connection that holds the session acknowledges its
// messages, as a call without a connection does.
func testAckOwner(e *env) {
	c := e.connected("c")
	_, d := e.enqueue(c, 100, 10, out(1, "a"), out(2, "b"))
	e.must(e.st.Acknowledge(e.ctx, c, "conn1", d[0].PacketID), "Acknowledge from the owner")
	e.must(e.st.Release(e.ctx, c, "conn1", d[1].PacketID), "Release from the owner")
	e.eq("in flight", states(e.inflight(c)), []string{"b:2"})
	e.must(e.st.Complete(e.ctx, c, "conn1", d[1].PacketID), "Complete from the owner")
	e.eq("in flight", states(e.inflight(c)), []string{})
}

// testAckFencedAfterTakeover is a late acknowledgement of a connection
// taken over by one that resumed the session: it changes nothing, whether
// a message uses its packet identifier or not, and the connection that
// took over (which resent what was in flight) acknowledges the messages.
func testAckFencedAfterTakeover(e *env) {
	c := e.connected("c")
	_, d := e.enqueue(c, 100, 10, out(1, "a"), out(2, "b"), out(2, "c"))
	e.must(e.st.Release(e.ctx, c, "conn1", d[2].PacketID), "Release")
	before := states(e.inflight(c))
	e.eq("in flight", before, []string{"a:1", "b:1", "c:2"})
	e.connect(c, "conn2", false)
	e.wantErr(e.st.Acknowledge(e.ctx, c, "conn1", d[0].PacketID), session.ErrFenced, "Acknowledge from the connection taken over")
	e.wantErr(e.st.Release(e.ctx, c, "conn1", d[1].PacketID), session.ErrFenced, "Release from the connection taken over")
	e.wantErr(e.st.Complete(e.ctx, c, "conn1", d[2].PacketID), session.ErrFenced, "Complete from the connection taken over")
	unused := max(d[0].PacketID, d[1].PacketID, d[2].PacketID) + 1
	e.wantFenced(e.acks(c, "conn1", unused), "an unused packet id from the connection taken over")
	e.eq("in flight after the fenced acknowledgements", states(e.inflight(c)), before)

	e.must(e.st.Acknowledge(e.ctx, c, "conn2", d[0].PacketID), "Acknowledge from the new connection")
	e.must(e.st.Release(e.ctx, c, "conn2", d[1].PacketID), "Release from the new connection")
	e.must(e.st.Complete(e.ctx, c, "conn2", d[1].PacketID), "Complete from the new connection")
	e.must(e.st.Complete(e.ctx, c, "conn2", d[2].PacketID), "Complete from the new connection")
	e.eq("in flight", states(e.inflight(c)), []string{})
}

// testAckFencedAfterCleanStart is the loss the fence prevents: the client
// reconnects with Clean Start while a call of its old connection still
// runs, and the new session puts messages in flight under packet
// identifiers the old one used. The old connection's PUBACK, PUBREC and
// PUBCOMP of those identifiers leave the new session's messages in flight,
// to be acknowledged by the new connection; otherwise they would leave the
// window without reaching the client.
func testAckFencedAfterCleanStart(e *env) {
	c := e.connected("c")
	e.enqueue(c, 100, 10, out(1, "old1"), out(2, "old2"), out(1, "old3"))
	e.connect(c, "conn2", true)
	n, d, err := e.st.Enqueue(e.ctx, c, outs(1, "n1", "n2", "n3", "n4"), session.QueueLimit{Messages: 100}, "conn2", 10)
	e.must(err, "Enqueue for the new connection")
	if n != 4 {
		e.Fatalf("accepted %d, want 4", n)
	}
	e.checkDispatched(d)
	e.eq("in flight in the new session", payloads(d), []string{"n1", "n2", "n3", "n4"})
	_, q2 := e.enqueue(c, 100, 10, out(2, "n5"))
	e.must(e.st.Release(e.ctx, c, "conn2", q2[0].PacketID), "Release from the new connection")
	before := states(e.inflight(c))
	e.eq("in flight", before, []string{"n1:1", "n2:1", "n3:1", "n4:1", "n5:2"})
	for _, o := range append(d, q2...) {
		e.wantFenced(e.acks(c, "conn1", o.PacketID), "the old connection's acknowledgement of a new message's packet id")
	}
	// Packet ids 1 to 3, which the old session most likely used, whether or
	// not the new one uses them.
	for pid := range uint16(3) {
		e.wantFenced(e.acks(c, "conn1", pid+1), "the old connection's acknowledgement")
	}
	e.eq("the new session's messages after the old connection's acknowledgements", states(e.inflight(c)), before)
	for _, o := range d {
		e.must(e.st.Acknowledge(e.ctx, c, "conn2", o.PacketID), "Acknowledge from the new connection")
	}
	e.must(e.st.Complete(e.ctx, c, "conn2", q2[0].PacketID), "Complete from the new connection")
	e.eq("in flight", states(e.inflight(c)), []string{})
}

// testAckFencedOffline: once the session is offline, its last connection's
// acknowledgements change nothing; a call without a connection (a tool)
// still ends an exchange.
func testAckFencedOffline(e *env) {
	c := e.connected("c")
	_, d := e.enqueue(c, 100, 10, out(1, "a"), out(2, "b"))
	e.offline(c, "conn1", session.Offline{ExpiryInterval: 3600})
	for _, o := range d {
		e.wantFenced(e.acks(c, "conn1", o.PacketID), "an acknowledgement from the connection gone offline")
	}
	e.eq("in flight", states(e.inflight(c)), []string{"a:1", "b:1"})
	e.must(e.st.Acknowledge(e.ctx, c, "", d[0].PacketID), "Acknowledge without a connection")
	e.eq("in flight", states(e.inflight(c)), []string{"b:1"})
}
