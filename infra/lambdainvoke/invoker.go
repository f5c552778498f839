package lambdainvoke

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/mqttless/mqttless/core/session"
)

// API is the part of the Lambda client the invoker uses.
type API interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, opts ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// MaxPayload bounds the frame bytes of one invocation. Lambda takes 6 MB
// of JSON per request and frames grow by a third in base64, so a batch is
// split before it passes this.
const MaxPayload = 4 << 20

// ErrFunction is an invocation that ran and failed: the function returned
// an error, or a reply that is not a session.Reply.
var ErrFunction = errors.New("lambdainvoke: handler function failed")

// target is one function with its client.
type target struct {
	Target
	api API
}

// pool is a group's targets. When any of them has an endpoint (an
// emulator, which serves one invocation at a time), each target serves one
// invocation at a time and a call takes whichever is free.
type pool struct {
	targets []*target
	free    chan *target // targets not serving a call; nil when unlimited
}

// Invoker implements the proxy's Invoker on Lambda. It is safe for
// concurrent use; the proxy calls it for one connection at a time, in
// order.
type Invoker struct {
	pools map[Group]*pool
	log   *slog.Logger
}

// New returns an Invoker over the functions fns (from ParseFunctions).
// Targets without an endpoint use api; those with one use newAPI(endpoint)
// and serve one invocation at a time.
func New(fns map[Group][]Target, api API, newAPI func(endpoint string) API, log *slog.Logger) *Invoker {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	inv := &Invoker{pools: map[Group]*pool{}, log: log}
	clients := map[string]API{}
	for g, ts := range fns {
		p := &pool{}
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
	if ev.Kind != session.KindPackets {
		return inv.call(ctx, GroupSession, ev)
	}
	merged := &session.Reply{}
	state := ev.State
	frames := ev.Packets
	for len(frames) > 0 {
		g := GroupOf(frames[0])
		n, size := 0, 0
		for n < len(frames) && GroupOf(frames[n]) == g && (n == 0 || size+len(frames[n]) <= MaxPayload) {
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

// call makes one invocation of group g's function.
func (inv *Invoker) call(ctx context.Context, g Group, ev *session.Event) (*session.Reply, error) {
	p := inv.pools[g]
	if p == nil {
		return nil, fmt.Errorf("lambdainvoke: no function for group %s", g)
	}
	var t *target
	if p.free != nil {
		select {
		case t = <-p.free:
			defer func() { p.free <- t }()
		case <-ctx.Done():
			return nil, fmt.Errorf("lambdainvoke: waiting for a free %s function: %w", g, ctx.Err())
		}
	} else {
		t = p.targets[0]
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("lambdainvoke: encoding the event: %w", err)
	}
	out, err := t.api.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(t.Name), Payload: payload})
	if err != nil {
		return nil, fmt.Errorf("lambdainvoke: invoke %s: %w", t.Name, err)
	}
	if out.FunctionError != nil {
		return nil, fmt.Errorf("%w: %s (%s): %s", ErrFunction, t.Name, aws.ToString(out.FunctionError), truncate(out.Payload, 512))
	}
	var r session.Reply
	if err := json.Unmarshal(out.Payload, &r); err != nil {
		return nil, fmt.Errorf("%w: %s returned %q: %v", ErrFunction, t.Name, truncate(out.Payload, 128), err)
	}
	return &r, nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
