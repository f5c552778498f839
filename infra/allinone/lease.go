package allinone

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/config"
	"github.com/mqttless/mqttless/infra/proxy"
)

// A proxy of a fleet (-invoker lambda, or -store dynamo with a delivery
// endpoint) holds a lease in the store (session.Lease) while it serves.
// The lease lasts -lease-period from when the handlers renewed it, on
// their clock; the proxy renews it every third of the period. It counts
// on its own monotonic clock from when it asked for a renewal, which is
// before the handlers read theirs, and takes itself to hold the lease
// until safeShare of the period has passed since the last renewal it asked
// for and got: the rest (2 s at the default 10 s) covers the skew
// between the clocks of the handlers that renewed and swept and the time
// to stop. Past it the proxy may be partitioned from the handlers, and a
// sweep may end its sessions at any moment: it stops taking connections
// and closes those it holds (Broker.Run's shutdown).
//
// A proxy that drains (SIGTERM, or a lost lease) renews its lease no
// more, closes its connections without a lost event each and settles
// their sessions in bulk (settle), then releases the lease (release). A sweep that ends the same
// sessions meanwhile, once the lease lapsed, is harmless: each session
// goes offline by one write fenced on its connection, and its will goes
// once (session.Handler.Drain).

// safeShare is the share of the period a renewal is trusted for, as a
// fraction safeNum/safeDen.
const (
	safeNum = 4
	safeDen = 5
)

// leaseHolder renews the lease of one proxy through its invoker.
type leaseHolder struct {
	inv    proxy.Invoker
	id     string
	period time.Duration
	log    *slog.Logger
}

// needsLease reports whether the broker of cfg is a proxy of a fleet,
// whose sessions other machines must be able to take over when it dies.
func needsLease(cfg config.Config) bool {
	return cfg.Lambda.Invoker == "lambda" || (cfg.Store.Kind == "dynamo" && cfg.Delivery.Addr != "")
}

// renew asks the handlers for the lease once and returns when it asked.
func (l *leaseHolder) renew(ctx context.Context) (time.Time, error) {
	asked := time.Now()
	_, err := l.inv.Invoke(ctx, &session.Event{Kind: session.KindLease, Proxy: l.id, LeaseMs: l.period.Milliseconds()})
	if err != nil {
		return asked, fmt.Errorf("renew the lease of proxy %s: %w", l.id, err)
	}
	return asked, nil
}

// release ends the lease at once, as a proxy that stops does once its
// connections are closed: deliveries stop waiting on it, and a sweep ends
// the sessions whose end it could not hand to the handlers. It has a third
// of the period of its own, even when the drain used up ctx (a storm's
// drain often does: the release then failed at once, and the sessions
// waited for the lease to lapse). A failure is logged: the lease then
// lapses at the end of its period.
func (l *leaseHolder) release(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.period/3)
	defer cancel()
	_, err := l.inv.Invoke(ctx, &session.Event{Kind: session.KindLease, Proxy: l.id, LeaseMs: 1})
	if err != nil {
		l.log.Warn("releasing the lease failed; it lapses at the end of its period", "proxy", l.id, "err", err)
	}
}

// trusted is how long a renewal is trusted for.
func (l *leaseHolder) trusted() time.Duration { return l.period * safeNum / safeDen }

// safeUntil is until when a renewal asked for at asked is trusted.
func (l *leaseHolder) safeUntil(asked time.Time) time.Time { return asked.Add(l.trusted()) }

// hold renews the lease every third of the period, from the renewal asked
// for at held, until ctx ends (it then returns nil). It returns an error
// once no renewal succeeded for the trusted share of the period: the
// proxy must stop serving. Each attempt is given a third of the period at
// most, so that one slow invocation leaves time for others, and a failed
// renewal is retried every tenth of the period meanwhile.
func (l *leaseHolder) hold(ctx context.Context, held time.Time) error {
	safe := l.safeUntil(held)
	next := held.Add(l.period / 3)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Until(next)):
		}
		attempt := time.Now().Add(l.period / 3)
		if attempt.After(safe) {
			attempt = safe
		}
		rctx, cancel := context.WithDeadline(ctx, attempt)
		asked, err := l.renew(rctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			safe, next = l.safeUntil(asked), asked.Add(l.period/3)
			continue
		}
		if !time.Now().Before(safe) {
			return fmt.Errorf("no lease renewal for %v (-lease-period %v): the proxy may be cut off from the handlers, whose sweep ends its sessions once the lease lapses: %w",
				time.Since(safe.Add(-l.trusted())).Round(time.Millisecond), l.period, err)
		}
		l.log.Warn("lease renewal failed; retrying", "proxy", l.id, "err", err, "trusted for", time.Until(safe).Round(time.Millisecond))
		next = time.Now().Add(l.period / 10)
	}
}

// settleRetry is the pause before a failed drain event is sent again.
const settleRetry = 200 * time.Millisecond

// settle ends the sessions the proxy still owns once its connections
// drained, in bulk: it sends KindDrain events (session.Handler.Drain), one
// at a time, each one bounded pass of the handlers, until a reply asks for
// no more, or ctx ends; a failed one is sent again. The connections sent
// no lost event (proxy.Server.CloseAll). It runs after them, not beside
// them: each saved its delivery window's positions as it ended, which a
// session already ended would refuse (broker.go). What it leaves the
// sweep ends once the lease is released. It returns how many events it
// sent and whether the proxy was left owning no session.
func (l *leaseHolder) settle(ctx context.Context) (int, bool) {
	for n := 1; ; n++ {
		r, err := l.inv.Invoke(ctx, &session.Event{Kind: session.KindDrain, Proxy: l.id})
		if err == nil && !r.More {
			return n, true
		}
		if err != nil {
			if ctx.Err() != nil {
				return n, false
			}
			l.log.Warn("settling the sessions of the drained connections failed; retrying", "proxy", l.id, "err", err)
		}
		select {
		case <-ctx.Done():
			return n, false
		case <-time.After(settleRetryAfter(err)):
		}
	}
}

// settleRetryAfter is the pause before the next drain event: none after
// one that asked for more, settleRetry after a failure.
func settleRetryAfter(err error) time.Duration {
	if err != nil {
		return settleRetry
	}
	return 0
}
