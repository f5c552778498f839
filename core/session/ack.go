package session

import (
	"errors"

	"github.com/mqttless/mqttless/core/packet"
)

// ack handles PUBACK, PUBREC and PUBCOMP for messages the server sent, and
// PUBREL for QoS 2 messages it received (sections 4.3.2 and 4.3.3).
func (c *call) ack(t packet.Type, frame []byte) error {
	p, err := packet.DecodeWith(frame, c.st.Version, c.h.cfg.Packet) // of type t, as the frame says
	if err != nil {
		c.malformed(err)
		return nil
	}
	id := c.st.ClientID
	store := c.h.store
	switch p := p.(type) {
	case *packet.Puback:
		// Applied with the rest of the run of acknowledgements, before the
		// next frame is handled (endExchanges).
		c.ends = append(c.ends, ended{qos: 1, packetID: p.PacketID})
		c.needDispatch = true
		return nil
	case *packet.Pubrec:
		err := store.Release(c.ctx, id, c.ev.Conn, p.PacketID)
		switch {
		case errors.Is(err, ErrNotFound):
			// Section 4.3.3: answer an unknown identifier so the client can
			// finish the exchange; 5.0 names the cause.
			c.send(&packet.Pubrel{PacketID: p.PacketID, ReasonCode: packet.PacketIdentifierNotFound})
			return nil
		case err != nil:
			// Fenced: this connection was taken over, and is closed
			// without a PUBREL (the exchange is the new connection's).
			return c.storeErr(err)
		case p.ReasonCode.IsError():
			// A failing PUBREC ends the exchange (section 4.3.3): no PUBREL.
			if err := store.Complete(c.ctx, id, c.ev.Conn, p.PacketID); err != nil && !errors.Is(err, ErrNotFound) {
				return c.storeErr(err) // fenced: taken over, closed
			}
			c.needDispatch = true
			return nil
		}
		c.send(&packet.Pubrel{PacketID: p.PacketID})
		return nil
	case *packet.Pubcomp:
		c.ends = append(c.ends, ended{qos: 2, packetID: p.PacketID})
		c.needDispatch = true
		return nil
	case *packet.Pubrel:
		rc := packet.Success
		err := store.Forget(c.ctx, id, c.ev.Conn, p.PacketID)
		switch {
		case errors.Is(err, ErrNotFound):
			rc = packet.PacketIdentifierNotFound
		case err != nil:
			return c.storeErr(err) // fenced: taken over, closed
		default:
			if c.st.Pending > 0 {
				c.st.Pending--
				c.stateChanged = true
			}
		}
		c.send(&packet.Pubcomp{PacketID: p.PacketID, ReasonCode: rc})
	}
	return nil
}
