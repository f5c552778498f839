package lambdainvoke_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/invocation"
	"github.com/mqttless/mqttless/infra/lambdainvoke"
)

// call is one Invoke call as the fake saw it.
type call struct {
	name string
	ev   session.Event
}

// fakeAPI records each invocation (the function name and the event it
// carried) and answers with respond, or by default with reply().
type fakeAPI struct {
	t       *testing.T
	respond func(i int, name string, ev *session.Event) (*lambda.InvokeOutput, error)

	mu    sync.Mutex
	calls []call
}

func (f *fakeAPI) Invoke(_ context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	var ev session.Event
	if err := json.Unmarshal(in.Payload, &ev); err != nil {
		f.t.Errorf("payload is not an Event: %v", err)
		return nil, err
	}
	name := aws.ToString(in.FunctionName)
	f.mu.Lock()
	i := len(f.calls)
	f.calls = append(f.calls, call{name: name, ev: ev})
	f.mu.Unlock()
	if f.respond != nil {
		return f.respond(i, name, &ev)
	}
	return output(f.t, reply(i, name, &ev))
}

func (f *fakeAPI) invocations() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

// reply is the default answer of invocation i: a frame per event frame
// naming the function and invocation, a delivery naming them, and a state
// whose KeepAlive is i+1 (the subscribe function leaves the state alone).
func reply(i int, name string, ev *session.Event) *session.Reply {
	r := &session.Reply{Deliveries: []session.Delivery{{Proxy: "p", Conn: fmt.Sprintf("%s#%d", name, i)}},
		Refused: []string{fmt.Sprintf("%s#%d", name, i)}}
	for j := range ev.Packets {
		r.Packets = append(r.Packets, []byte(fmt.Sprintf("%s#%d.%d", name, i, j)))
	}
	if name != "mqttless-subscribe" {
		r.State = &session.ConnState{ClientID: "c", Version: packet.V5, KeepAlive: uint16(i + 1)}
	}
	// Delivery v2's work: the CONNACK's window, the others' follows.
	r.Stream = &session.StreamWork{Follows: []session.Follow{{Stream: session.StreamID{Filter: fmt.Sprintf("%s#%d", name, i)}}}}
	if name == "mqttless-connect" {
		r.Stream.Window = &session.WindowSpec{Max: 7}
	}
	return r
}

func output(tt *testing.T, r *session.Reply) (*lambda.InvokeOutput, error) {
	b, err := json.Marshal(r)
	if err != nil {
		tt.Errorf("marshal reply: %v", err)
	}
	return &lambda.InvokeOutput{StatusCode: 200, Payload: b}, nil
}

func newInvoker(tt *testing.T, api lambdainvoke.API) *lambdainvoke.Invoker {
	tt.Helper()
	fns, err := invocation.ParseFunctions(invocation.DefaultFunctions)
	if err != nil {
		tt.Fatal(err)
	}
	return lambdainvoke.New(fns, api, func(string) lambdainvoke.API {
		tt.Errorf("newAPI called for targets without endpoints")
		return nil
	}, nil)
}

var (
	fConnect   = encodeT(&packet.Connect{ClientID: "c", CleanStart: true, KeepAlive: 30})
	fPublish1  = encodeT(&packet.Publish{Topic: "a", Payload: []byte("1")})
	fPublish2  = encodeT(&packet.Publish{Topic: "b", QoS: 1, PacketID: 7, Payload: []byte("2")})
	fSubscribe = encodeT(&packet.Subscribe{PacketID: 8, Subscriptions: []packet.Subscription{{Filter: "x/#", QoS: 1}}})
	fPuback    = encodeT(&packet.Puback{PacketID: 3})
)

func encodeT(p packet.Packet) []byte {
	b, err := p.Append(nil, packet.V5)
	if err != nil {
		panic(err)
	}
	return b
}

func batchEvent() *session.Event {
	return &session.Event{Kind: session.KindPackets, Proxy: "proxy-1", Conn: "conn-1", Remote: "10.0.0.1:1234",
		Packets: [][]byte{fConnect, fPublish1, fPublish2, fSubscribe, fPuback}}
}

func strs(frames [][]byte) []string {
	out := make([]string, len(frames))
	for i, f := range frames {
		out[i] = string(f)
	}
	return out
}

