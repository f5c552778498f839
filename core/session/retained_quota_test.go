package session_test

import (
	"fmt"
	"testing"

	"github.com/mqttless/mqttless/core/auth"
	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// TestMaxUserRetained: one user's retained messages stop at
// MaxUserRetained (PUBACK 0x97 at 5.0, as past MaxRetained) while another
// user's and the anonymous clients' do not; replacing her own message
// passes at the limit, and her message that bob removes frees her
// quota.
func TestMaxUserRetained(t *testing.T) {
	opts := auth.Options{AllowAnonymous: true, CacheTTL: -1}
	e, _ := authEnv(t, session.Config{MaxUserRetained: 2}, opts, map[string]string{"alice": "pw", "bob": "pw"})
	alice, _, _ := e.connect(v5, "alice-1", login("alice", "pw"))
	bob, _, _ := e.connect(v5, "bob-1", login("bob", "pw"))
	anon, _, _ := e.connect(v5, "anon-1")
	id := uint16(0)
	ack := func(c *conn, topic, payload string) packet.ReasonCode {
		t.Helper()
		id++
		return one[*packet.Puback](t, c.out(c.send(publish(v5, topic, payload, retained(), qos(1, id))))).ReasonCode
	}
	refused := func(rc packet.ReasonCode) bool { return rc == packet.QuotaExceeded }
	for i, want := range []bool{false, false, true} {
		if rc := ack(alice, fmt.Sprintf("a/%d", i), "m"); refused(rc) != want {
			t.Fatalf("alice's retained message %d: PUBACK %s, want refused %v", i+1, rc, want)
		}
	}
	if rc := ack(alice, "a/0", "again"); refused(rc) {
		t.Fatalf("alice replacing her own retained message at her limit: %s", rc)
	}
	for i := range 3 {
		if rc := ack(anon, fmt.Sprintf("anon/%d", i), "m"); refused(rc) {
			t.Fatalf("anonymous retained message %d refused: %s (anonymous clients are held to MaxRetained only)", i+1, rc)
		}
	}
	if rc := ack(bob, "b/0", "m"); refused(rc) {
		t.Fatalf("bob's retained message refused: %s", rc)
	}
	bob.send(publish(v5, "a/1", "", retained())) // bob removes one of alice's
	if rc := ack(alice, "a/2", "m"); refused(rc) {
		t.Fatalf("alice's retained message after bob removed one of hers: %s", rc)
	}
}
