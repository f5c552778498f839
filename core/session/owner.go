package session

import "github.com/mqttless/mqttless/core/auth"

// A session belongs to the identity that created it (Session.Identity,
// from auth.Identity.String: "user:NAME", "cert:NAME" or "anonymous"). These
// two rules are the one home of what that means; every Store applies them
// inside its atomic Connect step, and the handler reads the outcome.
//
// A session stored by a version that recorded no identity has Identity "":
// no CONNECT may resume it, since nobody can tell whose it was, but any
// CONNECT may take it over, and then clears it (a fresh session, Session
// Present 0, owned by the new identity). This keeps another client from
// reading what was queued for it, at the cost of that queue, once, after
// an upgrade; the client resubscribes as after any clean start. The
// alternatives were worse: treated as anonymous, named users could never
// again use their client ids while such sessions lasted (never, at the
// default expiry); adopted by the first identity to connect, they would
// hand over their queued messages to whoever came first.

// MayConnect reports whether a CONNECT from identity may take session s,
// which exists, at now (Unix ms): s belongs to identity, or to no
// identity (stored by an older version), or to the anonymous clients, or
// it is offline and has expired. Any anonymous client may already resume,
// clean or take over an anonymous session, so letting a named client take
// one over, cleared, gives nobody more, and keeps users from being locked
// out of the client ids their devices used while they were anonymous
// (before users were set up, say).
//
// An online session of another identity is refused even when its Session
// Expiry Interval is 0: the CONNECT would end it [MQTT-3.1.4-3], and
// another identity may not end what it does not own. The refusal is
// CONNACK 0x87 Not authorized (3.1.1 return code 5) and touches nothing:
// the connection, will and messages of s stay as they are [MQTT-3.1.4-2].
func (s *Session) MayConnect(identity string, now int64) bool {
	return s.Identity == identity || s.Identity == "" || s.Identity == auth.Anonymous || (!s.Online() && s.Ended(now))
}

// Kept reports whether a CONNECT from identity without Clean Start, which
// MayConnect allowed, resumes session s: it has not Ended by now and
// belongs to identity. Otherwise the store clears what s held, and the
// CONNACK says Session Present 0 [MQTT-3.2.2-2] [MQTT-3.2.2-3].
func (s *Session) Kept(identity string, now int64) bool {
	return !s.Ended(now) && s.Identity != "" && s.Identity == identity
}
