package session

import (
	"context"
	"fmt"
	"time"
)

// Lease is a proxy's claim to be alive. A proxy renews its lease every
// third of its period (KindLease); while the lease holds, the sessions the
// proxy owns are its connections. Once Until has passed, the sweep
// (Handler.Sweep) ends those sessions as lost connections, and deliveries
// stop waiting on the proxy.
//
// Times are the handlers' clocks (Unix ms), never the proxy's: the proxy
// counts only durations from when it asked for the renewal, so it stops
// serving (infra/allinone/lease.go) before the handlers can see its lease
// lapse, whatever its own clock says.
type Lease struct {
	Proxy string `json:"proxy"`
	// Until is when the lease lapses, Unix ms.
	Until int64 `json:"until"`
	// Ended is set once a sweep ended the sessions of the lapsed lease
	// (Store.EndLease). An ended lease stays lapsed until its proxy renews
	// it (a restart under the same id).
	Ended bool `json:"ended,omitempty"`
	// Unreachable is set when a delivery to the proxy could not reach it
	// since its last renewal (Store.MarkUnreachable); the next renewal
	// clears it.
	Unreachable bool `json:"unreachable,omitempty"`
}

// Live reports whether the lease holds at now (Unix ms).
func (l Lease) Live(now int64) bool { return !l.Ended && l.Until > now }

// Reachable reports whether deliveries to the proxy may wait on it at now
// (Unix ms): its lease holds, and no delivery failed to reach it since it
// was last renewed. A proxy that just died still holds its lease for up
// to a period; the first delivery that times out on it marks it, and the
// others stop waiting on it at once rather than when the lease lapses. A
// live proxy that was marked by a passing failure is reachable again at
// its next renewal, a third of a period later at most.
func (l Lease) Reachable(now int64) bool { return l.Live(now) && !l.Unreachable }

// MaxLeasePeriod bounds the period a KindLease event may ask for: a proxy
// that dies holding a longer lease would keep its sessions online as long.
const MaxLeasePeriod = 10 * time.Minute

// RenewLease renews (or takes) the lease of proxy for period from now, on
// the handlers' clock (see Lease). It is the KindLease event.
func (h *Handler) RenewLease(ctx context.Context, proxy string, period time.Duration) error {
	if proxy == "" {
		return fmt.Errorf("session: lease of no proxy")
	}
	if period <= 0 || period > MaxLeasePeriod {
		return fmt.Errorf("session: lease period %v of %q: want more than 0 and at most %v", period, proxy, MaxLeasePeriod)
	}
	if err := h.store.RenewLease(ctx, proxy, h.now().Add(period).UnixMilli()); err != nil {
		return fmt.Errorf("session: renew the lease of %q: %w", proxy, err)
	}
	return nil
}
