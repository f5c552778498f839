// Package lambdainvoke is the proxy's Lambda invoker: it hands each
// connection's events to the handler functions with the Lambda Invoke API
// (aws-sdk-go-v2), choosing the function by packet type
// (invocation.GroupOf), so that a PUBLISH never runs in the function that
// serves CONNECT.
package lambdainvoke

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/invocation"
)

// API is the part of the Lambda client the invoker uses.
type API interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, opts ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// MaxPayload bounds the frame bytes of one invocation's event. Frames grow
// by a third in base64, to 4.2 MB, which leaves the rest of MaxInvokeBytes
// for the connection state (whose topic aliases session.Config bounds).
const MaxPayload = 3 << 20

// MaxInvokeBytes is the most JSON one invocation carries: Lambda's limit on
// a synchronous request's payload, 6 MB. Events are measured as they are
// encoded; one that does not fit alone fails with ErrTooLarge without an
// invocation, which closes its connection only.
const MaxInvokeBytes = 6 << 20

// ErrTooLarge is an event whose JSON passes MaxInvokeBytes.
var ErrTooLarge = errors.New("lambdainvoke: event too large for one invocation")

// ErrFunction is an invocation that ran and failed: the function returned
// an error, or a reply that is not a session.Reply.
var ErrFunction = errors.New("lambdainvoke: handler function failed")

// target is one function with its client.
type target struct {
	invocation.Target
	api API
}

// pool is a group's targets. When any of them has an endpoint (an
// emulator, which serves one invocation at a time), each target serves one
// invocation at a time and a call takes whichever is free.
type pool struct {
	g       invocation.Group
	targets []*target
	free    chan *target // targets not serving a call; nil when unlimited

	// limit bounds the invocations of the group in flight; 0: no bound.
	// Events that come while limit invocations are in flight wait in
	// pending and go together in the next invocation (batch.go). mu
	// guards inflight and pending.
	limit    int
	mu       sync.Mutex
	inflight int
	pending  []*request
	// took is the mean duration of the group's recent invocations
	// (shed.go); mu guards it.
	took time.Duration
}

// Invoker implements the proxy's Invoker on Lambda. It is safe for
// concurrent use; the proxy calls it for one connection at a time, in
// order.
type Invoker struct {
	pools       map[invocation.Group]*pool
	log         *slog.Logger
	concurrency int
	timeout     time.Duration
}

// Option adjusts an Invoker.
type Option func(*Invoker)

// WithConcurrency bounds the invocations of each function in flight from
// this proxy at n; events of other connections that come meanwhile are
// batched into the next invocation. Without it calls are not bounded (nor
// batched across connections), except for targets with an endpoint.
func WithConcurrency(n int) Option { return func(inv *Invoker) { inv.concurrency = n } }

// WithBatchTimeout sets the deadline of an invocation that carries several
// connections' events [30s].
func WithBatchTimeout(d time.Duration) Option { return func(inv *Invoker) { inv.timeout = d } }

// New returns an Invoker over the functions fns (from
// invocation.ParseFunctions).
// Targets without an endpoint use api; those with one use newAPI(endpoint)
// and serve one invocation at a time.
func New(fns map[invocation.Group][]invocation.Target, api API, newAPI func(endpoint string) API, log *slog.Logger, opts ...Option) *Invoker {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	inv := &Invoker{pools: map[invocation.Group]*pool{}, log: log, timeout: 30 * time.Second}
	for _, o := range opts {
		o(inv)
	}
	clients := map[string]API{}
	for g, ts := range fns {
		p := &pool{g: g, limit: inv.concurrency}
		for _, t := range ts {
			tg := &target{Target: t, api: api}
			if t.Endpoint != "" {
				if clients[t.Endpoint] == nil {
					clients[t.Endpoint] = newAPI(t.Endpoint)
				}
				tg.api = clients[t.Endpoint]
				if p.free == nil {
					p.free = make(chan *target, len(ts))
				}
			}
			p.targets = append(p.targets, tg)
		}
		if p.free != nil {
			for _, t := range p.targets {
				p.free <- t
			}
			// Emulators serve one call each: more in flight would only wait.
			if p.limit == 0 || p.limit > len(p.targets) {
				p.limit = len(p.targets)
			}
		}
		inv.pools[g] = p
	}
	return inv
}

// Invoke hands ev to the functions. A packets event is split into runs of
// frames for the same function, each run (up to MaxPayload bytes of
// frames) one invocation, made in order, with the connection state each
// returns passed to the next. The replies are merged; an error stops the
// runs and comes back with what was merged so far.
func (inv *Invoker) Invoke(ctx context.Context, ev *session.Event) (*session.Reply, error) {
	if p := inv.leasePool(ev); p != nil {
		return inv.renew(ctx, p, ev)
	}
	if ev.Kind != session.KindPackets {
		return inv.call(ctx, invocation.GroupOfKind(ev.Kind), ev)
	}
	merged := &session.Reply{}
	state := ev.State
	frames := ev.Packets
	for len(frames) > 0 {
		g := invocation.GroupOf(frames[0])
		n, size := 0, 0
		for n < len(frames) && invocation.GroupOf(frames[n]) == g && (n == 0 || size+len(frames[n]) <= MaxPayload) {
			size += len(frames[n])
			n++
		}
		run := *ev
		run.State, run.Packets = state, frames[:n]
		frames = frames[n:]
		r, err := inv.call(ctx, g, &run)
		if r != nil {
			merged.Packets = append(merged.Packets, r.Packets...)
			merged.Deliveries = append(merged.Deliveries, r.Deliveries...)
			merged.Refused = append(merged.Refused, r.Refused...)
			merged.Stream = merged.Stream.Then(r.Stream)
			if r.State != nil {
				state, merged.State = r.State, r.State
			}
			merged.Close = merged.Close || r.Close
		}
		if err != nil || merged.Close {
			return merged, err
		}
	}
	return merged, nil
}

