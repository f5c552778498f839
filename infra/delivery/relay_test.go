package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/delivery"
)

// fakeHandler answers every event with a fixed reply and error, and
// records what reaches Undelivered.
type fakeHandler struct {
	reply *session.Reply
	err   error
	uerr  error
	again *session.Reply // what Undelivered returns

	mu          sync.Mutex
	events      []*session.Event
	undelivered [][]session.Delivery
	unreached   [][]session.Delivery
}

func (h *fakeHandler) Handle(_ context.Context, ev *session.Event) (*session.Reply, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, ev)
	return h.reply, h.err
}

func (h *fakeHandler) Undelivered(_ context.Context, ds []session.Delivery) (*session.Reply, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.undelivered = append(h.undelivered, append([]session.Delivery(nil), ds...))
	return h.again, h.uerr
}

func (h *fakeHandler) Unreached(_ context.Context, ds []session.Delivery) (*session.Reply, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.unreached = append(h.unreached, append([]session.Delivery(nil), ds...))
	return h.again, h.uerr
}

// fakeForwarder answers per proxy with the gone ids or the error set for
// it, and records every call.
type fakeForwarder struct {
	gone map[string][]string
	errs map[string]error

	mu    sync.Mutex
	calls map[string][][]session.Delivery
}

func (f *fakeForwarder) Forward(_ context.Context, proxy string, ds []session.Delivery) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.calls == nil {
		f.calls = map[string][][]session.Delivery{}
	}
	f.calls[proxy] = append(f.calls[proxy], append([]session.Delivery(nil), ds...))
	if err := f.errs[proxy]; err != nil {
		return nil, err
	}
	return f.gone[proxy], nil
}

// dl is a delivery of one frame to conn on proxy; the frame names the
// connection so that a mixed-up delivery shows.
func dl(proxy, conn string) session.Delivery {
	return session.Delivery{Proxy: proxy, Conn: conn, Client: "client-" + conn, Packets: [][]byte{[]byte("frame-for-" + conn)}}
}

func conns(ds []session.Delivery) []string {
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.Conn)
	}
	return out
}

