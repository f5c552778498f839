package session_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// undelivered hands ds to Handler.Undelivered, as delivery.Relay does for
// deliveries whose connection a proxy reported gone.
func (e *env) undelivered(ds []session.Delivery) *session.Reply {
	e.t.Helper()
	r, err := e.handler().Undelivered(context.Background(), ds)
	if err != nil {
		e.t.Fatalf("Undelivered: %v", err)
	}
	return r
}

// queuedQoS0 takes the QoS 0 messages queued for clientID out of the
// store: what Undelivered left there.
func (e *env) queuedQoS0(clientID string) []string {
	e.t.Helper()
	out, err := e.store.Dispatch(context.Background(), clientID, "", 0)
	if err != nil {
		e.t.Fatalf("Dispatch: %v", err)
	}
	var got []string
	for _, o := range out {
		if o.QoS == 0 {
			got = append(got, string(o.Message.Payload))
		}
	}
	return got
}

// A QoS 0 message whose connection was gone when the proxy wrote it is
// queued for a persistent session, as if the session had been offline when
// it was routed (section 4.1, QueueQoS0), and reaches the client after the
// CONNACK of its next connection. QoS 1 and 2 messages are in flight in the
// store already and are not queued again [MQTT-4.4.0-1].
func TestUndelivered(t *testing.T) {
	type order int
	const (
		lostFirst     order = iota // the lost event, then the gone report
		goneFirst                  // the gone report, then the lost event
		takenOver                  // a new connection owns the session when the report comes
		stillOwnedNew              // the session is owned again by a new connection, itself since lost
	)
	cases := []struct {
		name   string
		spec   string
		v      packet.Version
		cfg    session.Config
		opts   []connectOpt // of the subscriber's connections
		reopts []connectOpt // of its reconnections, when not opts
		subQoS byte
		pubs   [][]pubOpt // one PUBLISH per entry, payloads "0", "1", ...
		order  order
		// want is the payloads the subscriber gets after its next CONNACK,
		// each once, in any order; stored, when set, is what Undelivered
		// left queued (checked instead of reconnecting, for sessions that
		// end with their connection).
		want   []string
		stored *[]string
	}{
		{name: "QoS 0 queued after the lost event", spec: "4.1 QueueQoS0", v: v5, cfg: session.Config{QueueQoS0: true},
			opts: []connectOpt{persistent()}, pubs: [][]pubOpt{nil}, order: lostFirst, want: []string{"0"}},
		{name: "QoS 0 queued before the lost event", spec: "4.1 QueueQoS0", v: v5, cfg: session.Config{QueueQoS0: true},
			opts: []connectOpt{persistent()}, pubs: [][]pubOpt{nil, nil}, order: goneFirst, want: []string{"0", "1"}},
		{name: "3.1.1 persistent session", spec: "4.1 QueueQoS0 (3.1.1)", v: v311, cfg: session.Config{QueueQoS0: true},
			opts: []connectOpt{resume()}, pubs: [][]pubOpt{nil}, order: lostFirst, want: []string{"0"}},
		{name: "QueueQoS0 off", spec: "4.1 (QoS 0 optional)", v: v5,
			opts: []connectOpt{persistent()}, pubs: [][]pubOpt{nil}, order: goneFirst, want: nil, stored: &[]string{}},
		{name: "QueueQoS0 off, after the lost event", spec: "4.1 (QoS 0 optional)", v: v5,
			opts: []connectOpt{persistent()}, pubs: [][]pubOpt{nil}, order: lostFirst, want: nil},
		{name: "clean session, expiry 0", spec: "3.1.2.11.2", v: v5, cfg: session.Config{QueueQoS0: true},
			pubs: [][]pubOpt{nil}, order: goneFirst, stored: &[]string{}},
		{name: "3.1.1 clean session", spec: "3.1.2.4 (3.1.1)", v: v311, cfg: session.Config{QueueQoS0: true},
			pubs: [][]pubOpt{nil}, order: goneFirst, stored: &[]string{}},
		{name: "clean start with an expiry interval persists", spec: "3.1.2.11.2", v: v5, cfg: session.Config{QueueQoS0: true},
			opts: []connectOpt{expiry(600)}, reopts: []connectOpt{persistent()}, pubs: [][]pubOpt{nil}, order: goneFirst, want: []string{"0"}},
		{name: "another connection owns the session", spec: "4.1", v: v5, cfg: session.Config{QueueQoS0: true},
			opts: []connectOpt{persistent()}, pubs: [][]pubOpt{nil}, order: takenOver, want: nil},
		{name: "QoS 1 not queued twice", spec: "[MQTT-4.4.0-1]", v: v5, cfg: session.Config{QueueQoS0: true},
			opts: []connectOpt{persistent()}, subQoS: 1, pubs: [][]pubOpt{{qos(1, 1)}}, order: lostFirst, want: []string{"0"}},
		{name: "QoS 2 not queued twice", spec: "[MQTT-4.4.0-1]", v: v5, cfg: session.Config{QueueQoS0: true},
			opts: []connectOpt{persistent()}, subQoS: 2, pubs: [][]pubOpt{{qos(2, 1)}}, order: goneFirst, want: []string{"0"}},
		{name: "QoS 0 and QoS 1 in one delivery", spec: "4.1 [MQTT-4.4.0-1]", v: v5, cfg: session.Config{QueueQoS0: true},
			opts: []connectOpt{persistent()}, subQoS: 1, pubs: [][]pubOpt{nil, {qos(1, 1)}, nil}, order: lostFirst, want: []string{"0", "1", "2"}},
		{name: "3.1.1 QoS 1 not queued twice", spec: "[MQTT-4.4.0-1] (3.1.1)", v: v311, cfg: session.Config{QueueQoS0: true},
			opts: []connectOpt{resume()}, subQoS: 1, pubs: [][]pubOpt{{qos(1, 1)}}, order: goneFirst, want: []string{"0"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.cfg)
			s, _, _ := e.connectOn("proxy-2", tc.v, "s", tc.opts...)
			s.sub(sub("t", tc.subQoS))
			pub, _, _ := e.connect(v5, "pub")
			var frames [][]byte
			for i, opts := range tc.pubs {
				frames = append(frames, publish(v5, "t", string(rune('0'+i)), opts...))
			}
			r := pub.send(frames...)
			var want []string
			for i := range tc.pubs {
				want = append(want, string(rune('0'+i)))
			}
			wantPayloads(t, s.recv(r), want...)
			var ds []session.Delivery
			for _, d := range r.Deliveries {
				if d.Conn == s.id {
					ds = append(ds, d)
				}
			}
			if len(ds) != 1 || ds[0].Client != "s" || ds[0].Proxy != "proxy-2" {
				t.Fatalf("deliveries %+v, want one to s on proxy-2 naming its client", r.Deliveries)
			}

			switch tc.order {
			case lostFirst:
				s.lost()
				e.undelivered(ds)
			case goneFirst:
				e.undelivered(ds)
				if tc.stored != nil {
					if got := e.queuedQoS0("s"); !slices.Equal(got, *tc.stored) && len(got)+len(*tc.stored) > 0 {
						t.Fatalf("Undelivered queued %q, want %q %s", got, *tc.stored, tc.spec)
					}
					return
				}
				s.lost()
			case takenOver:
				s2, _, _ := e.connectOn("proxy-3", tc.v, "s", tc.opts...)
				s.lost()
				e.undelivered(ds)
				s2.lost()
			}
			reopts := tc.opts
			if tc.reopts != nil {
				reopts = tc.reopts
			}
			s3, ack, ps := e.connectOn("proxy-3", tc.v, "s", reopts...)
			if !ack.SessionPresent {
				t.Fatalf("session not present on reconnect")
			}
			got := payloads(ps)
			slices.Sort(got)
			if !slices.Equal(got, tc.want) && len(got)+len(tc.want) > 0 {
				t.Fatalf("on reconnect got %s, want payloads %q once each %s", describeAll(ps), tc.want, tc.spec)
			}
			for _, p := range publishes(ps) {
				if p.QoS == 0 && p.Topic != "t" {
					t.Errorf("queued message on topic %q, want t", p.Topic)
				}
				if p.QoS > 0 {
					switch p.QoS {
					case 1:
						s3.send(puback(tc.v, p.PacketID))
					case 2:
						s3.send(pubrec(tc.v, p.PacketID))
						s3.send(pubcomp(tc.v, p.PacketID))
					}
				}
			}
			// Nothing is left for the next connection.
			s3.lost()
			_, _, ps = e.connectOn("proxy-3", tc.v, "s", reopts...)
			if len(ps) != 0 {
				t.Errorf("second reconnect got %s, want nothing", describeAll(ps))
			}
		})
	}
}