// A batch is cut into runs per function, invoked in order, each with the
// state the previous reply left; the replies are merged in order.
func TestInvokeBatch(tt *testing.T) {
	api := &fakeAPI{t: tt}
	inv := newInvoker(tt, api)
	ev := batchEvent()
	got, err := inv.Invoke(context.Background(), ev)
	if err != nil {
		tt.Fatalf("Invoke: %v", err)
	}
	calls := api.invocations()
	wantCalls := []struct {
		name      string
		frames    [][]byte
		keepAlive int // of the state passed in; -1: none
	}{
		{"mqttless-connect", [][]byte{fConnect}, -1},
		{"mqttless-publish", [][]byte{fPublish1, fPublish2}, 1},
		{"mqttless-subscribe", [][]byte{fSubscribe}, 2},
		{"mqttless-session", [][]byte{fPuback}, 2}, // subscribe left the state alone
	}
	if len(calls) != len(wantCalls) {
		tt.Fatalf("%d invocations %+v, want %d", len(calls), calls, len(wantCalls))
	}
	for i, w := range wantCalls {
		c := calls[i]
		if c.name != w.name {
			tt.Errorf("invocation %d went to %s, want %s", i, c.name, w.name)
		}
		if !reflect.DeepEqual(c.ev.Packets, w.frames) {
			tt.Errorf("invocation %d (%s) got frames %q, want %q", i, c.name, strs(c.ev.Packets), strs(w.frames))
		}
		if c.ev.Kind != ev.Kind || c.ev.Proxy != ev.Proxy || c.ev.Conn != ev.Conn || c.ev.Remote != ev.Remote {
			tt.Errorf("invocation %d lost the event's fields: %+v", i, c.ev)
		}
		switch {
		case w.keepAlive < 0 && c.ev.State != nil:
			tt.Errorf("invocation %d got state %+v, want none", i, c.ev.State)
		case w.keepAlive >= 0 && (c.ev.State == nil || int(c.ev.State.KeepAlive) != w.keepAlive):
			tt.Errorf("invocation %d got state %+v, want the one of reply %d", i, c.ev.State, w.keepAlive-1)
		}
	}
	wantPackets := []string{"mqttless-connect#0.0", "mqttless-publish#1.0", "mqttless-publish#1.1", "mqttless-subscribe#2.0", "mqttless-session#3.0"}
	if !reflect.DeepEqual(strs(got.Packets), wantPackets) {
		tt.Errorf("merged packets %q, want %q", strs(got.Packets), wantPackets)
	}
	var dconns []string
	for _, d := range got.Deliveries {
		dconns = append(dconns, d.Conn)
	}
	if want := []string{"mqttless-connect#0", "mqttless-publish#1", "mqttless-subscribe#2", "mqttless-session#3"}; !reflect.DeepEqual(dconns, want) {
		tt.Errorf("merged deliveries %q, want %q", dconns, want)
	}
	// The refusals of every invocation reach the proxy's metrics.
	if want := []string{"mqttless-connect#0", "mqttless-publish#1", "mqttless-subscribe#2", "mqttless-session#3"}; !reflect.DeepEqual(got.Refused, want) {
		tt.Errorf("merged refusals %q, want %q", got.Refused, want)
	}
	if got.State == nil || got.State.KeepAlive != 4 {
		tt.Errorf("merged state %+v, want the last one (KeepAlive 4)", got.State)
	}
	// Delivery v2's work of every invocation reaches the proxy's window,
	// in order: the window the CONNACK starts, then each one's follows.
	var follows []string
	if got.Stream != nil {
		for _, f := range got.Stream.Follows {
			follows = append(follows, f.Stream.Filter)
		}
	}
	if got.Stream == nil || got.Stream.Window == nil || got.Stream.Window.Max != 7 ||
		!reflect.DeepEqual(follows, []string{"mqttless-connect#0", "mqttless-publish#1", "mqttless-subscribe#2", "mqttless-session#3"}) {
		tt.Errorf("merged stream work %+v (follows %q), want the CONNACK's window and every follow", got.Stream, follows)
	}
	if got.Close {
		tt.Errorf("merged reply closes")
	}
	// The caller's event is not modified.
	if !reflect.DeepEqual(ev, batchEvent()) {
		tt.Errorf("Invoke modified the event: %+v", ev)
	}
}

