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

// A storm of CONNECTs waiting for the connect function goes in batches of
// at most MaxConnectBatch events, each a bcrypt check, so that no
// invocation carries more checks than it can make within its timeout;
// PUBLISH events still go up to MaxBatch together.
func TestConnectBatchesAreBounded(tt *testing.T) {
	fns, err := invocation.ParseFunctions(invocation.DefaultFunctions)
	if err != nil {
		tt.Fatal(err)
	}
	release := make(chan struct{})
	var mu sync.Mutex
	sizes := map[string][]int{} // function -> events per invocation
	api := apiFunc(func(ctx context.Context, in *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
		var b invocation.Batch
		if err := json.Unmarshal(in.Payload, &b); err != nil {
			return nil, err
		}
		fn := *in.FunctionName
		mu.Lock()
		sizes[fn] = append(sizes[fn], len(b.Events))
		first := len(sizes[fn]) == 1
		mu.Unlock()
		if first {
			<-release // hold the only slot while the others queue
			return output(tt, &session.Reply{})
		}
		br := invocation.BatchReply{}
		for range b.Events {
			br.Replies = append(br.Replies, invocation.Result{Reply: &session.Reply{}})
		}
		out, err := json.Marshal(br)
		return &lambda.InvokeOutput{StatusCode: 200, Payload: out}, err
	})
	inv := lambdainvoke.New(fns, api, nil, nil, lambdainvoke.WithConcurrency(1))
	const n = 100
	var wg sync.WaitGroup
	for _, frame := range [][]byte{fConnect, fPublish1} {
		wg.Go(func() {
			_, _ = inv.Invoke(context.Background(), &session.Event{Kind: session.KindPackets, Conn: "first", Packets: [][]byte{frame}})
		})
	}
	for { // wait until the first invocations hold the slots
		mu.Lock()
		held := len(sizes) == 2
		mu.Unlock()
		if held {
			break
		}
		time.Sleep(time.Millisecond)
	}
	for i := range n {
		for _, frame := range [][]byte{fConnect, fPublish1} {
			wg.Go(func() {
				ev := &session.Event{Kind: session.KindPackets, Conn: fmt.Sprint("conn-", i), Packets: [][]byte{frame}}
				if _, err := inv.Invoke(context.Background(), ev); err != nil {
					tt.Errorf("Invoke: %v", err)
				}
			})
		}
	}
	time.Sleep(100 * time.Millisecond) // let them queue
	close(release)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	check := func(fn string, limit, wantMax int) {
		total, biggest := 0, 0
		for _, s := range sizes[fn][1:] {
			total += s
			biggest = max(biggest, s)
		}
		if total != n || biggest != wantMax || biggest > limit {
			tt.Errorf("%s: invocations carried %v events, want %d in all, at most %d each (and some that many)", fn, sizes[fn][1:], n, limit)
		}
	}
	check("mqttless-connect", lambdainvoke.MaxConnectBatch, lambdainvoke.MaxConnectBatch)
	check("mqttless-publish", lambdainvoke.MaxBatch, lambdainvoke.MaxBatch)
}

// An emulator endpoint serves one invocation at a time: when a caller
// gives up on its call, the next call to that endpoint still waits until
// the first has ended (else the emulator crashes).
func TestEndpointCallOutlivesItsCaller(tt *testing.T) {
	fns, err := invocation.ParseFunctions("connect=function@http://127.0.0.1:1,publish=p,subscribe=s,session=x")
	if err != nil {
		tt.Fatal(err)
	}
	var mu sync.Mutex
	active, most := 0, 0
	api := apiFunc(func(ctx context.Context, in *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
		mu.Lock()
		active++
		most = max(most, active)
		mu.Unlock()
		done := make(chan struct{})
		go func() { // the emulator runs on, whatever the caller does
			time.Sleep(300 * time.Millisecond)
			mu.Lock()
			active--
			mu.Unlock()
			close(done)
		}()
		select {
		case <-done:
			return output(tt, &session.Reply{})
		case <-ctx.Done(): // as the SDK: the call returns, the invocation does not stop
			return nil, ctx.Err()
		}
	})
	inv := lambdainvoke.New(fns, nil, func(string) lambdainvoke.API { return api }, nil, lambdainvoke.WithBatchTimeout(5*time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	ev := &session.Event{Kind: session.KindPackets, Conn: "a", Packets: [][]byte{fConnect}}
	go func() { _, _ = inv.Invoke(ctx, ev) }()
	time.Sleep(100 * time.Millisecond) // the first caller has given up
	if _, err := inv.Invoke(context.Background(), &session.Event{Kind: session.KindPackets, Conn: "b", Packets: [][]byte{fConnect}}); err != nil {
		tt.Fatalf("second call: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if most != 1 {
		tt.Fatalf("%d invocations of the endpoint at once, want 1", most)
	}
}

// An emulator's call that outlasts the invoker's timeout leaves its
// function running: the emulator is not invoked again until two more
// timeouts have passed, rather than at once (a second invocation crashes
// it).
func TestEndpointTimedOutCallQuarantined(tt *testing.T) {
	fns, err := invocation.ParseFunctions("connect=c,publish=p,subscribe=s,session=function@http://127.0.0.1:1")
	if err != nil {
		tt.Fatal(err)
	}
	var mu sync.Mutex
	active, most, calls := 0, 0, 0
	api := apiFunc(func(ctx context.Context, in *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
		mu.Lock()
		active++
		calls++
		first := calls == 1
		most = max(most, active)
		mu.Unlock()
		run := 10 * time.Millisecond
		if first {
			run = 300 * time.Millisecond // past the invoker's 200 ms
		}
		done := make(chan struct{})
		go func() { // the emulator runs on, whatever the caller does
			time.Sleep(run)
			mu.Lock()
			active--
			mu.Unlock()
			close(done)
		}()
		select {
		case <-done:
			return output(tt, &session.Reply{})
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	inv := lambdainvoke.New(fns, nil, func(string) lambdainvoke.API { return api }, nil, lambdainvoke.WithBatchTimeout(200*time.Millisecond))
	if _, err := inv.Invoke(context.Background(), &session.Event{Kind: session.KindTick}); err == nil {
		tt.Fatal("the first call outlasted the invoker's timeout and succeeded")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := inv.Invoke(ctx, &session.Event{Kind: session.KindTick}); err != nil {
		tt.Fatalf("second call: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if most != 1 {
		tt.Fatalf("%d invocations of the emulator at once, want 1", most)
	}
}
