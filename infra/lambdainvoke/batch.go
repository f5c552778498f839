package lambdainvoke

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/invocation"
)

// MaxBatch bounds the events of one batched invocation.
const MaxBatch = 64

// MaxConnectBatch bounds the events of one batched invocation of the
// connect function: each CONNECT with a password costs a bcrypt check
// (about 95 ms of a full core at cost 10, 1.3 s at 128 MB of Lambda), and
// one invocation handles at most 16 events at once (infra/lambdafn) and
// answers when all are done; 64 CONNECTs in one invocation would outlast
// the 30 s timeout at 128 MB, failing them all. So a reconnection storm
// is spread over more invocations, which Lambda runs on more instances
// (issue 15, item 4; "CONNECT storms" in README.md).
const MaxConnectBatch = 16

// An invocation.Batch's JSON is its events' JSON between these.
const (
	batchOpen  = `{"batch":[`
	batchClose = `]}`
)

// request is an event waiting for an invocation of its group.
type request struct {
	ctx     context.Context
	ev      *session.Event
	payload []byte      // ev's JSON (encodeEvent), what the batch carries
	done    chan result // buffered: the invoker never blocks on it
}

type result struct {
	r   *session.Reply
	err error
}

// submit invokes ev alone when p has fewer than limit invocations in
// flight; otherwise ev waits and goes with the other waiting events in the
// next invocation that ends frees a slot. A lease renewal, so that a busy
// proxy keeps its lease (infra/allinone/lease.go), does not wait for a
// slot on Lambda (one invocation more every third of a lease period), and
// on emulators, which serve one invocation each, waits ahead of the
// others and goes alone; so does a draining proxy's KindDrain (lease.go).
// It returns when ctx ends, whether or not the invocation has.
func (inv *Invoker) submit(ctx context.Context, p *pool, ev *session.Event) (*session.Reply, error) {
	payload, err := encodeEvent(ev)
	if err != nil {
		return nil, err // too large alone: its connection fails, no batch does
	}
	if goesFirst(ev.Kind) && p.free == nil {
		return inv.invokeOne(ctx, p, payload)
	}
	req := &request{ctx: ctx, ev: ev, payload: payload, done: make(chan result, 1)}
	p.mu.Lock()
	if p.inflight < p.limit {
		p.inflight++
		p.mu.Unlock()
		if p.free != nil {
			// An emulator's invocation runs on after its caller gives up
			// (invokeOne): the caller does not wait for it, and the
			// target stays taken until the emulator has ended it. (A
			// drain waited a whole -invoke-timeout for a sweep under way.)
			go inv.run(p, []*request{req})
		} else {
			inv.run(p, []*request{req})
		}
	} else if goesFirst(ev.Kind) {
		p.pending = append([]*request{req}, p.pending...)
		p.mu.Unlock()
	} else {
		p.pending = append(p.pending, req)
		p.mu.Unlock()
	}
	select {
	case res := <-req.done:
		return res.r, res.err
	case <-ctx.Done():
		return nil, fmt.Errorf("lambdainvoke: waiting for a %s invocation: %w", p.g, ctx.Err())
	}
}

// run invokes batch, then keeps the slot busy with what waits: each
// following batch runs on a goroutine of its own so that the caller of the
// first gets its reply at once.
func (inv *Invoker) run(p *pool, batch []*request) {
	inv.runBatch(p, batch)
	if next := p.next(); next != nil {
		go func() {
			for b := next; b != nil; b = p.next() {
				inv.runBatch(p, b)
			}
		}()
	}
}

