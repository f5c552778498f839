package session_test

import (
	"strings"
	"testing"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// flipFlags sets bits in the Connect Flags byte of a CONNECT frame whose
// protocol name is "MQTT" (fixed header of 2 bytes, name, level).
func flipFlags(frame []byte, bits byte) []byte {
	f := append([]byte(nil), frame...)
	f[9] |= bits
	return f
}

func TestConnectRefusals(t *testing.T) {
	cases := []struct {
		name  string
		spec  string
		cfg   session.Config
		v     packet.Version
		frame []byte
		// want is the CONNACK reason code; 0xFF means no CONNACK at all.
		want packet.ReasonCode
	}{
		// MQTT 3.1 section 3.1: the Client Identifier has 1 to 23 characters,
		// return code 2 otherwise.
		{name: "3.1 id too long", spec: "MQTT 3.1 section 3.1", v: v31,
			frame: connect(v31, strings.Repeat("x", 24)), want: packet.ClientIdentifierNotValid},
		{name: "3.1 empty id", spec: "MQTT 3.1 section 3.1", v: v31,
			frame: connect(v31, ""), want: packet.ClientIdentifierNotValid},
		// [MQTT-3.1.3-8] (3.1.1): a zero-byte ClientId with CleanSession 0 is
		// refused with return code 0x02.
		{name: "3.1.1 empty id without clean session", spec: "[MQTT-3.1.3-8]", v: v311,
			frame: connect(v311, "", resume()), want: packet.ClientIdentifierNotValid},
		// [MQTT-3.1.3-5] the server may restrict client identifiers.
		{name: "id above MaxClientIDLen", spec: "[MQTT-3.1.3-5] [MQTT-3.1.3-8]", v: v5, cfg: session.Config{MaxClientIDLen: 23},
			frame: connect(v5, strings.Repeat("x", 24)), want: packet.ClientIdentifierNotValid},
		{name: "3.1.1 id above MaxClientIDLen", spec: "[MQTT-3.1.3-5] [MQTT-3.1.3-8]", v: v311, cfg: session.Config{MaxClientIDLen: 23},
			frame: connect(v311, strings.Repeat("x", 24)), want: packet.ClientIdentifierNotValid},
		// [MQTT-4.12.0-1]: an authentication method the server does not
		// support gets 0x8C.
		{name: "authentication method", spec: "[MQTT-4.12.0-1]", v: v5,
			frame: connect(v5, "a", connProps(func(p *packet.Properties) {
				p.AuthMethod = "SCRAM-SHA-1"
				p.Set(packet.PropAuthMethod)
			})), want: packet.BadAuthenticationMethod},
		// Config.MaxKeepAlive: a 3.1.1 client asking for more is refused
		// with return code 2, as Mosquitto does (section 3.1.2.10).
		{name: "3.1.1 keep alive above the cap", spec: "3.1.2.10 (Config.MaxKeepAlive)", v: v311, cfg: session.Config{MaxKeepAlive: 30},
			frame: connect(v311, "a", keepAlive(31)), want: packet.ClientIdentifierNotValid},
		// Section 3.1.3.2.3: a will payload that is not UTF-8 although its
		// Payload Format Indicator says so gets 0x99.
		{name: "will payload format invalid", spec: "3.1.3.2.3", v: v5,
			frame: connect(v5, "a", will("w", "\xff\xfe", 0, false, 0), willProps(func(p *packet.Properties) {
				p.PayloadFormat = 1
				p.Set(packet.PropPayloadFormat)
			})), want: packet.PayloadFormatInvalid},
		// [MQTT-3.1.2-2]: an unsupported protocol level gets return code 1
		// (0x84), then the connection closes.
		{name: "unsupported protocol level", spec: "[MQTT-3.1.2-2]", v: v311,
			frame: func() []byte { f := connect(v311, "a"); f[8] = 6; return f }(), want: packet.UnsupportedProtocolVersion},
		// [MQTT-3.1.2-1]: an unknown protocol name may be closed without
		// CONNACK.
		{name: "unknown protocol name", spec: "[MQTT-3.1.2-1]", v: v311,
			frame: func() []byte { f := connect(v311, "a"); f[4] = 'X'; return f }(), want: 0xFF},
		// A malformed 5.0 CONNECT gets a CONNACK with the error's reason code
		// [MQTT-3.1.2-3] (reserved flag: 0x81) [MQTT-4.13.1-1].
		{name: "5.0 reserved flag", spec: "[MQTT-3.1.2-3]", v: v5,
			frame: flipFlags(connect(v5, "a"), 0x01), want: packet.MalformedPacket},
		// Section 3.1.2.11.3: a Receive Maximum of 0 is a Protocol Error (0x82).
		{name: "5.0 receive maximum 0", spec: "3.1.2.11.3", v: v5,
			frame: connect(v5, "a", receiveMax(0)), want: packet.ProtocolError},
		// [MQTT-3.1.2-11]: will QoS without the will flag (0x81).
		{name: "5.0 will QoS without will", spec: "[MQTT-3.1.2-11]", v: v5,
			frame: flipFlags(connect(v5, "a"), 0x08), want: packet.MalformedPacket},
		// 3.1.1: a malformed CONNECT is closed without CONNACK
		// [MQTT-3.1.2-3] [MQTT-3.1.4-1].
		{name: "3.1.1 reserved flag", spec: "[MQTT-3.1.2-3] [MQTT-3.1.4-1]", v: v311,
			frame: flipFlags(connect(v311, "a"), 0x01), want: 0xFF},
		{name: "3.1.1 will QoS without will", spec: "[MQTT-3.1.2-13]", v: v311,
			frame: flipFlags(connect(v311, "a"), 0x08), want: 0xFF},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.cfg)
			c := e.open(tc.v)
			r := c.send(tc.frame)
			if !r.Close {
				t.Errorf("connection not closed %s", tc.spec)
			}
			if r.State != nil {
				t.Errorf("refused CONNECT set a connection state %+v", r.State)
			}
			if len(r.Deliveries) != 0 {
				t.Errorf("refused CONNECT made deliveries")
			}
			if tc.want == 0xFF {
				if len(r.Packets) != 0 {
					t.Fatalf("got %s, want no CONNACK %s", describeAll(c.out(r)), tc.spec)
				}
				return
			}
			v := tc.v
			if tc.want == packet.UnsupportedProtocolVersion {
				v = v311 // answered in 3.1.1 framing
			}
			ack := one[*packet.Connack](t, decodeAll(t, v, r.Packets))
			if ack.ReasonCode != tc.want {
				t.Errorf("CONNACK 0x%02X, want 0x%02X %s", byte(ack.ReasonCode), byte(tc.want), tc.spec)
			}
			if ack.SessionPresent {
				t.Errorf("refused CONNACK with session present [MQTT-3.2.2-6]")
			}
			// Nothing was stored for the client.
			if _, err := e.store.Session(t.Context(), "a"); err == nil {
				t.Errorf("refused CONNECT created a session")
			}
		})
	}
}

