package session

import (
	"context"
	"fmt"
)

// Drain ends, in one pass (pass.go), the sessions that proxy still owns
// as it drains (KindDrain): it closed their connections, and rather than
// waiting on one lost event for each (thousands on a busy proxy, more
// than its drain timeout lets the handlers take), it asks for them in
// bulk. Each session ends as one of a proxy whose lease lapsed does
// (lapse): its will is scheduled, due now without a delay, and published
// by the Tick that follows in the same pass [MQTT-3.1.2-8]; the session
// goes offline, its expiry counting from now, and a session with expiry
// 0 is removed by that Tick (section 3.1.2.11.2).
//
// What one pass does at most: tickBatch sessions of proxy, then, in the
// time left, tickBatch due sessions (Tick), passParallel at a time, all
// started within drainPassMax (5 s) or before the context's deadline
// (pass.go): the proxy's drain timeout (10 s by default) sees several
// passes, whatever the function's own timeout. Ending the sessions comes
// first: a session offline with its will due is settled, and the fleet's
// sweep publishes the will if the drain does not. Reply.More is set when
// the pass stopped before proxy owned none, or handled a full page of due
// sessions: the proxy then sends another KindDrain, which resumes from
// what the store holds. It returns how many sessions of proxy it ended.
//
// A lost event of one of the connections that races it is harmless:
// each session goes offline by one write fenced on its connection, and
// only the call whose write succeeded schedules or publishes its will
// (goOffline writes before it publishes). Drain leaves the proxy's lease
// alone: the proxy releases it once drained (infra/allinone/lease.go),
// and a session that a CONNECT still in flight left online is then the
// sweep's.
func (h *Handler) Drain(ctx context.Context, proxy string) (*Reply, int, error) {
	if proxy == "" {
		return &Reply{}, 0, fmt.Errorf("session: drain of no proxy")
	}
	p := newPass(ctx, drainPassMax)
	n, drained, err := h.endOwned(ctx, p, proxy, tickBatch, nil)
	if err != nil {
		return &Reply{More: true}, n, err
	}
	reply, due, err := h.tick(ctx, p, tickBatch)
	reply.More = !drained || due >= tickBatch
	if n > 0 {
		h.log.Info("ended the sessions of a draining proxy", "proxy", proxy, "sessions", n, "more", reply.More)
	}
	return reply, n, err
}
