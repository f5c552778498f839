package session

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mqttless/mqttless/core/auth"
	"github.com/mqttless/mqttless/core/packet"
)

// Authentication and authorization of a connection's packets, with the
// auth.Checker given by WithAuth. A refusal is answered in the protocol;
// a failure to read users or rules is returned, and closes the connection
// as any Store failure does.

// authenticate decides who the client of CONNECT p is. It returns its
// identity (anonymous when the handler has no auth.Checker), or the
// CONNACK reason code that refuses the connection: 0x86 for a bad user
// name or password and 0x87 for a client that may not connect (3.1.1
// return codes 4 and 5) (section 3.2.2.2; 3.1.1 section 3.2.2.3)
// [MQTT-3.1.4-2], with the reason of the refusal (refusal.go).
func (c *call) authenticate(p *packet.Connect) (id auth.Identity, refuse packet.ReasonCode, why string, err error) {
	if c.h.auth == nil {
		return auth.Identity{}, packet.Success, "", nil
	}
	// The client's address (Event.Remote) backs off a source of failures.
	id, err = c.h.auth.AuthenticateFrom(c.ctx, c.ev.Remote, p.Username, p.Password, p.UsernameFlag, p.PasswordFlag, c.ev.CertIdentity)
	switch {
	case err == nil:
		return id, packet.Success, "", nil
	case errors.Is(err, auth.ErrBadCredentials):
		return id, packet.BadUsernameOrPassword, authRefusal(err), nil
	case errors.Is(err, auth.ErrNotAuthorized):
		return id, packet.NotAuthorized, authRefusal(err), nil
	}
	return id, packet.Success, "", fmt.Errorf("session: authenticate %q: %w", p.ClientID, err)
}

// ruleClient is the client id access rules see for a client: its own when
// it is bound to the client's identity, "" otherwise, so that rules that
// name a client id, or use %c, do not apply (auth.Checker.Allow).
func ruleClient(clientID string, bound bool) string {
	if !bound {
		return ""
	}
	return clientID
}

// checkIdentity ends a connection whose identity no longer stands (its
// user was removed): with DISCONNECT 0x87 Not authorized at 5.0
// [MQTT-4.13.1-1], by closing at 3.1.1.
func (c *call) checkIdentity() error {
	ok, err := c.identityStands()
	if err == nil && !ok {
		c.disconnect(packet.NotAuthorized, "user removed")
	}
	return err
}

// identityStands reports whether this connection's identity still stands
// (auth.Checker.Exists, cached for the auth cache TTL). A connection
// before its CONNECT, or accepted by a version that kept no identity in
// the connection state, is taken to stand.
func (c *call) identityStands() (bool, error) {
	if c.h.auth == nil || c.st == nil {
		return true, nil
	}
	id, ok := auth.ParseIdentity(c.st.Identity)
	if !ok {
		return true, nil
	}
	exists, err := c.h.auth.Exists(c.ctx, id)
	if err != nil {
		return false, fmt.Errorf("session: check identity %q: %w", c.st.Identity, err)
	}
	return exists, nil
}

// mayDeliver reports whether m may be delivered to session s, checked as
// each message is delivered, so that revoking access takes effect on an
// existing subscription within the auth cache TTL: the identity s belongs
// to must still stand, and must be allowed to receive m's topic
// (auth.Checker.MayReceive: a subscribe rule matches it, no deny rule
// does). A session whose user was removed gets nothing, and its
// connection, if it has one other than this call's, is closed with
// DISCONNECT 0x87 at 5.0 [MQTT-4.13.1-1]. A session without an identity
// (stored by an older version) is checked as anonymous.
func (c *call) mayDeliver(s *Session, m *Message) (bool, error) {
	if c.h.auth == nil {
		return true, nil
	}
	id, _ := auth.ParseIdentity(s.Identity)
	exists, err := c.h.auth.Exists(c.ctx, id)
	if err != nil {
		return false, fmt.Errorf("session: check identity %q: %w", s.Identity, err)
	}
	if !exists {
		if s.Online() && s.Conn != c.ev.Conn {
			d := c.delivery(s)
			if !d.Close {
				if s.Version == packet.V5 {
					frame, _ := (&packet.Disconnect{ReasonCode: packet.NotAuthorized}).Append(nil, packet.V5)
					d.Packets = append(d.Packets, frame)
				}
				d.Close = true
			}
		}
		return false, nil
	}
	ok, err := c.h.auth.MayReceive(c.ctx, id.User, ruleClient(s.ClientID, s.Bound), m.Topic)
	if err != nil {
		return false, fmt.Errorf("session: authorize delivery of %q: %w", m.Topic, err)
	}
	return ok, nil
}

// AuthStats returns what the handler's auth.Checker counted (zero without
// WithAuth).
func (h *Handler) AuthStats() auth.GuardStats {
	if h.auth == nil {
		return auth.GuardStats{}
	}
	return h.auth.Stats()
}

// mayPublish reports whether this connection's client may publish to the
// topic name name. Only the broker publishes to $SYS topics: a client
// never may.
func (c *call) mayPublish(name string) (bool, error) {
	if isSys(name) {
		return false, nil
	}
	if c.h.auth == nil {
		return true, nil
	}
	ok, err := c.h.auth.Allow(c.ctx, auth.Publish, c.st.Username, ruleClient(c.st.ClientID, c.st.Bound), name)
	if err != nil {
		return false, fmt.Errorf("session: authorize publish to %q: %w", name, err)
	}
	return ok, nil
}

// maySubscribe reports whether this connection's client may subscribe to
// filter. Each message delivered under it is checked again (mayDeliver,
// mayReceive), retained ones included.
func (c *call) maySubscribe(filter string) (bool, error) {
	if c.h.auth == nil {
		return true, nil
	}
	ok, err := c.h.auth.Allow(c.ctx, auth.Subscribe, c.st.Username, ruleClient(c.st.ClientID, c.st.Bound), filter)
	if err != nil {
		return false, fmt.Errorf("session: authorize subscribe to %q: %w", filter, err)
	}
	return ok, nil
}

// mayReceive reports whether this connection's client may receive a
// message on the topic name name (auth.Checker.MayReceive).
func (c *call) mayReceive(name string) (bool, error) {
	if c.h.auth == nil {
		return true, nil
	}
	ok, err := c.h.auth.MayReceive(c.ctx, c.st.Username, ruleClient(c.st.ClientID, c.st.Bound), name)
	if err != nil {
		return false, fmt.Errorf("session: authorize delivery of %q: %w", name, err)
	}
	return ok, nil
}

// isSys reports whether name is a $SYS topic, which the broker alone
// publishes to.
func isSys(name string) bool { return name == "$SYS" || strings.HasPrefix(name, "$SYS/") }

// denyPublish answers a PUBLISH the client may not make: at 5.0 with
// PUBACK or PUBREC 0x87 (sections 3.4.2.1 and 3.5.2.1) and nothing for QoS
// 0; at 3.1.1, which cannot say so, with the usual acknowledgement
// [MQTT-3.3.5-2]. The message goes nowhere and is not retained.
func (c *call) denyPublish(p *packet.Publish) {
	c.refused("publish denied", DeniedPublish, "no rule allows it, or a deny rule matches", c.st.ClientID, c.st.Username, p.Topic)
	rc := packet.Success
	if c.st.Version == packet.V5 {
		rc = packet.NotAuthorized
	}
	c.ackPublish(p, rc)
}
