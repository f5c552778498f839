package session_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/memstore"
)

// matchCounter counts the Store.Match and Store.Sessions calls.
type matchCounter struct {
	session.Store
	matches, sessions atomic.Int32
}

func (s *matchCounter) Match(ctx context.Context, topic string) ([]session.Subscription, error) {
	s.matches.Add(1)
	return s.Store.Match(ctx, topic)
}

func (s *matchCounter) Sessions(ctx context.Context, ids []string) (map[string]*session.Session, error) {
	s.sessions.Add(1)
	return s.Store.Sessions(ctx, ids)
}

// TestBatchMatchesOnce checks that the PUBLISH frames of one event that
// share a topic are fanned out with one Match and one Sessions read, that every
// one of them is still delivered in order, and that a SUBSCRIBE in the
// event makes the next PUBLISH see the new subscription.
func TestBatchMatchesOnce(t *testing.T) {
	st := &matchCounter{Store: memstore.New()}
	h, err := session.New(st, session.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	enc := func(ps ...packet.Packet) [][]byte {
		var out [][]byte
		for _, p := range ps {
			b, err := p.Append(nil, packet.V5)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
		return out
	}
	states := map[string]*session.ConnState{}
	send := func(conn string, ps ...packet.Packet) *session.Reply {
		t.Helper()
		r, err := h.Handle(ctx, &session.Event{Kind: session.KindPackets, Proxy: "p", Conn: conn, State: states[conn], Packets: enc(ps...)})
		if err != nil {
			t.Fatal(err)
		}
		if r.State != nil {
			states[conn] = r.State
		}
		return r
	}
	send("sub", &packet.Connect{ClientID: "sub", CleanStart: true})
	send("sub", &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a/+", QoS: 0}}})
	send("pub", &packet.Connect{ClientID: "pub", CleanStart: true})

	st.matches.Store(0)
	st.sessions.Store(0)
	r := send("pub", &packet.Publish{Topic: "a/b", Payload: []byte("1")}, &packet.Publish{Topic: "a/b", Payload: []byte("2")}, &packet.Publish{Topic: "a/b", Payload: []byte("3")})
	if m, s := st.matches.Load(), st.sessions.Load(); m != 1 || s != 1 {
		t.Errorf("3 PUBLISH to one topic in one event: %d Match and %d Sessions calls, want 1 and 1", m, s)
	}
	if got := deliveredPayloads(t, r, "sub"); got != "123" {
		t.Errorf("subscriber got %q, want \"123\" in order", got)
	}

	st.matches.Store(0)
	r = send("pub", &packet.Publish{Topic: "a/b", Payload: []byte("4")},
		&packet.Subscribe{PacketID: 2, Subscriptions: []packet.Subscription{{Filter: "a/b", QoS: 0}}},
		&packet.Publish{Topic: "a/b", Payload: []byte("5")})
	if m := st.matches.Load(); m != 2 {
		t.Errorf("PUBLISH, SUBSCRIBE, PUBLISH: %d Match calls, want 2 (the SUBSCRIBE drops what was read)", m)
	}
	if got := deliveredPayloads(t, r, "sub"); got != "45" {
		t.Errorf("subscriber got %q, want \"45\"", got)
	}
	if got := deliveredPayloads(t, r, "pub"); got != "5" {
		t.Errorf("publisher, subscribed in the same event, got %q, want \"5\" [MQTT-3.8.4-3]", got)
	}
}

// deliveredPayloads concatenates the payloads of the PUBLISH frames r carries for
// conn: its own packets when conn is "pub", deliveries otherwise.
func deliveredPayloads(t *testing.T, r *session.Reply, conn string) string {
	t.Helper()
	var frames [][]byte
	if conn == "pub" {
		frames = r.Packets
	}
	for _, d := range r.Deliveries {
		if d.Conn == conn {
			frames = append(frames, d.Packets...)
		}
	}
	out := ""
	for _, f := range frames {
		p, err := packet.Decode(f, packet.V5)
		if err != nil {
			t.Fatal(err)
		}
		if pub, ok := p.(*packet.Publish); ok {
			out += string(pub.Payload)
		}
	}
	return out
}

// staleMatcher is a MatchReader over a memstore that answers with the
// sessions as they were when it was made, as a store serving QoS 0
// fan-outs from copies may.
type staleMatcher struct {
	session.Store
	old   map[string]*session.Session
	calls atomic.Int32
}

func (s *staleMatcher) MatchSessions(ctx context.Context, name string, qos byte, _ int) ([]session.Subscription, map[string]*session.Session, error) {
	s.calls.Add(1)
	subs, err := s.Store.Match(ctx, name)
	return subs, s.old, err
}

// With a MatchReader store the handler fans out to the sessions
// MatchSessions returns, asking once per topic and QoS in an event: a copy naming a
// connection since gone sends the message there, for Undelivered to settle
// when that connection's proxy reports it gone.
func TestMatchReaderSessions(t *testing.T) {
	ms := memstore.New()
	st := &staleMatcher{Store: ms}
	h, err := session.New(st, session.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	enc := func(p packet.Packet) []byte {
		b, err := p.Append(nil, packet.V5)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	states := map[string]*session.ConnState{}
	send := func(conn string, ps ...packet.Packet) *session.Reply {
		t.Helper()
		var frames [][]byte
		for _, p := range ps {
			frames = append(frames, enc(p))
		}
		r, err := h.Handle(ctx, &session.Event{Kind: session.KindPackets, Proxy: "p", Conn: conn, State: states[conn], Packets: frames})
		if err != nil {
			t.Fatal(err)
		}
		if r.State != nil {
			states[conn] = r.State
		}
		return r
	}
	send("sub-1", persistentConnect("sub", false))
	send("sub-1", &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a/+", QoS: 0}}})
	old, err := ms.Sessions(ctx, []string{"sub"})
	if err != nil {
		t.Fatal(err)
	}
	st.old = old
	// The subscriber reconnects on sub-2; the store still says sub-1.
	h.Handle(ctx, &session.Event{Kind: session.KindLost, Proxy: "p", Conn: "sub-1", State: states["sub-1"]})
	send("sub-2", persistentConnect("sub", false))
	send("pub", &packet.Connect{ClientID: "pub", CleanStart: true})
	st.calls.Store(0)
	r := send("pub", &packet.Publish{Topic: "a/b", Payload: []byte("1")}, &packet.Publish{Topic: "a/b", Payload: []byte("2")})
	if n := st.calls.Load(); n != 1 {
		t.Errorf("%d MatchSessions calls for 2 PUBLISH to one topic, want 1", n)
	}
	if len(r.Deliveries) != 1 || r.Deliveries[0].Conn != "sub-1" {
		t.Fatalf("deliveries %+v, want one to the connection the store named", r.Deliveries)
	}
	again, err := h.Undelivered(ctx, r.Deliveries)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Deliveries) != 1 || again.Deliveries[0].Conn != "sub-2" || len(again.Deliveries[0].Packets) != 2 {
		t.Fatalf("Undelivered gave %+v, want both messages for sub-2", again.Deliveries)
	}
	// After a clean start without the subscription, nothing is resent.
	send("sub-3", persistentConnect("sub", true))
	again, err = h.Undelivered(ctx, r.Deliveries)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Deliveries) != 0 {
		t.Fatalf("Undelivered after a clean start gave %+v, want nothing [MQTT-3.1.2-4]", again.Deliveries)
	}
}

// persistentConnect is a 5.0 CONNECT with a Session Expiry Interval of
// 600 s.
func persistentConnect(id string, clean bool) *packet.Connect {
	p := &packet.Connect{ClientID: id, CleanStart: clean}
	p.Properties.SessionExpiry = 600
	p.Properties.Set(packet.PropSessionExpiry)
	return p
}
