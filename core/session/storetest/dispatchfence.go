package storetest

import (
	"errors"

	"github.com/mqttless/mqttless/core/session"
)

var dispatchFenceTests = []test{
	{"DispatchForConn", testDispatchForConn},
	{"DispatchFencedAfterTakeover", testDispatchFencedAfterTakeover},
	{"DispatchFencedOffline", testDispatchFencedOffline},
	{"DispatchFencedNoSession", testDispatchFencedNoSession},
	{"ReceiveFenced", testReceiveFenced},
}

// testDispatchForConn: Dispatch and Enqueue for the connection that holds
// the session move messages in flight as without a connection.
func testDispatchForConn(e *env) {
	c := e.connected("c")
	n, d, err := e.st.Enqueue(e.ctx, c, outs(1, "1", "2", "3"), session.QueueLimit{Messages: 10}, "conn1", 2)
	e.must(err, "Enqueue for conn1")
	if n != 3 {
		e.Fatalf("accepted %d, want 3", n)
	}
	e.checkDispatched(d)
	e.eq("dispatched by Enqueue for conn1", payloads(d), []string{"1", "2"})
	e.must(e.st.Acknowledge(e.ctx, c, "conn1", d[0].PacketID), "Acknowledge")
	d, err = e.st.Dispatch(e.ctx, c, "conn1", 2)
	e.must(err, "Dispatch for conn1")
	e.checkDispatched(d)
	e.eq("dispatched for conn1", payloads(d), []string{"3"})
}

// testDispatchFencedAfterTakeover is a late call of a connection taken
// over (its proxy died while the call ran, say): the new connection has
// started, resending what was in flight, and the old one's Dispatch or
// Enqueue must not put messages in flight that only the old connection
// would be sent. They return ErrFenced and leave the messages queued (the
// Enqueue's messages too), in flight for nobody, for the new connection's
// Dispatch.
func testDispatchFencedAfterTakeover(e *env) {
	c := e.connected("c")
	e.enqueue(c, 10, 0, outs(1, "1", "2")...)
	e.connect(c, "conn2", false) // resumes: nothing in flight to resend
	d, err := e.st.Dispatch(e.ctx, c, "conn1", 10)
	e.wantErr(err, session.ErrFenced, "Dispatch for the connection taken over")
	if len(d) != 0 {
		e.Fatalf("Dispatch for the connection taken over handed out %s", show(d))
	}
	n, d, err := e.st.Enqueue(e.ctx, c, outs(2, "3"), session.QueueLimit{Messages: 10}, "conn1", 10)
	e.wantErr(err, session.ErrFenced, "Enqueue for the connection taken over")
	if n != 1 || len(d) != 0 {
		e.Fatalf("Enqueue for the connection taken over: accepted %d, dispatched %s; want 1, none", n, show(d))
	}
	e.eq("in flight after the fenced calls", states(e.inflight(c)), []string{})
	d, err = e.st.Dispatch(e.ctx, c, "conn2", 10)
	e.must(err, "Dispatch for the new connection")
	e.checkDispatched(d)
	e.eq("dispatched for the new connection", payloads(d), []string{"1", "2", "3"})
}

// testDispatchFencedOffline: a session gone offline has no connection to
// dispatch for; an empty conn dispatches all the same (tools).
func testDispatchFencedOffline(e *env) {
	c := e.connected("c")
	e.enqueue(c, 10, 0, out(1, "1"))
	e.offline(c, "conn1", session.Offline{ExpiryInterval: 3600})
	_, err := e.st.Dispatch(e.ctx, c, "conn1", 10)
	e.wantErr(err, session.ErrFenced, "Dispatch for the connection gone offline")
	e.eq("dispatched without a connection", payloads(e.dispatch(c, 10)), []string{"1"})
}

// testReceiveFenced is a late call of a connection whose client has since
// started a new session (clean start): its Receive, MarkFannedOut and
// Forget are ErrFenced and leave the new session's receive state alone, so
// that the new connection's message under the same packet identifier is
// not taken for a resend of the old one.
func testReceiveFenced(e *env) {
	c := e.connected("c")
	e.receive(c, e.inbound(5, "old"))
	e.connect(c, "conn2", true)
	_, err := e.st.Receive(e.ctx, c, "conn1", e.inbound(7, "late"))
	e.wantErr(err, session.ErrFenced, "Receive from the connection taken over")
	e.wantErr(e.st.MarkFannedOut(e.ctx, c, "conn1", 7), session.ErrFenced, "MarkFannedOut from the connection taken over")
	if got := e.receive(c, e.inbound(7, "new")); got != nil {
		e.Fatalf("Receive of the new connection's packet 7 found %q, want none", got.Message.Payload)
	}
	e.wantErr(e.st.Forget(e.ctx, c, "conn1", 7), session.ErrFenced, "Forget from the connection taken over")
	e.must(e.st.MarkFannedOut(e.ctx, c, "conn2", 7), "MarkFannedOut from the new connection")
	e.must(e.st.Forget(e.ctx, c, "conn2", 7), "Forget from the new connection")
}

// testInboundFenced: Receive, MarkFannedOut and Forget from a connection
// that no longer holds the session change nothing: after a takeover that
// kept the session (its receive state stays, for the new connection), and
// once the session is offline.
func testInboundFenced(e *env) {
	c := e.connected("c")
	e.receive(c, e.inbound(5, "one"))
	e.connect(c, "conn2", false)
	_, err := e.st.Receive(e.ctx, c, "conn1", e.inbound(6, "stale"))
	e.wantErr(err, session.ErrFenced, "Receive from the connection taken over")
	e.wantErr(e.st.MarkFannedOut(e.ctx, c, "conn1", 5), session.ErrFenced, "MarkFannedOut from the connection taken over")
	e.wantErr(e.st.Forget(e.ctx, c, "conn1", 5), session.ErrFenced, "Forget from the connection taken over")
	got, err := e.st.Receive(e.ctx, c, "conn2", e.inbound(5, "again"))
	e.must(err, "Receive from the new connection")
	e.eq("the record kept, not marked fanned out", got, e.inbound(5, "one"))
	got, err = e.st.Receive(e.ctx, c, "conn2", e.inbound(6, "fresh"))
	e.must(err, "Receive from the new connection")
	if got != nil {
		e.Fatalf("the fenced Receive left a record: %s", show(got))
	}
	e.offline(c, "conn2", session.Offline{ExpiryInterval: 3600})
	_, err = e.st.Receive(e.ctx, c, "conn2", e.inbound(7, "late"))
	e.wantErr(err, session.ErrFenced, "Receive once offline")
	e.wantErr(e.st.Forget(e.ctx, c, "conn2", 5), session.ErrFenced, "Forget once offline")
	n, err := e.st.Receiving(e.ctx, c)
	e.must(err, "Receiving")
	e.eq("receive states", n, 2)
}

// testDispatchFencedNoSession: a Dispatch for a connection of a session
// that does not exist hands out nothing and creates nothing.
func testDispatchFencedNoSession(e *env) {
	nobody := e.client("nobody")
	d, err := e.st.Dispatch(e.ctx, nobody, "conn1", 10)
	if len(d) != 0 || err != nil && !errors.Is(err, session.ErrNotFound) && !errors.Is(err, session.ErrFenced) {
		e.Fatalf("Dispatch for a connection of no session = %s, %v; want none", show(d), err)
	}
	_, err = e.st.Session(e.ctx, nobody)
	e.wantErr(err, session.ErrNotFound, "Session after Dispatch")
}
