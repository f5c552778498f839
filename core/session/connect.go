package session

import (
	"errors"
	"fmt"

	"github.com/mqttless/mqttless/core/packet"
)

// connect handles the CONNECT that opens a connection (section 3.1.4).
func (c *call) connect(frame []byte) error {
	var p packet.Connect
	if err := p.DecodeWith(frame, 0, c.h.cfg.Packet); err != nil {
		c.refuseDecode(&p, err)
		return nil
	}
	cfg := &c.h.cfg
	st := &ConnState{Version: p.Version, KeepAlive: p.KeepAlive, ProblemInfo: true, ReceiveMax: 65535}
	c.st = st
	ack := &packet.Connack{}
	props := &ack.Properties
	v5 := p.Version == packet.V5

	// The client identifier (section 3.1.3.1).
	clientID, assigned := p.ClientID, false
	switch {
	case len(clientID) > cfg.MaxClientIDLen:
		return c.refuse(&p, packet.ClientIdentifierNotValid, RefusedClientID, "client identifier too long")
	case p.Version == packet.V31 && (len(clientID) == 0 || len(clientID) > 23):
		return c.refuse(&p, packet.ClientIdentifierNotValid, RefusedClientID, "3.1 client identifiers have 1 to 23 characters")
	case clientID == "" && !v5 && !p.CleanStart:
		// 3.1.1: [MQTT-3.1.3-8] a zero-length id needs Clean Session.
		return c.refuse(&p, packet.ClientIdentifierNotValid, RefusedClientID, "empty client identifier without clean session")
	case clientID == "":
		assigned = true
		clientID = "auto-" + newID(12) // [MQTT-3.1.3-6]
		if v5 {
			props.AssignedClientID = clientID // [MQTT-3.1.3-7] [MQTT-3.2.2-16]
			props.Set(packet.PropAssignedClientID)
		}
	}
	st.ClientID = clientID

	// Enhanced authentication is not offered: a CONNECT naming a method is
	// refused [MQTT-4.12.0-1].
	if v5 && p.Properties.Has(packet.PropAuthMethod) {
		return c.refuse(&p, packet.BadAuthenticationMethod, RefusedBadConnect, "no authentication methods are supported")
	}

	// Keep alive (section 3.1.2.10).
	if st.KeepAlive > cfg.MaxKeepAlive || (v5 && st.KeepAlive == 0 && cfg.MaxKeepAlive < 65535) {
		if !v5 {
			// 3.1.1 cannot tell the client the server's maximum: refused
			// as Mosquitto does, with return code 2 (identifier
			// rejected), the reason logged at info (refusal.go).
			return c.refuse(&p, packet.ClientIdentifierNotValid, RefusedKeepAlive,
				fmt.Sprintf("keep alive %d above -max-keepalive %d", st.KeepAlive, cfg.MaxKeepAlive))
		}
		st.KeepAlive = cfg.MaxKeepAlive
		props.ServerKeepAlive = cfg.MaxKeepAlive // [MQTT-3.2.2-21]
		props.Set(packet.PropServerKeepAlive)
	}

	// Session expiry (section 3.1.2.11.2); 3.1.1 maps Clean Session.
	expiry := uint32(0)
	if v5 {
		expiry = p.Properties.SessionExpiry
	} else if !p.CleanStart {
		expiry = NeverExpires
	}
	if expiry > cfg.MaxSessionExpiry {
		expiry = cfg.MaxSessionExpiry
		if v5 {
			props.SessionExpiry = expiry // section 3.2.2.3.2: a changed expiry is announced
			props.Set(packet.PropSessionExpiry)
		}
	}
	st.SessionExpiry = expiry

	if v5 {
		if p.Properties.Has(packet.PropReceiveMaximum) {
			st.ReceiveMax = p.Properties.ReceiveMaximum
		}
		// The server sends no more than the client's Receive Maximum
		// [MQTT-3.3.4-9], nor more than its own MaxInflight.
		st.ReceiveMax = min(st.ReceiveMax, cfg.MaxInflight)
		st.MaxPacketSize = p.Properties.MaximumPacketSize
		st.TopicAliasMax = p.Properties.TopicAliasMaximum
		if p.Properties.Has(packet.PropRequestProblemInfo) {
			st.ProblemInfo = p.Properties.RequestProblemInfo == 1
		}
	} else {
		st.ReceiveMax = cfg.MaxInflight
	}

	// Authentication, before anything is written, so that a refused
	// client costs no store write [MQTT-3.1.4-2].
	id, rc, why, err := c.authenticate(&p)
	if err != nil {
		c.st = nil
		return err
	}
	if rc != packet.Success {
		return c.refuse(&p, rc, why, rc.String())
	}
	st.Username, st.Identity = id.User, id.String()
	// The client id must match the client-id pattern in force for the
	// identity: 0x85 Client Identifier not valid at 5.0 [MQTT-3.1.3-8],
	// return code 2 at 3.1.1 (3.1.1: [MQTT-3.1.3-9]). An id the server assigned
	// matches any pattern, and is bound to nobody.
	if !assigned {
		ok, bound := id.MatchClientID(clientID)
		if !ok {
			return c.refuse(&p, packet.ClientIdentifierNotValid, RefusedClientID, "client identifier not allowed for this user")
		}
		st.Bound = bound
	}

	var will *Will
	if w := p.Will; w != nil {
		if err := cfg.topicLimits().ValidateName(w.Topic); err != nil {
			// A will topic past the server's limits is answered as an
			// invalid one: 0x90 at 5.0, a close without CONNACK at 3.1.1
			// (3.1.1: [MQTT-3.1.4-1]).
			if !v5 {
				c.st = nil
				c.reply.Close = true
				c.refusedConnect(&p, RefusedBadConnect, "will topic: "+err.Error())
				return nil
			}
			return c.refuse(&p, packet.TopicNameInvalid, RefusedBadConnect, "will topic: "+err.Error())
		}
		// The will is a publication the client would make: refused when
		// the client may not publish to its topic, as Mosquitto 2 does
		// [MQTT-3.1.4-2].
		ok, err := c.mayPublish(w.Topic)
		if err != nil {
			c.st = nil
			return err
		}
		if !ok {
			return c.refuse(&p, packet.NotAuthorized, RefusedNotAuthorized, "will topic not authorized")
		}
		if v5 {
			if err := packet.CheckPayloadFormat(&w.Properties, w.Payload); err != nil {
				return c.refuse(&p, packet.PayloadFormatInvalid, RefusedBadConnect, "will payload is not UTF-8")
			}
		}
		will = &Will{Message: newMessage(w.Topic, w.Payload, w.QoS, w.Retain, clientID, &w.Properties, c.now)}
		will.Message.ExpiresAt = 0 // set on publication (section 3.1.3.2.4)
		if will.Message.Size() > cfg.MaxWillSize {
			// An administrative limit: 0x97 (section 3.2.2.2), return code
			// 3 at 3.1.1, which has no closer one (3.1.1 section 3.2.2.3).
			return c.refuse(&p, packet.QuotaExceeded, RefusedQuota, "will message larger than the server allows")
		}
		will.Message.Payload = clone(w.Payload)
		if v5 {
			will.Delay = w.Properties.WillDelay
			will.Expiry = w.Properties.MessageExpiry
		}
	}

	s := &Session{
		ClientID: clientID, Identity: st.Identity, Bound: st.Bound, Proxy: c.ev.Proxy, Conn: c.ev.Conn,
		Version: p.Version, ExpiryInterval: expiry, ReceiveMax: st.ReceiveMax, MaxPacketSize: st.MaxPacketSize,
		Will: will,
	}
	prev, err := c.connectStore(s, p.CleanStart)
	if errors.Is(err, ErrQuotaExceeded) {
		// Config.MaxSessions or MaxUserSessions: 0x97 Quota exceeded
		// (section 3.2.2.2); return code 3 Server unavailable at 3.1.1
		// (3.1.1 section 3.2.2.3). Resuming or taking over a session of
		// one's own is never refused.
		return c.refuse(&p, packet.QuotaExceeded, RefusedQuota, "too many sessions")
	}
	if errors.Is(err, ErrNotOwner) {
		// The session of this client id belongs to another identity: the
		// store changed nothing, so its connection, will and messages
		// stay as they were (owner.go) [MQTT-3.1.4-2].
		return c.refuse(&p, packet.NotAuthorized, RefusedNotAuthorized, "client identifier in use by another identity")
	}
	if err != nil {
		c.st = nil
		return err
	}
	// A session that has ended (expired while offline, or online with
	// Session Expiry Interval 0, which ends as its connection is taken over
	// [MQTT-3.1.4-3]) cannot be resumed [MQTT-3.1.2-6], nor one that
	// belonged to no identity (owner.go); the store has already cleared it.
	clean := p.CleanStart || (prev != nil && !prev.Kept(st.Identity, c.nowMs()))
	present := prev != nil && !clean // [MQTT-3.2.2-2] [MQTT-3.2.2-3]
	// MQTT 3.1 has no Session Present flag: the byte is reserved (3.1
	// section 3.2), though the session is resumed all the same.
	ack.SessionPresent = present && p.Version != packet.V31
	if v5 {
		if cfg.ReceiveMax != 65535 {
			props.ReceiveMaximum = cfg.ReceiveMax
			props.Set(packet.PropReceiveMaximum)
		}
		props.MaximumPacketSize = cfg.MaxPacketSize
		props.TopicAliasMaximum = cfg.TopicAliasMax
		props.Set(packet.PropMaximumPacketSize).Set(packet.PropTopicAliasMaximum)
	}
	c.stateChanged = true
	c.send(ack) // [MQTT-3.2.0-1] CONNACK comes first
	c.h.log.Debug("connected", "client", clientID, "conn", c.ev.Conn, "version", p.Version.String(),
		"clean", p.CleanStart, "present", present)

	if present {
		// The QoS 2 messages still awaiting their PUBREL count against
		// the server's Receive Maximum on this connection too, so that
		// reconnecting does not raise what a session may hold: a
		// conforming client resends those PUBRELs first [MQTT-4.4.0-1],
		// which frees them before its new messages [MQTT-3.3.4-7].
		n, err := c.h.store.Receiving(c.ctx, clientID)
		if err != nil {
			return err
		}
		st.Pending = uint16(min(n, 65535))
		if err := c.resume(); err != nil {
			return err
		}
	}
	if c.h.v2() {
		if err := c.connectStreams(present); err != nil {
			return err
		}
	}
	if prev != nil {
		// Only now, after the CONNACK [MQTT-3.2.0-1] and the resent
		// messages: the old connection's will may match a subscription of
		// this session, and must reach it once, as a new message.
		return c.takeOver(prev, clean)
	}
	return nil
}