// next takes the waiting requests for the next invocation (up to MaxBatch
// events, MaxConnectBatch for the connect function, whose Batch is at
// most MaxInvokeBytes of JSON, dropping those whose callers gave up and
// refusing those it sheds), or frees the slot and returns nil when none
// wait. A lease renewal or drain event, which waits first, goes alone: a batch answers
// when its slowest event is done.
func (p *pool) next() []*request {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	for len(p.pending) > 0 && p.gone(p.pending[0], now) {
		p.pending = p.pending[1:]
	}
	if len(p.pending) > 0 && goesFirst(p.pending[0].ev.Kind) {
		req := p.pending[0]
		p.pending = p.pending[1:]
		return []*request{req}
	}
	var batch []*request
	limit := MaxBatch
	if p.g == invocation.GroupConnect {
		limit = MaxConnectBatch
	}
	size, i := len(batchOpen)+len(batchClose), 0
	for ; i < len(p.pending) && len(batch) < limit; i++ {
		req := p.pending[i]
		if p.gone(req, now) {
			continue
		}
		n := len(req.payload) + 1 // and a comma
		if len(batch) > 0 && size+n > MaxInvokeBytes {
			break
		}
		size += n
		batch = append(batch, req)
	}
	p.pending = p.pending[i:]
	if len(batch) == 0 {
		p.inflight--
		return nil
	}
	return batch
}

// gone reports whether req leaves the queue without an invocation: its
// caller gave up (an event of a closed connection), or it is shed
// (shed.go), in which case it is answered with invocation.ErrShed. p.mu
// must be held.
func (p *pool) gone(req *request, now time.Time) bool {
	if req.ctx.Err() != nil {
		return true
	}
	if p.shedLocked(req, now) {
		req.done <- result{nil, invocation.ErrShed}
		return true
	}
	return false
}

// runBatch makes the invocation for batch, answers each request and adds
// the invocation's duration to p.took.
func (inv *Invoker) runBatch(p *pool, batch []*request) {
	begin := time.Now()
	defer func() {
		p.mu.Lock()
		p.observeLocked(time.Since(begin))
		p.mu.Unlock()
	}()
	if len(batch) == 1 {
		r, err := inv.invokeOne(batch[0].ctx, p, batch[0].payload)
		batch[0].done <- result{r, err}
		return
	}
	// The invocation serves every request: it lasts until the latest
	// deadline among them, or the batch timeout.
	deadline := time.Now().Add(inv.timeout)
	for _, req := range batch {
		if d, ok := req.ctx.Deadline(); ok && d.After(deadline) {
			deadline = d
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	results, err := inv.invokeBatch(ctx, p, batch)
	for i, req := range batch {
		if err != nil {
			req.done <- result{nil, err}
			continue
		}
		res := results[i]
		var rerr error
		if res.Error != "" {
			rerr = fmt.Errorf("%w: %s", ErrFunction, res.Error)
		}
		req.done <- result{res.Reply, rerr}
	}
}

// errBatchReply is an invocation.BatchReply that does not answer its Batch.
var errBatchReply = errors.New("lambdainvoke: batch reply does not match the batch")

func (inv *Invoker) invokeBatch(ctx context.Context, p *pool, batch []*request) ([]invocation.Result, error) {
	t, release, err := take(ctx, p)
	if err != nil {
		return nil, err
	}
	defer func() { inv.giveBack(ctx, p, release) }()
	// The Batch's JSON, from its events' JSON as next measured it.
	payload := []byte(batchOpen)
	for i, req := range batch {
		if i > 0 {
			payload = append(payload, ',')
		}
		payload = append(payload, req.payload...)
	}
	payload = append(payload, batchClose...)
	out, err := invoke(ctx, t, payload)
	if err != nil {
		return nil, err
	}
	var br invocation.BatchReply
	if err := json.Unmarshal(out.Payload, &br); err != nil {
		return nil, fmt.Errorf("%w: %s returned %q: %v", ErrFunction, t.Name, truncate(out.Payload, 128), err)
	}
	if len(br.Replies) != len(batch) {
		return nil, fmt.Errorf("%w: %d replies for %d events", errBatchReply, len(br.Replies), len(batch))
	}
	return br.Replies, nil
}
