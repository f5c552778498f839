package session_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mqttless/mqttless/core/auth"
	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// refusedWith sends a CONNECT on a new connection and returns the reason code
// of the CONNACK that refused it (3.1.1 return codes read as 5.0 codes).
func (e *env) refusedWith(v packet.Version, clientID string, opts ...connectOpt) packet.ReasonCode {
	e.t.Helper()
	c := e.open(v)
	r := c.send(connect(v, clientID, opts...))
	ack := one[*packet.Connack](e.t, c.out(r))
	if ack.ReasonCode == packet.Success || !r.Close {
		e.t.Fatalf("CONNECT of %q accepted", clientID)
	}
	return ack.ReasonCode
}

// quotaCode is the CONNACK code of a quota at v: 0x97 at 5.0, return code
// 3 (Server unavailable) at 3.1.1.
func quotaCode(v packet.Version) packet.ReasonCode {
	if v == v5 {
		return packet.QuotaExceeded
	}
	return packet.ServerUnavailable
}

// Config.MaxSessions: a CONNECT that would create a session past it is
// refused (0x97, return code 3 at 3.1.1), without touching the store; a
// client with a session may always come back; a deleted session frees its
// place.
func TestMaxSessions(t *testing.T) {
	for _, v := range versions() {
		t.Run(v.String(), func(t *testing.T) {
			e := newEnv(t, session.Config{MaxSessions: 2})
			popt := persistent()
			if v < v5 {
				popt = resume()
			}
			a, _, _ := e.connect(v, "a", popt)
			e.connect(v, "b", popt)
			if rc := e.refusedWith(v, "c", popt); rc != quotaCode(v) {
				t.Fatalf("third session: %s, want %s", rc, quotaCode(v))
			}
			if _, err := e.store.Session(t.Context(), "c"); !errors.Is(err, session.ErrNotFound) {
				t.Fatalf("refused CONNECT stored a session: %v", err)
			}
			a.disconnect()
			if _, ack, _ := e.connect(v, "a", popt); !ack.SessionPresent {
				t.Fatalf("a's session not resumed at the limit")
			}
			e.connect(v, "b") // clean: replaces b's session in place
			if rc := e.refusedWith(v, "c", popt); rc != quotaCode(v) {
				t.Fatalf("third session after b's clean CONNECT: %s, want %s", rc, quotaCode(v))
			}
			if err := e.store.DeleteSession(t.Context(), "a", ""); err != nil && !errors.Is(err, session.ErrFenced) {
				t.Fatal(err)
			}
		})
	}
	t.Run("freed by a session's end", func(t *testing.T) {
		e := newEnv(t, session.Config{MaxSessions: 1})
		a, _, _ := e.connect(v5, "a") // expiry 0: ends with its connection
		if rc := e.refusedWith(v5, "b"); rc != packet.QuotaExceeded {
			t.Fatalf("second session: %s", rc)
		}
		a.disconnect()
		e.connect(v5, "b")
	})
}

// Config.MaxWillSize: a CONNECT whose will (topic, payload, properties)
// is larger is refused (0x97, return code 3 at 3.1.1) and stores nothing.
func TestMaxWillSize(t *testing.T) {
	for _, v := range versions() {
		t.Run(v.String(), func(t *testing.T) {
			e := newEnv(t, session.Config{MaxWillSize: 100})
			if rc := e.refusedWith(v, "big", will("w", strings.Repeat("x", 100), 1, false, 0)); rc != quotaCode(v) {
				t.Fatalf("will of 101 bytes: %s, want %s", rc, quotaCode(v))
			}
			if _, err := e.store.Session(t.Context(), "big"); !errors.Is(err, session.ErrNotFound) {
				t.Fatalf("refused CONNECT stored a session: %v", err)
			}
			e.connect(v, "small", will("w", strings.Repeat("x", 99), 1, false, 0)) // 100 bytes
		})
	}
	t.Run("properties count", func(t *testing.T) {
		e := newEnv(t, session.Config{MaxWillSize: 100})
		rc := e.refusedWith(v5, "props", will("w", "x", 1, false, 0), willProps(func(p *packet.Properties) {
			p.User = append(p.User, packet.UserProperty{Key: strings.Repeat("k", 100)})
		}))
		if rc != packet.QuotaExceeded {
			t.Fatalf("will with 100 bytes of user properties: %s", rc)
		}
	})
}