func TestRelay(t *testing.T) {
	// The event comes from proxy p1; the handler's deliveries go to p1, p2
	// and p3, interleaved.
	all := []session.Delivery{dl("p1", "a"), dl("p2", "b"), dl("p3", "c"), dl("p2", "d"), dl("p1", "e")}
	errStore := errors.New("store down")
	cases := []struct {
		name       string
		evProxy    string
		handlerErr error
		uerr       error
		gone       map[string][]string
		errs       map[string]error
		// wantReply is the deliveries left in the reply, in order.
		wantReply []string
		// wantForward is, per proxy, the deliveries posted in one request,
		// in order.
		wantForward map[string][]string
		// wantUndelivered is the deliveries handed to Undelivered, in any
		// order; nil means Undelivered is not called.
		wantUndelivered []string
	}{
		{name: "own deliveries stay in the reply, others forwarded per proxy", evProxy: "p1",
			wantReply:   []string{"a", "e"},
			wantForward: map[string][]string{"p2": {"b", "d"}, "p3": {"c"}}},
		{name: "a proxy that cannot be reached: all its deliveries undelivered", evProxy: "p1",
			errs:            map[string]error{"p2": errors.New("connection refused")},
			wantReply:       []string{"a", "e"},
			wantForward:     map[string][]string{"p2": {"b", "d"}, "p3": {"c"}},
			wantUndelivered: []string{"b", "d"}},
		{name: "connections reported gone are undelivered", evProxy: "p1",
			gone:            map[string][]string{"p2": {"d", "unknown"}, "p3": {"c"}},
			wantReply:       []string{"a", "e"},
			wantForward:     map[string][]string{"p2": {"b", "d"}, "p3": {"c"}},
			wantUndelivered: []string{"c", "d"}},
		{name: "a gone id of another proxy's delivery is not taken", evProxy: "p1",
			gone:        map[string][]string{"p3": {"b"}},
			wantReply:   []string{"a", "e"},
			wantForward: map[string][]string{"p2": {"b", "d"}, "p3": {"c"}}},
		{name: "handler error: every delivery forwarded, own ones too", evProxy: "p1", handlerErr: errStore,
			wantForward: map[string][]string{"p1": {"a", "e"}, "p2": {"b", "d"}, "p3": {"c"}}},
		{name: "handler error with a proxy failing", evProxy: "p1", handlerErr: errStore,
			errs:            map[string]error{"p1": delivery.ErrReplayed},
			wantForward:     map[string][]string{"p1": {"a", "e"}, "p2": {"b", "d"}, "p3": {"c"}},
			wantUndelivered: []string{"a", "e"}},
		{name: "event from no proxy (tick): everything forwarded", evProxy: "",
			wantForward: map[string][]string{"p1": {"a", "e"}, "p2": {"b", "d"}, "p3": {"c"}}},
		{name: "an Undelivered error does not fail the event", evProxy: "p1", uerr: errStore,
			gone:            map[string][]string{"p2": {"b"}},
			wantReply:       []string{"a", "e"},
			wantForward:     map[string][]string{"p2": {"b", "d"}, "p3": {"c"}},
			wantUndelivered: []string{"b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reply := &session.Reply{
				Packets:    [][]byte{[]byte("to-caller")},
				Deliveries: slices.Clone(all),
				Close:      true,
				State:      &session.ConnState{ClientID: "me"},
			}
			h := &fakeHandler{reply: reply, err: tc.handlerErr, uerr: tc.uerr}
			fwd := &fakeForwarder{gone: tc.gone, errs: tc.errs}
			r := delivery.NewRelay(h, fwd, nil)
			ev := &session.Event{Kind: session.KindPackets, Proxy: tc.evProxy, Conn: "me-conn"}
			got, err := r.Handle(context.Background(), ev)
			if !errors.Is(err, tc.handlerErr) || (tc.handlerErr == nil && err != nil) {
				t.Fatalf("Handle error %v, want the handler's %v", err, tc.handlerErr)
			}
			if len(h.events) != 1 || h.events[0] != ev {
				t.Fatalf("handler got %d events, want the one event", len(h.events))
			}
			if got == nil {
				t.Fatalf("nil reply")
			}
			if !reflect.DeepEqual(got.Packets, [][]byte{[]byte("to-caller")}) || !got.Close || got.State == nil || got.State.ClientID != "me" {
				t.Errorf("reply's own packets, close or state changed: %+v", got)
			}
			if gotReply := conns(got.Deliveries); !slices.Equal(gotReply, tc.wantReply) {
				t.Errorf("reply deliveries %q, want %q", gotReply, tc.wantReply)
			}
			for _, d := range got.Deliveries {
				if !reflect.DeepEqual(d, dl(d.Proxy, d.Conn)) {
					t.Errorf("reply delivery altered: %+v", d)
				}
			}
			gotFwd := map[string][]string{}
			for proxy, calls := range fwd.calls {
				if len(calls) != 1 {
					t.Errorf("proxy %q got %d requests, want one", proxy, len(calls))
				}
				for _, c := range calls {
					gotFwd[proxy] = append(gotFwd[proxy], conns(c)...)
					for _, d := range c {
						if d.Proxy != proxy || !reflect.DeepEqual(d, dl(d.Proxy, d.Conn)) {
							t.Errorf("delivery %+v posted to %q", d, proxy)
						}
					}
				}
			}
			if len(gotFwd) == 0 {
				gotFwd = nil
			}
			want := tc.wantForward
			if len(want) == 0 {
				want = nil
			}
			if !reflect.DeepEqual(gotFwd, want) {
				t.Errorf("forwarded %v, want %v", gotFwd, want)
			}
			var und []string
			for _, ds := range h.undelivered {
				if len(ds) == 0 {
					t.Errorf("Undelivered called with nothing")
				}
				und = append(und, conns(ds)...)
				for _, d := range ds {
					if !reflect.DeepEqual(d, dl(d.Proxy, d.Conn)) {
						t.Errorf("undelivered delivery altered: %+v", d)
					}
				}
			}
			slices.Sort(und)
			if !slices.Equal(und, tc.wantUndelivered) {
				t.Errorf("undelivered %q, want %q", und, tc.wantUndelivered)
			}
		})
	}
}

