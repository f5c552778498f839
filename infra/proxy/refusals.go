package proxy

import (
	"slices"
	"time"

	"github.com/mqttless/mqttless/core/ratelog"
	"github.com/mqttless/mqttless/core/session"
)

// Refusals an operator can see (issue 18). Every connection closed before
// its CONNECT was accepted is counted once, by reason, in
// mqttless_connections_refused_total and in $SYS connections/refused
// (stats.refused), so that the two agree. The reasons are the proxy's own
// (Refused*: rate limit, limits, TLS handshake, connect timeout, ...) and
// those the handlers give for a CONNECT they refused (Reply.Refused:
// session.Refused*, such as wrong_password or keep_alive). PUBLISH and
// SUBSCRIBE packets the access rules denied are counted in
// mqttless_access_denied_total by reason (session.Denied*).
//
// Who logs: the proxy logs its own refusals at info, at most one line per
// reason per refusalLogEvery, the line counting those not logged since
// (not_logged); the handlers log theirs the same way (core/session
// refusal.go), in the proxy's process with -invoker local, in the
// functions' logs with -invoker lambda.

// refusalLogEvery is how often at most a reason of refusal is logged.
const refusalLogEvery = 10 * time.Second

func newRefusalLog() *ratelog.Limiter { return ratelog.New(refusalLogEvery, 64) }

// refuse counts a connection the proxy refused for reason (a Refused*
// value) and logs it, rate-limited, with attrs.
func (s *Server) refuse(reason string, attrs ...any) {
	s.countRefused(reason)
	ok, suppressed := s.refusalLog.Allow(reason, time.Now())
	if !ok {
		return
	}
	s.log.Info("connection refused", append([]any{"reason", reason, "not_logged", suppressed}, attrs...)...)
}

// countRefused counts a refused connection in $SYS and the metric.
func (s *Server) countRefused(reason string) {
	s.stats.refused.Add(1)
	s.metrics.refuse(reason)
}

// handlerRefused notes what the handlers refused in a reply: it counts
// denials at once and keeps the reason of a refused CONNECT on c, for
// refuseConnect.
func (c *conn) handlerRefused(reasons []string) {
	for _, r := range reasons {
		if slices.Contains(session.Denials, r) {
			c.srv.metrics.deny(r)
		} else if c.state == nil {
			c.refusedFor = r
		}
	}
}

// refuseConnect counts c, whose CONNECT the handlers did not accept, by
// the reason they gave (they logged it), or as RefusedConnect, logged
// here, when they gave none (a handler failure, an older handler).
func (c *conn) refuseConnect() {
	if c.refusedFor != "" {
		c.srv.countRefused(c.refusedFor)
		return
	}
	c.srv.refuse(RefusedConnect, "conn", c.id, "remote", c.nc.RemoteAddr().String())
}

// refused counts and logs c, refused by the proxy for reason before its
// CONNECT was accepted.
func (c *conn) refused(reason string) {
	c.srv.refuse(reason, "conn", c.id, "remote", c.nc.RemoteAddr().String())
}
