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
}

// Sweep does the time-driven work of the whole fleet, once: it ends the
// sessions of every proxy whose lease lapsed (endLapsed), then publishes
// due wills and removes expired sessions (Tick), up to limit sessions for
// each. Run it every second or so (KindTick, KindSweep). It is safe to run
// on several machines at once: every session is taken offline by a write
// fenced on its connection, so only one sweep ends it, and a will is
// published only by the call that clears it (Store.ClearWill).
func (h *Handler) Sweep(ctx context.Context, limit int) (*Reply, SweepStats, error) {
	var st SweepStats
	reply := &Reply{}
	leases, err := h.store.Leases(ctx)
	if err != nil {
		return reply, st, fmt.Errorf("session: sweep: %w", err)
	}
	now := h.now().UnixMilli()
	for _, l := range leases {
		if l.Live(now) || l.Ended {
			continue
		}
		n, done, err := h.endLapsed(ctx, l, limit-st.Ended)
		st.Ended += n
		if err != nil {
			return reply, st, err
		}
		if done {
			st.Lapsed++
		}
		if st.Ended >= limit {
			break
		}
	}
	r, due, err := h.Tick(ctx, limit)
	st.Due = due
	reply.Deliveries = append(reply.Deliveries, r.Deliveries...)
	return reply, st, err
}

// endLapsed ends up to limit sessions that proxy l.Proxy owned when its
// lease l lapsed, each as a lost connection [MQTT-3.1.2-8]: its will is
// scheduled (due now when it has no delay, so that the Tick that follows
// publishes it: only the call that clears a will publishes it), the session
// goes offline, and its expiry counts from now (an expiry of 0 ends it now).
// Once the proxy owns no more sessions the lease is marked ended. It
// reports how many sessions it ended and whether the lease was ended.
// Owned may read an index that lags (DynamoDB's): a session it returns
// again after it was taken offline counts as none, so that a stale read
// cannot hold the sweep.
//
// A proxy restarted under the same id renews its lease before it accepts a
// connection: each batch of sessions is read before the lease is read
// again, so a batch read while the lease still lapsed holds only sessions
// of the dead run, and a renewed lease stops the work (the restarted
// proxy's own recovery ends what is left).
func (h *Handler) endLapsed(ctx context.Context, l Lease, limit int) (int, bool, error) {
	n := 0
	seen := map[string]bool{} // client id and connection of each session ended
	for n < limit {
		owned, err := h.store.Owned(ctx, l.Proxy, min(limit-n, tickBatch))
		if err != nil {
			return n, false, fmt.Errorf("session: sweep the sessions of %q: %w", l.Proxy, err)
		}
		if still, err := h.stillLapsed(ctx, l); err != nil || !still {
			return n, false, err
		}
		owned = slices.DeleteFunc(owned, func(s *Session) bool { return seen[s.ClientID+"\x00"+s.Conn] })
		if len(owned) == 0 {
			err := h.store.EndLease(ctx, l.Proxy, l.Until)
			if errors.Is(err, ErrNotFound) {
				return n, false, nil // renewed, or ended by another sweep
			}
			if err != nil {
				return n, false, fmt.Errorf("session: end the lease of %q: %w", l.Proxy, err)
			}
			h.log.Info("ended the sessions of a proxy whose lease lapsed", "proxy", l.Proxy)
			return n, true, nil
		}
		for _, s := range owned {
			seen[s.ClientID+"\x00"+s.Conn] = true
			if err := h.lapse(ctx, s); err != nil {
				return n, false, fmt.Errorf("session: end %q of lapsed %q: %w", s.ClientID, l.Proxy, err)
			}
			n++
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
// several sweeps may end the same session, and Store.ClearWill picks the
// one that publishes it.
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