// A queued QoS 0 message keeps its properties: retain flag as delivered,
// the subscription identifier, user properties, and what remains of its
// Message Expiry Interval [MQTT-3.3.2-5].
func TestUndeliveredKeepsProperties(t *testing.T) {
	e := newEnv(t, session.Config{QueueQoS0: true})
	s, _, _ := e.connectOn("proxy-2", v5, "s", persistent())
	wantTypes(t, s.out(s.send(subscribeID(5, 42, sub("t", 0, rap)))), packet.SUBACK)
	pub, _, _ := e.connect(v5, "pub")
	r := pub.send(publish(v5, "t", "kept", retained(), msgExpiry(100), pubProps(func(p *packet.Properties) {
		p.ContentType = "text/plain"
		p.Set(packet.PropContentType)
		p.User = []packet.UserProperty{{Key: "k", Value: "v"}}
	})))
	ds := r.Deliveries
	s.lost()
	e.clock.Advance(secs(30))
	e.undelivered(ds)
	e.clock.Advance(secs(10))
	_, _, ps := e.connectOn("proxy-3", v5, "s", persistent())
	p := one[*packet.Publish](t, ps)
	if string(p.Payload) != "kept" || !p.Retain || p.QoS != 0 {
		t.Errorf("got %s, want the retained QoS 0 message (Retain As Published)", describe(p))
	}
	if !slices.Equal(p.Properties.SubscriptionIDs, []uint32{42}) {
		t.Errorf("subscription identifiers %v, want [42] [MQTT-3.3.4-3]", p.Properties.SubscriptionIDs)
	}
	if p.Properties.ContentType != "text/plain" || len(p.Properties.User) != 1 || p.Properties.User[0].Key != "k" {
		t.Errorf("properties %+v lost", p.Properties)
	}
	// 100s at publish, 30s before the report (the frame carried 100), then
	// 10s queued: 90 left. The proxy's delay before the report cannot be
	// known, so anything between 60 and 90 is right; more is not.
	if !p.Properties.Has(packet.PropMessageExpiry) || p.Properties.MessageExpiry > 90 || p.Properties.MessageExpiry < 60 {
		t.Errorf("Message Expiry Interval %d, want what remains (60 to 90) [MQTT-3.3.2-6]", p.Properties.MessageExpiry)
	}
}

