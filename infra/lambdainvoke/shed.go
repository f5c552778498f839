package lambdainvoke

import (
	"time"

	"github.com/mqttless/mqttless/infra/invocation"
)

// Shedding (invocation.Sheddable): in a storm, events wait in pending
// longer than the function takes to answer them; one invoked with less of
// its caller's deadline left than an invocation takes is work done for
// nothing (a CONNECT whose connection the proxy closed at its deadline:
// the session taken over, the client gone to retry). So next refuses a
// sheddable event whose deadline leaves less than shedMargin times what
// the group's recent invocations took, with invocation.ErrShed and no
// invocation, and the queue drains at the rate the function really
// answers.

// tookWeight is the weight of the newest invocation in pool.took, an
// exponentially weighted mean of the group's invocation durations.
const tookWeight = 0.25

// shedMargin is how many recent mean invocations an event's deadline must
// leave for it to be invoked. Invocations vary around their mean: in the
// 2,000-client storm of make bench-connect-storm the connect batches took
// 5 to 19 s around a mean of 8 s, and with the mean alone as the bound,
// the events invoked at the front of a long queue, just above it, failed
// about half the time: 3,170 CONNECTs done for 1,650 clients that got a
// CONNACK. An event shed instead is retried by its client, at no cost to
// the function.
const shedMargin = 2

// observeLocked adds one invocation's duration d to p.took. p.mu must be held.
func (p *pool) observeLocked(d time.Duration) {
	if p.took == 0 {
		p.took = d
		return
	}
	p.took = time.Duration((1-tookWeight)*float64(p.took) + tookWeight*float64(d))
}

// shedLocked reports whether req is to be refused rather than invoked at
// now: it is sheddable and its deadline leaves less than shedMargin times
// what p's recent invocations took. Until an invocation of p has ended, nothing is shed.
// p.mu must be held.
func (p *pool) shedLocked(req *request, now time.Time) bool {
	if p.took == 0 || !invocation.IsSheddable(req.ctx) {
		return false
	}
	d, ok := req.ctx.Deadline()
	return ok && d.Sub(now) < shedMargin*p.took
}
