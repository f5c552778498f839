// Package proxy is the connection proxy: it terminates MQTT connections,
// frames packets, answers PINGREQ, enforces keep alive and hands every
// other packet to the handlers through an Invoker. It holds no session
// state; the connection state the handlers return rides along opaquely.
package proxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/ratelog"
	"github.com/mqttless/mqttless/core/session"
)

// Config holds the proxy's settings. Zero fields take the defaults in
// brackets.
type Config struct {
	// ID names this proxy; deliveries are addressed to it [random].
	ID string
	// MaxPacketSize is the largest frame accepted from a client, fixed
	// header included [1 MiB]. It should match the handlers' setting.
	MaxPacketSize int
	// ConnectTimeout is how long a new connection may take to send its
	// CONNECT [10s].
	ConnectTimeout time.Duration
	// WriteTimeout bounds one write to a client [30s]; a client that reads
	// slower than that is disconnected.
	WriteTimeout time.Duration
	// InvokeTimeout bounds one call to the handlers [30s].
	InvokeTimeout time.Duration
	// OrderWait bounds how long a QoS 1 or 2 PUBLISH frame waits for its
	// predecessor in its session's order before it is written anyway
	// (order.go) [2s].
	OrderWait time.Duration
	// PositionSave bounds how long a delivery v2 window's acknowledged
	// positions wait before they are saved (window.go) [1s]; they are
	// saved sooner every 20 acknowledgements, before a PUBREL and when the
	// connection ends.
	PositionSave time.Duration
	// MaxSendBytes bounds the bytes waiting to be written to one
	// connection, the batch being written included [4 MiB]. A frame that would pass it is dropped and counted
	// when it is a QoS 0 PUBLISH; any other frame closes the connection as a
	// slow consumer. QoS 1 and 2 messages are safe in the store and are sent
	// again when the client reconnects. One frame is always accepted into an
	// empty queue, however large.
	MaxSendBytes int
	// MaxBatch bounds the frames of one connection handed to the handlers
	// in one call [64].
	MaxBatch int
	// MaxPublishRate bounds the PUBLISH packets per second one connection
	// may send, with bursts of max(1, MaxPublishRate) packets [0: no
	// limit]. A client over the limit is throttled, not disconnected: its
	// reader waits for tokens before handing more PUBLISH packets to the
	// handlers and reads nothing meanwhile, so the socket's buffers fill
	// and TCP flow control slows the client down. Nothing is lost, and a
	// well-behaved client never notices; EMQX and HiveMQ throttle the same
	// way. The wait also holds while a connection is parked.
	MaxPublishRate float64
	// MaxConnRate bounds the new connections per second accepted from one
	// source IP address, with bursts of max(1, MaxConnRate) [0: no limit].
	// A connection over the limit is closed right after accept, before
	// anything is read from it (a WebSocket upgrade is answered 429), and
	// counted (mqttless_connections_refused_total{reason="rate_limit"}).
	// The proxy remembers at most 100,000 addresses; idle ones are
	// forgotten.
	MaxConnRate float64
	// MaxConnections bounds the connections open at once, CONNECT accepted
	// or not, on every listener together [10,000]. A connection over it is
	// closed right after accept (a WebSocket upgrade is answered 503) and
	// counted (mqttless_connections_refused_total{reason="max_connections"}).
	MaxConnections int
	// MaxUserConnections bounds the connections of one user (the
	// authenticated ConnState.Username) [1,000]. It is checked when the
	// handlers accept a CONNECT: one over it is refused with CONNACK 0x97
	// Quota exceeded at 5.0, return code 3 Server unavailable at 3.1.1
	// (refused_total{reason="user_connections"}); the proxy then hands the
	// handlers a DISCONNECT for it, so that the session goes offline as
	// after a normal disconnection and the will is not published.
	// Anonymous connections (no username) are bounded by MaxConnections
	// only. The check follows the handlers' acceptance, which knows the
	// user: a refused CONNECT that named a client id in use has taken that
	// session over (its previous connection, of the same user, is closed).
	MaxUserConnections int
	// Packet is the codec's limits of the handlers (session.Config.Packet,
	// -max-user-properties), under which the proxy decodes the PUBLISH
	// frames it gives topic aliases, so that it reads every frame the
	// handlers made.
	Packet packet.Limits
	// MaxConnectSize is the largest frame accepted before the CONNECT is
	// accepted (the CONNECT itself, with its will) [64 KiB, at most
	// MaxPacketSize]; MaxPacketSize applies from then on. A larger claim
	// closes the connection from the fixed header, so that an
	// unauthenticated client cannot make the proxy hold MaxPacketSize.
	MaxConnectSize int
	// MaxPendingConnects bounds the connections open at once whose CONNECT
	// has not been accepted yet (TLS handshake, waiting for or handling
	// the CONNECT) [1,000]. A connection over it is closed right after
	// accept (refused_total{reason="pending_connects"}). With
	// MaxConnectSize it bounds what unauthenticated clients hold: 1,000 ×
	// 64 KiB = 64 MiB of frames.
	MaxPendingConnects int
	// MaxSendBytesTotal bounds the bytes waiting to be written summed over
	// all connections, the batches being written included [128 MiB].
	// Past it, QoS 0 PUBLISH frames are dropped and counted, as on one
	// full connection; other frames still count against MaxSendBytes only.
	MaxSendBytesTotal int
	// MaxOutboundAliases and MaxOutboundAliasBytes bound the topic aliases
	// the proxy assigns on one 5.0 connection, in count (below the
	// client's Topic Alias Maximum) and in bytes of topics [256, 16 KiB].
	// Once full, the least recently used alias is mapped to the new topic
	// (alias.go).
	MaxOutboundAliases    int
	MaxOutboundAliasBytes int
	// Metrics receive the proxy's Prometheus metrics [nil: none].
	Metrics *Metrics
}

