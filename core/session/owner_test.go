package session_test

import (
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/mqttless/mqttless/core/auth"
	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// ownerEnv is an authEnv with users alice, bob and mallory (password
// "pw"), anonymous clients allowed and no rule, reading users and rules on
// every check.
func ownerEnv(t *testing.T, opts auth.Options, rules ...auth.Rule) (*env, *authStore) {
	t.Helper()
	opts.AllowAnonymous, opts.CacheTTL = true, -1
	return authEnv(t, session.Config{}, opts, map[string]string{"alice": "pw", "bob": "pw", "mallory": "pw"}, rules...)
}

// refused sends a CONNECT on a new connection and checks that it is
// refused with rc (at 5.0; the 3.1.1 return code of rc otherwise), that
// the connection is closed, and that nothing is delivered to any other
// connection: no takeover, no will.
func (e *env) refused(v packet.Version, clientID string, rc packet.ReasonCode, opts ...connectOpt) {
	e.t.Helper()
	c := e.open(v)
	r := c.send(connect(v, clientID, opts...))
	ack := one[*packet.Connack](e.t, c.out(r))
	if ack.ReasonCode != rc || ack.SessionPresent {
		e.t.Fatalf("CONNECT of %q: %s, want CONNACK 0x%02X without a session", clientID, describe(ack), byte(rc))
	}
	if !r.Close || r.State != nil {
		e.t.Fatalf("refused CONNECT: close %v, state %+v [MQTT-3.2.2-7]", r.Close, r.State)
	}
	if len(r.Deliveries) != 0 {
		e.t.Fatalf("refused CONNECT delivered %+v: it touched another connection", r.Deliveries)
	}
}

// [MQTT-3.1.4-2]: bob connecting with alice's client id is refused, 0x87
// (return code 5), whether alice is online or not and with Clean Start or
// not; alice's connection is not taken over, her will is not published,
// her session, subscriptions and queued messages stay, and she resumes
// them.
func TestOwnerOtherIdentityRefused(t *testing.T) {
	for _, v := range versions() {
		for _, online := range []bool{true, false} {
			name := v.String() + map[bool]string{true: "/online", false: "/offline"}[online]
			t.Run(name, func(t *testing.T) {
				e, _ := ownerEnv(t, auth.Options{})
				watcher, _, _ := e.connectOn("proxy-W", v5, "watcher", login("mallory", "pw"))
				watcher.sub(sub("wills/#", 0))
				alice, _, _ := e.connect(v, "alice-phone", login("alice", "pw"), persistent(), will("wills/alice", "gone", 0, false, 0))
				alice.sub(sub("devices/alice/#", 1))
				if !online {
					alice.send(disconnect(v, packet.Success))
					alice.lost()
				}
				pub, _, _ := e.connectOn("proxy-P", v5, "pub", login("mallory", "pw"))
				r := pub.send(publish(v5, "devices/alice/t", "queued", qos(1, 1)))
				if online {
					wantPayloads(t, alice.recv(r), "queued")
					alice.send(puback(v, alice.lastPID(t, r)))
					r = pub.send(publish(v5, "devices/alice/t", "queued", qos(1, 2)))
					alice.send(puback(v, alice.lastPID(t, r)))
				}

				for _, opts := range [][]connectOpt{
					{login("bob", "pw"), resume()},
					{login("bob", "pw")}, // Clean Start
					{resume()},           // anonymous
					{login("bob", "pw"), will("wills/alice", "forged", 0, false, 0)},
				} {
					e.refused(v, "alice-phone", packet.NotAuthorized, opts...)
				}
				s, err := e.store.Session(t.Context(), "alice-phone")
				if err != nil || s.Identity != "user:alice" || s.Online() != online {
					t.Fatalf("alice's session after the refusals: %+v, %v", s, err)
				}
				if online {
					if alice.closed {
						t.Fatal("alice's connection was closed")
					}
					r := pub.send(publish(v5, "devices/alice/t", "live", qos(1, 3)))
					wantPayloads(t, alice.recv(r), "live")
					return
				}
				back, ack, rest := e.connect(v, "alice-phone", login("alice", "pw"), persistent())
				if !ack.SessionPresent {
					t.Fatal("alice's session is gone after the refusals")
				}
				wantPayloads(t, rest, "queued")
				r = pub.send(publish(v5, "devices/alice/t", "live", qos(1, 3)))
				wantPayloads(t, back.recv(r), "live")
				wantPayloads(t, watcher.recv(r))
			})
		}
	}
}

// lastPID returns the packet identifier of the last PUBLISH r delivers
// to c.
func (c *conn) lastPID(t *testing.T, r *session.Reply) uint16 {
	t.Helper()
	ps := publishes(c.recv(r))
	if len(ps) == 0 {
		t.Fatal("no PUBLISH delivered")
	}
	return ps[len(ps)-1].PacketID
}

// An online session with Session Expiry Interval 0 ends when its
// connection is taken over [MQTT-3.1.4-3]: another identity may not end
// it, nor publish its will.
func TestOwnerEndingSessionRefused(t *testing.T) {
	for _, v := range versions() {
		t.Run(v.String(), func(t *testing.T) {
			e, _ := ownerEnv(t, auth.Options{})
			watcher, _, _ := e.connectOn("proxy-W", v5, "watcher", login("mallory", "pw"))
			watcher.sub(sub("wills/#", 0))
			alice, _, _ := e.connect(v, "alice-phone", login("alice", "pw"), will("wills/alice", "gone", 0, false, 0))
			e.refused(v, "alice-phone", packet.NotAuthorized, login("bob", "pw"))
			if alice.closed {
				t.Fatal("alice's connection was closed")
			}
			// Her own new connection takes the session over as before.
			c := e.open(v)
			r := c.send(connect(v, "alice-phone", login("alice", "pw")))
			if _, closed := alice.in(r); !closed {
				t.Fatal("alice's own takeover did not close her old connection")
			}
			wantPayloads(t, watcher.recv(r), "gone")
		})
	}
}

// An expired session of another identity is free: the new identity gets
// a fresh session.
func TestOwnerExpiredSessionTaken(t *testing.T) {
	e, _ := ownerEnv(t, auth.Options{})
	alice, _, _ := e.connect(v5, "shared-id", login("alice", "pw"), expiry(10))
	alice.sub(sub("a/#", 1))
	alice.send(disconnect(v5, packet.Success))
	alice.lost()
	e.clock.Advance(11e9)
	_, ack, _ := e.connect(v5, "shared-id", login("bob", "pw"), resume())
	if ack.SessionPresent {
		t.Fatal("bob resumed alice's expired session")
	}
	subs, err := e.store.Subscriptions(t.Context(), "shared-id")
	if err != nil || len(subs) != 0 {
		t.Fatalf("bob's session holds %v (%v), want nothing of alice's", subs, err)
	}
}

// A session stored by an older version, with no identity, is not resumed
// by anyone: the first CONNECT gets a fresh session (Session Present 0),
// which then belongs to it.
func TestOwnerSessionWithoutIdentity(t *testing.T) {
	e, _ := ownerEnv(t, auth.Options{})
	old := &session.Session{ClientID: "old-id", Version: v5, ExpiryInterval: session.NeverExpires, ReceiveMax: 10}
	if _, err := e.store.Connect(t.Context(), old, false, 0); err != nil {
		t.Fatal(err)
	}
	queued := []*session.Outbound{{QoS: 1, Message: session.Message{Topic: "t", Payload: []byte("old"), QoS: 1}}}
	if _, _, err := e.store.Enqueue(t.Context(), "old-id", queued, session.QueueLimit{Messages: 10}, 0); err != nil {
		t.Fatal(err)
	}
	_, ack, rest := e.connect(v5, "old-id", login("bob", "pw"), persistent())
	if ack.SessionPresent || len(rest) != 0 {
		t.Fatalf("a session without identity was resumed: present %v, then %s", ack.SessionPresent, describeAll(rest))
	}
	e.refused(v5, "old-id", packet.NotAuthorized, login("alice", "pw"), persistent())
}

// Anonymous clients share one identity: they resume each other's
// sessions, but not a named user's; a named user takes an anonymous
// session over, cleared (Session Present 0).
func TestOwnerAnonymous(t *testing.T) {
	e, _ := ownerEnv(t, auth.Options{})
	anon, _, _ := e.connect(v311, "anon-id", persistent())
	anon.send(disconnect(v311, packet.Success))
	anon.lost()
	if _, ack, _ := e.connect(v311, "anon-id", persistent()); !ack.SessionPresent {
		t.Fatal("an anonymous client did not resume the anonymous session")
	}
	if _, ack, _ := e.connect(v311, "anon-id", login("alice", "pw"), persistent()); ack.SessionPresent {
		t.Fatal("alice resumed an anonymous session")
	}
	e.refused(v311, "anon-id", packet.NotAuthorized, persistent()) // now alice's

	e.connect(v5, "named-id", login("alice", "pw"), persistent())
	e.refused(v5, "named-id", packet.NotAuthorized, persistent())
}

// A certificate identity is not the user of the same name.
func TestOwnerCertificate(t *testing.T) {
	e, _ := ownerEnv(t, auth.Options{CertIdentity: true})
	e.connect(v5, "alice-id", login("alice", "pw"), persistent())
	c := e.open(v5)
	r, err := c.handle(&session.Event{Kind: session.KindPackets, CertIdentity: "alice",
		Packets: [][]byte{connect(v5, "alice-id", persistent())}})
	if err != nil {
		t.Fatal(err)
	}
	if ack := one[*packet.Connack](t, c.out(r)); ack.ReasonCode != packet.NotAuthorized {
		t.Fatalf("certificate alice on user alice's session: %s, want 0x87", describe(ack))
	}
}

// Client-id patterns: a client id that does not match the pattern in
// force is refused with 0x85 Client Identifier not valid [MQTT-3.1.3-8],
// return code 2 at 3.1.1 (3.1.1: [MQTT-3.1.3-9]). The user's own pattern replaces
// the default; a server-assigned id passes.
func TestClientIDPattern(t *testing.T) {
	for _, v := range versions() {
		t.Run(v.String(), func(t *testing.T) {
			e, as := ownerEnv(t, auth.Options{ClientIDs: "%u-*"})
			h, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
			if err != nil {
				t.Fatal(err)
			}
			as.users["sensor"] = &auth.User{Name: "sensor", Hash: h, ClientIDs: "%u"}
			e.connect(v, "alice-phone", login("alice", "pw"))
			e.refused(v, "bob-phone", packet.ClientIdentifierNotValid, login("alice", "pw"))
			e.refused(v, "alice", packet.ClientIdentifierNotValid, login("alice", "pw"))
			e.refused(v, "anything", packet.ClientIdentifierNotValid) // %u matches no anonymous client
			e.connect(v, "sensor", login("sensor", "pw"))
			e.refused(v, "sensor-2", packet.ClientIdentifierNotValid, login("sensor", "pw"))
			if v == v5 {
				_, ack, _ := e.connect(v, "", login("bob", "pw"))
				if ack.Properties.AssignedClientID == "" {
					t.Fatal("no assigned client id")
				}
			}
		})
	}
}

// Rules that name a client id, and %c, apply only to a client whose id is
// bound to its identity: mallory connecting as sensor-1 does not get the
// rules of sensor-1, while the user whose pattern binds it does. Each call
// uses a new Handler and the connection state goes through JSON, as on
// the serverless path: the binding travels in the state.
func TestBoundClientRules(t *testing.T) {
	rules := []auth.Rule{
		{ClientID: "sensor-1", Access: auth.Publish, Filter: "telemetry/%c"},
		{Access: auth.Both, Filter: "clients/%c/#"},
		{Access: auth.Subscribe, Filter: "#"},
	}
	for _, v := range versions() {
		t.Run(v.String(), func(t *testing.T) {
			e, as := ownerEnv(t, auth.Options{}, rules...)
			e.fresh = true
			h, _ := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
			as.users["sensor-1"] = &auth.User{Name: "sensor-1", Hash: h, ClientIDs: "%u"}
			watcher, _, _ := e.connectOn("proxy-W", v5, "watcher", login("bob", "pw"))
			watcher.sub(sub("telemetry/#", 0), sub("clients/#", 0))

			intruder, _, _ := e.connect(v, "sensor-1", login("mallory", "pw"))
			r := intruder.send(publish(v, "telemetry/sensor-1", "forged", qos(1, 1)), publish(v, "clients/sensor-1/x", "forged", qos(1, 2)))
			wantPayloads(t, watcher.recv(r))
			intruder.send(disconnect(v, packet.Success))
			intruder.lost()

			sensor, _, _ := e.connect(v, "sensor-1", login("sensor-1", "pw"))
			r = sensor.send(publish(v, "telemetry/sensor-1", "real", qos(1, 1)), publish(v, "clients/sensor-1/x", "mine", qos(1, 2)))
			wantPayloads(t, watcher.recv(r), "real", "mine")
		})
	}
}

// Removing a user ends its connections and sessions: a delivery to its
// session is dropped and closes its connection (DISCONNECT 0x87 at 5.0),
// whose will is not published, and its own next call is answered the same way, with a new Handler per
// call and the state through JSON, as on the serverless path.
func TestOwnerUserRemoved(t *testing.T) {
	for _, v := range versions() {
		t.Run(v.String(), func(t *testing.T) {
			e, as := ownerEnv(t, auth.Options{})
			e.fresh = true
			watcher, _, _ := e.connectOn("proxy-W", v5, "watcher", login("mallory", "pw"))
			watcher.sub(sub("wills/#", 0))
			alice, _, _ := e.connect(v, "alice-phone", login("alice", "pw"), persistent(), will("wills/alice", "gone", 0, false, 0))
			alice.sub(sub("devices/alice/#", 1))
			other, _, _ := e.connect(v, "alice-tablet", login("alice", "pw"))
			pub, _, _ := e.connectOn("proxy-P", v5, "pub", login("bob", "pw"))
			wantPayloads(t, alice.recv(pub.send(publish(v5, "devices/alice/t", "before", qos(0, 0)))), "before")

			if err := as.DeleteUser(t.Context(), "alice"); err != nil {
				t.Fatal(err)
			}
			r := pub.send(publish(v5, "devices/alice/t", "after", qos(1, 1)))
			ps, closed := alice.in(r)
			if len(publishes(ps)) != 0 || !closed {
				t.Fatalf("delivery to a removed user's session: %s, close %v; want no message and a close", describeAll(ps), closed)
			}
			if v == v5 {
				if d := one[*packet.Disconnect](t, ps); d.ReasonCode != packet.NotAuthorized {
					t.Fatalf("DISCONNECT 0x%02X, want 0x87", byte(d.ReasonCode))
				}
			}
			wantPayloads(t, watcher.recv(alice.lost())) // no will from a removed user
			if q, err := e.store.Dispatch(t.Context(), "alice-phone", "", 10); err != nil || len(q) != 0 {
				t.Fatalf("queued for the removed user: %d (%v)", len(q), err)
			}
			wantDisconnect(t, other, other.send(publish(v, "devices/alice/t", "x", qos(0, 0))), packet.NotAuthorized)
			e.refused(v, "alice-phone", packet.BadUsernameOrPassword, login("alice", "pw"))
		})
	}
}

// Access is checked at each delivery: a revoked rule stops the messages
// of an existing subscription, and a deny rule inside a granted
// subscription keeps its topics out, retained messages included.
func TestAuthDeliveryDeny(t *testing.T) {
	for _, v := range versions() {
		t.Run(v.String(), func(t *testing.T) {
			e, as := ownerEnv(t, auth.Options{},
				auth.Rule{ID: "alice", User: "alice", Access: auth.Both, Filter: "devices/%u/#"},
				auth.Rule{ID: "deny", Access: auth.Both, Filter: "devices/+/secrets/#", Deny: true},
				auth.Rule{ID: "pub", User: "bob", Access: auth.Publish, Filter: "devices/#"},
			)
			pub, _, _ := e.connectOn("proxy-P", v5, "pub", login("bob", "pw"))
			pub.send(publish(v5, "devices/alice/secrets/old", "retained secret", qos(0, 0), retained()))
			pub.send(publish(v5, "devices/alice/old", "retained", qos(0, 0), retained()))
			alice, _, _ := e.connect(v, "alice-phone", login("alice", "pw"))
			wantPayloads(t, alice.sub(sub("devices/alice/#", 0)), "retained")
			r := pub.send(publish(v5, "devices/alice/secrets/k", "secret", qos(0, 0)), publish(v5, "devices/alice/t", "ok", qos(0, 0)))
			wantPayloads(t, alice.recv(r), "ok")

			as.mu.Lock()
			as.rules = as.rules[1:] // acl remove alice
			as.mu.Unlock()
			wantPayloads(t, alice.recv(pub.send(publish(v5, "devices/alice/t", "revoked", qos(0, 0)))))
		})
	}
}
