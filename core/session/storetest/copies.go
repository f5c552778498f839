package storetest

import (
	"github.com/mqttless/mqttless/core/session"
)

var copyTests = []test{
	{"Session", testCopiesSession},
	{"Outbound", testCopiesOutbound},
	{"Retained", testCopiesRetained},
	{"Inbound", testCopiesInbound},
}

// mutateSession changes s and everything it points to.
func mutateSession(s *session.Session) {
	s.Conn, s.Proxy, s.ExpiresAt, s.WillAt, s.ReceiveMax = "mutated", "mutated", 1, 1, 1
	if w := s.Will; w != nil {
		w.Delay = 99
		w.Message.Topic = "mutated"
		w.Message.Payload[0] = 'X'
		w.Message.Props.User[0].Key = "mutated"
	}
}

// mutateMessage changes m and everything it points to.
func mutateMessage(m *session.Message) {
	m.Topic, m.QoS, m.ExpiresAt = "mutated", 2, 1
	m.Payload[0] = 'X'
	if len(m.Props.User) > 0 {
		m.Props.User[0].Value = "mutated"
	}
	if len(m.Props.CorrelationData) > 0 {
		m.Props.CorrelationData[0] = 'X'
	}
}

// mutateOutbound changes o and everything it points to.
func mutateOutbound(o *session.Outbound) {
	o.Seq, o.PacketID, o.State, o.QoS = o.Seq+1000, o.PacketID+1, session.Released, 2
	if len(o.SubIDs) > 0 {
		o.SubIDs[0] = 999
	}
	mutateMessage(&o.Message)
}

// testCopiesSession: the store keeps no reference to the sessions and
// wills passed in, and hands out none to what it holds.
func testCopiesSession(e *env) {
	c := e.client("c")
	w := func() *session.Will { return will(e.topic("w"), "will", 5) }
	s := newSessionWithWill(c, "conn1", w())
	e.connectSession(s, false)
	mutateSession(s)
	want := newSessionWithWill(c, "conn1", w())
	e.eq("session after changing Connect's argument", e.session(c), want)
	mutateSession(e.session(c))
	e.eq("session after changing a result of Session", e.session(c), want)
	all, err := e.st.Sessions(e.ctx, []string{c})
	e.must(err, "Sessions")
	mutateSession(all[c])
	e.eq("session after changing a result of Sessions", e.session(c), want)
	mutateSession(e.connectSession(newSessionWithWill(c, "conn2", w()), false))
	want = newSessionWithWill(c, "conn2", w())
	e.eq("session after changing the prev of Connect", e.session(c), want)

	o := session.Offline{ExpiresAt: e.now + 60_000, ExpiryInterval: 60, Will: w(), WillAt: dueBase - 1}
	e.offline(c, "conn2", o)
	o.Will.Message.Payload[0] = 'X'
	o.Will.Message.Props.User[0].Key = "mutated"
	want = e.session(c)
	if string(want.Will.Message.Payload) != "will" || want.Will.Message.Props.User[0].Key != "k" {
		e.Fatalf("pending will changed with SetOffline's argument: %s", show(want.Will))
	}
	due, err := e.st.Due(e.ctx, dueBase, 10_000)
	e.must(err, "Due")
	for _, s := range due {
		if s.ClientID == c {
			mutateSession(s)
		}
	}
	e.eq("session after changing a result of Due", e.session(c), want)
}

// testCopiesOutbound: the store keeps no reference to the outbound messages
// passed in, and hands out none to what it holds.
func testCopiesOutbound(e *env) {
	c := e.connected("c")
	in := []*session.Outbound{out(1, "abc"), out(2, "def")}
	in[0].Message.Props.CorrelationData = []byte("cd")
	e.enqueue(c, 100, 0, in...)
	for _, o := range in {
		mutateOutbound(o)
	}
	d := e.dispatch(c, 10)
	want := []*session.Outbound{out(1, "abc"), out(2, "def")}
	want[0].Message.Props.CorrelationData = []byte("cd")
	for i, o := range d {
		want[i].Seq, want[i].PacketID, want[i].State = o.Seq, o.PacketID, session.Sent
	}
	e.eq("dispatched after changing Enqueue's argument", d, want)
	for _, o := range d {
		mutateOutbound(o)
	}
	e.eq("in flight after changing Dispatch's result", e.inflight(c), want)
	for _, o := range e.inflight(c) {
		mutateOutbound(o)
	}
	e.eq("in flight after changing Inflight's result", e.inflight(c), want)
	_, d = e.enqueue(c, 100, 10, out(1, "ghi"))
	mutateOutbound(d[0])
	e.eq("in flight after changing Enqueue's result", payloads(e.inflight(c)), []string{"abc", "def", "ghi"})
	e.must(e.st.Acknowledge(e.ctx, c, "conn1", want[0].PacketID), "Acknowledge")
}

// testCopiesRetained: the store keeps no reference to the retained messages
// passed in, and hands out none to what it holds.
func testCopiesRetained(e *env) {
	name := e.topic("r")
	mutateMessage(e.retain(name, "abc"))
	want := []*session.Message{e.retainedMsg(name, "abc")}
	e.eq("retained after changing SetRetained's argument", e.retainedMine(name), want)
	mutateMessage(e.retainedMine(name)[0])
	e.eq("retained after changing Retained's result", e.retainedMine(name), want)
}

// testCopiesInbound: the store keeps no reference to the receive state
// passed in, and hands out none to what it holds.
func testCopiesInbound(e *env) {
	c := e.connected("c")
	in := e.inbound(5, "abc")
	e.receive(c, in)
	in.Routed = true
	mutateMessage(&in.Message)
	got := e.receive(c, e.inbound(5, "zzz"))
	e.eq("receive state after changing Receive's argument", got, e.inbound(5, "abc"))
	got.Routed = true
	mutateMessage(&got.Message)
	e.eq("receive state after changing Receive's result", e.receive(c, e.inbound(5, "zzz")), e.inbound(5, "abc"))
}