func TestConnectAccepted(t *testing.T) {
	cases := []struct {
		name  string
		spec  string
		cfg   session.Config
		v     packet.Version
		frame []byte
		check func(t *testing.T, ack *packet.Connack, st *session.ConnState)
	}{
		{name: "3.1 id of 23 characters", spec: "MQTT 3.1 section 3.1", v: v31, frame: connect(v31, strings.Repeat("x", 23)),
			check: func(t *testing.T, ack *packet.Connack, st *session.ConnState) {
				if st.ClientID != strings.Repeat("x", 23) || st.Version != v31 {
					t.Errorf("state %+v", st)
				}
			}},
		// [MQTT-3.1.3-6] [MQTT-3.1.3-7]: an empty id with clean session gets
		// a unique id; 3.1.1 has no way to tell the client.
		{name: "3.1.1 empty id with clean session", spec: "[MQTT-3.1.3-6]", v: v311, frame: connect(v311, ""),
			check: func(t *testing.T, ack *packet.Connack, st *session.ConnState) {
				if st.ClientID == "" {
					t.Errorf("no client id assigned")
				}
			}},
		// [MQTT-3.1.3-6] [MQTT-3.2.2-16]: 5.0 returns the assigned id, with
		// or without Clean Start.
		{name: "5.0 assigned client id", spec: "[MQTT-3.2.2-16]", v: v5, frame: connect(v5, "", resume()),
			check: func(t *testing.T, ack *packet.Connack, st *session.ConnState) {
				if !ack.Properties.Has(packet.PropAssignedClientID) || ack.Properties.AssignedClientID == "" {
					t.Fatalf("no Assigned Client Identifier")
				}
				if ack.Properties.AssignedClientID != st.ClientID {
					t.Errorf("assigned %q, state %q", ack.Properties.AssignedClientID, st.ClientID)
				}
			}},
		{name: "5.0 id given: none assigned", spec: "[MQTT-3.2.2-16]", v: v5, frame: connect(v5, "a"),
			check: func(t *testing.T, ack *packet.Connack, st *session.ConnState) {
				if ack.Properties.Has(packet.PropAssignedClientID) {
					t.Errorf("Assigned Client Identifier %q", ack.Properties.AssignedClientID)
				}
			}},
		// [MQTT-3.2.2-21]: a keep alive above the cap is replaced and the
		// client is told with Server Keep Alive.
		{name: "5.0 keep alive above the cap", spec: "[MQTT-3.2.2-21]", v: v5, cfg: session.Config{MaxKeepAlive: 30},
			frame: connect(v5, "a", keepAlive(100)),
			check: func(t *testing.T, ack *packet.Connack, st *session.ConnState) {
				if !ack.Properties.Has(packet.PropServerKeepAlive) || ack.Properties.ServerKeepAlive != 30 {
					t.Errorf("Server Keep Alive %v %d, want 30", ack.Properties.Has(packet.PropServerKeepAlive), ack.Properties.ServerKeepAlive)
				}
				if st.KeepAlive != 30 {
					t.Errorf("state keep alive %d, want 30 [MQTT-3.2.2-22]", st.KeepAlive)
				}
			}},
		{name: "5.0 keep alive 0 with a cap", spec: "[MQTT-3.2.2-21]", v: v5, cfg: session.Config{MaxKeepAlive: 30},
			frame: connect(v5, "a", keepAlive(0)),
			check: func(t *testing.T, ack *packet.Connack, st *session.ConnState) {
				if ack.Properties.ServerKeepAlive != 30 || st.KeepAlive != 30 {
					t.Errorf("Server Keep Alive %d, state %d, want 30", ack.Properties.ServerKeepAlive, st.KeepAlive)
				}
			}},
		{name: "5.0 keep alive within the cap", spec: "[MQTT-3.2.2-21]", v: v5, cfg: session.Config{MaxKeepAlive: 30},
			frame: connect(v5, "a", keepAlive(20)),
			check: func(t *testing.T, ack *packet.Connack, st *session.ConnState) {
				if ack.Properties.Has(packet.PropServerKeepAlive) || st.KeepAlive != 20 {
					t.Errorf("Server Keep Alive sent (%d), state %d", ack.Properties.ServerKeepAlive, st.KeepAlive)
				}
			}},
		{name: "3.1.1 keep alive at the cap", spec: "3.1.2.10 (Config.MaxKeepAlive)", v: v311, cfg: session.Config{MaxKeepAlive: 30},
			frame: connect(v311, "a", keepAlive(30)),
			check: func(t *testing.T, ack *packet.Connack, st *session.ConnState) {
				if st.KeepAlive != 30 {
					t.Errorf("state keep alive %d", st.KeepAlive)
				}
			}},
		// Section 3.2.2.3.2: a Session Expiry Interval the server changed is
		// announced in the CONNACK.
		{name: "session expiry above the cap", spec: "3.2.2.3.2", v: v5, cfg: session.Config{MaxSessionExpiry: 60},
			frame: connect(v5, "a", expiry(3600)),
			check: func(t *testing.T, ack *packet.Connack, st *session.ConnState) {
				if !ack.Properties.Has(packet.PropSessionExpiry) || ack.Properties.SessionExpiry != 60 {
					t.Errorf("Session Expiry %v %d, want 60", ack.Properties.Has(packet.PropSessionExpiry), ack.Properties.SessionExpiry)
				}
				if st.SessionExpiry != 60 {
					t.Errorf("state expiry %d", st.SessionExpiry)
				}
			}},
		{name: "session expiry within the cap", spec: "3.2.2.3.2", v: v5, cfg: session.Config{MaxSessionExpiry: 60},
			frame: connect(v5, "a", expiry(30)),
			check: func(t *testing.T, ack *packet.Connack, st *session.ConnState) {
				if ack.Properties.Has(packet.PropSessionExpiry) || st.SessionExpiry != 30 {
					t.Errorf("Session Expiry announced %d, state %d", ack.Properties.SessionExpiry, st.SessionExpiry)
				}
			}},
		// A persistent 3.1.1 session gets MaxSessionExpiry (Config).
		{name: "3.1.1 clean session 0 expiry", spec: "[MQTT-3.1.2-4] (3.1.1)", v: v311, cfg: session.Config{MaxSessionExpiry: 60},
			frame: connect(v311, "a", resume()),
			check: func(t *testing.T, ack *packet.Connack, st *session.ConnState) {
				if st.SessionExpiry != 60 {
					t.Errorf("state expiry %d, want 60", st.SessionExpiry)
				}
			}},
		{name: "3.1.1 clean session 1 expiry", spec: "[MQTT-3.1.2-6] (3.1.1)", v: v311,
			frame: connect(v311, "a"),
			check: func(t *testing.T, ack *packet.Connack, st *session.ConnState) {
				if st.SessionExpiry != 0 || st.ReceiveMax != session.DefaultMaxInflight {
					t.Errorf("state %+v", st)
				}
			}},
		// Sections 3.2.2.3.3, 3.2.2.3.6, 3.2.2.3.8: the server's limits.
		{name: "server limits announced", spec: "3.2.2.3.3 3.2.2.3.6 3.2.2.3.8", v: v5,
			cfg:   session.Config{ReceiveMax: 10, MaxPacketSize: 4096, TopicAliasMax: 5},
			frame: connect(v5, "a"),
			check: func(t *testing.T, ack *packet.Connack, st *session.ConnState) {
				p := &ack.Properties
				if !p.Has(packet.PropReceiveMaximum) || p.ReceiveMaximum != 10 {
					t.Errorf("Receive Maximum %d", p.ReceiveMaximum)
				}
				if p.MaximumPacketSize != 4096 || p.TopicAliasMaximum != 5 {
					t.Errorf("Maximum Packet Size %d, Topic Alias Maximum %d", p.MaximumPacketSize, p.TopicAliasMaximum)
				}
			}},
		{name: "receive maximum 65535 not announced", spec: "3.2.2.3.3", v: v5, cfg: session.Config{ReceiveMax: 65535},
			frame: connect(v5, "a"),
			check: func(t *testing.T, ack *packet.Connack, st *session.ConnState) {
				if ack.Properties.Has(packet.PropReceiveMaximum) {
					t.Errorf("Receive Maximum %d announced", ack.Properties.ReceiveMaximum)
				}
			}},
		{name: "default receive maximum announced", spec: "3.2.2.3.3", v: v5, frame: connect(v5, "a"),
			check: func(t *testing.T, ack *packet.Connack, st *session.ConnState) {
				if ack.Properties.ReceiveMaximum != session.DefaultReceiveMax {
					t.Errorf("Receive Maximum %d announced, want %d", ack.Properties.ReceiveMaximum, session.DefaultReceiveMax)
				}
			}},
		// The client's limits go into the connection state.
		{name: "client limits kept", spec: "3.1.2.11", v: v5,
			frame: connect(v5, "a", receiveMax(7), maxPacket(500), connProps(func(p *packet.Properties) {
				p.TopicAliasMaximum = 4
				p.Set(packet.PropTopicAliasMaximum)
				p.RequestProblemInfo = 0
				p.Set(packet.PropRequestProblemInfo)
			})),
			check: func(t *testing.T, ack *packet.Connack, st *session.ConnState) {
				if st.ReceiveMax != 7 || st.MaxPacketSize != 500 || st.TopicAliasMax != 4 || st.ProblemInfo {
					t.Errorf("state %+v", st)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.cfg)
			c := e.open(tc.v)
			r := c.send(tc.frame)
			ps := c.out(r)
			if r.Close || len(ps) != 1 {
				t.Fatalf("got %s close=%v, want one CONNACK %s", describeAll(ps), r.Close, tc.spec)
			}
			ack := as[*packet.Connack](t, ps[0])
			if ack.ReasonCode != packet.Success {
				t.Fatalf("CONNACK 0x%02X %s", byte(ack.ReasonCode), tc.spec)
			}
			if r.State == nil {
				t.Fatalf("no connection state")
			}
			tc.check(t, ack, r.State)
		})
	}
}

