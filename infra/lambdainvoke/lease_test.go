package lambdainvoke_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/invocation"
	"github.com/mqttless/mqttless/infra/lambdainvoke"
)

// heldAPI holds the first invocation until release is closed and
// records the kinds of the events of each invocation, in order.
type heldAPI struct {
	tt      *testing.T
	release chan struct{}
	mu      sync.Mutex
	calls   [][]session.Kind
}

func (h *heldAPI) Invoke(_ context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	var b invocation.Batch
	if err := json.Unmarshal(in.Payload, &b); err != nil {
		return nil, err
	}
	var kinds []session.Kind
	if b.Events == nil {
		var ev session.Event
		_ = json.Unmarshal(in.Payload, &ev)
		kinds = []session.Kind{ev.Kind}
	}
	for _, ev := range b.Events {
		kinds = append(kinds, ev.Kind)
	}
	h.mu.Lock()
	h.calls = append(h.calls, kinds)
	first := len(h.calls) == 1
	h.mu.Unlock()
	if first {
		<-h.release // hold the only slot while the others queue
	}
	if b.Events == nil {
		return output(h.tt, &session.Reply{})
	}
	br := invocation.BatchReply{Replies: make([]invocation.Result, len(b.Events))}
	for i := range br.Replies {
		br.Replies[i].Reply = &session.Reply{}
	}
	out, err := json.Marshal(br)
	return &lambda.InvokeOutput{StatusCode: 200, Payload: out}, err
}

func (h *heldAPI) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.calls)
}

// waitCalls waits until h has seen n invocations.
func (h *heldAPI) waitCalls(tt *testing.T, n int) {
	deadline := time.Now().Add(5 * time.Second)
	for h.count() < n {
		if time.Now().After(deadline) {
			tt.Fatalf("%d invocations, want %d", h.count(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// queue fills the session function's queue behind a held invocation with
// MaxBatch lost events, then sends a lease renewal.
func queueThenLease(tt *testing.T, inv *lambdainvoke.Invoker, h *heldAPI) (lease chan error, wg *sync.WaitGroup) {
	wg = &sync.WaitGroup{}
	wg.Go(func() { _, _ = inv.Invoke(context.Background(), &session.Event{Kind: session.KindTick}) })
	h.waitCalls(tt, 1)
	for i := range lambdainvoke.MaxBatch {
		wg.Go(func() {
			_, _ = inv.Invoke(context.Background(), &session.Event{Kind: session.KindLost, Conn: fmt.Sprint("conn-", i)})
		})
	}
	time.Sleep(50 * time.Millisecond) // let them queue
	lease = make(chan error, 1)
	wg.Go(func() {
		_, err := inv.Invoke(context.Background(), &session.Event{Kind: session.KindLease, Proxy: "p", LeaseMs: 5000})
		lease <- err
	})
	return lease, wg
}

// On Lambda, without a lease route (leaseroute_test.go), a lease renewal
// does not wait for a busy session function's slot: a busy proxy keeps
// its lease.
func TestInvokeLeaseDoesNotWait(tt *testing.T) {
	fns, err := invocation.ParseFunctions("connect=c,publish=p,subscribe=s,session=x")
	if err != nil {
		tt.Fatal(err)
	}
	h := &heldAPI{tt: tt, release: make(chan struct{})}
	inv := lambdainvoke.New(fns, h, nil, nil, lambdainvoke.WithConcurrency(1))
	lease, wg := queueThenLease(tt, inv, h)
	select {
	case err := <-lease:
		if err != nil {
			tt.Fatalf("lease renewal: %v", err)
		}
	case <-time.After(5 * time.Second):
		tt.Fatal("the lease renewal waited for the busy slot")
	}
	close(h.release)
	wg.Wait()
}

// On an emulator, which serves one invocation at a time, without a lease
// route, a lease renewal that waits goes alone in the next invocation, ahead of the events queued
// before it.
func TestInvokeLeaseGoesFirstOnEmulators(tt *testing.T) {
	fns, err := invocation.ParseFunctions("connect=c,publish=p,subscribe=s,session=function@http://127.0.0.1:9001")
	if err != nil {
		tt.Fatal(err)
	}
	h := &heldAPI{tt: tt, release: make(chan struct{})}
	inv := lambdainvoke.New(fns, h, func(string) lambdainvoke.API { return h }, nil)
	lease, wg := queueThenLease(tt, inv, h)
	time.Sleep(50 * time.Millisecond)
	if n := h.count(); n != 1 {
		tt.Fatalf("%d invocations while the emulator was busy, want 1", n)
	}
	close(h.release)
	if err := <-lease; err != nil {
		tt.Fatalf("lease renewal: %v", err)
	}
	wg.Wait()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.calls) < 2 || len(h.calls[1]) != 1 || h.calls[1][0] != session.KindLease {
		tt.Fatalf("the invocation after the busy one carried %v, want the lease alone", h.calls[1:])
	}
}