// Own deliveries over MaxReplyBytes of frames are posted to the calling
// proxy instead, so that the Lambda response stays under its limit; up to
// MaxReplyBytes they stay.
func TestRelayMaxReplyBytes(t *testing.T) {
	big := func(conn string, n int) session.Delivery {
		return session.Delivery{Proxy: "p1", Conn: conn, Client: conn, Packets: [][]byte{make([]byte, n/2), make([]byte, n-n/2)}}
	}
	cases := []struct {
		name      string
		own       []session.Delivery
		wantReply bool // own deliveries stay in the reply
	}{
		{name: "exactly MaxReplyBytes stays", own: []session.Delivery{big("a", delivery.MaxReplyBytes/2), big("b", delivery.MaxReplyBytes/2)}, wantReply: true},
		{name: "one byte over is forwarded", own: []session.Delivery{big("a", delivery.MaxReplyBytes/2), big("b", delivery.MaxReplyBytes/2+1)}},
		{name: "one large delivery is forwarded", own: []session.Delivery{big("a", delivery.MaxReplyBytes+100)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ds := append(slices.Clone(tc.own), dl("p2", "x"))
			h := &fakeHandler{reply: &session.Reply{Deliveries: ds}}
			fwd := &fakeForwarder{}
			got, err := delivery.NewRelay(h, fwd, nil).Handle(context.Background(), &session.Event{Kind: session.KindPackets, Proxy: "p1", Conn: "me"})
			if err != nil {
				t.Fatal(err)
			}
			if got := conns(fwd.calls["p2"][0]); !slices.Equal(got, []string{"x"}) {
				t.Errorf("p2 got %q, want [x]", got)
			}
			if tc.wantReply {
				if !slices.Equal(conns(got.Deliveries), conns(tc.own)) || len(fwd.calls["p1"]) != 0 {
					t.Fatalf("reply %q, posted to p1 %d times; want the own deliveries in the reply", conns(got.Deliveries), len(fwd.calls["p1"]))
				}
				return
			}
			if len(got.Deliveries) != 0 {
				t.Errorf("reply keeps %q over MaxReplyBytes", conns(got.Deliveries))
			}
			if calls := fwd.calls["p1"]; len(calls) != 1 || !reflect.DeepEqual(calls[0], tc.own) {
				t.Fatalf("posted to p1: %d requests, want one with the own deliveries in order", len(calls))
			}
		})
	}
}

// A reply without deliveries, or no reply, passes through untouched and
// nothing is posted.
func TestRelayNothingToDeliver(t *testing.T) {
	errBoom := errors.New("boom")
	for _, tc := range []struct {
		name  string
		reply *session.Reply
		err   error
	}{
		{name: "no deliveries", reply: &session.Reply{Packets: [][]byte{[]byte("x")}}},
		{name: "nil reply with an error", err: errBoom},
		{name: "no deliveries with an error", reply: &session.Reply{Close: true}, err: errBoom},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &fakeHandler{reply: tc.reply, err: tc.err}
			fwd := &fakeForwarder{}
			got, err := delivery.NewRelay(h, fwd, nil).Handle(context.Background(), &session.Event{Kind: session.KindPackets, Proxy: "p1"})
			if got != tc.reply || !errors.Is(err, tc.err) || (tc.err == nil && err != nil) {
				t.Fatalf("Handle = %+v, %v; want %+v, %v", got, err, tc.reply, tc.err)
			}
			if len(fwd.calls) != 0 || len(h.undelivered) != 0 {
				t.Fatalf("posted %v, undelivered %v; want nothing", fwd.calls, h.undelivered)
			}
		})
	}
}