func TestSessionPresent(t *testing.T) {
	type step func(e *env)
	cases := []struct {
		name    string
		spec    string
		v       packet.Version
		before  step
		opts    []connectOpt
		present bool
		subs    int // subscriptions the session holds after the CONNECT
	}{
		{name: "new session, clean start 0", spec: "[MQTT-3.2.2-3]", v: v5, opts: []connectOpt{persistent()}},
		{name: "new session, clean start 1", spec: "[MQTT-3.2.2-2]", v: v5},
		{name: "existing session, clean start 0", spec: "[MQTT-3.1.2-5] [MQTT-3.2.2-3]", v: v5,
			before: func(e *env) {
				c, _, _ := e.connect(v5, "a", persistent())
				c.sub(sub("t", 1))
				c.disconnect()
			},
			opts: []connectOpt{persistent()}, present: true, subs: 1},
		{name: "existing session, clean start 1", spec: "[MQTT-3.1.2-4] [MQTT-3.2.2-2]", v: v5,
			before: func(e *env) {
				c, _, _ := e.connect(v5, "a", persistent())
				c.sub(sub("t", 1))
				c.disconnect()
			},
			present: false, subs: 0},
		{name: "expired session", spec: "[MQTT-4.1.0-2] [MQTT-3.2.2-3]", v: v5,
			before: func(e *env) {
				c, _, _ := e.connect(v5, "a", resume(), expiry(10))
				c.sub(sub("t", 1))
				c.disconnect()
				e.clock.Advance(11e9)
			},
			opts: []connectOpt{persistent()}, present: false, subs: 0},
		{name: "session within its expiry", spec: "[MQTT-3.1.2-23] [MQTT-3.1.2-5]", v: v5,
			before: func(e *env) {
				c, _, _ := e.connect(v5, "a", resume(), expiry(10))
				c.sub(sub("t", 1))
				c.disconnect()
				e.clock.Advance(9e9)
			},
			opts: []connectOpt{persistent()}, present: true, subs: 1},
		{name: "session expiry 0 ends with the connection", spec: "3.1.2.11.2 [MQTT-4.1.0-2]", v: v5,
			before: func(e *env) {
				c, _, _ := e.connect(v5, "a", resume())
				c.sub(sub("t", 1))
				c.disconnect()
			},
			opts: []connectOpt{persistent()}, present: false, subs: 0},
		{name: "3.1.1 persistent session", spec: "[MQTT-3.2.2-2] (3.1.1)", v: v311,
			before: func(e *env) {
				c, _, _ := e.connect(v311, "a", resume())
				c.sub(sub("t", 1))
				c.disconnect()
			},
			opts: []connectOpt{resume()}, present: true, subs: 1},
		{name: "3.1.1 clean session ends with the connection", spec: "[MQTT-3.1.2-6] (3.1.1)", v: v311,
			before: func(e *env) {
				c, _, _ := e.connect(v311, "a")
				c.sub(sub("t", 1))
				c.disconnect()
			},
			opts: []connectOpt{resume()}, present: false, subs: 0},
		{name: "3.1.1 clean session 1 discards a persistent one", spec: "[MQTT-3.1.2-6] (3.1.1)", v: v311,
			before: func(e *env) {
				c, _, _ := e.connect(v311, "a", resume())
				c.sub(sub("t", 1))
				c.lost()
			},
			present: false, subs: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, session.Config{})
			if tc.before != nil {
				tc.before(e)
			}
			_, ack, _ := e.connect(tc.v, "a", tc.opts...)
			if ack.SessionPresent != tc.present {
				t.Errorf("session present %v, want %v %s", ack.SessionPresent, tc.present, tc.spec)
			}
			subs, err := e.store.Subscriptions(t.Context(), "a")
			if err != nil {
				t.Fatal(err)
			}
			if len(subs) != tc.subs {
				t.Errorf("session holds %d subscriptions, want %d %s", len(subs), tc.subs, tc.spec)
			}
		})
	}
}

