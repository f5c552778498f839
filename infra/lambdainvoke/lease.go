package lambdainvoke

import (
	"context"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/invocation"
)

// Lease renewals (infra/allinone/lease.go) must not depend on how busy the
// handlers are: a proxy whose renewal waits past its lease stops serving,
// and in a CONNECT storm that is the proxy the storm came to. So when the
// function list names a lease route (lease=name[@endpoint],
// invocation.GroupLease), every KindLease event goes to it, one
// invocation each, in a pool of its own: on the local stack a session
// function emulator no other event uses (localstack/local-stack.sh), on
// Lambda a copy of the session function with a reserved concurrency of
// its own (template.yaml's LeaseFunction), which the storm's events,
// bounded by FunctionMaxConcurrency on the other functions, cannot
// throttle. A proxy has at most one renewal in flight (the lease holder
// waits for each), so such a pool is never busy with more.
//
// Without a lease route renewals go to the session group, ahead of its
// waiting events (submit), which still waits for a busy emulator or
// shares the session function's concurrency with the storm.
//
// A draining proxy's KindDrain events (session.Handler.Drain) take the
// same route, for the same reason: they settle the proxy's sessions in
// bulk while the lost events of its closed connections crowd the session
// function, and the drain timeout is short. The proxy sends them one at a
// time, after its last renewal, so the route is still never busy with
// more than one.

// leasePool returns the pool ev goes to when it is a lease or drain event
// and the function list has a lease route, else nil.
func (inv *Invoker) leasePool(ev *session.Event) *pool {
	if !goesFirst(ev.Kind) {
		return nil
	}
	return inv.pools[invocation.GroupLease]
}

// goesFirst reports whether events of kind k go alone, ahead of the
// events that wait for their group (submit): lease renewals, and a
// draining proxy's KindDrain.
func goesFirst(k session.Kind) bool { return k == session.KindLease || k == session.KindDrain }

// renew makes the invocation of one lease event ev on the lease route p.
func (inv *Invoker) renew(ctx context.Context, p *pool, ev *session.Event) (*session.Reply, error) {
	payload, err := encodeEvent(ev)
	if err != nil {
		return nil, err
	}
	return inv.invokeOne(ctx, p, payload)
}
