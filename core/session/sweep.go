package session

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// SweepStats counts what one Sweep did.
type SweepStats struct {
	// Lapsed is how many proxies' lapsed leases it ended; Ended how many
	// of their sessions it ended as lost connections.
	Lapsed, Ended int
	// Due is how many offline sessions it handled whose will was due or
	// that had expired (Tick).
	Due int
	// Trimmed is how many stream entries past their retention it removed
	// (StreamTrimmer).
	Trimmed int
}

// Sweep does the time-driven work of the whole fleet in one pass (pass.go):
// it ends the sessions of every proxy whose lease lapsed (endLapsed), then
// publishes due wills and removes expired sessions (Tick), up to limit
// sessions for each. Run it every second or so (KindTick, KindSweep).
//
// What one pass does at most: limit sessions of lapsed leases, started
// within the first half of the pass (so that the wills they schedule due
// now are published by the same pass's Tick), and limit due sessions,
// started before the pass's stop time; passParallel sessions at a time.
// The next pass resumes where it stopped: the sessions it did not reach
// are still online on the lapsed lease (Owned returns them), the wills
// and expiries still due (Due returns them).
//
// It is safe to run on several machines at once: every session is taken
// offline by a write fenced on its connection, so only one sweep ends it,
// and a will is published only by the call that clears it
// (Store.ClearWill).
func (h *Handler) Sweep(ctx context.Context, limit int) (*Reply, SweepStats, error) {
	var st SweepStats
	reply := &Reply{}
	p := newPass(ctx, passMax)
	leases, err := h.store.Leases(ctx)
	if err != nil {
		return reply, st, fmt.Errorf("session: sweep: %w", err)
	}
	now := h.now().UnixMilli()
	lapses := p.half()
	for _, l := range leases {
		if l.Live(now) || l.Ended {
			continue
		}
		if lapses.over() || st.Ended >= limit {
			break
		}
		n, done, err := h.endLapsed(ctx, lapses, l, limit-st.Ended)
		st.Ended += n
		if err != nil {
			return reply, st, err
		}
		if done {
			st.Lapsed++
		}
	}
	r, due, err := h.tick(ctx, p, limit)
	st.Due = due
	reply.Deliveries = append(reply.Deliveries, r.Deliveries...)
	if err != nil {
		return reply, st, err
	}
	if t, ok := h.store.(StreamTrimmer); ok && !p.over() {
		if st.Trimmed, err = t.TrimStreams(ctx, h.now().UnixMilli(), limit); err != nil {
			return reply, st, fmt.Errorf("session: sweep: trim the streams: %w", err)
		}
	}
	return reply, st, nil
}

// endLapsed ends up to limit sessions that proxy l.Proxy owned when its
// lease l lapsed, within pass p (endOwned), and once the proxy owns no
// more sessions marks the lease ended. It reports how many sessions it
// ended and whether the lease was ended.
//
// A proxy restarted under the same id renews its lease before it accepts a
// connection: each batch of sessions is read before the lease is read
// again, so a batch read while the lease still lapsed holds only sessions
// of the dead run, and a renewed lease stops the work (the restarted
// proxy's own recovery ends what is left).
func (h *Handler) endLapsed(ctx context.Context, p pass, l Lease, limit int) (int, bool, error) {
	n, drained, err := h.endOwned(ctx, p, l.Proxy, limit, func() (bool, error) { return h.stillLapsed(ctx, l) })
	if err != nil || !drained {
		return n, false, err
	}
	err = h.store.EndLease(ctx, l.Proxy, l.Until)
	if errors.Is(err, ErrNotFound) {
		return n, false, nil // renewed, or ended by another sweep
	}
	if err != nil {
		return n, false, fmt.Errorf("session: end the lease of %q: %w", l.Proxy, err)
	}
	h.log.Info("ended the sessions of a proxy whose lease lapsed", "proxy", l.Proxy)
	return n, true, nil
}

// ownedPage is how many sessions endOwned reads at once: a few rounds of
// passParallel, so that a pass short of time (or a slow store: moto's
// index query of 1,000 sessions took seconds) still ends the sessions of
// the pages it read.
const ownedPage = 8 * passParallel

// endOwned ends up to limit sessions owned by proxy, each as a lost
// connection (lapse), passParallel at a time, a page of ownedPage after
// another, starting none once pass p is over. Before each page of sessions is ended, still (when not nil) is
// asked whether to go on. It reports how many sessions it ended, and
// whether it found proxy owning none (drained). Owned may read an index
// that lags (DynamoDB's): a session it returns again after this call took
// it offline counts as none, so that a stale read cannot hold the work.
func (h *Handler) endOwned(ctx context.Context, p pass, proxy string, limit int, still func() (bool, error)) (n int, drained bool, err error) {
	seen := map[string]bool{} // client id and connection of each session ended
	for n < limit && !p.over() {
		owned, err := h.store.Owned(ctx, proxy, min(limit-n, ownedPage))
		if err != nil {
			return n, false, fmt.Errorf("session: end the sessions of %q: %w", proxy, err)
		}
		if still != nil {
			if ok, err := still(); err != nil || !ok {
				return n, false, err
			}
		}
		owned = slices.DeleteFunc(owned, func(s *Session) bool { return seen[s.ClientID+"\x00"+s.Conn] })
		if len(owned) == 0 {
			return n, true, nil
		}
		ended, all, err := each(ctx, p, owned, func(s *Session) error {
			if err := h.lapse(ctx, s); err != nil {
				return fmt.Errorf("session: end %q of %q: %w", s.ClientID, proxy, err)
			}
			return nil
		})
		n += ended
		if err != nil || !all {
			return n, false, err
		}
		for _, s := range owned {
			seen[s.ClientID+"\x00"+s.Conn] = true
		}
	}
	return n, false, nil
}

// stillLapsed reports whether the lease of l.Proxy is still l.
func (h *Handler) stillLapsed(ctx context.Context, l Lease) (bool, error) {
	leases, err := h.store.Leases(ctx)
	if err != nil {
		return false, fmt.Errorf("session: sweep: %w", err)
	}
	for _, cur := range leases {
		if cur.Proxy == l.Proxy {
			return cur.Until == l.Until && !cur.Ended, nil
		}
	}
	return false, nil
}

// lapse takes s offline as its connection's loss does (goOffline), except
// that a will without delay is scheduled due now rather than published:
// several sweeps (and a drain) may end the same session, and
// Store.ClearWill picks the one that publishes it. Sweep and Drain run it
// on passParallel sessions at once.
func (h *Handler) lapse(ctx context.Context, s *Session) error {
	now := h.now().UnixMilli()
	expiry := s.ExpiryInterval
	o := Offline{ExpiryInterval: expiry}
	switch expiry {
	case NeverExpires:
	case 0:
		// The session ends with its connection (section 3.1.2.11.2): it
		// expires now, and the Tick that follows removes it after its will.
		o.ExpiresAt = now
	default:
		o.ExpiresAt = now + int64(expiry)*1000
	}
	if s.Will != nil {
		// The will goes when its delay has passed or the session ends,
		// whichever comes first (section 3.1.3.2.2).
		o.Will, o.WillAt = s.Will, now+int64(min(s.Will.Delay, expiry))*1000
	}
	err := h.store.SetOffline(ctx, s.ClientID, s.Conn, o)
	if errors.Is(err, ErrFenced) || errors.Is(err, ErrNotFound) {
		return nil // taken over, or ended by another sweep
	}
	return err
}