func TestConnectFirstAndSecond(t *testing.T) {
	for _, v := range versions() {
		t.Run(v.String(), func(t *testing.T) {
			e := newEnv(t, session.Config{})
			// [MQTT-3.1.0-1]: the first packet must be CONNECT.
			c := e.open(v)
			r := c.send(publish(v, "t", "x"))
			if !r.Close || len(r.Packets) != 0 || r.State != nil {
				t.Errorf("PUBLISH before CONNECT: close=%v packets=%d [MQTT-3.1.0-1]", r.Close, len(r.Packets))
			}
			c = e.open(v)
			r = c.send(pingreq())
			if !r.Close || len(r.Packets) != 0 {
				t.Errorf("PINGREQ before CONNECT: close=%v [MQTT-3.1.0-1]", r.Close)
			}
			// [MQTT-3.1.0-2]: a second CONNECT is a Protocol Error.
			c, _, _ = e.connect(v, "a")
			wantDisconnect(t, c, c.send(connect(v, "a")), packet.ProtocolError)
		})
	}
}

func pingreq() []byte { return mustEncode(&packet.Pingreq{}, v311) }

// The CONNECT and later packets may come in one event.
func TestConnectWithMorePackets(t *testing.T) {
	e := newEnv(t, session.Config{})
	c := e.open(v5)
	r := c.send(connect(v5, "a"), subscribe(v5, 1, sub("t", 0)), publish(v5, "t", "hi"), pingreq())
	ps := c.out(r)
	wantTypes(t, ps, packet.CONNACK, packet.SUBACK, packet.PUBLISH, packet.PINGRESP)
	if r.State == nil || r.State.ClientID != "a" {
		t.Fatalf("state %+v", r.State)
	}
	// A refused CONNECT stops the event.
	c = e.open(v5)
	r = c.send(connect(v5, "", connProps(func(p *packet.Properties) {
		p.AuthMethod = "x"
		p.Set(packet.PropAuthMethod)
	})), subscribe(v5, 1, sub("t", 0)))
	wantTypes(t, c.out(r), packet.CONNACK)
}

