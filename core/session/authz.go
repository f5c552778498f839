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

// authenticate decides who the client of CONNECT p is. It returns the
// username ("" for an anonymous client), or the CONNACK reason code that
// refuses the connection: 0x86 for a bad user name or password and 0x87
// for a client that may not connect (3.1.1 return codes 4 and 5) (section
// 3.2.2.2; 3.1.1 section 3.2.2.3) [MQTT-3.1.4-2].
func (c *call) authenticate(p *packet.Connect) (user string, refuse packet.ReasonCode, err error) {
	if c.h.auth == nil {
		return "", packet.Success, nil
	}
	// The client's address (Event.Remote) backs off a source of failures.
	user, err = c.h.auth.AuthenticateFrom(c.ctx, c.ev.Remote, p.Username, p.Password, p.UsernameFlag, p.PasswordFlag, c.ev.CertIdentity)
	switch {
	case err == nil:
		return user, packet.Success, nil
	case errors.Is(err, auth.ErrBadCredentials):
		return "", packet.BadUsernameOrPassword, nil
	case errors.Is(err, auth.ErrNotAuthorized):
		return "", packet.NotAuthorized, nil
	}
	return "", packet.Success, fmt.Errorf("session: authenticate %q: %w", p.ClientID, err)
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
	ok, err := c.h.auth.Allow(c.ctx, auth.Publish, c.st.Username, c.st.ClientID, name)
	if err != nil {
		return false, fmt.Errorf("session: authorize publish to %q: %w", name, err)
	}
	return ok, nil
}

// maySubscribe reports whether this connection's client may subscribe to
// filter. The retained messages a subscription gets need no further check:
// the filter covers their topics.
func (c *call) maySubscribe(filter string) (bool, error) {
	if c.h.auth == nil {
		return true, nil
	}
	ok, err := c.h.auth.Allow(c.ctx, auth.Subscribe, c.st.Username, c.st.ClientID, filter)
	if err != nil {
		return false, fmt.Errorf("session: authorize subscribe to %q: %w", filter, err)
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
	c.h.log.Debug("publish denied", "client", c.st.ClientID, "user", c.st.Username, "topic", p.Topic)
	rc := packet.Success
	if c.st.Version == packet.V5 {
		rc = packet.NotAuthorized
	}
	c.ackPublish(p, rc)
}
