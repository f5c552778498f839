package session_test

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// ending is how a connection ends: the replies it produced.
type ending func(c *conn) []*session.Reply

func endLost(c *conn) []*session.Reply { return []*session.Reply{c.lost()} }

func endDisconnect(rc packet.ReasonCode, opts ...func(*packet.Properties)) ending {
	return func(c *conn) []*session.Reply {
		r := c.send(disconnect(c.v, rc, opts...))
		if !r.Close {
			c.e.t.Fatalf("DISCONNECT did not close the connection [MQTT-3.14.4-1]")
		}
		return []*session.Reply{r, c.lost()}
	}
}

type tickStep struct {
	at   int      // seconds after the connection ended
	want []string // will payloads the watcher gets from this Tick
}

// Will messages (sections 3.1.2.5, 3.1.3.2 and 3.14.4).
func TestWill(t *testing.T) {
	cases := []struct {
		name  string
		spec  string
		v     packet.Version
		opts  []connectOpt
		age   int // seconds the connection lives
		end   ending
		now   []string // will payloads published as the connection ends
		ticks []tickStep
		gone  bool // the session ended
		check func(t *testing.T, e *env, p *packet.Publish)
	}{
		{name: "published when the connection is lost", spec: "[MQTT-3.1.2-8]", v: v5,
			opts: []connectOpt{will("will/a", "w", 0, false, 0)}, end: endLost, now: []string{"w"}, gone: true},
		{name: "3.1.1 published when the connection is lost", spec: "[MQTT-3.1.2-8] (3.1.1)", v: v311,
			opts: []connectOpt{will("will/a", "w", 0, false, 0)}, end: endLost, now: []string{"w"}, gone: true},
		{name: "discarded by DISCONNECT", spec: "[MQTT-3.1.2-10]", v: v5,
			opts: []connectOpt{will("will/a", "w", 0, false, 0)}, end: endDisconnect(packet.Success), gone: true,
			ticks: []tickStep{{at: 100}}},
		{name: "3.1.1 discarded by DISCONNECT", spec: "[MQTT-3.1.2-10] (3.1.1)", v: v311,
			opts: []connectOpt{will("will/a", "w", 0, false, 0)}, end: endDisconnect(packet.Success), gone: true},
		{name: "persistent session, discarded by DISCONNECT", spec: "[MQTT-3.1.2-10]", v: v5,
			opts: []connectOpt{persistent(), will("will/a", "w", 0, false, 10)}, end: endDisconnect(packet.Success),
			ticks: []tickStep{{at: 11}, {at: 3601}}, gone: true},
		{name: "DISCONNECT 0x04 publishes it", spec: "3.14.2.1 [MQTT-3.1.2-8]", v: v5,
			opts: []connectOpt{will("will/a", "w", 0, false, 0)}, end: endDisconnect(packet.DisconnectWithWill), now: []string{"w"}, gone: true},
		{name: "DISCONNECT 0x04 with a delay", spec: "3.14.2.1 [MQTT-3.1.2-8]", v: v5,
			opts: []connectOpt{persistent(), will("will/a", "w", 0, false, 5)}, end: endDisconnect(packet.DisconnectWithWill),
			ticks: []tickStep{{at: 4}, {at: 5, want: []string{"w"}}, {at: 10}}},
		{name: "will delay", spec: "[MQTT-3.1.2-8] 3.1.3.2.2", v: v5,
			opts: []connectOpt{persistent(), will("will/a", "w", 0, false, 30)}, end: endLost,
			ticks: []tickStep{{at: 29}, {at: 30, want: []string{"w"}}, {at: 60}}},
		// The will goes when the session ends, if that comes before its
		// delay (section 3.1.3.2.2).
		{name: "session ends before the will delay", spec: "[MQTT-3.1.2-8] 3.1.3.2.2", v: v5,
			opts: []connectOpt{resume(), expiry(10), will("will/a", "w", 0, false, 30)}, end: endLost,
			ticks: []tickStep{{at: 9}, {at: 10, want: []string{"w"}}, {at: 40}}, gone: true},
		{name: "session expiry 0 with a will delay", spec: "[MQTT-3.1.2-8] 3.1.3.2.2", v: v5,
			opts: []connectOpt{will("will/a", "w", 0, false, 30)}, end: endLost, now: []string{"w"}, gone: true},
		// [MQTT-3.1.2-15] [MQTT-3.1.2-14]: will retain.
		{name: "retained will", spec: "[MQTT-3.1.2-15]", v: v5,
			opts: []connectOpt{will("will/a", "w", 0, true, 0)}, end: endLost, now: []string{"w"}, gone: true,
			check: func(t *testing.T, e *env, p *packet.Publish) {
				if p.Retain {
					t.Errorf("will forwarded with the retain flag [MQTT-3.3.1-12]")
				}
				late, _, _ := e.connect(v5, "late")
				ps := late.sub(sub("will/#", 0))
				if got := payloads(ps); !reflect.DeepEqual(got, []string{"w"}) || !publishes(ps)[0].Retain {
					t.Errorf("retained will: got %s [MQTT-3.1.2-15]", describeAll(ps))
				}
			}},
		{name: "will not retained", spec: "[MQTT-3.1.2-14]", v: v5,
			opts: []connectOpt{will("will/a", "w", 0, false, 0)}, end: endLost, now: []string{"w"}, gone: true,
			check: func(t *testing.T, e *env, p *packet.Publish) {
				late, _, _ := e.connect(v5, "late")
				if ps := late.sub(sub("will/#", 0)); len(ps) != 0 {
					t.Errorf("will retained: %s [MQTT-3.1.2-14]", describeAll(ps))
				}
			}},
		{name: "will QoS", spec: "[MQTT-3.1.2-12] [MQTT-3.8.4-8]", v: v5,
			opts: []connectOpt{will("will/a", "w", 2, false, 0)}, end: endLost, now: []string{"w"}, gone: true,
			check: func(t *testing.T, e *env, p *packet.Publish) {
				if p.QoS != 1 {
					t.Errorf("will delivered at QoS %d, want 1 (the subscription's)", p.QoS)
				}
			}},
		// [MQTT-3.1.3-10] and section 3.1.3.2: will properties go with it.
		{name: "will properties", spec: "[MQTT-3.1.3-10] 3.1.3.2", v: v5,
			opts: []connectOpt{will("will/a", "w", 0, false, 0), willProps(func(p *packet.Properties) {
				p.ContentType = "text/plain"
				p.Set(packet.PropContentType)
				p.User = []packet.UserProperty{{Key: "k", Value: "v"}, {Key: "k", Value: "w"}}
			})}, end: endLost, now: []string{"w"}, gone: true,
			check: func(t *testing.T, e *env, p *packet.Publish) {
				want := []packet.UserProperty{{Key: "k", Value: "v"}, {Key: "k", Value: "w"}}
				if p.Properties.ContentType != "text/plain" || !reflect.DeepEqual(p.Properties.User, want) {
					t.Errorf("will properties %+v", p.Properties)
				}
			}},
		// Section 3.1.3.2.4: the will's Message Expiry Interval is its
		// lifetime from when it is published, however long the connection
		// lived.
		{name: "will message expiry starts at publication", spec: "3.1.3.2.4 [MQTT-3.3.2-6]", v: v5,
			opts: []connectOpt{will("will/a", "w", 0, false, 0), willProps(func(p *packet.Properties) {
				p.MessageExpiry = 10
				p.Set(packet.PropMessageExpiry)
			})}, age: 60, end: endLost, now: []string{"w"}, gone: true,
			check: func(t *testing.T, e *env, p *packet.Publish) {
				if !p.Properties.Has(packet.PropMessageExpiry) || p.Properties.MessageExpiry != 10 {
					t.Errorf("Message Expiry Interval %d, want 10", p.Properties.MessageExpiry)
				}
			}},
		{name: "delayed will message expiry", spec: "3.1.3.2.4 [MQTT-3.3.2-6]", v: v5,
			opts: []connectOpt{persistent(), will("will/a", "w", 0, false, 20), willProps(func(p *packet.Properties) {
				p.MessageExpiry = 10
				p.Set(packet.PropMessageExpiry)
			})}, age: 5, end: endLost, ticks: []tickStep{{at: 20, want: []string{"w"}}}},
		// Section 3.14.2.2.2: a DISCONNECT that sets a Session Expiry Interval
		// after 0 is not a valid DISCONNECT: the will is not discarded.
		{name: "DISCONNECT raising session expiry from 0", spec: "3.14.2.2.2", v: v5,
			opts: []connectOpt{will("will/a", "w", 0, false, 0)},
			end: func(c *conn) []*session.Reply {
				r := c.send(disconnect(v5, packet.Success, sessionExpiry(60)))
				wantDisconnect(c.e.t, c, r, packet.ProtocolError)
				return []*session.Reply{r, c.lost()}
			}, now: []string{"w"}, gone: true},
		{name: "DISCONNECT ending the session", spec: "3.14.2.2.2 3.1.2.11.2", v: v5,
			opts: []connectOpt{persistent(), will("will/a", "w", 0, false, 30)},
			end:  endDisconnect(packet.DisconnectWithWill, sessionExpiry(0)), now: []string{"w"}, gone: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, session.Config{})
			watcher, _, _ := e.connectOn("proxy-W", v5, "watcher")
			watcher.sub(sub("will/#", 1))
			c, _, _ := e.connect(tc.v, "a", tc.opts...)
			e.clock.Advance(secs(tc.age))
			var wills []*packet.Publish
			var got []string
			for _, r := range tc.end(c) {
				ps := watcher.recv(r)
				got = append(got, payloads(ps)...)
				wills = append(wills, publishes(ps)...)
			}
			if !reflect.DeepEqual(got, tc.now) {
				t.Fatalf("as the connection ended the watcher got %q, want %q %s", got, tc.now, tc.spec)
			}
			elapsed := 0
			for _, st := range tc.ticks {
				e.clock.Advance(secs(st.at - elapsed))
				elapsed = st.at
				ps := watcher.recv(e.tick())
				if got := payloads(ps); !reflect.DeepEqual(got, st.want) {
					t.Fatalf("Tick %ds after the end: watcher got %q, want %q %s", st.at, got, st.want, tc.spec)
				}
				wills = append(wills, publishes(ps)...)
			}
			for _, p := range wills {
				if p.QoS == 1 {
					watcher.send(puback(v5, p.PacketID))
				}
			}
			_, err := e.store.Session(t.Context(), "a")
			if gone := errors.Is(err, session.ErrNotFound); gone != tc.gone {
				t.Errorf("session gone %v, want %v (%v)", gone, tc.gone, err)
			}
			if tc.check != nil {
				tc.check(t, e, wills[0])
			}
		})
	}
}

