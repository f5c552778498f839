package session

import (
	"errors"

	"github.com/mqttless/mqttless/core/packet"
)

// clientDisconnect handles a DISCONNECT from the client (section 3.14.4):
// reason 0x00 discards the will [MQTT-3.1.2-10] [MQTT-3.14.4-3]; any other
// (0x04, or an error a 5.0 client reports) leaves it to be published
// [MQTT-3.1.2-8], and the session goes offline or ends.
func (c *call) clientDisconnect(frame []byte) error {
	var p packet.Disconnect
	if err := p.DecodeWith(frame, c.st.Version, c.h.cfg.Packet); err != nil {
		c.malformed(err)
		return nil
	}
	if p.Properties.Has(packet.PropSessionExpiry) {
		if c.st.SessionExpiry == 0 && p.Properties.SessionExpiry != 0 {
			c.disconnect(packet.ProtocolError, "session expiry set on DISCONNECT after 0 on CONNECT") // section 3.14.2.2.2 ([MQTT-3.14.2-2] is the server's side)
			return c.goOffline(true)
		}
		c.st.SessionExpiry = min(p.Properties.SessionExpiry, c.h.cfg.MaxSessionExpiry)
	}
	c.st.Disconnected = true
	c.stateChanged = true
	c.reply.Close = true // section 3.14.4: the receiver SHOULD close
	return c.goOffline(p.ReasonCode != packet.Success)
}

// lost handles the end of a connection. A connection that sent DISCONNECT
// or was taken over has nothing left to do; otherwise the will is published
// or scheduled and the session goes offline [MQTT-3.1.2-8].
func (c *call) lost() error {
	if c.st == nil || c.st.Disconnected {
		return nil
	}
	// A removed user publishes nothing more, its will included.
	stands, err := c.identityStands()
	if err != nil {
		return err
	}
	return c.goOffline(stands)
}

// goOffline ends this connection's ownership of its session: the will, if
// withWill, is published now or scheduled after its delay, and the session
// ends when its expiry interval is 0, or is kept until it expires.
//
// The write that ends the ownership, fenced on this connection, comes
// before the will is published: a sweep or a drain (lapse) may end the
// same session at the same moment, scheduling its will, and a takeover
// publishes a will its old session still owed (Store.Connect). Only the
// call whose write succeeds owns the will, so it goes once.
func (c *call) goOffline(withWill bool) error {
	s, err := c.h.store.Session(c.ctx, c.st.ClientID)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if s.Conn != c.ev.Conn {
		return nil // taken over: the new owner's CONNECT dealt with the will
	}
	expiry := c.st.SessionExpiry
	o := Offline{ExpiryInterval: expiry}
	if expiry != NeverExpires {
		o.ExpiresAt = c.nowMs() + int64(expiry)*1000
	}
	var now *Will // published once the write succeeded
	if withWill && s.Will != nil {
		// The will goes when its delay has passed or the session ends,
		// whichever comes first (section 3.1.3.2.2).
		if delay := min(s.Will.Delay, expiry); delay == 0 {
			now = s.Will
		} else {
			o.Will, o.WillAt = s.Will, c.nowMs()+int64(delay)*1000
		}
	}
	if expiry == 0 {
		err = c.h.store.DeleteSession(c.ctx, c.st.ClientID, c.ev.Conn)
	} else {
		err = c.h.store.SetOffline(c.ctx, c.st.ClientID, c.ev.Conn, o)
	}
	if err != nil || now == nil {
		return c.storeErr(err)
	}
	return c.publishWill(now, s.Identity)
}