// A batch in a running connection starts from the event's state; a reply
// that never sets one leaves the merged state nil (unchanged).
func TestInvokeCarriesEventState(tt *testing.T) {
	api := &fakeAPI{t: tt, respond: func(i int, name string, ev *session.Event) (*lambda.InvokeOutput, error) {
		return output(tt, &session.Reply{Packets: [][]byte{[]byte(name)}})
	}}
	st := &session.ConnState{ClientID: "c", Version: packet.V5, KeepAlive: 77}
	ev := &session.Event{Kind: session.KindPackets, Conn: "c1", State: st, Packets: [][]byte{fPublish1, fSubscribe, fPublish2}}
	got, err := newInvoker(tt, api).Invoke(context.Background(), ev)
	if err != nil {
		tt.Fatal(err)
	}
	calls := api.invocations()
	if len(calls) != 3 {
		tt.Fatalf("%d invocations, want 3 (publish, subscribe, publish)", len(calls))
	}
	for i, c := range calls {
		if !reflect.DeepEqual(c.ev.State, st) {
			tt.Errorf("invocation %d got state %+v, want the event's", i, c.ev.State)
		}
	}
	if got.State != nil {
		tt.Errorf("merged state %+v, want nil: no reply changed it", got.State)
	}
	if want := []string{"mqttless-publish", "mqttless-subscribe", "mqttless-publish"}; !reflect.DeepEqual(strs(got.Packets), want) {
		tt.Errorf("merged packets %q, want %q", strs(got.Packets), want)
	}
}

// A reply that closes the connection stops the rest of the batch.
func TestInvokeCloseStops(tt *testing.T) {
	api := &fakeAPI{t: tt}
	api.respond = func(i int, name string, ev *session.Event) (*lambda.InvokeOutput, error) {
		r := reply(i, name, ev)
		r.Close = name == "mqttless-publish"
		return output(tt, r)
	}
	got, err := newInvoker(tt, api).Invoke(context.Background(), batchEvent())
	if err != nil {
		tt.Fatal(err)
	}
	calls := api.invocations()
	if len(calls) != 2 || calls[0].name != "mqttless-connect" || calls[1].name != "mqttless-publish" {
		tt.Fatalf("invocations %+v, want connect and publish only", calls)
	}
	if !got.Close {
		tt.Errorf("merged reply does not close")
	}
	if want := []string{"mqttless-connect#0.0", "mqttless-publish#1.0", "mqttless-publish#1.1"}; !reflect.DeepEqual(strs(got.Packets), want) {
		tt.Errorf("merged packets %q, want %q", strs(got.Packets), want)
	}
}

// A function that fails stops the batch with ErrFunction and the replies
// merged so far.
func TestInvokeFunctionError(tt *testing.T) {
	cases := []struct {
		name    string
		out     *lambda.InvokeOutput
		apiErr  error
		wantErr error
	}{
		{name: "function error", wantErr: lambdainvoke.ErrFunction,
			out: &lambda.InvokeOutput{StatusCode: 200, FunctionError: aws.String("Unhandled"),
				Payload: []byte(`{"errorMessage":"boom","errorType":"errorString"}`)}},
		{name: "reply that is not a Reply", wantErr: lambdainvoke.ErrFunction,
			out: &lambda.InvokeOutput{StatusCode: 200, Payload: []byte(`"just a string"`)}},
		{name: "invoke API error", apiErr: errors.New("throttled")},
	}
	for _, tc := range cases {
		tt.Run(tc.name, func(tt *testing.T) {
			api := &fakeAPI{t: tt}
			api.respond = func(i int, name string, ev *session.Event) (*lambda.InvokeOutput, error) {
				if name == "mqttless-subscribe" {
					return tc.out, tc.apiErr
				}
				return output(tt, reply(i, name, ev))
			}
			got, err := newInvoker(tt, api).Invoke(context.Background(), batchEvent())
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				tt.Fatalf("Invoke error %v, want %v", err, tc.wantErr)
			}
			if tc.apiErr != nil {
				if !errors.Is(err, tc.apiErr) {
					tt.Fatalf("Invoke error %v, want one wrapping %v", err, tc.apiErr)
				}
				if errors.Is(err, lambdainvoke.ErrFunction) {
					tt.Errorf("an Invoke API failure reported as ErrFunction: %v", err)
				}
			}
			calls := api.invocations()
			if len(calls) != 3 {
				tt.Fatalf("%d invocations, want 3: nothing after the failing subscribe", len(calls))
			}
			if got == nil {
				tt.Fatalf("no reply with the error: want the replies merged so far")
			}
			if want := []string{"mqttless-connect#0.0", "mqttless-publish#1.0", "mqttless-publish#1.1"}; !reflect.DeepEqual(strs(got.Packets), want) {
				tt.Errorf("merged packets %q, want %q", strs(got.Packets), want)
			}
			if got.State == nil || got.State.KeepAlive != 2 {
				tt.Errorf("merged state %+v, want the publish reply's", got.State)
			}
		})
	}
}