// [MQTT-3.1.3-9]: a new connection to the session before the will delay
// cancels the will; a clean start ends the session and publishes it.
func TestWillDelayReconnect(t *testing.T) {
	cases := []struct {
		name string
		spec string
		opts []connectOpt
		want []string // published by the reconnect
	}{
		{name: "session continues", spec: "[MQTT-3.1.3-9]", opts: []connectOpt{persistent()}},
		{name: "clean start", spec: "[MQTT-3.1.2-4] 3.1.3.2.2", want: []string{"w"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, session.Config{})
			watcher, _, _ := e.connectOn("proxy-W", v5, "watcher")
			watcher.sub(sub("will/#", 0))
			c, _, _ := e.connect(v5, "a", persistent(), will("will/a", "w", 0, false, 30))
			c.lost()
			e.clock.Advance(secs(10))
			c = e.open(v5)
			r := c.send(connect(v5, "a", tc.opts...))
			wantPayloads(t, watcher.recv(r), tc.want...)
			e.clock.Advance(secs(30))
			wantPayloads(t, watcher.recv(e.tick()))
			// The new connection has no will: losing it publishes nothing.
			wantPayloads(t, watcher.recv(c.lost()))
		})
	}
}

// A client that returns after its session expired, before Tick ran, gets a
// new session, and the expired session's pending will is published then,
// once: the session ended before the will's delay passed (section
// 3.1.3.2.2), and Tick later finds nothing to publish.
func TestReturnAfterExpiryPublishesPendingWill(t *testing.T) {
	e := newEnv(t, session.Config{})
	watcher, _, _ := e.connectOn("proxy-W", v5, "watcher")
	watcher.sub(sub("will/#", 0))
	c, _, _ := e.connect(v5, "a", expiry(5), will("will/a", "w", 0, false, 30))
	c.sub(sub("x/#", 1))
	c.lost()
	e.clock.Advance(secs(10)) // expired at 5 s; the will was due at 5 s too
	c = e.open(v5)
	r := c.send(connect(v5, "a", resume(), expiry(60)))
	if ack := one[*packet.Connack](t, c.out(r)); ack.SessionPresent {
		t.Fatal("an expired session was resumed [MQTT-3.1.2-5]")
	}
	wantPayloads(t, watcher.recv(r), "w")
	wantPayloads(t, watcher.recv(e.tick()))
}