// Defaults of the limits of Config, for the flags that set them.
const (
	DefaultMaxConnections        = 10_000
	DefaultMaxUserConnections    = 1_000
	DefaultMaxConnectSize        = 64 << 10
	DefaultMaxPendingConnects    = 1_000
	DefaultMaxSendBytesTotal     = 128 << 20
	DefaultMaxOutboundAliases    = 256
	DefaultMaxOutboundAliasBytes = 16 << 10
)

// ErrConfig is a proxy setting out of range; the message names it.
var ErrConfig = errors.New("proxy: invalid configuration")

func (c Config) withDefaults() (Config, error) {
	if c.ID == "" {
		c.ID = "proxy-" + randomHex(6)
	}
	def := func(d *time.Duration, v time.Duration, name string) error {
		if *d < 0 {
			return fmt.Errorf("%w: %s %v is negative", ErrConfig, name, *d)
		}
		if *d == 0 {
			*d = v
		}
		return nil
	}
	if err := errors.Join(def(&c.ConnectTimeout, 10*time.Second, "ConnectTimeout"),
		def(&c.WriteTimeout, 30*time.Second, "WriteTimeout"),
		def(&c.InvokeTimeout, 30*time.Second, "InvokeTimeout"),
		def(&c.OrderWait, 2*time.Second, "OrderWait"),
		def(&c.PositionSave, time.Second, "PositionSave")); err != nil {
		return c, err
	}
	if c.MaxPacketSize == 0 {
		c.MaxPacketSize = 1 << 20
	}
	if c.MaxPacketSize < 64 {
		return c, fmt.Errorf("%w: MaxPacketSize %d is below 64", ErrConfig, c.MaxPacketSize)
	}
	if c.MaxSendBytes == 0 {
		c.MaxSendBytes = 4 << 20
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = 64
	}
	if c.MaxSendBytes < 0 || c.MaxBatch < 0 {
		return c, fmt.Errorf("%w: MaxSendBytes and MaxBatch must be positive", ErrConfig)
	}
	for _, l := range []struct {
		v    *int
		def  int
		name string
	}{
		{&c.MaxConnections, DefaultMaxConnections, "MaxConnections"},
		{&c.MaxUserConnections, DefaultMaxUserConnections, "MaxUserConnections"},
		{&c.MaxConnectSize, DefaultMaxConnectSize, "MaxConnectSize"},
		{&c.MaxPendingConnects, DefaultMaxPendingConnects, "MaxPendingConnects"},
		{&c.MaxSendBytesTotal, DefaultMaxSendBytesTotal, "MaxSendBytesTotal"},
		{&c.MaxOutboundAliases, DefaultMaxOutboundAliases, "MaxOutboundAliases"},
		{&c.MaxOutboundAliasBytes, DefaultMaxOutboundAliasBytes, "MaxOutboundAliasBytes"},
	} {
		if *l.v < 0 {
			return c, fmt.Errorf("%w: %s %d is negative", ErrConfig, l.name, *l.v)
		}
		if *l.v == 0 {
			*l.v = l.def
		}
	}
	if c.MaxConnectSize < 64 {
		return c, fmt.Errorf("%w: MaxConnectSize %d is below 64", ErrConfig, c.MaxConnectSize)
	}
	c.MaxConnectSize = min(c.MaxConnectSize, c.MaxPacketSize)
	c.MaxOutboundAliases = min(c.MaxOutboundAliases, 65535)
	if !(c.MaxPublishRate >= 0) || math.IsInf(c.MaxPublishRate, 0) {
		return c, fmt.Errorf("%w: MaxPublishRate %v must be a finite number, 0 or above", ErrConfig, c.MaxPublishRate)
	}
	if !(c.MaxConnRate >= 0) || math.IsInf(c.MaxConnRate, 0) {
		return c, fmt.Errorf("%w: MaxConnRate %v must be a finite number, 0 or above", ErrConfig, c.MaxConnRate)
	}
	return c, nil
}

