package lambdainvoke_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/invocation"
	"github.com/mqttless/mqttless/infra/lambdainvoke"
)

// stateOf returns a connection state holding about n bytes of topic
// aliases made of '<', which JSON's HTML escaping would make six bytes
// each.
func stateOf(n int) *session.ConnState {
	st := &session.ConnState{ClientID: "c", Version: packet.V5, Aliases: map[uint16]string{}}
	for i := uint16(1); n > 0; i++ {
		k := min(n, 65535)
		st.Aliases[i] = strings.Repeat("<", k)
		n -= k
	}
	return st
}

// The event goes as the functions decode it, but without HTML escaping:
// ten aliases of 65,535 '<' make an event about their size, not three
// times (issue 14, medium 5).
func TestInvokeDoesNotEscapeHTML(tt *testing.T) {
	var payload []byte
	api := apiFunc(func(ctx context.Context, in *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
		payload = in.Payload
		return output(tt, &session.Reply{})
	})
	st := stateOf(10 * 65535)
	ev := &session.Event{Kind: session.KindPackets, Conn: "c1", State: st, Packets: [][]byte{fPublish1}}
	if _, err := newInvoker(tt, api).Invoke(context.Background(), ev); err != nil {
		tt.Fatalf("Invoke: %v", err)
	}
	if bytes.Contains(payload, []byte(`\u003c`)) {
		tt.Errorf("the payload escapes '<'")
	}
	if len(payload) > 10*65535+4096 {
		tt.Errorf("payload of %d bytes for %d bytes of aliases", len(payload), 10*65535)
	}
	var got session.Event
	if err := json.Unmarshal(payload, &got); err != nil {
		tt.Fatal(err)
	}
	if got.State == nil || len(got.State.Aliases) != 10 || got.State.Aliases[3] != st.Aliases[3] {
		tt.Errorf("the aliases did not survive the trip")
	}
}

// Batches are cut by the JSON they carry, connection state included, to
// stay under MaxInvokeBytes; an event too large for any invocation fails
// alone with ErrTooLarge, and the others are served.
func TestInvokeBatchMeasuresJSON(tt *testing.T) {
	fns, err := invocation.ParseFunctions(invocation.DefaultFunctions)
	if err != nil {
		tt.Fatal(err)
	}
	release, holding := make(chan struct{}), make(chan struct{})
	var (
		mu       sync.Mutex
		payloads []int
	)
	api := apiFunc(func(ctx context.Context, in *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
		mu.Lock()
		payloads = append(payloads, len(in.Payload))
		first := len(payloads) == 1
		mu.Unlock()
		if first {
			close(holding)
			<-release // hold the only slot while the others queue
			return output(tt, &session.Reply{})
		}
		var b invocation.Batch
		if err := json.Unmarshal(in.Payload, &b); err != nil {
			return nil, err
		}
		if len(b.Events) == 0 { // a bare event
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
	errs := make(chan error, 8)
	call := func(conn string, state int) {
		_, err := inv.Invoke(context.Background(), &session.Event{Kind: session.KindPackets, Conn: conn,
			State: stateOf(state), Packets: [][]byte{fPublish1}})
		if err != nil {
			err = fmt.Errorf("%s: %w", conn, err)
		}
		errs <- err
	}
	go call("first", 0)
	<-holding
	// Four events of 2 MB of state each: at most two fit in one
	// invocation. One of 7 MB fits none.
	for i := range 4 {
		go call(fmt.Sprint("conn-", i), 2<<20)
	}
	go call("huge", 7<<20)
	time.Sleep(100 * time.Millisecond) // let them queue
	close(release)
	var tooLarge int
	for range 6 {
		err := <-errs
		switch {
		case err == nil:
		case errors.Is(err, lambdainvoke.ErrTooLarge) && strings.HasPrefix(err.Error(), "huge:"):
			tooLarge++
		default:
			tt.Errorf("%v", err)
		}
	}
	if tooLarge != 1 {
		tt.Errorf("the 7 MB event did not fail alone with ErrTooLarge")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(payloads) < 3 {
		tt.Errorf("%d invocations for 8 MB of events, want the batch cut", len(payloads))
	}
	for i, n := range payloads {
		if n > lambdainvoke.MaxInvokeBytes {
			tt.Errorf("invocation %d carried %d bytes, over %d", i, n, lambdainvoke.MaxInvokeBytes)
		}
	}
}
