package session

import (
	"context"
	"sync"
	"time"
)

// A pass is one run of the time-driven work (Sweep, Tick, Drain). However
// large the backlog (a dead proxy's thousands of sessions, as many wills
// due at once), one pass ends within the invocation that runs it:
//
//   - it starts no session's work once its stop time has come: passMax
//     after it began (drainPassMax for Drain), or its context's deadline less a margin (a fifth of
//     the time left, at most passMargin), whichever comes first. Work
//     started by then completes (one or two store calls a session);
//   - it works on up to passParallel sessions at once, so that a pass ends
//     that many times more sessions than one after the other would;
//   - passMax is short because the wills a pass publishes are delivered
//     when it returns (its Reply): on the e2e stack on moto, passes that
//     could last 20 s held a dead proxy's wills back that long;
//   - what it leaves is in the store as it was: sessions still online on a
//     lapsed lease or a draining proxy (Owned returns them again), wills
//     due and sessions expired (Due returns them again). The next pass
//     resumes by reading them, with nothing carried between passes; the
//     fenced writes (SetOffline on the session's connection, ClearWill on
//     the will's time) make a session another pass ended, or is ending at
//     the same moment, a no-op.
const (
	passMax      = 10 * time.Second
	drainPassMax = 5 * time.Second
	passMargin   = 5 * time.Second
	passParallel = 16
)

// pass is the time bound of one pass.
type pass struct {
	stop time.Time
}

// newPass starts a pass under ctx, of at most most (see above).
func newPass(ctx context.Context, most time.Duration) pass {
	now := time.Now()
	stop := now.Add(most)
	if dl, ok := ctx.Deadline(); ok {
		margin := min(dl.Sub(now)/5, passMargin)
		if s := dl.Add(-margin); s.Before(stop) {
			stop = s
		}
	}
	return pass{stop: stop}
}

// half returns the pass that stops halfway through what is left of p.
func (p pass) half() pass {
	now := time.Now()
	return pass{stop: now.Add(p.stop.Sub(now) / 2)}
}

// over reports whether the pass may start no more work.
func (p pass) over() bool { return !time.Now().Before(p.stop) }

// each runs fn on the items, up to passParallel at once, in order of
// start. It starts none once the pass is over, ctx has ended or a call
// failed; those started complete. It returns how many calls succeeded,
// whether every item was started, and the first error.
func each[T any](ctx context.Context, p pass, items []T, fn func(T) error) (int, bool, error) {
	var (
		wg    sync.WaitGroup
		sem   = make(chan struct{}, passParallel)
		mu    sync.Mutex // guards ok and first
		ok    int
		first error
	)
	failed := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return first != nil
	}
	all := true
	for _, it := range items {
		sem <- struct{}{}
		if p.over() || ctx.Err() != nil || failed() {
			<-sem
			all = false
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			err := fn(it)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				ok++
			} else if first == nil {
				first = err
			}
		})
	}
	wg.Wait()
	if first != nil {
		all = false
	}
	return ok, all, first
}
