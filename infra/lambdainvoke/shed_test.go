package lambdainvoke_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/invocation"
	"github.com/mqttless/mqttless/infra/lambdainvoke"
)

// connectAPI is a connect function that records the connections of the
// events it is invoked for; an event of connection "hold" waits for
// release, and one of "slow" takes slow.
type connectAPI struct {
	mu      sync.Mutex
	invoked []string
	release chan struct{}
	slow    time.Duration
}

func (a *connectAPI) Invoke(ctx context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	var b invocation.Batch
	if err := json.Unmarshal(in.Payload, &b); err != nil || b.Events == nil {
		var ev session.Event
		if err := json.Unmarshal(in.Payload, &ev); err != nil {
			return nil, err
		}
		b.Events = []*session.Event{&ev}
	}
	a.mu.Lock()
	for _, ev := range b.Events {
		a.invoked = append(a.invoked, ev.Conn)
	}
	a.mu.Unlock()
	if b.Events[0].Conn == "hold" {
		<-a.release
	}
	if b.Events[0].Conn == "slow" {
		time.Sleep(a.slow)
	}
	if len(b.Events) == 1 && in.Payload[0] == '{' && string(in.Payload[:9]) != `{"batch":` {
		out, err := json.Marshal(&session.Reply{})
		return &lambda.InvokeOutput{StatusCode: 200, Payload: out}, err
	}
	var br invocation.BatchReply
	for range b.Events {
		br.Replies = append(br.Replies, invocation.Result{Reply: &session.Reply{}})
	}
	out, err := json.Marshal(br)
	return &lambda.InvokeOutput{StatusCode: 200, Payload: out}, err
}

func (a *connectAPI) waitInvoked(tt *testing.T, conn string) {
	for range 1000 {
		a.mu.Lock()
		ok := slices.Contains(a.invoked, conn)
		a.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(time.Millisecond)
	}
	tt.Fatalf("%s never invoked", conn)
}

func connectEvent(conn string) *session.Event {
	return &session.Event{Kind: session.KindPackets, Conn: conn, Packets: [][]byte{fConnect}}
}

// A CONNECT that waits for the connect function while its connection
// closes (its caller's context cancelled) is never invoked; the one queued
// behind it is.
func TestQueuedConnectOfClosedConnectionIsNotInvoked(tt *testing.T) {
	fns, err := invocation.ParseFunctions(invocation.DefaultFunctions)
	if err != nil {
		tt.Fatal(err)
	}
	api := &connectAPI{release: make(chan struct{})}
	inv := lambdainvoke.New(fns, api, nil, nil, lambdainvoke.WithConcurrency(1))
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = inv.Invoke(context.Background(), connectEvent("hold")) })
	api.waitInvoked(tt, "hold")

	ctx, closeConn := context.WithCancel(context.Background())
	gone := make(chan error, 1)
	go func() { _, err := inv.Invoke(invocation.Sheddable(ctx), connectEvent("closed")); gone <- err }()
	var liveErr error
	wg.Go(func() { _, liveErr = inv.Invoke(context.Background(), connectEvent("live")) })
	time.Sleep(50 * time.Millisecond) // both queued
	closeConn()
	if err := <-gone; !errors.Is(err, context.Canceled) {
		tt.Fatalf("the closed connection's call returned %v, want context.Canceled", err)
	}
	close(api.release)
	wg.Wait()
	if liveErr != nil {
		tt.Fatalf("live connection: %v", liveErr)
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	if slices.Contains(api.invoked, "closed") || !slices.Contains(api.invoked, "live") {
		tt.Fatalf("invoked for %v, want live and never closed", api.invoked)
	}
}

// Once the connect function's invocations are known to take about 250 ms,
// a queued sheddable CONNECT whose deadline leaves less than twice that
// (the margin for invocations slower than the mean) is refused with
// ErrShed without an invocation; one with time to spare, and one not
// marked sheddable, are invoked.
func TestQueuedConnectPastItsBoundIsShed(tt *testing.T) {
	fns, err := invocation.ParseFunctions(invocation.DefaultFunctions)
	if err != nil {
		tt.Fatal(err)
	}
	api := &connectAPI{release: make(chan struct{}), slow: 300 * time.Millisecond}
	inv := lambdainvoke.New(fns, api, nil, nil, lambdainvoke.WithConcurrency(1))
	if _, err := inv.Invoke(context.Background(), connectEvent("slow")); err != nil {
		tt.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = inv.Invoke(context.Background(), connectEvent("hold")) })
	api.waitInvoked(tt, "hold")

	errs := map[string]error{}
	var mu sync.Mutex
	call := func(conn string, ctx context.Context) {
		wg.Go(func() {
			_, err := inv.Invoke(ctx, connectEvent(conn))
			mu.Lock()
			errs[conn] = err
			mu.Unlock()
		})
	}
	lateCtx, cancel1 := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel1()
	roomyCtx, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	plainCtx, cancel3 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel3()
	edgeCtx, cancel4 := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel4()
	call("late", invocation.Sheddable(lateCtx))
	call("edge", invocation.Sheddable(edgeCtx))
	call("roomy", invocation.Sheddable(roomyCtx))
	call("plain", plainCtx)
	// Queued; the mean is about 0.75 x 300 ms and a quarter of the held
	// call's 50 ms: "late" has 150 ms left, "edge" 350 ms, under twice that.
	time.Sleep(50 * time.Millisecond)
	close(api.release)
	wg.Wait()
	if !errors.Is(errs["late"], invocation.ErrShed) || !errors.Is(errs["edge"], invocation.ErrShed) || errs["roomy"] != nil || errs["plain"] != nil {
		tt.Fatalf("late: %v, edge: %v (want ErrShed), roomy: %v, plain: %v (want nil)", errs["late"], errs["edge"], errs["roomy"], errs["plain"])
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	if slices.Contains(api.invoked, "late") || slices.Contains(api.invoked, "edge") || !slices.Contains(api.invoked, "roomy") || !slices.Contains(api.invoked, "plain") {
		tt.Fatalf("invoked for %v, want roomy and plain, never late", api.invoked)
	}
}
