package lambdainvoke_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/invocation"
	"github.com/mqttless/mqttless/infra/lambdainvoke"
)

// leaseAPI answers at once and records the functions and the kinds of
// the events it was invoked with.
type leaseAPI struct {
	tt    *testing.T
	mu    sync.Mutex
	calls []string // function name and event kind
}

func (l *leaseAPI) Invoke(_ context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	var ev session.Event
	if err := json.Unmarshal(in.Payload, &ev); err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.calls = append(l.calls, aws.ToString(in.FunctionName)+" "+string(ev.Kind))
	l.mu.Unlock()
	return output(l.tt, &session.Reply{})
}

func (l *leaseAPI) seen() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.calls...)
}

// routedAPI sends the invocations of the function lease to lease, the
// others to held.
type routedAPI struct {
	lease string
	to    *leaseAPI
	held  *heldAPI
}

func (r *routedAPI) Invoke(ctx context.Context, in *lambda.InvokeInput, opts ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	if aws.ToString(in.FunctionName) == r.lease {
		return r.to.Invoke(ctx, in, opts...)
	}
	return r.held.Invoke(ctx, in, opts...)
}

// waitRenewal fails tt unless the renewal answers within 5 s, while the
// session function is still busy.
func waitRenewal(tt *testing.T, lease chan error) {
	tt.Helper()
	select {
	case err := <-lease:
		if err != nil {
			tt.Fatalf("lease renewal: %v", err)
		}
	case <-time.After(5 * time.Second):
		tt.Fatal("the lease renewal waited for the busy session function")
	}
}

// On Lambda, with a lease route, a renewal goes to the lease function
// (template.yaml's LeaseFunction, whose reserved concurrency the storm
// does not use), not to the busy session function.
func TestInvokeLeaseRoute(tt *testing.T) {
	fns, err := invocation.ParseFunctions(invocation.DefaultFunctions) // with lease=mqttless-lease
	if err != nil {
		tt.Fatal(err)
	}
	h := &heldAPI{tt: tt, release: make(chan struct{})}
	to := &leaseAPI{tt: tt}
	inv := lambdainvoke.New(fns, &routedAPI{lease: "mqttless-lease", to: to, held: h}, nil, nil, lambdainvoke.WithConcurrency(1))
	lease, wg := queueThenLease(tt, inv, h)
	waitRenewal(tt, lease)
	if got := to.seen(); len(got) != 1 || got[0] != "mqttless-lease lease" {
		tt.Errorf("lease function invoked with %q, want the renewal alone", got)
	}
	close(h.release)
	wg.Wait()
	for _, kinds := range h.calls {
		for _, k := range kinds {
			if k == session.KindLease {
				tt.Errorf("the session function got a lease event: %v", h.calls)
			}
		}
	}
}

// On the local stack, with a lease route to an emulator of its own, a
// renewal does not wait for the busy session emulator (each serves one
// invocation at a time), nor for what queues behind it.
func TestInvokeLeaseRouteOnEmulators(tt *testing.T) {
	fns, err := invocation.ParseFunctions("connect=c,publish=p,subscribe=s,session=function@http://127.0.0.1:9001,lease=function@http://127.0.0.1:9003")
	if err != nil {
		tt.Fatal(err)
	}
	h := &heldAPI{tt: tt, release: make(chan struct{})}
	to := &leaseAPI{tt: tt}
	inv := lambdainvoke.New(fns, h, func(ep string) lambdainvoke.API {
		if ep == "http://127.0.0.1:9003" {
			return to
		}
		return h
	}, nil)
	lease, wg := queueThenLease(tt, inv, h)
	waitRenewal(tt, lease)
	if n := h.count(); n != 1 {
		tt.Errorf("%d invocations of the session emulator while it was busy, want 1", n)
	}
	if got := to.seen(); len(got) != 1 || got[0] != "function lease" {
		tt.Errorf("lease emulator invoked with %q, want the renewal alone", got)
	}
	close(h.release)
	wg.Wait()
}

// A draining proxy's drain event takes the lease route too: it settles the
// proxy's sessions while the session function is busy with the lost events
// of its closed connections.
func TestInvokeDrainTakesLeaseRoute(tt *testing.T) {
	fns, err := invocation.ParseFunctions(invocation.DefaultFunctions)
	if err != nil {
		tt.Fatal(err)
	}
	h := &heldAPI{tt: tt, release: make(chan struct{})}
	to := &leaseAPI{tt: tt}
	inv := lambdainvoke.New(fns, &routedAPI{lease: "mqttless-lease", to: to, held: h}, nil, nil, lambdainvoke.WithConcurrency(1))
	_, err = inv.Invoke(tt.Context(), &session.Event{Kind: session.KindDrain, Proxy: "p"})
	if err != nil {
		tt.Fatal(err)
	}
	if got := to.seen(); len(got) != 1 || got[0] != "mqttless-lease drain" {
		tt.Errorf("lease function invoked with %q, want the drain event", got)
	}
	close(h.release)
}
