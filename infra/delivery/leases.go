package delivery

import (
	"context"
	"sync"
	"time"

	"github.com/mqttless/mqttless/core/session"
)

// LeaseReader reads the proxies' leases: the session.Store.
type LeaseReader interface {
	Leases(ctx context.Context) ([]session.Lease, error)
}

// leasesFresh is how long a Relay trusts the leases it read: a proxy
// whose lease lapsed gets deliveries (each bounded by the client's
// timeout) for at most this long after, and a busy function reads the
// leases at most once per this.
const leasesFresh = time.Second

// lapsedProxies remembers which proxies' leases lapsed, read at most once
// per leasesFresh. mu guards every field.
type lapsedProxies struct {
	src LeaseReader
	now func() time.Time

	mu     sync.Mutex
	at     time.Time       // when lapsed was read; zero: never
	lapsed map[string]bool // proxies whose lease lapsed or ended
}

// WithLeases makes r skip the deliveries to proxies whose lease (read from
// src) lapsed, treating their connections as gone at once instead of
// waiting on a proxy that may be dead. A proxy with no lease (one that
// holds none, such as an older version) gets its deliveries. It returns r.
func (r *Relay) WithLeases(src LeaseReader) *Relay {
	r.leases = &lapsedProxies{src: src, now: time.Now}
	return r
}

// split takes out of byProxy the deliveries to proxies whose lease
// lapsed and returns them. When the leases cannot be read, nothing is
// taken out.
func (l *lapsedProxies) split(ctx context.Context, byProxy map[string][]session.Delivery) []session.Delivery {
	if l == nil || len(byProxy) == 0 {
		return nil
	}
	lapsed := l.read(ctx)
	var out []session.Delivery
	for p, ds := range byProxy {
		if lapsed[p] {
			out = append(out, ds...)
			delete(byProxy, p)
		}
	}
	return out
}

// read returns the proxies whose lease lapsed, read anew when the last
// read is older than leasesFresh; a failed read keeps the last one.
func (l *lapsedProxies) read(ctx context.Context) map[string]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if !l.at.IsZero() && now.Sub(l.at) < leasesFresh {
		return l.lapsed
	}
	leases, err := l.src.Leases(ctx)
	if err != nil {
		return l.lapsed
	}
	l.at = now
	l.lapsed = map[string]bool{}
	for _, ls := range leases {
		if !ls.Live(now.UnixMilli()) {
			l.lapsed[ls.Proxy] = true
		}
	}
	return l.lapsed
}