// The proxy's lost events: after DISCONNECT, twice, and before CONNECT.
func TestLost(t *testing.T) {
	e := newEnv(t, session.Config{})
	watcher, _, _ := e.connectOn("proxy-W", v5, "watcher")
	watcher.sub(sub("will/#", 0))
	// Before CONNECT, and after a refused one.
	c := e.open(v5)
	if r := c.lost(); len(r.Packets)+len(r.Deliveries) != 0 || r.State != nil {
		t.Errorf("lost before CONNECT: %+v", r)
	}
	c = e.open(v5)
	c.send(connect(v5, "", resume(), will("will/x", "w", 0, false, 0), connProps(func(p *packet.Properties) {
		p.AuthMethod = "x"
		p.Set(packet.PropAuthMethod)
	})))
	if r := c.lost(); len(r.Deliveries) != 0 {
		t.Errorf("lost after a refused CONNECT published %s", describeAll(watcher.recv(r)))
	}
	// Twice: the will goes once.
	c, _, _ = e.connect(v5, "a", persistent(), will("will/a", "w", 0, false, 0))
	wantPayloads(t, watcher.recv(c.lost()), "w")
	wantPayloads(t, watcher.recv(c.lost()))
	if s, err := e.store.Session(t.Context(), "a"); err != nil || s.Online() {
		t.Errorf("session %+v %v", s, err)
	}
}

