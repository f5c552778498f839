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

// TestBatchRoutesOnce checks that the PUBLISH frames of one event that
// share a topic are routed with one Match and one Sessions read, that every
// one of them is still delivered in order, and that a SUBSCRIBE in the
// event makes the next PUBLISH see the new subscription.
func TestBatchRoutesOnce(t *testing.T) {
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
