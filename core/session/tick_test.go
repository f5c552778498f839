package session_test

import (
	"errors"
	"testing"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// Session expiry (section 3.1.2.11.2) and the DISCONNECT that changes it
// (section 3.14.2.2.2).
func TestSessionExpiry(t *testing.T) {
	cases := []struct {
		name string
		spec string
		v    packet.Version
		opts []connectOpt
		end  ending
		// alive: seconds after the end at which the session must still
		// exist; dead: at which Tick has removed it (0: checked at once).
		alive []int
		dead  int
	}{
		{name: "expiry 0 ends with the connection", spec: "3.1.2.11.2 [MQTT-4.1.0-2]", v: v5, end: endDisconnect(packet.Success), dead: 0},
		{name: "expiry 0, connection lost", spec: "3.1.2.11.2 [MQTT-4.1.0-2]", v: v5, end: endLost, dead: 0},
		{name: "3.1.1 clean session", spec: "[MQTT-3.1.2-6] (3.1.1)", v: v311, end: endLost, dead: 0},
		{name: "expiry 10", spec: "[MQTT-3.1.2-23] [MQTT-4.1.0-2]", v: v5, opts: []connectOpt{resume(), expiry(10)}, end: endLost,
			alive: []int{9}, dead: 10},
		{name: "never expires", spec: "3.1.2.11.2", v: v5, opts: []connectOpt{resume(), expiry(session.NeverExpires)}, end: endLost,
			alive: []int{1 << 30}},
		{name: "3.1.1 persistent", spec: "[MQTT-3.1.2-4] (3.1.1)", v: v311, opts: []connectOpt{resume()}, end: endLost,
			alive: []int{1 << 30}},
		{name: "capped by MaxSessionExpiry", spec: "3.2.2.3.2", v: v5, opts: []connectOpt{resume(), expiry(session.NeverExpires)},
			end: endLost, alive: []int{99}, dead: 100},
		{name: "DISCONNECT lowers it to 0", spec: "3.14.2.2.2", v: v5, opts: []connectOpt{persistent()},
			end: endDisconnect(packet.Success, sessionExpiry(0)), dead: 0},
		{name: "DISCONNECT raises it", spec: "3.14.2.2.2", v: v5, opts: []connectOpt{resume(), expiry(10)},
			end: endDisconnect(packet.Success, sessionExpiry(50)), alive: []int{49}, dead: 50},
		{name: "DISCONNECT raises it above the cap", spec: "3.14.2.2.2", v: v5, opts: []connectOpt{resume(), expiry(10)},
			end: endDisconnect(packet.Success, sessionExpiry(500)), alive: []int{99}, dead: 100},
		{name: "DISCONNECT raising it from 0", spec: "3.14.2.2.2", v: v5,
			end: func(c *conn) []*session.Reply {
				r := c.send(disconnect(v5, packet.Success, sessionExpiry(60)))
				wantDisconnect(c.e.t, c, r, packet.ProtocolError)
				return []*session.Reply{r, c.lost()}
			}, dead: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := session.Config{}
			if tc.name == "capped by MaxSessionExpiry" || tc.name == "DISCONNECT raises it above the cap" {
				cfg.MaxSessionExpiry = 100
			}
			e := newEnv(t, cfg)
			c, _, _ := e.connect(tc.v, "a", tc.opts...)
			c.sub(sub("t", 1))
			tc.end(c)
			exists := func() bool {
				_, err := e.store.Session(t.Context(), "a")
				if err != nil && !errors.Is(err, session.ErrNotFound) {
					t.Fatal(err)
				}
				return err == nil
			}
			elapsed := 0
			for _, at := range tc.alive {
				e.clock.Advance(secs(at - elapsed))
				elapsed = at
				e.tick()
				if !exists() {
					t.Fatalf("session gone %ds after the end %s", at, tc.spec)
				}
			}
			if tc.alive != nil && tc.dead == 0 {
				return
			}
			e.clock.Advance(secs(tc.dead - elapsed))
			e.tick()
			if exists() {
				t.Fatalf("session still there %ds after the end %s", tc.dead, tc.spec)
			}
			// Its subscriptions went with it.
			pub, _, _ := e.connect(v5, "pub")
			if ack := one[*packet.Puback](t, pub.out(pub.send(publish(v5, "t", "m", qos(1, 1))))); ack.ReasonCode != packet.NoMatchingSubscribers {
				t.Errorf("an ended session's subscription still matches")
			}
		})
	}
}