// takeOver deals with the session a CONNECT replaced: it closes the
// connection that owned it [MQTT-3.1.4-3] and publishes its will when that
// is due now. A will waits for its delay unless the session ends, and a new
// connection to a continuing session cancels it [MQTT-3.1.3-9].
func (c *call) takeOver(prev *Session, clean bool) error {
	if prev.Online() && prev.Conn != c.ev.Conn {
		var frame []byte
		if prev.Version == packet.V5 {
			frame, _ = (&packet.Disconnect{ReasonCode: packet.SessionTakenOver}).Append(nil, packet.V5)
		}
		d := c.delivery(prev)
		if frame != nil {
			d.Packets = append(d.Packets, frame)
		}
		d.Close = true
	}
	if prev.Will == nil {
		return nil
	}
	pending := !prev.Online() && prev.WillAt != 0
	if (prev.Online() && (prev.Will.Delay == 0 || clean)) || (pending && clean) {
		return c.publishWill(prev.Will, prev.Identity)
	}
	return nil
}

// resume resends what was in flight when the session's last connection
// ended, then sends what was queued [MQTT-4.4.0-1].
func (c *call) resume() error {
	inflight, err := c.h.store.Inflight(c.ctx, c.st.ClientID)
	if err != nil {
		return err
	}
	for _, o := range inflight {
		// The resent messages come first on the new connection: what is
		// put in flight later is written after them (order.go).
		o.After = 0
		if o.State == Released {
			c.send(&packet.Pubrel{PacketID: o.PacketID})
			c.sendOwn(o, nil) // its PUBLISH was written before
			continue
		}
		c.sendOwn(o, c.encodeOut(o, true, c.st.Version, c.st.MaxPacketSize))
	}
	return c.dispatch()
}