func TestTakeover(t *testing.T) {
	cases := []struct {
		name      string
		spec      string
		v         packet.Version
		oldOpts   []connectOpt
		newOpts   []connectOpt
		willSent  bool
		present   bool
		oldPacket bool // the old connection gets DISCONNECT 0x8E before Close
	}{
		{name: "5.0", spec: "[MQTT-3.1.4-3]", v: v5, oldOpts: []connectOpt{persistent()}, newOpts: []connectOpt{persistent()},
			present: true, oldPacket: true},
		{name: "3.1.1", spec: "[MQTT-3.1.4-2] (3.1.1)", v: v311, oldOpts: []connectOpt{resume()}, newOpts: []connectOpt{resume()},
			present: true},
		// The old connection ends without DISCONNECT: its will goes when its
		// delay is 0 [MQTT-3.1.2-8].
		{name: "5.0 will delay 0", spec: "[MQTT-3.1.2-8]", v: v5,
			oldOpts: []connectOpt{persistent(), will("will/a", "gone", 0, false, 0)}, newOpts: []connectOpt{persistent()},
			willSent: true, present: true, oldPacket: true},
		{name: "3.1.1 will", spec: "[MQTT-3.1.2-8] (3.1.1)", v: v311,
			oldOpts: []connectOpt{resume(), will("will/a", "gone", 0, false, 0)}, newOpts: []connectOpt{resume()},
			willSent: true, present: true},
		// A new connection to the session before the delay cancels the will
		// [MQTT-3.1.3-9].
		{name: "5.0 will delay, session continues", spec: "[MQTT-3.1.3-9]", v: v5,
			oldOpts: []connectOpt{persistent(), will("will/a", "gone", 0, false, 30)}, newOpts: []connectOpt{persistent()},
			willSent: false, present: true, oldPacket: true},
		// Clean Start ends the old session, and the will goes with it
		// (section 3.1.3.2.2).
		{name: "5.0 will delay, clean start", spec: "3.1.3.2.2 [MQTT-3.1.2-4]", v: v5,
			oldOpts: []connectOpt{persistent(), will("will/a", "gone", 0, false, 30)}, newOpts: nil,
			willSent: true, present: false, oldPacket: true},
		// An old session with Session Expiry Interval 0 (Clean Session 1 at
		// 3.1.1) ends as its connection is closed [MQTT-3.1.4-3], before
		// Clean Start is processed [MQTT-3.1.4-4]: nothing is resumed
		// [MQTT-3.1.2-6] [MQTT-3.2.2-3], and the will goes with it
		// [MQTT-3.1.2-8].
		{name: "5.0 old session expiry 0", spec: "[MQTT-3.1.4-3] [MQTT-3.1.4-4] [MQTT-3.2.2-3] [MQTT-3.1.2-8]", v: v5,
			oldOpts: []connectOpt{resume(), will("will/a", "gone", 0, false, 30)}, newOpts: []connectOpt{persistent()},
			willSent: true, present: false, oldPacket: true},
		{name: "3.1.1 old clean session", spec: "[MQTT-3.1.4-2] [MQTT-3.1.2-6] (3.1.1)", v: v311,
			oldOpts: []connectOpt{will("will/a", "gone", 0, false, 0)}, newOpts: []connectOpt{resume()},
			willSent: true, present: false},
		{name: "old 3.1.1, new 5.0", spec: "[MQTT-3.1.4-3]", v: v311, oldOpts: []connectOpt{resume()}, newOpts: []connectOpt{persistent()},
			present: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, session.Config{})
			watcher, _, _ := e.connectOn("proxy-W", v5, "watcher")
			watcher.sub(sub("will/#", 0))
			old, _, _ := e.connectOn("proxy-A", tc.v, "a", tc.oldOpts...)
			old.sub(sub("x", 1))
			nv := tc.v
			if tc.name == "old 3.1.1, new 5.0" {
				nv = v5
			}
			nc := e.openOn("proxy-B", nv)
			r := nc.send(connect(nv, "a", tc.newOpts...))
			ps := nc.out(r)
			if len(ps) == 0 {
				t.Fatal("no CONNACK")
			}
			ack := as[*packet.Connack](t, ps[0])
			if ack.ReasonCode != packet.Success || ack.SessionPresent != tc.present {
				t.Errorf("CONNACK %s, want success, session present %v", describe(ack), tc.present)
			}
			got, closed := old.in(r)
			if !closed {
				t.Errorf("old connection not closed %s", tc.spec)
			}
			if tc.oldPacket {
				if d := one[*packet.Disconnect](t, got); d.ReasonCode != packet.SessionTakenOver {
					t.Errorf("old connection got DISCONNECT 0x%02X, want 0x8E %s", byte(d.ReasonCode), tc.spec)
				}
			} else if len(got) != 0 {
				t.Errorf("old 3.1.1 connection got %s, want nothing", describeAll(got))
			}
			old.closed = true
			wantSubs := 0
			if tc.present {
				wantSubs = 1
			}
			if subs, _ := e.store.Subscriptions(t.Context(), "a"); len(subs) != wantSubs {
				t.Errorf("%d subscriptions after the takeover, want %d %s", len(subs), wantSubs, tc.spec)
			}
			wills := watcher.recv(r)
			if tc.willSent {
				wantPayloads(t, wills, "gone")
			} else {
				wantPayloads(t, wills)
			}
			// The proxy reports the old connection lost: nothing happens,
			// whatever its will (fencing).
			r = old.lost()
			if len(r.Packets)+len(r.Deliveries) != 0 {
				t.Errorf("lost event of the old connection: %+v", r)
			}
			// The new connection still owns the session.
			s, err := e.store.Session(t.Context(), "a")
			if err != nil || s.Conn != nc.id || s.Proxy != "proxy-B" {
				t.Fatalf("session %+v, %v", s, err)
			}
			// Time passing publishes no will either.
			e.clock.Advance(60e9)
			if ps := watcher.recv(e.tick()); len(ps) != 0 {
				t.Errorf("Tick published %s", describeAll(ps))
			}
		})
	}
}