// call hands ev to group g's function: in an invocation of its own, or,
// when the group has limit invocations in flight, in the next batch.
func (inv *Invoker) call(ctx context.Context, g invocation.Group, ev *session.Event) (*session.Reply, error) {
	p := inv.pools[g]
	if p == nil {
		return nil, fmt.Errorf("lambdainvoke: no function for group %s", g)
	}
	if p.limit == 0 {
		payload, err := encodeEvent(ev)
		if err != nil {
			return nil, err
		}
		return inv.invokeOne(ctx, p, payload)
	}
	return inv.submit(ctx, p, ev)
}

// take waits for a free target of p (when p has endpoints) and returns it
// with the function that gives it back.
func take(ctx context.Context, p *pool) (*target, func(), error) {
	if p.free == nil {
		return p.targets[0], func() {}, nil
	}
	select {
	case t := <-p.free:
		return t, func() { p.free <- t }, nil
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("lambdainvoke: waiting for a free %s function: %w", p.g, ctx.Err())
	}
}

// giveBack returns a target of p taken for a call whose context is ctx
// with release. An emulator's call that ran out of time (its function
// still runs: the emulator only ends it at its own timeout) is given
// back two invoker timeouts later, not at once: the emulator panics on a
// second invocation meanwhile, and local-stack.sh gives the functions
// twice the invoker's 30 s, so the emulator has ended the function 30 s
// before. (In a storm a sweep of a drained proxy's 1,742 sessions
// outlasted 30 s on moto, and both session emulators of the other proxy
// crashed on the next events; with one timeout, which ended as the
// emulator's own did, one of them still crashed.)
func (inv *Invoker) giveBack(ctx context.Context, p *pool, release func()) {
	if p.free != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		time.AfterFunc(2*inv.timeout, release)
		return
	}
	release()
}

// encodeEvent returns ev's JSON, as the functions decode it: without the
// HTML escaping of json.Marshal, which makes each '<', '>' and '&' six
// bytes. It fails with ErrTooLarge when the JSON passes MaxInvokeBytes.
func encodeEvent(ev *session.Event) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil {
		return nil, fmt.Errorf("lambdainvoke: encoding the event: %w", err)
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
	if len(b) > MaxInvokeBytes {
		return nil, fmt.Errorf("%w: %s event of connection %s is %d bytes of JSON, over %d", ErrTooLarge, ev.Kind, ev.Conn, len(b), MaxInvokeBytes)
	}
	return b, nil
}

// invokeOne makes one invocation of p's function for one event, payload
// (from encodeEvent).
func (inv *Invoker) invokeOne(ctx context.Context, p *pool, payload []byte) (*session.Reply, error) {
	var t *target
	t, release, err := take(ctx, p)
	if err != nil {
		return nil, err
	}
	if p.free != nil {
		// An emulator (a target with an endpoint) serves one invocation at
		// a time and crashes on a second: a call its caller gives up on
		// must still end before the target is free again, so it runs
		// within the invoker's timeout rather than the caller's deadline.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), inv.timeout)
		defer cancel()
	}
	defer func() { inv.giveBack(ctx, p, release) }()
	out, err := invoke(ctx, t, payload)
	if err != nil {
		return nil, err
	}
	var r session.Reply
	if err := json.Unmarshal(out.Payload, &r); err != nil {
		return nil, fmt.Errorf("%w: %s returned %q: %v", ErrFunction, t.Name, truncate(out.Payload, 128), err)
	}
	return &r, nil
}

// invoke makes one invocation and returns its payload; a function error is
// ErrFunction.
func invoke(ctx context.Context, t *target, payload []byte) (*lambda.InvokeOutput, error) {
	out, err := t.api.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(t.Name), Payload: payload})
	if err != nil {
		return nil, fmt.Errorf("lambdainvoke: invoke %s: %w", t.Name, err)
	}
	if out.FunctionError != nil {
		return nil, fmt.Errorf("%w: %s (%s): %s", ErrFunction, t.Name, aws.ToString(out.FunctionError), truncate(out.Payload, 512))
	}
	// The Runtime Interface Emulator answers a function's error with 200
	// and no X-Amz-Function-Error header: recognise the error body itself.
	var fe struct {
		Type    string `json:"errorType"`
		Message string `json:"errorMessage"`
	}
	if json.Unmarshal(out.Payload, &fe) == nil && fe.Type != "" {
		return nil, fmt.Errorf("%w: %s (%s): %s", ErrFunction, t.Name, fe.Type, fe.Message)
	}
	return out, nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
