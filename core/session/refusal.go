package session

import (
	"errors"
	"time"

	"github.com/mqttless/mqttless/core/auth"
	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/ratelog"
)

// Refusals an operator can see (issue 18). Every CONNECT the handlers
// refuse, and every PUBLISH or SUBSCRIBE the access rules deny, is
//   - reported to the proxy in Reply.Refused, by one of the reasons below,
//     which the proxy counts in its metrics by reason (and $SYS counts the
//     refused connections);
//   - logged here at info, at most once per reason per refusalLogEvery,
//     the line counting the refusals of that reason not logged since
//     ("not_logged"), so that a flood makes one line per reason per
//     interval, not one per refusal. In Lambda these lines are the
//     functions' logs.
//
// The client's answer does not change: an unknown user, a wrong password
// and a back-off get the same CONNACK; only the operator tells them apart.

// Reasons of a refused CONNECT, in Reply.Refused.
const (
	RefusedUnknownUser   = "unknown_user"   // the username names no user
	RefusedWrongPassword = "wrong_password" // a user, a wrong or missing password
	RefusedBackedOff     = "backed_off"     // the username or address is backed off after failures
	RefusedCertUsername  = "cert_username"  // -cert-identity: a username other than the certificate's
	RefusedAnonymous     = "anonymous"      // no username, -allow-anonymous off
	RefusedKeepAlive     = "keep_alive"     // a 3.1.1 keep alive above -max-keepalive
	RefusedClientID      = "client_id"      // a client id not valid, or not allowed for the user
	RefusedNotAuthorized = "not_authorized" // a will topic the rules deny, or another identity's client id
	RefusedQuota         = "quota"          // -max-sessions, -max-user-sessions, -max-will-size
	RefusedBadConnect    = "bad_connect"    // a CONNECT the broker cannot accept as sent
)

// Reasons of a denied PUBLISH or SUBSCRIBE, in Reply.Refused.
const (
	DeniedPublish   = "publish_denied"
	DeniedSubscribe = "subscribe_denied"
)

// ConnectRefusals are the reasons of a refused CONNECT, for the proxy's
// metric labels.
var ConnectRefusals = []string{RefusedUnknownUser, RefusedWrongPassword, RefusedBackedOff,
	RefusedCertUsername, RefusedAnonymous, RefusedKeepAlive, RefusedClientID, RefusedNotAuthorized,
	RefusedQuota, RefusedBadConnect}

// Denials are the reasons of a denied PUBLISH or SUBSCRIBE.
var Denials = []string{DeniedPublish, DeniedSubscribe}

const (
	refusalLogEvery = 10 * time.Second
	refusalLogField = 64 // bytes of a client id, username or topic in a line
)

func newRefusalLog() *ratelog.Limiter { return ratelog.New(refusalLogEvery, 64) }

// authRefusal is the reason of a refusal of auth.Checker.AuthenticateFrom.
func authRefusal(err error) string {
	for _, r := range []struct {
		err    error
		reason string
	}{
		{auth.ErrUnknownUser, RefusedUnknownUser}, {auth.ErrWrongPassword, RefusedWrongPassword},
		{auth.ErrBackedOff, RefusedBackedOff}, {auth.ErrCertUsername, RefusedCertUsername},
		{auth.ErrAnonymous, RefusedAnonymous},
	} {
		if errors.Is(err, r.err) {
			return r.reason
		}
	}
	if errors.Is(err, auth.ErrNotAuthorized) {
		return RefusedNotAuthorized
	}
	return RefusedWrongPassword
}

// refused reports a refusal for reason in the reply and logs it (see
// above). msg is the line's message; detail says what was refused;
// client, user and topic are cut to refusalLogField bytes.
func (c *call) refused(msg, reason, detail, clientID, user, topic string) {
	c.reply.Refused = append(c.reply.Refused, reason)
	ok, suppressed := c.h.refusals.Allow(reason, c.now)
	if !ok {
		return
	}
	attrs := []any{"reason", reason, "detail", detail, "conn", c.ev.Conn, "remote", c.ev.Remote,
		"client", ratelog.Truncate(clientID, refusalLogField)}
	if user != "" {
		attrs = append(attrs, "user", ratelog.Truncate(user, refusalLogField))
	}
	if topic != "" {
		attrs = append(attrs, "topic", ratelog.Truncate(topic, refusalLogField))
	}
	c.h.log.Info(msg, append(attrs, "not_logged", suppressed)...)
}

// refusedConnect reports a refused CONNECT of client p (see refused).
func (c *call) refusedConnect(p *packet.Connect, reason, detail string) {
	c.refused("connection refused", reason, detail, p.ClientID, p.Username, "")
}
