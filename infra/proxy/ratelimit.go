package proxy

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/mqttless/mqttless/core/packet"
)

// maxRateSources bounds the source addresses the connection rate limit
// remembers.
const maxRateSources = 100_000

// connSweepEvery is how often the connection rate limit forgets the
// addresses whose bucket has refilled.
const connSweepEvery = 10 * time.Second

// burstOf is the bucket size for a rate: max(1, rate), rounded down.
func burstOf(r float64) int {
	return max(1, int(min(r, 1<<30)))
}

// connLimiter limits new connections per second per source address with a
// token bucket per address. mu guards every field. The map holds at most
// limit addresses: those whose bucket is full again are swept away every
// connSweepEvery, or at once (at most once a second) when the map is full,
// since a full bucket is the same as a new one. An address that finds the
// map still full is let through unremembered, which is what a new bucket
// would do for its first connection.
type connLimiter struct {
	rate  rate.Limit
	burst int
	limit int

	mu        sync.Mutex
	sources   map[netip.Addr]*rate.Limiter
	lastSweep time.Time
}

func newConnLimiter(r float64, limit int) *connLimiter {
	return &connLimiter{rate: rate.Limit(r), burst: burstOf(r), limit: limit,
		sources: map[netip.Addr]*rate.Limiter{}, lastSweep: time.Now()}
}

// allow takes a token from addr's bucket and reports whether there was
// one.
func (l *connLimiter) allow(addr netip.Addr, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.sources[addr]
	if lim == nil {
		if len(l.sources) >= l.limit && now.Sub(l.lastSweep) >= time.Second ||
			now.Sub(l.lastSweep) >= connSweepEvery {
			l.sweepLocked(now)
		}
		if len(l.sources) >= l.limit {
			return true
		}
		lim = rate.NewLimiter(l.rate, l.burst)
		l.sources[addr] = lim
	}
	return lim.AllowN(now, 1)
}

// sweepLocked forgets the addresses whose bucket is full. mu must be held.
func (l *connLimiter) sweepLocked(now time.Time) {
	l.lastSweep = now
	for a, lim := range l.sources {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.sources, a)
		}
	}
}

// size returns how many addresses the limiter remembers.
func (l *connLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.sources)
}

// sourceIP returns the IP address of a remote address, IPv4 in IPv4 form.
func sourceIP(a net.Addr) (netip.Addr, bool) {
	switch a := a.(type) {
	case *net.TCPAddr:
		ip := a.AddrPort().Addr().Unmap()
		return ip, ip.IsValid()
	case nil:
		return netip.Addr{}, false
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

// allowConn applies MaxConnRate to a new connection from remote. A
// refused connection is counted and logged (refusals.go); the caller
// closes it.
func (s *Server) allowConn(remote net.Addr) bool {
	if s.connRate == nil {
		return true
	}
	ip, ok := sourceIP(remote)
	if !ok || s.connRate.allow(ip, time.Now()) {
		return true
	}
	s.refuse(RefusedRateLimit, "remote", remote.String())
	return false
}

// newPublishLimiter returns the token bucket of MaxPublishRate for one
// connection.
func newPublishLimiter(r float64) *rate.Limiter {
	return rate.NewLimiter(rate.Limit(r), burstOf(r))
}

// publishBudget returns how many more PUBLISH frames the batch being read
// may take: the connection's burst, so that a batch never needs more
// tokens than one reservation can give; -1 without a limit.
func (c *conn) publishBudget() int {
	if c.pubRate == nil {
		return -1
	}
	return c.pubRate.Burst()
}

// nextIsPublish reports whether the next buffered frame is a PUBLISH.
func (c *conn) nextIsPublish() bool {
	return c.rd.buffered() > 0 && packet.Type(c.rd.buf[c.rd.r]>>4) == packet.PUBLISH
}

// throttle waits until the connection's publish rate allows n more PUBLISH
// packets (n is at most the burst). It reports false when the connection
// was closed meanwhile. The reader calls it before handing the packets on,
// so while it waits nothing more is read and TCP backpressure slows the
// client.
func (c *conn) throttle(n int) bool {
	if c.pubRate == nil || n == 0 {
		return true
	}
	now := time.Now()
	r := c.pubRate.ReserveN(now, n)
	if !r.OK() {
		return true // cannot happen: n is at most the burst
	}
	d := r.DelayFrom(now)
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.stop:
		return false
	}
}
