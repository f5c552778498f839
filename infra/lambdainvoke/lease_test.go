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

// A lease renewal that waits for a busy function goes in the next
// invocation, ahead of the events queued before it: a busy proxy keeps
// its lease.
func TestInvokeLeaseGoesFirst(tt *testing.T) {
	fns, err := invocation.ParseFunctions(invocation.DefaultFunctions)
	if err != nil {
		tt.Fatal(err)
	}
	release := make(chan struct{})
	var mu sync.Mutex
	var batches [][]session.Kind
	api := apiFunc(func(ctx context.Context, in *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
		var b invocation.Batch
		if err := json.Unmarshal(in.Payload, &b); err != nil {
			return nil, err
		}
		var kinds []session.Kind
		for _, ev := range b.Events {
			kinds = append(kinds, ev.Kind)
		}
		mu.Lock()
		batches = append(batches, kinds)
		first := len(batches) == 1
		mu.Unlock()
		if first {
			<-release // hold the only slot while the others queue
			return output(tt, &session.Reply{})
		}
		br := invocation.BatchReply{Replies: make([]invocation.Result, len(b.Events))}
		for i := range br.Replies {
			br.Replies[i].Reply = &session.Reply{}
		}
		out, err := json.Marshal(br)
		return &lambda.InvokeOutput{StatusCode: 200, Payload: out}, err
	})
	inv := lambdainvoke.New(fns, api, nil, nil, lambdainvoke.WithConcurrency(1))
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = inv.Invoke(context.Background(), &session.Event{Kind: session.KindTick}) })
	for {
		mu.Lock()
		n := len(batches)
		mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	for i := range lambdainvoke.MaxBatch {
		wg.Go(func() {
			_, _ = inv.Invoke(context.Background(), &session.Event{Kind: session.KindLost, Conn: fmt.Sprint("conn-", i)})
		})
	}
	time.Sleep(50 * time.Millisecond) // let them queue
	wg.Go(func() {
		_, _ = inv.Invoke(context.Background(), &session.Event{Kind: session.KindLease, Proxy: "p", LeaseMs: 5000})
	})
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(batches) < 2 || len(batches[1]) == 0 || batches[1][0] != session.KindLease {
		tt.Fatalf("the invocation after the busy one carried %v, want the lease first", batches[1:])
	}
}
