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
// sheddable event whose deadline leaves less than the group's recent
// invocations took, with invocation.ErrShed and no invocation, and the
// queue drains at the rate the function really answers.

// tookWeight is the weight of the newest invocation in pool.took, an
// exponentially weighted mean of the group's invocation durations.
const tookWeight = 0.25

// observeLocked adds one invocation's duration d to p.took. p.mu must be held.
func (p *pool) observeLocked(d time.Duration) {
	if p.took == 0 {
		p.took = d
		return
	}
	p.took = time.Duration((1-tookWeight)*float64(p.took) + tookWeight*float64(d))
}

// shedLocked reports whether req is to be refused rather than invoked at
// now: it is sheddable and its deadline leaves less time than p's recent
// invocations took. Until an invocation of p has ended, nothing is shed.
// p.mu must be held.
func (p *pool) shedLocked(req *request, now time.Time) bool {
	if p.took == 0 || !invocation.IsSheddable(req.ctx) {
		return false
	}
	d, ok := req.ctx.Deadline()
	return ok && d.Sub(now) < p.took
}