// A queued QoS 0 message whose Message Expiry Interval passes before the
// client returns is not delivered [MQTT-3.3.2-5].
func TestUndeliveredExpires(t *testing.T) {
	e := newEnv(t, session.Config{QueueQoS0: true})
	s, _, _ := e.connectOn("proxy-2", v5, "s", persistent())
	s.sub(sub("t", 0))
	pub, _, _ := e.connect(v5, "pub")
	r := pub.send(publish(v5, "t", "short", msgExpiry(5)), publish(v5, "t", "long"))
	s.lost()
	e.undelivered(r.Deliveries)
	e.clock.Advance(secs(6))
	_, _, ps := e.connectOn("proxy-3", v5, "s", persistent())
	wantPayloads(t, ps, "long")
}

// Deliveries that carry nothing to queue (a close, a delivery without its
// client, a session that no longer exists) are no error.
func TestUndeliveredNothingToQueue(t *testing.T) {
	e := newEnv(t, session.Config{QueueQoS0: true})
	s, _, _ := e.connectOn("proxy-2", v5, "s", persistent())
	s.sub(sub("t", 0))
	frame := publish(v5, "t", "x")
	e.undelivered([]session.Delivery{
		{Proxy: "proxy-2", Conn: s.id, Client: "s", Close: true},
		{Proxy: "proxy-2", Conn: s.id, Packets: [][]byte{frame}},
		{Proxy: "proxy-2", Conn: "conn-x", Client: "nobody", Packets: [][]byte{frame}},
		{Proxy: "proxy-2", Conn: s.id, Client: "s", Packets: [][]byte{disconnect(v5, packet.SessionTakenOver), {}}},
	})
	if got := e.queuedQoS0("s"); len(got) != 0 {
		t.Fatalf("queued %q, want nothing", got)
	}
	if _, err := e.store.Session(context.Background(), "nobody"); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Undelivered created a session: %v", err)
	}
}