// The Relay over a real Client and endpoint: a delivery for a connection
// the proxy no longer holds ends in Undelivered.
func TestRelayOverClient(t *testing.T) {
	ep := newEndpoint(t, delivery.ServerConfig{})
	ep.gone = []string{"gone-conn"}
	c := newClient(t, secret)
	ds := []session.Delivery{dl(ep.url, "live-conn"), dl(ep.url, "gone-conn"), dl("http://caller", "own")}
	h := &fakeHandler{reply: &session.Reply{Deliveries: ds}}
	got, err := delivery.NewRelay(h, c, nil).Handle(context.Background(), &session.Event{Kind: session.KindPackets, Proxy: "http://caller"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(conns(got.Deliveries), []string{"own"}) {
		t.Errorf("reply %q, want [own]", conns(got.Deliveries))
	}
	calls := ep.delivered()
	if len(calls) != 1 || !reflect.DeepEqual(calls[0], ds[:2]) {
		t.Fatalf("endpoint got %+v, want %+v", calls, ds[:2])
	}
	if len(h.undelivered) != 1 || !slices.Equal(conns(h.undelivered[0]), []string{"gone-conn"}) {
		t.Fatalf("undelivered %+v, want gone-conn", h.undelivered)
	}
	// A proxy with another secret refuses, writing nothing: everything for
	// it is unreached.
	bad := newClient(t, otherSecret)
	h = &fakeHandler{reply: &session.Reply{Deliveries: ds[:2]}}
	if _, err := delivery.NewRelay(h, bad, nil).Handle(context.Background(), &session.Event{Kind: session.KindPackets, Proxy: "http://caller"}); err != nil {
		t.Fatal(err)
	}
	if len(h.unreached) != 1 || strings.Join(conns(h.unreached[0]), ",") != "live-conn,gone-conn" || len(h.undelivered) != 0 {
		t.Fatalf("unreached %+v, undelivered %+v; want both unreached", h.unreached, h.undelivered)
	}
}

// What Undelivered returns (messages for a session's newer connection) is
// posted once more; if that connection is gone too, it is handed to
// Undelivered again but not posted a third time.
func TestRelayRedeliversOnce(t *testing.T) {
	h := &fakeHandler{
		reply: &session.Reply{Deliveries: []session.Delivery{dl("p2", "old")}},
		again: &session.Reply{Deliveries: []session.Delivery{dl("p3", "new")}},
	}
	fwd := &fakeForwarder{gone: map[string][]string{"p2": {"old"}, "p3": {"new"}}}
	r := delivery.NewRelay(h, fwd, nil)
	if _, err := r.Handle(context.Background(), &session.Event{Kind: session.KindPackets, Proxy: "p1"}); err != nil {
		t.Fatal(err)
	}
	if got := len(fwd.calls["p2"]); got != 1 {
		t.Errorf("%d posts to p2, want 1", got)
	}
	if got := fwd.calls["p3"]; len(got) != 1 || conns(got[0])[0] != "new" {
		t.Errorf("posts to p3 %v, want the redelivery to the new connection once", got)
	}
	if len(h.undelivered) != 2 || conns(h.undelivered[0])[0] != "old" || conns(h.undelivered[1])[0] != "new" {
		t.Errorf("Undelivered got %v, want the old connection's then the new one's", h.undelivered)
	}
}

// Deliveries whose proxy certainly wrote nothing (ErrNotDelivered) go to
// Unreached, which puts their in-flight messages back in the queue; those
// whose proxy may have written them go to Undelivered, as gone ones do.
func TestRelayUnreached(t *testing.T) {
	h := &fakeHandler{reply: &session.Reply{Deliveries: []session.Delivery{dl("p2", "a"), dl("p3", "b"), dl("p4", "c")}}}
	fwd := &fakeForwarder{
		gone: map[string][]string{"p4": {"c"}},
		errs: map[string]error{"p2": fmt.Errorf("%w: refused", delivery.ErrNotDelivered), "p3": errors.New("timeout")},
	}
	if _, err := delivery.NewRelay(h, fwd, nil).Handle(context.Background(), &session.Event{Kind: session.KindPackets, Proxy: "p1"}); err != nil {
		t.Fatal(err)
	}
	if len(h.unreached) != 1 || !slices.Equal(conns(h.unreached[0]), []string{"a"}) {
		t.Errorf("Unreached got %v, want the delivery to p2", h.unreached)
	}
	var got []string
	for _, ds := range h.undelivered {
		got = append(got, conns(ds)...)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("Undelivered got %v, want the deliveries to p3 (failed) and p4 (gone)", got)
	}
}

// deadlineHandler fails, as a store call cut short does, when its context
// ends, after making a delivery.
type deadlineHandler struct {
	fakeHandler
	left time.Duration // what the handler's context had left
}

func (h *deadlineHandler) Handle(ctx context.Context, ev *session.Event) (*session.Reply, error) {
	deadline, _ := ctx.Deadline()
	h.left = time.Until(deadline)
	<-ctx.Done()
	return &session.Reply{Deliveries: []session.Delivery{dl("p2", "a")}}, ctx.Err()
}

// Under a deadline (a Lambda invocation's), the handler gets less time
// than the invocation, so that when it runs out of it the deliveries it
// made are still posted before the invocation ends.
func TestRelayKeepsTimeForDeliveries(t *testing.T) {
	h := &deadlineHandler{}
	fwd := &fakeForwarder{}
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	_, err := delivery.NewRelay(h, fwd, nil).Handle(ctx, &session.Event{Kind: session.KindPackets, Proxy: "p1"})
	if err == nil {
		t.Fatal("the handler's error was lost")
	}
	if ctx.Err() != nil {
		t.Errorf("the invocation's time ran out before the deliveries were posted")
	}
	if h.left > 350*time.Millisecond {
		t.Errorf("the handler had %v of 400ms, want a quarter kept for the deliveries", h.left)
	}
	if len(fwd.calls["p2"]) != 1 {
		t.Errorf("posts to p2: %v, want the delivery the handler made", fwd.calls["p2"])
	}
}