// Server is one proxy. mu guards conns, lns and done; each connection
// guards its own state; the counters are atomic, and connRate has its own
// lock.
type Server struct {
	cfg      Config
	inv      Invoker
	log      *slog.Logger
	prefix   string // connection id prefix, random per process
	seq      atomic.Uint64
	started  time.Time
	metrics  *Metrics     // cfg.Metrics, nil for none
	connRate *connLimiter // nil without MaxConnRate
	stats    stats

	mu    sync.RWMutex
	conns map[string]*conn
	lns   []net.Listener // those Serve accepts on
	done  bool
	// pending counts the connections in conns whose CONNECT has not been
	// accepted (conn.pending); users counts the connections of each
	// username (conn.user), for MaxUserConnections.
	pending int
	users   map[string]int
	// clients counts the connections whose CONNECT was accepted
	// (conn.isClient), maxClients the most at once: $SYS's clients.
	clients, maxClients int
	wg                  sync.WaitGroup // one per connection

	// sendBytes is the bytes waiting to be written over all connections,
	// batches being written included (each conn's queued + inWrite), for
	// MaxSendBytesTotal.
	sendBytes atomic.Int64
	// pacer runs the timed work of delivery v2 windows (window.go).
	pacer pacer
	// settleInBulk is set once the proxy settles the sessions of the
	// connections it closes in bulk (CloseAll): their readers send no
	// lost event.
	settleInBulk atomic.Bool
	// acceptLog rate-limits the log lines of accept errors (admit.go).
	acceptLog acceptLog
	// refusalLog rate-limits the log lines of refusals (refusals.go).
	refusalLog *ratelog.Limiter

	// Dropped counts QoS 0 frames dropped on full send queues, or past
	// MaxSendBytesTotal (mqttless_dropped_messages_total counts them too).
	Dropped atomic.Uint64
	// OrderGaps counts the times a connection wrote frames that had waited
	// orderWait for a predecessor that did not come (order.go).
	OrderGaps atomic.Uint64
	// HandlerErrors counts calls to the handlers that failed: each failed
	// call for a connection closed it; a failed $SYS call is only logged
	// (mqttless_handler_errors_total counts them too).
	HandlerErrors atomic.Uint64
}

// New returns a proxy that hands packets to inv. It fails with an error
// wrapping ErrConfig that names a bad setting.
func New(cfg Config, inv Invoker, log *slog.Logger) (*Server, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, inv: inv, log: log, prefix: randomHex(6), conns: map[string]*conn{},
		users: map[string]int{}, started: time.Now(), metrics: cfg.Metrics, refusalLog: newRefusalLog()}
	s.pacer.srv = s
	if cfg.MaxConnRate > 0 {
		s.connRate = newConnLimiter(cfg.MaxConnRate, maxRateSources)
	}
	return s, nil
}

// ID returns the proxy's id.
func (s *Server) ID() string { return s.cfg.ID }

// Serve accepts connections on ln until ln is closed or Drain (or
// Shutdown) is called. It returns nil after Drain. Running out of file descriptors,
// and other temporary accept errors, make it back off and retry, not
// return (admit.go). ln may be a TLS listener
// (tls.NewListener, or ServeTLS): its connections complete the handshake
// within ConnectTimeout, and never park.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.done {
		s.mu.Unlock()
		return nil
	}
	s.lns = append(s.lns, ln)
	s.mu.Unlock()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.shuttingDown() {
				return nil
			}
			if !temporaryAccept(err) {
				return fmt.Errorf("proxy: accept: %w", err)
			}
			backoff = s.acceptFailed(err, backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if !s.allowConn(nc.RemoteAddr()) {
			nc.Close()
			continue
		}
		c, refused := s.newConn(nc)
		if c == nil {
			s.refuse(refused)
			nc.Close()
			continue
		}
		go c.serve()
	}
}