// Events other than packets go to the session function unchanged.
func TestInvokeOtherKinds(tt *testing.T) {
	st := &session.ConnState{ClientID: "c", Version: packet.V311, KeepAlive: 60}
	for _, ev := range []*session.Event{
		{Kind: session.KindLost, Proxy: "proxy-1", Conn: "conn-1", State: st},
		{Kind: session.KindTick},
		{Kind: session.KindRecover, Proxy: "proxy-9"},
	} {
		tt.Run(string(ev.Kind), func(tt *testing.T) {
			want := &session.Reply{Deliveries: []session.Delivery{{Proxy: "p", Conn: "x", Packets: [][]byte{{1, 2}}}}}
			api := &fakeAPI{t: tt, respond: func(int, string, *session.Event) (*lambda.InvokeOutput, error) { return output(tt, want) }}
			got, err := newInvoker(tt, api).Invoke(context.Background(), ev)
			if err != nil {
				tt.Fatal(err)
			}
			calls := api.invocations()
			if len(calls) != 1 || calls[0].name != "mqttless-session" {
				tt.Fatalf("invocations %+v, want one of mqttless-session", calls)
			}
			if !reflect.DeepEqual(&calls[0].ev, ev) {
				tt.Errorf("session function got %+v, want %+v", calls[0].ev, *ev)
			}
			if !reflect.DeepEqual(got, want) {
				tt.Errorf("reply %+v, want %+v", got, want)
			}
		})
	}
}

// bigPublish is a PUBLISH frame of n bytes (GroupOf reads its first byte).
func bigPublish(n int, mark byte) []byte {
	b := bytes.Repeat([]byte{mark}, n)
	b[0] = 0x30
	return b
}

// Runs are cut so that no invocation carries more than MaxPayload bytes of
// frames (a frame larger than that goes alone), in order.
func TestInvokeSplitsLargeRuns(tt *testing.T) {
	const M = lambdainvoke.MaxPayload
	cases := []struct {
		name  string
		sizes []int
		want  [][]int // frame indexes per invocation
	}{
		{name: "exactly MaxPayload, then one byte more", sizes: []int{M / 4, M / 4, M / 4, M / 4, 1}, want: [][]int{{0, 1, 2, 3}, {4}}},
		{name: "one byte over", sizes: []int{M / 2, M/2 + 1, 7}, want: [][]int{{0}, {1, 2}}},
		{name: "a frame above MaxPayload", sizes: []int{10, M + 10, 10}, want: [][]int{{0}, {1}, {2}}},
	}
	for _, tc := range cases {
		tt.Run(tc.name, func(tt *testing.T) {
			tt.Parallel()
			var frames [][]byte
			for i, n := range tc.sizes {
				frames = append(frames, bigPublish(n, byte('a'+i)))
			}
			api := &fakeAPI{t: tt}
			got, err := newInvoker(tt, api).Invoke(context.Background(), &session.Event{Kind: session.KindPackets, Conn: "c", Packets: frames})
			if err != nil {
				tt.Fatal(err)
			}
			calls := api.invocations()
			if len(calls) != len(tc.want) {
				tt.Fatalf("%d invocations, want %d", len(calls), len(tc.want))
			}
			for i, idx := range tc.want {
				if calls[i].name != "mqttless-publish" {
					tt.Errorf("invocation %d went to %s", i, calls[i].name)
				}
				var want [][]byte
				for _, j := range idx {
					want = append(want, frames[j])
				}
				if !reflect.DeepEqual(calls[i].ev.Packets, want) {
					tt.Errorf("invocation %d carried the wrong frames (%d frames)", i, len(calls[i].ev.Packets))
				}
				if i > 0 && (calls[i].ev.State == nil || int(calls[i].ev.State.KeepAlive) != i) {
					tt.Errorf("invocation %d got state %+v, want the previous reply's", i, calls[i].ev.State)
				}
			}
			if len(got.Packets) != len(frames) {
				tt.Errorf("merged %d packets, want %d", len(got.Packets), len(frames))
			}
		})
	}
}