// A connection taken over cannot change its successor's session: its
// writes are fenced and answered by closing it.
func TestTakenOverConnectionFenced(t *testing.T) {
	e := newEnv(t, session.Config{})
	old, _, _ := e.connect(v5, "a", persistent())
	_, _, _ = e.connect(v5, "a", persistent())
	old.closed = false // the proxy has not closed it yet
	r := old.send(subscribe(v5, 1, sub("t", 1)))
	if !r.Close {
		t.Errorf("SUBSCRIBE on a taken-over connection: %s, not closed", describeAll(old.out(r)))
	}
	old.closed = false
	r = old.send(unsubscribe(v5, 2, "t"))
	if !r.Close {
		t.Errorf("UNSUBSCRIBE on a taken-over connection not closed")
	}
	if subs, _ := e.store.Subscriptions(t.Context(), "a"); len(subs) != 0 {
		t.Errorf("taken-over connection subscribed: %+v", subs)
	}
	old.closed = false
	r = old.send(disconnect(v5, packet.Success, sessionExpiry(0)))
	if !r.Close {
		t.Errorf("DISCONNECT not closed")
	}
	if s, err := e.store.Session(t.Context(), "a"); err != nil || !s.Online() {
		t.Errorf("old connection's DISCONNECT changed the session: %+v %v", s, err)
	}
}