// newConn registers a new connection. It returns nil and the reason (a
// Refused* value) when the proxy shuts down, or the connection would pass
// MaxConnections or MaxPendingConnects.
func (s *Server) newConn(nc net.Conn) (*conn, string) {
	id := s.prefix + "-" + fmt.Sprintf("%x", s.seq.Add(1))
	c := &conn{srv: s, nc: nc, id: id, pending: true}
	c.rd.src = nc
	if s.cfg.MaxPublishRate > 0 {
		c.pubRate = newPublishLimiter(s.cfg.MaxPublishRate)
		c.stop = make(chan struct{})
	}
	s.mu.Lock()
	if refused := s.admitLocked(); refused != "" {
		s.mu.Unlock()
		return nil, refused
	}
	s.conns[id] = c
	s.pending++
	s.wg.Add(1)
	s.mu.Unlock()
	s.stats.accepted.Add(1)
	if m := s.metrics; m != nil {
		m.connections.Inc()
		m.connectionsTotal.Inc()
	}
	return c, ""
}

// remove forgets a connection that ended. The reader calls it, last.
func (s *Server) remove(c *conn) {
	s.mu.Lock()
	delete(s.conns, c.id)
	s.releaseLocked(c)
	s.mu.Unlock()
	if m := s.metrics; m != nil {
		m.connections.Dec()
	}
	s.wg.Done()
}

// shuttingDown reports whether Shutdown was called.
func (s *Server) shuttingDown() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.done
}

// Connections returns how many connections are open.
func (s *Server) Connections() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.conns)
}

// Deliver writes deliveries to the connections this proxy holds and
// returns the ids of those it no longer holds. Deliveries for other
// proxies are not this proxy's to make (delivery.Relay posts them); they
// are logged and dropped.
func (s *Server) Deliver(ctx context.Context, ds []session.Delivery) (gone []string) {
	for _, d := range ds {
		if d.Proxy != s.cfg.ID {
			s.log.Warn("delivery for another proxy dropped", "proxy", d.Proxy, "conn", d.Conn)
			continue
		}
		s.mu.RLock()
		c := s.conns[d.Conn]
		s.mu.RUnlock()
		if c == nil || !c.pushOrdered(d.Packets, d.Order, d.Close) {
			gone = append(gone, d.Conn)
			continue
		}
		if len(d.Streams) > 0 {
			c.pushStreams(d.Streams) // window.go; a closed one reads its streams at its next connection
		}
	}
	return gone
}

// Drain stops accepting (closing the listeners Serve accepts on, and
// refusing WebSocket upgrades with 503), closes every connection as
// closing.go says (DISCONNECT 0x8B Server shutting down at 5.0, a close
// at 3.1.1), and waits until each has ended: the handlers were sent its
// lost event, which settles its session (will published or scheduled,
// session offline, expiry counting from then), unless the proxy settles
// them in bulk (CloseAll), and its socket is closed.
// It returns an error wrapping ctx's when ctx ends first; the connections
// left go on closing. It is what a proxy does on SIGTERM, and when it may
// no longer hold its connections (a lost lease). The proxy accepts no
// connection afterwards.
func (s *Server) Drain(ctx context.Context) error {
	s.CloseAll(false)
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("proxy: drain: %d connections left: %w", s.Connections(), ctx.Err())
	}
}

// CloseAll is the first half of Drain, which calls it: it stops accepting
// and starts closing every connection, without waiting. Once it returns,
// no frame a client sends is handed to the handlers any more, though a
// call under way (a CONNECT, say) may still complete.
//
// With inBulk, the connections' readers send no lost event from then on,
// not even those already closing: the proxy settles their sessions in
// bulk (session.KindDrain) once Drain returned (each connection saves its
// window's positions as it ends, which an ended session would refuse),
// and the per-connection
// events, redundant, would only slow that down (thousands of them, each
// costing the handlers more than the bulk work does for its session). A
// session a call under way puts online after the last drain event is
// ended by the sweep once the proxy released its lease.
func (s *Server) CloseAll(inBulk bool) {
	if inBulk {
		s.settleInBulk.Store(true)
	}
	s.mu.Lock()
	s.done = true
	for _, ln := range s.lns {
		ln.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.shutdown()
	}
}

// Shutdown is Drain.
func (s *Server) Shutdown(ctx context.Context) error { return s.Drain(ctx) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