// Config.MaxQueuedBytes: an offline session's queue takes messages while
// it holds fewer bytes than the bound, the one that crosses it included;
// the rest are dropped, as past MaxQueued.
func TestMaxQueuedBytes(t *testing.T) {
	e := newEnv(t, session.Config{MaxQueuedBytes: 1000})
	s, _, _ := e.connect(v5, "s", persistent())
	s.sub(sub("t", 1))
	s.disconnect()
	pub, _, _ := e.connect(v5, "pub")
	for i := range 5 {
		pub.send(publish(v5, "t", string(rune('0'+i))+strings.Repeat("x", 399), qos(1, uint16(i+1))))
	}
	_, _, ps := e.connect(v5, "s", persistent())
	if n := len(publishes(ps)); n != 3 {
		t.Fatalf("%d of 5 messages of 400 bytes queued with MaxQueuedBytes 1000, want 3", n)
	}
}

// QoS 2 messages awaiting their PUBREL count against the server's Receive
// Maximum across connections of the session: one more is answered with
// DISCONNECT 0x93 [MQTT-3.3.4-7], so reconnecting does not let a session
// hold more; a PUBREL frees a place.
func TestReceiveMaxAcrossConnections(t *testing.T) {
	for _, v := range versions() {
		t.Run(v.String(), func(t *testing.T) {
			e := newEnv(t, session.Config{ReceiveMax: 2})
			popt := persistent()
			if v < v5 {
				popt = resume()
			}
			c, _, _ := e.connect(v, "c", popt)
			c.send(publish(v, "t", "1", qos(2, 1)))
			c.send(publish(v, "t", "2", qos(2, 2)))
			c.lost()
			c, _, _ = e.connect(v, "c", popt)
			r := c.send(publish(v, "t", "3", qos(2, 3)))
			if !r.Close {
				t.Fatalf("third QoS 2 message without PUBREL accepted after a reconnect")
			}
			if v == v5 {
				if d := one[*packet.Disconnect](t, c.out(r)); d.ReasonCode != packet.ReceiveMaximumExceeded {
					t.Fatalf("DISCONNECT %s", d.ReasonCode)
				}
			}
			c.lost()
			c, _, _ = e.connect(v, "c", popt)
			c.send(pubrel(v, 1))
			if r := c.send(publish(v, "t", "3", qos(2, 3))); r.Close {
				t.Fatalf("QoS 2 message refused after a PUBREL freed a place")
			}
		})
	}
}

// Config.MaxUserSessions: one identity's sessions are bounded, refused as
// MaxSessions refuses; another identity is not affected, an existing
// session may come back, and the anonymous clients, who share one identity,
// are bounded by MaxSessions only (else every anonymous deployment would
// stop at MaxUserSessions clients).
func TestMaxUserSessions(t *testing.T) {
	opts := auth.Options{AllowAnonymous: true, CacheTTL: -1}
	e, _ := authEnv(t, session.Config{MaxUserSessions: 2}, opts, map[string]string{"alice": "pw", "bob": "pw"})
	a1, _, _ := e.connect(v5, "alice-1", login("alice", "pw"), persistent())
	e.connect(v5, "alice-2", login("alice", "pw"), persistent())
	if rc := e.refusedWith(v5, "alice-3", login("alice", "pw"), persistent()); rc != packet.QuotaExceeded {
		t.Fatalf("alice's third session: %s", rc)
	}
	if rc := e.refusedWith(v311, "alice-3", login("alice", "pw"), resume()); rc != packet.ServerUnavailable {
		t.Fatalf("alice's third session at 3.1.1: %s", rc)
	}
	e.connect(v5, "bob-1", login("bob", "pw"), persistent())
	a1.disconnect()
	if _, ack, _ := e.connect(v5, "alice-1", login("alice", "pw"), persistent()); !ack.SessionPresent {
		t.Fatal("alice's session could not come back at her limit")
	}
	for i := range 4 {
		e.connect(v5, fmt.Sprintf("anon-%d", i), persistent())
	}
}
