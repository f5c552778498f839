package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/mqttless/mqttless/core/packet"
)

// clientDisconnect handles a DISCONNECT from the client (section 3.14.4):
// reason 0x00 discards the will [MQTT-3.1.2-10] [MQTT-3.14.4-3]; any other
// (0x04, or an error a 5.0 client reports) leaves it to be published
// [MQTT-3.1.2-8], and the session goes offline or ends.
func (c *call) clientDisconnect(frame []byte) error {
	var p packet.Disconnect
	if err := p.Decode(frame, c.st.Version); err != nil {
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
	return c.goOffline(true)
}

// goOffline ends this connection's ownership of its session: the will, if
// withWill, is published now or scheduled after its delay, and the session
// ends when its expiry interval is 0, or is kept until it expires.
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
	if withWill && s.Will != nil {
		// The will goes when its delay has passed or the session ends,
		// whichever comes first (section 3.1.3.2.2).
		delay := min(s.Will.Delay, expiry)
		if delay == 0 {
			if err := c.publishWill(s.Will); err != nil {
				return err
			}
		} else {
			o.Will, o.WillAt = s.Will, c.nowMs()+int64(delay)*1000
		}
	}
	if expiry == 0 {
		return c.storeErr(c.h.store.DeleteSession(c.ctx, c.st.ClientID, c.ev.Conn))
	}
	return c.storeErr(c.h.store.SetOffline(c.ctx, c.st.ClientID, c.ev.Conn, o))
}

// auth answers AUTH: no enhanced authentication method is offered, so a
// CONNECT that named one was refused and an AUTH can only come from a
// client that named none, which is a Protocol Error [MQTT-4.12.0-7]. 0x8C
// (Bad authentication method) is not a DISCONNECT reason code
// [MQTT-3.14.2-1], so the connection is closed with 0x82 (section 4.13).
func (c *call) auth(frame []byte) error {
	var p packet.Auth
	if err := p.Decode(frame, c.st.Version); err != nil {
		c.malformed(err)
		return nil
	}
	c.disconnect(packet.ProtocolError, "AUTH without an authentication method; none is supported")
	return nil
}

// Tick does the work that waits for time rather than for a packet: it
// publishes wills whose delay has passed and removes expired sessions,
// publishing their pending wills first. It handles up to limit sessions and
// returns the deliveries the wills make (in Reply.Deliveries) and how many
// sessions it handled; run it every second or so. It is safe to run on
// several machines at once: a will is published only by the call that
// clears it.
func (h *Handler) Tick(ctx context.Context, limit int) (*Reply, int, error) {
	now := h.now()
	c := &call{h: h, ctx: ctx, ev: &Event{}, now: now, reply: &Reply{}}
	due, err := h.store.Due(ctx, now.UnixMilli(), limit)
	if err != nil {
		return c.reply, 0, err
	}
	for _, s := range due {
		if s.Will != nil && s.WillAt != 0 && (s.WillAt <= now.UnixMilli() || (s.ExpiresAt != 0 && s.ExpiresAt <= now.UnixMilli())) {
			err := h.store.ClearWill(ctx, s.ClientID, s.WillAt)
			if errors.Is(err, ErrNotFound) {
				continue // someone else published it, or the client came back
			}
			if err != nil {
				return c.reply, 0, err
			}
			if err := c.publishWill(s.Will); err != nil {
				return c.reply, 0, fmt.Errorf("session: publish will of %q: %w", s.ClientID, err)
			}
			if err := c.flush(); err != nil {
				return c.reply, 0, fmt.Errorf("session: publish will of %q: %w", s.ClientID, err)
			}
		}
		if s.ExpiresAt != 0 && s.ExpiresAt <= now.UnixMilli() {
			if err := h.store.DeleteSession(ctx, s.ClientID, ""); err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrFenced) {
				return c.reply, 0, err
			}
		}
	}
	return c.reply, len(due), nil
}

// Recover ends the connections that proxy held when it stopped without
// telling the handlers, as a proxy restarted after a crash does at start:
// each session it owned is handled as a lost connection (its will is
// published or scheduled, and it goes offline or ends). It returns the
// deliveries the wills make and how many sessions it recovered.
func (h *Handler) Recover(ctx context.Context, proxy string) (*Reply, int, error) {
	reply := &Reply{}
	n := 0
	seen := map[string]bool{}
	delivIdx := map[string]int{} // shared, so each connection gets one delivery
	for {
		owned, err := h.store.Owned(ctx, proxy, 1000)
		if err != nil {
			return reply, n, err
		}
		progress := false
		for _, s := range owned {
			if seen[s.ClientID+"\x00"+s.Conn] {
				continue
			}
			seen[s.ClientID+"\x00"+s.Conn] = true
			progress = true
			c := &call{h: h, ctx: ctx, now: h.now(), reply: reply,
				ev: &Event{Kind: KindLost, Proxy: s.Proxy, Conn: s.Conn},
				st: &ConnState{ClientID: s.ClientID, Version: s.Version, SessionExpiry: s.ExpiryInterval}, delivIdx: delivIdx}
			err := c.goOffline(true)
			if ferr := c.flush(); err == nil {
				err = ferr
			}
			if err != nil {
				return reply, n, fmt.Errorf("session: recover %q: %w", s.ClientID, err)
			}
			n++
		}
		if !progress {
			return reply, n, nil
		}
	}
}