// handleKind runs an event of the given kind through Handle, as the
// session function does for the proxy's timer and restarts.
func (e *env) handleKind(kind session.Kind, proxy string) *session.Reply {
	e.t.Helper()
	r, err := e.handler().Handle(context.Background(), &session.Event{Kind: kind, Proxy: proxy})
	if err != nil {
		e.t.Fatalf("Handle(%s): %v", kind, err)
	}
	if r == nil {
		e.t.Fatalf("Handle(%s) returned no reply", kind)
	}
	e.checkReply(nil, r)
	return r
}

// A KindTick event does Tick's work: a will whose delay has passed is
// published once [MQTT-3.1.3-9], and an expired session ends (section
// 3.1.2.11.2).
func TestHandleTick(t *testing.T) {
	e := newEnv(t, session.Config{})
	watcher, _, _ := e.connectOn("proxy-W", v5, "watcher")
	watcher.sub(sub("will/#", 0))
	c, _, _ := e.connect(v5, "a", persistent(), will("will/a", "w", 0, false, 20))
	if ps := watcher.recv(c.lost()); len(ps) != 0 {
		t.Fatalf("will published at once: %s", describeAll(ps))
	}
	e.clock.Advance(secs(19))
	wantPayloads(t, watcher.recv(e.handleKind(session.KindTick, "")))
	e.clock.Advance(secs(1))
	wantPayloads(t, watcher.recv(e.handleKind(session.KindTick, "")), "w")
	wantPayloads(t, watcher.recv(e.handleKind(session.KindTick, "")))
	if _, err := e.store.Session(context.Background(), "a"); err != nil {
		t.Fatalf("session a ended with its will: %v; want it kept until it expires", err)
	}
	e.clock.Advance(secs(3600))
	e.handleKind(session.KindTick, "")
	if _, err := e.store.Session(context.Background(), "a"); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("session a after expiry: %v; want it gone", err)
	}
}

// A KindRecover event ends the connections the named proxy held: each is
// handled as lost, so its will is published [MQTT-3.1.2-8] and its session
// goes offline (or ends when it is clean), while sessions on other proxies
// are untouched.
func TestHandleRecover(t *testing.T) {
	e := newEnv(t, session.Config{})
	watcher, _, _ := e.connectOn("proxy-W", v5, "watcher")
	watcher.sub(sub("will/#", 0))
	e.connect(v5, "a", persistent(), will("will/a", "gone", 0, false, 0))
	e.connect(v311, "c", will("elsewhere/c", "unwatched", 0, false, 0))
	e.connectOn("proxy-2", v5, "b", persistent(), will("will/b", "other proxy", 0, false, 0))
	r := e.handleKind(session.KindRecover, "proxy-1")
	wantPayloads(t, watcher.recv(r), "gone")
	s, err := e.store.Session(context.Background(), "a")
	if err != nil || s.Online() {
		t.Fatalf("session a after recovery: %+v, %v; want offline", s, err)
	}
	if _, err := e.store.Session(context.Background(), "c"); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("clean session c after recovery: %v; want it ended", err)
	}
	if s, err := e.store.Session(context.Background(), "b"); err != nil || !s.Online() || s.Proxy != "proxy-2" {
		t.Fatalf("session b on another proxy: %+v, %v; want it untouched", s, err)
	}
	if ps := watcher.recv(e.handleKind(session.KindRecover, "proxy-1")); len(ps) != 0 {
		t.Fatalf("second recovery published %s", describeAll(ps))
	}
	// A recovery that names no proxy touches nothing.
	if ps := watcher.recv(e.handleKind(session.KindRecover, "")); len(ps) != 0 {
		t.Fatalf("recovery of no proxy published %s", describeAll(ps))
	}
	if s, err := e.store.Session(context.Background(), "b"); err != nil || !s.Online() {
		t.Fatalf("session b after recovery of no proxy: %+v, %v", s, err)
	}
}

