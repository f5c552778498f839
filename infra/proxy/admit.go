package proxy

import (
	"errors"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/ratelog"
	"github.com/mqttless/mqttless/core/session"
)

// Admission: what the proxy lets in. A connection passes, in order, the
// accept loop (which outlives a shortage of descriptors), MaxConnRate for
// its source address, MaxConnections and MaxPendingConnects (admitLocked),
// and, once the handlers accepted its CONNECT, MaxUserConnections
// (acceptedLocked). The counts live in Server under Server.mu; each conn's
// pending, user and userCounted fields say what it holds of them, and are
// the reader's (set by it, read by it in remove).

// Backoff of the accept loop after a temporary error, as net/http's: 5 ms,
// doubling up to 1 s, back to none after a successful accept.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// acceptLogEvery is how often at most an accept error is logged; the
// errors in between are counted in the next line.
const acceptLogEvery = 10 * time.Second

// temporaryAccept reports whether an accept error is one the listener
// recovers from: out of descriptors (EMFILE, ENFILE) or buffers (ENOBUFS,
// ENOMEM), a connection reset before it was accepted (ECONNABORTED), an
// interrupted call, or a timeout. Any other error ends Serve.
func temporaryAccept(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ECONNABORTED,
		syscall.ENOBUFS, syscall.ENOMEM, syscall.EINTR} {
		if errors.Is(err, e) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// acceptLog rate-limits the log lines of accept errors. mu guards the
// fields; the accept loops of every listener share it.
type acceptLog struct {
	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// acceptFailed counts a temporary accept error, logs it (at most once per
// acceptLogEvery), and returns how long to wait before the next accept,
// given the previous wait.
func (s *Server) acceptFailed(err error, prev time.Duration) time.Duration {
	next := acceptBackoffMin
	if prev > 0 {
		next = min(2*prev, acceptBackoffMax)
	}
	s.stats.acceptErrors.Add(1)
	if m := s.metrics; m != nil {
		m.acceptErrors.Inc()
	}
	l := &s.acceptLog
	l.mu.Lock()
	now := time.Now()
	if now.Sub(l.last) < acceptLogEvery {
		l.suppressed++
		l.mu.Unlock()
		return next
	}
	suppressed := l.suppressed
	l.last, l.suppressed = now, 0
	l.mu.Unlock()
	s.log.Warn("accept failed; retrying", "err", err, "retry_in", next,
		"errors_not_logged", suppressed, "connections", s.Connections())
	return next
}

// admitLocked returns why a new connection may not be registered, or ""
// when it may. mu must be held.
func (s *Server) admitLocked() string {
	switch {
	case s.done:
		return RefusedShuttingDown
	case len(s.conns) >= s.cfg.MaxConnections:
		return RefusedMaxConnections // -max-connections
	case s.pending >= s.cfg.MaxPendingConnects:
		return RefusedPendingConnects // -max-pending-connects
	}
	return ""
}

// connectAccepted moves c from the pending connections to those of its
// user, once the handlers accepted its CONNECT as user. It reports false,
// counting c nowhere, when user already has MaxUserConnections
// connections; anonymous connections (user "") always pass.
func (s *Server) connectAccepted(c *conn, user string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.pending {
		c.pending = false
		s.pending--
	}
	if user != "" {
		if s.users[user] >= s.cfg.MaxUserConnections {
			return false
		}
		s.users[user]++
		c.user, c.userCounted = user, true
	}
	// A client, as Mosquitto counts them in $SYS: a connection whose
	// CONNECT was accepted.
	c.isClient = true
	s.clients++
	s.maxClients = max(s.maxClients, s.clients)
	return true
}

// releaseLocked gives back what c held of the counts. mu must be held.
func (s *Server) releaseLocked(c *conn) {
	if c.isClient {
		c.isClient = false
		s.clients--
	}
	if c.pending {
		c.pending = false
		s.pending--
	}
	if c.userCounted {
		c.userCounted = false
		if s.users[c.user]--; s.users[c.user] <= 0 {
			delete(s.users, c.user)
		}
	}
}

// Listener returns ln with MaxConnRate and MaxConnections applied at
// accept: a connection over either is closed before anything is read from
// it, and counted. Serve applies them itself; wrap the listener of an
// http.Server that serves WebSocketHandler in it, so that a client over
// the limits cannot hold a connection, nor send headers, until the upgrade
// (where the handler would refuse it). Accept errors pass through as
// they are (http.Server backs off after temporary ones).
func (s *Server) Listener(ln net.Listener) net.Listener { return &limitListener{Listener: ln, s: s} }

type limitListener struct {
	net.Listener
	s *Server
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if !l.s.allowConn(nc.RemoteAddr()) {
			nc.Close()
			continue
		}
		if l.s.Connections() >= l.s.cfg.MaxConnections {
			l.s.refuse(RefusedMaxConnections)
			nc.Close()
			continue
		}
		return nc, nil
	}
}

// refuseUser turns the reply that accepted c's CONNECT into a refusal, for
// MaxUserConnections: CONNACK 0x97 Quota exceeded at 5.0 (section
// 3.2.2.2: "an implementation or administrative imposed limit has been
// exceeded"), return code 3 Server unavailable at 3.1.1 and 3.1 (the
// codec's mapping of 0x97), then a close [MQTT-3.2.2-7] (3.1.1
// [MQTT-3.2.2-5]). What followed the CONNACK in the reply (queued
// messages) is not sent: QoS 1 and 2 messages stay in the session and go
// out at the next connection. Deliveries to other connections stand.
func (c *conn) refuseUser(r *session.Reply) {
	ack, err := (&packet.Connack{ReasonCode: packet.QuotaExceeded}).Append(nil, r.State.Version)
	if err != nil {
		ack = nil
	}
	r.Packets, r.Close = nil, true
	if ack != nil {
		r.Packets = [][]byte{ack}
	}
	c.quotaRefused = true
}

// endRefused ends a connection refused by refuseUser: the handlers, which
// accepted its CONNECT, get a DISCONNECT (reason 0x00) from it, so that its
// session goes offline as after a normal disconnection, and its will is
// discarded rather than published [MQTT-3.1.2-10]: the client never had
// the connection.
func (c *conn) endRefused() {
	c.srv.refuse(RefusedUserConnections, "conn", c.id, "user", ratelog.Truncate(c.state.Username, 64),
		"limit", c.srv.cfg.MaxUserConnections)
	disc, err := (&packet.Disconnect{}).Append(nil, c.state.Version)
	if err == nil {
		c.invoke(&session.Event{Kind: session.KindPackets, Packets: [][]byte{disc}})
	}
}