// dispatch sends queued messages to this connection as its window allows.
func (c *call) dispatch() error {
	for {
		out, err := c.h.store.Dispatch(c.ctx, c.st.ClientID, c.ev.Conn, int(c.st.ReceiveMax))
		if err != nil {
			return c.storeErr(err) // fenced: taken over, closed
		}
		freed := false // an expired message left the window: dispatch again
		for _, o := range out {
			expired, err := c.dropExpired(c.st.ClientID, c.ev.Conn, o)
			if err != nil {
				return c.storeErr(err) // fenced: taken over, closed
			}
			if expired {
				freed = freed || o.QoS > 0
				c.sendOwn(o, nil) // its place in the order, unsent
				continue
			}
			c.sendOwn(o, c.encodeOut(o, false, c.st.Version, c.st.MaxPacketSize)) // [MQTT-4.6.0-6] order.go
		}
		if !freed {
			return nil
		}
	}
}

// dropExpired reports whether o, just taken from the queue of clientID by
// a dispatch for connection conn, expired while it waited. Such a message
// is not sent [MQTT-3.3.2-5]; one the store put in flight is ended there,
// for conn (fenced on it: after a takeover, the exchange is the new
// connection's, which resends it), which frees its place in the window.
func (c *call) dropExpired(clientID, conn string, o *Outbound) (bool, error) {
	if !o.Message.Expired(c.now) {
		return false, nil
	}
	var err error
	switch o.QoS {
	case 1:
		err = c.h.store.Acknowledge(c.ctx, clientID, conn, o.PacketID)
	case 2:
		if err = c.h.store.Release(c.ctx, clientID, conn, o.PacketID); err == nil {
			err = c.h.store.Complete(c.ctx, clientID, conn, o.PacketID)
		}
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		return true, err
	}
	return true, nil
}