// The old connection's will, published on takeover, reaches a subscription
// of the session itself after the new connection's CONNACK, and once
// [MQTT-3.2.0-1].
func TestTakeoverWillToItself(t *testing.T) {
	e := newEnv(t, session.Config{})
	old, _, _ := e.connect(v5, "a", persistent(), will("will/a", "gone", 1, false, 0))
	old.sub(sub("will/#", 1))
	nc := e.open(v5)
	r := nc.send(connect(v5, "a", persistent()))
	ps := nc.out(r)
	if len(ps) == 0 || ps[0].Type() != packet.CONNACK {
		t.Fatalf("got %s, want CONNACK first", describeAll(ps))
	}
	if !as[*packet.Connack](t, ps[0]).SessionPresent {
		t.Fatalf("session not present")
	}
	wantPayloads(t, ps[1:], "gone")
}

// MQTT 3.1 has no Session Present flag: the first CONNACK byte is reserved
// (MQTT 3.1 section 3.2), even when the session is resumed.
func TestConnack31(t *testing.T) {
	e := newEnv(t, session.Config{})
	c, _, _ := e.connect(v31, "a", resume())
	c.sub(sub("t", 1))
	c.lost()
	pub, _, _ := e.connect(v311, "pub")
	pub.send(publish(v311, "t", "m", qos(1, 1)))
	c = e.open(v31)
	r := c.send(connect(v31, "a", resume()))
	if len(r.Packets) == 0 || len(r.Packets[0]) != 4 {
		t.Fatalf("reply %X", r.Packets)
	}
	if flags := r.Packets[0][2]; flags != 0 {
		t.Errorf("3.1 CONNACK with flags 0x%02X, want 0", flags)
	}
	// The session is resumed all the same.
	wantPayloads(t, c.out(r)[1:], "m")
}
