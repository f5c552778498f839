package session_test

import (
	"testing"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// AUTH: no enhanced authentication is offered, so a connection never has
// an Authentication Method and any AUTH is a Protocol Error (section 4.12,
// [MQTT-4.12.0-7]). 0x8C is a CONNACK code, not a DISCONNECT one (table
// 3.14.2.1), so the answer is DISCONNECT 0x82.
func TestEnhancedAuth(t *testing.T) {
	e := newEnv(t, session.Config{})
	c, _, _ := e.connect(v5, "a")
	auth := mustEncode(&packet.Auth{ReasonCode: packet.ReAuthenticate}, v5)
	wantDisconnect(t, c, c.send(auth), packet.ProtocolError)
	// At 3.1.1 packet type 15 is reserved: the connection is closed.
	c, _, _ = e.connect(v311, "b")
	if r := c.send(auth); !r.Close || len(r.Packets) != 0 {
		t.Errorf("3.1.1 type 15: close %v, %s", r.Close, describeAll(c.out(r)))
	}
}
