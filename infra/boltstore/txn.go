package boltstore

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// update runs fn in a read-write transaction. Calls that may be batched set
// batch; their fn must be safe to run more than once, resetting its results
// at its start.
// With WithGroupCommit, fn may set *early (early may be nil) as for write.
func (st *Store) update(ctx context.Context, batch bool, early *bool, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	switch {
	case batch && st.group != nil:
		return st.group.update(fn, nil, early)
	case batch && st.batch:
		return st.db.Batch(fn)
	}
	return st.db.Update(fn)
}

// write runs fn, which changes subscriptions or session records, in a
// read-write transaction and then, once it has committed, after, which
// applies the change to the subscription index and the session cache.
// subsMu is held across both, so that the index and the cache change in
// commit order. With WithGroupCommit the transaction is shared with
// concurrent writes (fn must then be safe to run more than once, resetting
// its results at its start).
//
// With WithGroupCommit, fn may set *early (early may be nil) to say that
// its change need not be durable when the call returns (see
// [group.commit]); fn must then reset it at its start too.
func (st *Store) write(ctx context.Context, early *bool, fn func(tx *bolt.Tx) error, after func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if st.group != nil {
		return st.group.update(fn, after, early)
	}
	st.subsMu.Lock()
	defer st.subsMu.Unlock()
	if err := st.db.Update(fn); err != nil {
		return err
	}
	after()
	return nil
}

// maxGroup bounds the calls of one group commit.
const maxGroup = 1000

// group runs concurrent read-write transaction functions in shared
// transactions (WithGroupCommit). At most one goroutine runs groups at a
// time; calls queue while it commits and make up its next group. It holds
// writeMu (the store's subsMu) across each commit and the after functions
// of its calls, which it runs in order once the commit is done.
type group struct {
	db      *bolt.DB
	writeMu *sync.Mutex
	mu      sync.Mutex
	queue   []groupCall
	running bool
	// broken is set, under writeMu, when a commit failed after calls of
	// its group had been told they succeeded; every later call fails with
	// it, since the caches may then show changes the file lacks.
	broken error
	// unsettled is set while calls answered early wait for their commit:
	// a channel closed once it is done. Read-only transactions wait for
	// it, so that a caller reads its own early writes (see view).
	unsettled atomic.Pointer[chan struct{}]
}