// A lost event from a connection that was taken over changes nothing, even
// after its successor ended too (fencing on the connection id).
func TestLostAfterTakeover(t *testing.T) {
	e := newEnv(t, session.Config{})
	watcher, _, _ := e.connectOn("proxy-W", v5, "watcher")
	watcher.sub(sub("will/#", 0))
	old, _, _ := e.connectOn("proxy-A", v5, "a", persistent(), will("will/a", "old", 0, false, 60))
	nc, _, _ := e.connectOn("proxy-B", v5, "a", persistent(), will("will/a", "new", 0, false, 60))
	nc.sub(sub("t", 1))
	// The new connection goes away and its will is pending.
	nc.lost()
	old.closed = true
	wantPayloads(t, watcher.recv(old.lost()))
	s, err := e.store.Session(t.Context(), "a")
	if err != nil || s.Will == nil || string(s.Will.Message.Payload) != "new" || s.WillAt == 0 {
		t.Fatalf("session %+v, %v: the new connection's pending will must stand", s, err)
	}
	e.clock.Advance(time.Minute)
	wantPayloads(t, watcher.recv(e.tick()), "new")
}

// Packets a server never receives are a Protocol Error [MQTT-4.13.1-1];
// reserved type 0 is a Malformed Packet [MQTT-2.1.3-1].
func TestUnexpectedPackets(t *testing.T) {
	for _, p := range []packet.Packet{&packet.Connack{}, &packet.Suback{PacketID: 1, ReasonCodes: []packet.ReasonCode{0}},
		&packet.Unsuback{PacketID: 1, ReasonCodes: []packet.ReasonCode{0}}, &packet.Pingresp{}} {
		t.Run(p.Type().String(), func(t *testing.T) {
			e := newEnv(t, session.Config{})
			c, _, _ := e.connect(v5, "a")
			wantDisconnect(t, c, c.send(encode(t, p, v5)), packet.ProtocolError)
		})
	}
}

// [MQTT-3.1.2-8] [MQTT-3.1.2-10] [MQTT-3.14.4-3]: only DISCONNECT 0x00
// discards the will. A client that disconnects with an error code, or a
// connection the server closes for a protocol error, still has its will
// published.
func TestWillAfterAbnormalEnd(t *testing.T) {
	cases := []struct {
		name string
		spec string
		end  ending
	}{
		{name: "DISCONNECT 0x80", spec: "[MQTT-3.1.2-8] [MQTT-3.1.2-10] [MQTT-3.14.4-3]", end: endDisconnect(packet.UnspecifiedError)},
		{name: "DISCONNECT 0x93", spec: "[MQTT-3.1.2-8] [MQTT-3.1.2-10]", end: endDisconnect(packet.ReceiveMaximumExceeded)},
		{name: "server closes for a protocol error", spec: "[MQTT-3.1.2-8] [MQTT-4.13.1-1]",
			end: func(c *conn) []*session.Reply {
				r := c.send(publish(v5, "", "x", alias(5)))
				wantDisconnect(c.e.t, c, r, packet.ProtocolError)
				return []*session.Reply{r, c.lost()}
			}},
		{name: "second CONNECT", spec: "[MQTT-3.1.0-2] [MQTT-3.1.2-8]",
			end: func(c *conn) []*session.Reply {
				r := c.send(connect(v5, "a"))
				wantDisconnect(c.e.t, c, r, packet.ProtocolError)
				return []*session.Reply{r, c.lost()}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, session.Config{})
			watcher, _, _ := e.connectOn("proxy-W", v5, "watcher")
			watcher.sub(sub("will/#", 0))
			c, _, _ := e.connect(v5, "a", will("will/a", "w", 0, false, 0))
			var got []string
			for _, r := range tc.end(c) {
				got = append(got, payloads(watcher.recv(r))...)
			}
			if !reflect.DeepEqual(got, []string{"w"}) {
				t.Errorf("watcher got %q, want the will %s", got, tc.spec)
			}
		})
	}
}

func TestReservedPacketType(t *testing.T) {
	for _, v := range versions() {
		e := newEnv(t, session.Config{})
		c, _, _ := e.connect(v, "a")
		wantDisconnect(t, c, c.send([]byte{0x00, 0x00}), packet.MalformedPacket)
	}
}