// endpointAPI is the client of one emulator endpoint: it counts the calls
// in flight per target and overall, sleeping inside each.
type endpointAPI struct {
	endpoint string
	rec      *concurrency
}

type concurrency struct {
	tt    *testing.T
	sleep time.Duration

	mu        sync.Mutex
	inflight  int
	max       int
	perTarget map[string]int
	maxPer    map[string]int
	calls     map[string]int // events served per target

	invocations int
}

func newConcurrency(tt *testing.T, sleep time.Duration) *concurrency {
	return &concurrency{tt: tt, sleep: sleep, perTarget: map[string]int{}, maxPer: map[string]int{}, calls: map[string]int{}}
}

func (e *endpointAPI) Invoke(ctx context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	key := aws.ToString(in.FunctionName) + "@" + e.endpoint
	var b invocation.Batch
	if err := json.Unmarshal(in.Payload, &b); err != nil {
		return nil, err
	}
	r := e.rec
	r.mu.Lock()
	r.inflight++
	r.perTarget[key]++
	r.calls[key] += max(1, len(b.Events)) // events served
	r.invocations++
	r.max = max(r.max, r.inflight)
	r.maxPer[key] = max(r.maxPer[key], r.perTarget[key])
	r.mu.Unlock()
	time.Sleep(r.sleep)
	r.mu.Lock()
	r.inflight--
	r.perTarget[key]--
	r.mu.Unlock()
	if b.Events != nil {
		br := invocation.BatchReply{}
		for range b.Events {
			br.Replies = append(br.Replies, invocation.Result{Reply: &session.Reply{Packets: [][]byte{[]byte(key)}}})
		}
		out, err := json.Marshal(br)
		return &lambda.InvokeOutput{StatusCode: 200, Payload: out}, err
	}
	return output(r.tt, &session.Reply{Packets: [][]byte{[]byte(key)}})
}

// With endpoints (emulators serving one call at a time), a pool of two
// targets has at most two calls in flight, never two on one target; the
// events of other connections that wait meanwhile go together in a batch.
func TestInvokePoolWithEndpoints(tt *testing.T) {
	for _, tc := range []struct {
		name     string
		spec     string
		wantAPIs int // newAPI calls: one client per endpoint
	}{
		{name: "two endpoints", wantAPIs: 3,
			spec: "connect=function@http://127.0.0.1:9001,connect=function@http://127.0.0.1:9002,publish=function@http://127.0.0.1:9003,subscribe=s,session=x"},
		{name: "two functions on one endpoint", wantAPIs: 2,
			spec: "connect=c1@http://127.0.0.1:9001,connect=c2@http://127.0.0.1:9001,publish=function@http://127.0.0.1:9003,subscribe=s,session=x"},
	} {
		tt.Run(tc.name, func(tt *testing.T) {
			fns, err := invocation.ParseFunctions(tc.spec)
			if err != nil {
				tt.Fatal(err)
			}
			rec := newConcurrency(tt, 15*time.Millisecond)
			var apisMu sync.Mutex
			apis := 0
			inv := lambdainvoke.New(fns, &fakeAPI{t: tt}, func(ep string) lambdainvoke.API {
				apisMu.Lock()
				defer apisMu.Unlock()
				apis++
				return &endpointAPI{endpoint: ep, rec: rec}
			}, nil)
			if apis != tc.wantAPIs {
				tt.Errorf("newAPI called %d times, want %d (one per endpoint)", apis, tc.wantAPIs)
			}
			const callers = 8
			var wg sync.WaitGroup
			for i := range callers {
				wg.Go(func() {
					ev := &session.Event{Kind: session.KindPackets, Conn: fmt.Sprint("conn-", i), Packets: [][]byte{fConnect}}
					if _, err := inv.Invoke(context.Background(), ev); err != nil {
						tt.Errorf("Invoke: %v", err)
					}
				})
			}
			wg.Wait()
			rec.mu.Lock()
			defer rec.mu.Unlock()
			if rec.max > 2 {
				tt.Errorf("%d calls in flight at once, want at most 2 (the pool)", rec.max)
			}
			if rec.max < 2 {
				tt.Errorf("at most %d call in flight: the pool of 2 was not used concurrently", rec.max)
			}
			total := 0
			for key, n := range rec.maxPer {
				if n > 1 {
					tt.Errorf("target %s served %d calls at once, want one at a time", key, n)
				}
				total += rec.calls[key]
			}
			if len(rec.calls) != 2 {
				tt.Errorf("targets used: %v, want both connect targets", rec.calls)
			}
			if total != callers {
				tt.Errorf("%d events served, want %d", total, callers)
			}
			if rec.invocations >= callers {
				tt.Errorf("%d invocations for %d events: those that waited were not batched", rec.invocations, callers)
			}
		})
	}
}

