package session

import "github.com/mqttless/mqttless/core/packet"

// enhancedAuth answers AUTH (enhanced authentication, section 4.12; access
// rules are in authz.go): no enhanced authentication method is offered, so
// a CONNECT that named one was refused and an AUTH can only come from a
// client that named none, which is a Protocol Error [MQTT-4.12.0-7]. 0x8C
// (Bad authentication method) is not a DISCONNECT reason code
// [MQTT-3.14.2-1], so the connection is closed with 0x82 (section 4.13).
func (c *call) enhancedAuth(frame []byte) error {
	var p packet.Auth
	if err := p.DecodeWith(frame, c.st.Version, c.h.cfg.Packet); err != nil {
		c.malformed(err)
		return nil
	}
	c.disconnect(packet.ProtocolError, "AUTH without an authentication method; none is supported")
	return nil
}
