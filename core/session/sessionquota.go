package session

import (
	"context"

	"github.com/mqttless/mqttless/core/auth"
)

// SessionLimits bounds the sessions a Connect may create (SessionQuota);
// a zero field is no limit.
type SessionLimits struct {
	// Sessions is the most sessions the store holds.
	Sessions int
	// Identity is the most sessions that belong to the connecting
	// identity (Session.Identity).
	Identity int
}

// SessionQuota is an optional Store method: Connect within SessionLimits,
// the check and the write one atomic step, so that concurrent CONNECTs,
// on any number of machines, cannot pass a limit by their number. Every
// store of this module implements it; with a store that does not,
// Config.MaxSessions and MaxUserSessions do not apply.
type SessionQuota interface {
	// ConnectWithin is Store.Connect, except that it changes nothing and
	// returns an error wrapping ErrQuotaExceeded when the write would
	// create a session (there is none of s.ClientID) while the store
	// holds lim.Sessions or more, or would give s.Identity a session (a
	// new one, or one taken over from another identity) while s.Identity
	// holds lim.Identity or more. ErrNotOwner is checked first. A store
	// counts every session it holds, online, offline or ended, until
	// DeleteSession; a Connect that replaces a session in place (clean or
	// not) keeps the count.
	ConnectWithin(ctx context.Context, s *Session, clean bool, now int64, lim SessionLimits) (prev *Session, err error)
}

// sessionLimits returns the limits a CONNECT by identity is held to:
// MaxSessions, and MaxUserSessions for a named identity. The anonymous
// clients share one identity: bounding them as one user would cap every
// anonymous deployment at MaxUserSessions, so they count against
// MaxSessions only, as they count against the proxy's -max-connections
// only.
func (c *Config) sessionLimits(identity string) SessionLimits {
	lim := SessionLimits{Sessions: c.MaxSessions, Identity: c.MaxUserSessions}
	if identity == auth.Anonymous {
		lim.Identity = 0
	}
	return lim
}

// connectStore makes s the owner of its session through the store, within
// Config.MaxSessions and MaxUserSessions when the store can keep them
// (SessionQuota).
func (c *call) connectStore(s *Session, clean bool) (*Session, error) {
	if q, ok := c.h.store.(SessionQuota); ok {
		return q.ConnectWithin(c.ctx, s, clean, c.nowMs(), c.h.cfg.sessionLimits(s.Identity))
	}
	return c.h.store.Connect(c.ctx, s, clean, c.nowMs())
}

// SessionCounter is an optional Store method that counts the sessions the
// store holds, for the $SYS clients/total value (PublishSys). The
// embedded and in-memory stores implement it from what they keep; the
// DynamoDB store does not.
type SessionCounter interface {
	// SessionCount returns how many sessions the store holds, online,
	// offline, or ended but not yet deleted.
	SessionCount(ctx context.Context) (int, error)
}