// A call waiting for a free target gives up when its context ends.
func TestInvokePoolWaitCancelled(tt *testing.T) {
	fns, err := invocation.ParseFunctions("connect=function@http://127.0.0.1:9001,publish=p,subscribe=s,session=x")
	if err != nil {
		tt.Fatal(err)
	}
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	blocking := apiFunc(func(ctx context.Context, in *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
		started <- struct{}{}
		<-release
		return output(tt, &session.Reply{})
	})
	inv := lambdainvoke.New(fns, &fakeAPI{t: tt}, func(string) lambdainvoke.API { return blocking }, nil)
	ev := &session.Event{Kind: session.KindPackets, Packets: [][]byte{fConnect}}
	done := make(chan error, 1)
	go func() {
		_, err := inv.Invoke(context.Background(), ev)
		done <- err
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = inv.Invoke(ctx, ev)
	if !errors.Is(err, context.DeadlineExceeded) {
		tt.Errorf("Invoke waiting for a busy target = %v, want the context's error", err)
	}
	close(release)
	if err := <-done; err != nil {
		tt.Errorf("first Invoke: %v", err)
	}
	// The target is free again.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	go func() { <-started }()
	if _, err := inv.Invoke(ctx2, ev); err != nil {
		tt.Errorf("Invoke after the target was freed: %v", err)
	}
}

type apiFunc func(ctx context.Context, in *lambda.InvokeInput) (*lambda.InvokeOutput, error)

func (f apiFunc) Invoke(ctx context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	return f(ctx, in)
}

// Without endpoints the SDK's client serves any number of calls at once:
// four concurrent connections all reach it together.
func TestInvokeUnlimitedWithoutEndpoints(tt *testing.T) {
	const n = 4
	var (
		mu      sync.Mutex
		arrived int
		all     = make(chan struct{})
	)
	api := apiFunc(func(ctx context.Context, in *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
		mu.Lock()
		arrived++
		if arrived == n {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
		case <-time.After(5 * time.Second):
			return nil, errors.New("calls were serialized: not all arrived together")
		}
		return output(tt, &session.Reply{})
	})
	inv := newInvoker(tt, api)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ev := &session.Event{Kind: session.KindPackets, Conn: fmt.Sprint(i), Packets: [][]byte{fPublish1}}
			if _, err := inv.Invoke(context.Background(), ev); err != nil {
				tt.Errorf("Invoke: %v", err)
			}
		})
	}
	wg.Wait()
}