// settle waits until the changes of calls answered early are committed.
func (g *group) settle(ctx context.Context) error {
	ch := g.unsettled.Load()
	if ch == nil {
		return nil
	}
	select {
	case <-*ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type groupCall struct {
	fn    func(*bolt.Tx) error
	after func() // or nil
	early *bool  // set by fn when the call may return before the commit; or nil
	// shown runs once every function of the group has run, before the
	// commit (AppendBatchShown); or nil.
	shown func()
	err   chan error
}

// isEarly reports whether c may return before its group commits.
func (c *groupCall) isEarly() bool { return c.early != nil && *c.early }

// errSolo tells a caller to run its function in a transaction of its own.
var errSolo = errors.New("boltstore: run solo")

// update runs fn in a transaction shared with concurrent calls and
// returns once that transaction has committed (or fn failed).
func (g *group) update(fn func(*bolt.Tx) error, after func(), early *bool) error {
	return g.updateShown(fn, after, early, nil)
}

// updateShown is update, with shown run once fn's changes are final in
// the group's transaction, before its commit (see commit). A call that
// runs solo (errSolo) shows nothing.
func (g *group) updateShown(fn func(*bolt.Tx) error, after func(), early *bool, shown func()) error {
	c := groupCall{fn: fn, after: after, early: early, shown: shown, err: make(chan error, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, c)
	if !g.running {
		g.running = true
		go g.run()
	}
	g.mu.Unlock()
	err := <-c.err
	if errors.Is(err, errSolo) {
		g.writeMu.Lock()
		defer g.writeMu.Unlock()
		if g.broken != nil {
			return g.broken
		}
		if err = g.db.Update(fn); err == nil && after != nil {
			after()
		}
	}
	return err
}

// run commits groups until the queue is empty. Before it takes a group it
// yields the processor once, so that the writers that are ready to run
// (typically the callers the previous commit has just answered, each
// coming back with its next write) join the group first: without an
// fsync a commit is short and costs about as much CPU as its first call,
// and groups of one call each would make every call pay a whole commit.
// With the fsync the groups are large anyway and the yield costs nothing
// next to the flush.
func (g *group) run() {
	for {
		runtime.Gosched()
		g.mu.Lock()
		n := min(len(g.queue), maxGroup)
		if n == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		calls := slices.Clone(g.queue[:n])
		g.queue = slices.Delete(g.queue, 0, n)
		g.mu.Unlock()
		g.commit(calls)
	}
}

// commit runs calls in one transaction. A function that fails is taken out
// and told to run solo, so that its error is its own, and the rest run
// again, as bbolt's DB.Batch does.
//
// Calls whose function set early (the writes of sessions that end with
// their connection, see "Durability of ending sessions" in the package
// documentation) are told they succeeded once every function of the
// group has run, before the commit and its fsyncs: the after functions of
// the whole group then run at that point, in order, so that the caches and
// the index show the group's changes, and the other calls are answered
// after the commit as usual. The commit still makes the early calls'
// changes durable, in order with every other write; a crash before it
// loses them with the rest of the group. Calls with a shown function
// (AppendBatchShown) make the group such an early one too: shown runs at
// that point, while the call itself is answered after the commit. Either
// way, a commit that fails after the group's changes were shown breaks
// the group: every later write fails, so that nothing shown is ever
// contradicted (an offset shown given to another entry).
func (g *group) commit(calls []groupCall) {
	g.writeMu.Lock()
	defer g.writeMu.Unlock()
	if g.broken != nil {
		for _, c := range calls {
			c.err <- g.broken
		}
		return
	}
	for len(calls) > 0 {
		tx, err := g.db.Begin(true)
		if err != nil {
			for _, c := range calls {
				c.err <- err
			}
			return
		}
		failed := -1
		for i, c := range calls {
			if err := safeCall(c.fn, tx); err != nil {
				failed = i
				break
			}
		}
		if failed >= 0 {
			_ = tx.Rollback()
			calls[failed].err <- errSolo
			calls = slices.Delete(calls, failed, failed+1)
			continue
		}
		early := slices.ContainsFunc(calls, func(c groupCall) bool { return c.isEarly() || c.shown != nil })
		if early {
			done := make(chan struct{})
			g.unsettled.Store(&done)
			defer func() {
				g.unsettled.CompareAndSwap(&done, nil)
				close(done)
			}()
			for _, c := range calls {
				if c.after != nil {
					c.after()
				}
			}
			for _, c := range calls {
				if c.isEarly() {
					c.err <- nil
				}
			}
			for _, c := range calls {
				if c.shown != nil {
					c.shown()
				}
			}
		}
		err = tx.Commit()
		if err != nil && early {
			g.broken = fmt.Errorf("boltstore: a commit failed after its changes were shown: %w", err)
			err = g.broken
		}
		if err == nil && !early {
			for _, c := range calls {
				if c.after != nil {
					c.after()
				}
			}
		}
		for _, c := range calls {
			if !early || !c.isEarly() {
				c.err <- err
			}
		}
		return
	}
}

// safeCall runs fn, turning a panic into an error so that one call cannot
// take the group down.
func safeCall(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return fn(tx)
}

// view runs fn in a read-only transaction.
//
// A read-only transaction sees committed changes only: with
// WithGroupCommit it first waits for the commit of changes already shown
// to callers that were answered early, so that every caller reads its own
// writes.
func (st *Store) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if st.group != nil {
		if err := st.group.settle(ctx); err != nil {
			return err
		}
	}
	return st.db.View(fn)
}
