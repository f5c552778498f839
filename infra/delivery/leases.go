package delivery

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"time"

	"github.com/mqttless/mqttless/core/session"
)

// Leases reads the proxies' leases and marks those found unreachable: the
// session.Store.
type Leases interface {
	Leases(ctx context.Context) ([]session.Lease, error)
	MarkUnreachable(ctx context.Context, proxy string, until int64) error
}

// leasesFresh is how long a Relay trusts the leases it read: a busy
// function reads them at most once per this.
const leasesFresh = time.Second

// suspectFor bounds how long a proxy that could not be reached is skipped
// while its lease does not move (see lapsedProxies).
const suspectFor = 10 * time.Second

// lapsedProxies tells which proxies deliveries must not wait on: those
// whose lease is not session.Lease.Reachable, read at most once per
// leasesFresh, and those this Relay could not reach (a timeout, a refused
// connection) and whose lease has not been renewed since, for at most
// suspectFor. A Relay that cannot reach a proxy also marks its lease
// (Leases.MarkUnreachable), so that the other function instances stop
// waiting on it at their next read of the leases: a proxy that just died
// still holds its lease for up to a period, and without the mark every
// PUBLISH to its sessions would wait out the delivery timeout until then.
// A live proxy renews its lease every third of its period, which ends a
// suspicion, and clears a mark, that a passing failure raised. mu guards
// every field.
type lapsedProxies struct {
	src Leases
	now func() time.Time

	mu      sync.Mutex
	at      time.Time                // when leases was read; zero: never
	leases  map[string]session.Lease // by proxy
	suspect map[string]suspicion     // by proxy
}

// suspicion is a failure to reach a proxy: when, and the Until of its
// lease as this Relay knew it then (0: none known).
type suspicion struct {
	at    time.Time
	until int64
}

// WithLeases makes r skip the deliveries to proxies without a live lease
// (read from src), and to proxies it could not reach until their lease is
// renewed, treating their connections as gone at once instead of waiting
// on a proxy that may be dead. A proxy with no lease (one that holds none,
// such as an older version) gets its deliveries. It returns r.
func (r *Relay) WithLeases(src Leases) *Relay {
	r.leases = &lapsedProxies{src: src, now: time.Now, suspect: map[string]suspicion{}}
	return r
}

// split takes out of byProxy the deliveries to proxies deliveries must
// not wait on and returns them. When the leases cannot be read, the last
// ones read stand.
func (l *lapsedProxies) split(ctx context.Context, byProxy map[string][]session.Delivery) []session.Delivery {
	if l == nil || len(byProxy) == 0 {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.refresh(ctx)
	var out []session.Delivery
	for p, ds := range byProxy {
		if l.skip(p) {
			out = append(out, ds...)
			delete(byProxy, p)
		}
	}
	return out
}

// failed records that proxy could not be reached, here and, when its
// lease is known, in the store.
func (l *lapsedProxies) failed(ctx context.Context, proxy string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	until := l.leases[proxy].Until
	l.suspect[proxy] = suspicion{at: l.now(), until: until}
	l.mu.Unlock()
	if until != 0 {
		// ErrNotFound: renewed meanwhile, which the next read shows.
		_ = l.src.MarkUnreachable(ctx, proxy, until)
	}
}

// skip reports whether deliveries to p must not be made. l.mu is held.
func (l *lapsedProxies) skip(p string) bool {
	now := l.now()
	ls, ok := l.leases[p]
	if ok && !ls.Reachable(now.UnixMilli()) {
		return true
	}
	s, sus := l.suspect[p]
	if !sus {
		return false
	}
	if now.Sub(s.at) >= suspectFor || (ok && ls.Until > s.until) {
		delete(l.suspect, p)
		return false
	}
	return true
}

// refresh reads the leases anew when the last read is older than
// leasesFresh; a failed read keeps the last one. l.mu is held.
func (l *lapsedProxies) refresh(ctx context.Context) {
	now := l.now()
	if !l.at.IsZero() && now.Sub(l.at) < leasesFresh {
		return
	}
	leases, err := l.src.Leases(ctx)
	if err != nil {
		return
	}
	l.at = now
	l.leases = make(map[string]session.Lease, len(leases))
	for _, ls := range leases {
		l.leases[ls.Proxy] = ls
	}
}

// unreachable reports whether err, from Forwarder.Forward, means the
// proxy could not be reached or did not answer in time, rather than that
// it answered with an error.
func unreachable(err error) bool {
	var ue *url.Error
	return errors.As(err, &ue) || errors.Is(err, context.DeadlineExceeded)
}