// With WithConcurrency(1), events of other connections that come while an
// invocation is in flight wait and go together in one Batch, each getting
// its own Result: a failure in one closes only that connection.
func TestInvokeBatchesWaitingConnections(tt *testing.T) {
	fns, err := invocation.ParseFunctions(invocation.DefaultFunctions)
	if err != nil {
		tt.Fatal(err)
	}
	release := make(chan struct{})
	var mu sync.Mutex
	var sizes []int
	api := apiFunc(func(ctx context.Context, in *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
		var b invocation.Batch
		if err := json.Unmarshal(in.Payload, &b); err != nil {
			return nil, err
		}
		mu.Lock()
		sizes = append(sizes, len(b.Events))
		first := len(sizes) == 1
		mu.Unlock()
		if first {
			<-release // hold the only slot while the others queue
			var ev session.Event
			_ = json.Unmarshal(in.Payload, &ev)
			return output(tt, &session.Reply{Packets: [][]byte{[]byte(ev.Conn)}})
		}
		br := invocation.BatchReply{}
		for _, ev := range b.Events {
			res := invocation.Result{Reply: &session.Reply{Packets: [][]byte{[]byte(ev.Conn)}}}
			if ev.Conn == "conn-3" {
				res.Error = "store down"
			}
			br.Replies = append(br.Replies, res)
		}
		out, err := json.Marshal(br)
		return &lambda.InvokeOutput{StatusCode: 200, Payload: out}, err
	})
	inv := lambdainvoke.New(fns, api, nil, nil, lambdainvoke.WithConcurrency(1))
	type res struct {
		conn string
		r    *session.Reply
		err  error
	}
	results := make(chan res, 5)
	call := func(conn string) {
		r, err := inv.Invoke(context.Background(), &session.Event{Kind: session.KindPackets, Conn: conn, Packets: [][]byte{fPublish1}})
		results <- res{conn, r, err}
	}
	go call("conn-0")
	for { // wait until the first invocation holds the slot
		mu.Lock()
		n := len(sizes)
		mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	for i := 1; i < 5; i++ {
		go call(fmt.Sprint("conn-", i))
	}
	time.Sleep(50 * time.Millisecond) // let them queue
	close(release)
	for range 5 {
		r := <-results
		switch {
		case r.conn == "conn-3":
			if !errors.Is(r.err, lambdainvoke.ErrFunction) {
				tt.Errorf("conn-3: err %v, want ErrFunction", r.err)
			}
		case r.err != nil:
			tt.Errorf("%s: %v", r.conn, r.err)
		case len(r.r.Packets) != 1 || string(r.r.Packets[0]) != r.conn:
			tt.Errorf("%s got the reply %q, want its own", r.conn, r.r.Packets)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sizes) != 2 || sizes[0] != 0 || sizes[1] != 4 {
		tt.Errorf("invocations carried %v events (0: a bare event), want [0 4]", sizes)
	}
}

// The Lambda Runtime Interface Emulator reports a function's error with
// status 200, no X-Amz-Function-Error and an error body: it is a failure,
// not an empty reply.
func TestInvokeEmulatorErrorBody(tt *testing.T) {
	api := apiFunc(func(ctx context.Context, in *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
		return &lambda.InvokeOutput{StatusCode: 200, Payload: []byte(`{"errorMessage":"lambdafn: event belongs to another function","errorType":"wrapError"}`)}, nil
	})
	_, err := newInvoker(tt, api).Invoke(context.Background(), &session.Event{Kind: session.KindPackets, Conn: "c", Packets: [][]byte{fConnect}})
	if !errors.Is(err, lambdainvoke.ErrFunction) || !strings.Contains(err.Error(), "another function") {
		tt.Fatalf("Invoke = %v, want ErrFunction with the message", err)
	}
}

// A caller that gives up on an emulator's invocation gets its answer at
// once, while the invocation runs on: the target stays taken until it
// has ended (a second invocation would crash the emulator), and the next
// call goes to the other target. (A proxy's drain waited a whole
// -invoke-timeout for a sweep under way.)
func TestInvokeCallerLeavesEmulatorCall(tt *testing.T) {
	fns, err := invocation.ParseFunctions("connect=c,publish=p,subscribe=s,session=x@http://127.0.0.1:9001,session=x@http://127.0.0.1:9002")
	if err != nil {
		tt.Fatal(err)
	}
	release := make(chan struct{})
	started := make(chan string, 4)
	var mu sync.Mutex
	running := map[string]int{}
	api := func(ep string) lambdainvoke.API {
		return apiFunc(func(ctx context.Context, in *lambda.InvokeInput) (*lambda.InvokeOutput, error) {
			mu.Lock()
			running[ep]++
			n := running[ep]
			mu.Unlock()
			if n > 1 {
				tt.Errorf("%s got a second invocation while one ran", ep)
			}
			started <- ep
			<-release
			mu.Lock()
			running[ep]--
			mu.Unlock()
			return output(tt, &session.Reply{})
		})
	}
	inv := lambdainvoke.New(fns, &fakeAPI{t: tt}, api, nil)
	ctx, cancel := context.WithCancel(context.Background())
	left := make(chan error, 1)
	go func() {
		_, err := inv.Invoke(ctx, &session.Event{Kind: session.KindTick})
		left <- err
	}()
	first := <-started
	cancel()
	select {
	case err := <-left:
		if !errors.Is(err, context.Canceled) {
			tt.Errorf("Invoke given up = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		tt.Fatal("Invoke did not return when its context ended: it waited for the emulator's invocation")
	}
	second := make(chan error, 1)
	go func() {
		_, err := inv.Invoke(context.Background(), &session.Event{Kind: session.KindTick})
		second <- err
	}()
	if ep := <-started; ep == first {
		tt.Errorf("the next call went to %s, whose invocation still runs", ep)
	}
	close(release)
	if err := <-second; err != nil {
		tt.Errorf("second Invoke: %v", err)
	}
}