// Two sessions of the crashed proxy whose wills go to one subscriber: the
// reply holds one delivery per connection, with both wills.
func TestHandleRecoverWillsToOneSubscriber(t *testing.T) {
	e := newEnv(t, session.Config{})
	watcher, _, _ := e.connectOn("proxy-W", v5, "watcher")
	watcher.sub(sub("will/#", 0))
	e.connect(v5, "a", persistent(), will("will/a", "a gone", 0, false, 0))
	e.connect(v311, "c", will("will/c", "c gone", 0, false, 0))
	r := e.handleKind(session.KindRecover, "proxy-1")
	got := payloads(watcher.recv(r))
	slices.Sort(got)
	if !slices.Equal(got, []string{"a gone", "c gone"}) {
		t.Fatalf("wills delivered %q, want both", got)
	}
}

// When the client reconnected (here through another proxy) before the gone
// report came, what the old connection missed goes to the new one: the QoS
// 0 message as it was, and the QoS 1 message still in flight under the same
// packet identifier with DUP set, since the new connection may have resumed
// the session before it was stored [MQTT-4.4.0-1] [MQTT-3.3.1-1].
func TestUndeliveredGoesToNewConnection(t *testing.T) {
	e := newEnv(t, session.Config{})
	s, _, _ := e.connectOn("proxy-2", v5, "s", persistent())
	s.sub(sub("t", 1))
	pub, _, _ := e.connect(v5, "pub")
	r := pub.send(publish(v5, "t", "zero"), publish(v5, "t", "one", qos(1, 7)))
	first := publishes(s.recv(r))
	if len(first) != 2 || first[1].QoS != 1 {
		t.Fatalf("first delivery %v, want the QoS 0 and the QoS 1 message", first)
	}
	s2, _, resumed := e.connectOn("proxy-3", v5, "s", persistent())
	wantPayloads(t, resumed, "one") // resumed from the store already
	again := e.undelivered(r.Deliveries)
	if len(again.Deliveries) != 1 || again.Deliveries[0].Conn != s2.id || again.Deliveries[0].Proxy != "proxy-3" {
		t.Fatalf("deliveries %+v, want one to the new connection on proxy-3", again.Deliveries)
	}
	ps := publishes(s2.recv(again))
	if len(ps) != 2 {
		t.Fatalf("new connection got %v, want 2 messages", ps)
	}
	if p := ps[0]; p.QoS != 1 || !p.Dup || p.PacketID != first[1].PacketID || string(p.Payload) != "one" {
		t.Errorf("in-flight message resent as %s, want QoS 1, DUP, packet id %d", describe(p), first[1].PacketID)
	}
	if p := ps[1]; p.QoS != 0 || string(p.Payload) != "zero" {
		t.Errorf("QoS 0 message resent as %s", describe(p))
	}
	// Once acknowledged, nothing is resent.
	s2.send(puback(v5, first[1].PacketID))
	if again := e.undelivered(r.Deliveries); len(publishes(s2.recv(again))) != 1 {
		t.Errorf("after PUBACK the QoS 1 message was resent again")
	}
}

// A KindUndelivered event (a proxy handing back the deliveries of a reply
// whose connections it no longer holds) is settled as Undelivered: the
// client that moved to another connection gets the QoS 0 message there.
func TestHandleUndeliveredEvent(t *testing.T) {
	e := newEnv(t, session.Config{})
	s, _, _ := e.connectOn("proxy-1", v311, "s")
	s.sub(sub("t", 0))
	pub, _, _ := e.connect(v5, "pub")
	r := pub.send(publish(v5, "t", "m"))
	wantPayloads(t, s.recv(r), "m")
	s.lost()
	s2, _, _ := e.connectOn("proxy-2", v311, "s")
	s2.sub(sub("t", 0))
	again, err := e.handler().Handle(context.Background(), &session.Event{Kind: session.KindUndelivered, Proxy: "proxy-1", Deliveries: r.Deliveries})
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Deliveries) != 1 || again.Deliveries[0].Conn != s2.id || again.Deliveries[0].Proxy != "proxy-2" {
		t.Fatalf("deliveries %+v, want one to the new connection on proxy-2", again.Deliveries)
	}
	wantPayloads(t, s2.recv(again), "m")
}
