package lambdafn

import (
	"context"
	"time"

	"github.com/mqttless/mqttless/core/session"
)

// sweepMargin is how long before the invocation's deadline the scheduled
// sweep stops starting passes. A pass bounds itself as well, however
// large the backlog (core/session/pass.go): it starts no work past the
// deadline less a fifth of the time left, so one started just before the
// margin ends about 2 s before the deadline, and the next invocation's
// passes resume what it left.
const sweepMargin = 10 * time.Second

// sweep serves a KindSweep event, the invocation the EventBridge schedule
// of template.yaml makes once a minute (a rate schedule's shortest
// period): it runs a sweep every tick (-tick) until sweepMargin before the
// invocation's deadline, so that with the template's timeout (70 s) the
// passes of one invocation cover the minute until the next one. Passes of
// two invocations that overlap are safe (session.Handler.Sweep). A failed
// pass is logged and the next one goes on; the relay makes each pass's
// deliveries. Without a deadline, or with tick 0, it runs one pass.
func (f *Function) sweep(ctx context.Context, ev *session.Event) (*session.Reply, error) {
	deadline, ok := ctx.Deadline()
	if !ok || f.tick <= 0 {
		return f.relay.Handle(ctx, ev)
	}
	passes, failed := 0, 0
	for {
		start := time.Now()
		if _, err := f.relay.Handle(ctx, ev); err != nil {
			failed++
			f.log.Error("sweep failed", "err", err)
		}
		passes++
		next := start.Add(f.tick)
		if next.After(deadline.Add(-sweepMargin)) {
			break
		}
		select {
		case <-ctx.Done():
			return &session.Reply{}, ctx.Err()
		case <-time.After(time.Until(next)):
		}
	}
	f.log.Debug("sweeps done", "passes", passes, "failed", failed)
	return &session.Reply{}, nil
}