// refuse answers CONNECT p with a failing CONNACK and closes the
// connection [MQTT-3.2.2-6] [MQTT-3.2.2-7]; why (a Refused* reason) and
// detail go to the proxy and the log (refusal.go), detail also to a 5.0
// client as the reason string.
func (c *call) refuse(p *packet.Connect, rc packet.ReasonCode, why, detail string) error {
	ack := &packet.Connack{ReasonCode: rc}
	if c.st.Version == packet.V5 && detail != "" {
		ack.Properties.ReasonString = detail
		ack.Properties.Set(packet.PropReasonString)
	}
	c.send(ack)
	c.st = nil
	c.reply.Close = true
	c.refusedConnect(p, why, detail)
	return nil
}

// refuseDecode answers a CONNECT that failed to decode: an unsupported
// protocol level gets return code 1 at 3.1.1 framing [MQTT-3.1.2-2] (0x84 at
// 5.0), a 5.0 CONNECT gets a CONNACK with the error's reason code, and
// anything else is closed without a CONNACK (3.1.1: [MQTT-3.1.4-1]).
func (c *call) refuseDecode(p *packet.Connect, err error) {
	c.reply.Close = true
	c.refusedConnect(p, RefusedBadConnect, err.Error())
	switch {
	case errors.Is(err, packet.ErrProtocolName):
		return // [MQTT-3.1.2-1] the server may close without CONNACK
	case errors.Is(err, packet.ErrProtocolVersion):
		b, _ := (&packet.Connack{ReasonCode: packet.UnsupportedProtocolVersion}).Append(nil, packet.V311)
		c.reply.Packets = append(c.reply.Packets, b)
	case p.Version == packet.V5:
		b, aerr := (&packet.Connack{ReasonCode: packet.ReasonCodeOf(err)}).Append(nil, packet.V5)
		if aerr != nil { // a code CONNACK cannot carry
			b, _ = (&packet.Connack{ReasonCode: packet.MalformedPacket}).Append(nil, packet.V5)
		}
		c.reply.Packets = append(c.reply.Packets, b)
	}
}
