package lambdafn_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/delivery"
	"github.com/mqttless/mqttless/infra/invocation"
	"github.com/mqttless/mqttless/infra/lambdafn"
	"github.com/mqttless/mqttless/infra/memstore"
)

func newFunctions(t *testing.T) map[invocation.Group]*lambdafn.Function {
	t.Helper()
	h, err := session.New(memstore.New(), session.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	relay := delivery.NewRelay(h, nil, nil) // every delivery here is for the calling proxy
	fns := map[invocation.Group]*lambdafn.Function{}
	for _, g := range invocation.Groups {
		fns[g] = lambdafn.NewFunction(g, relay, nil)
	}
	return fns
}

func frame(t *testing.T, p packet.Packet) []byte {
	t.Helper()
	b, err := p.Append(nil, packet.V5)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A function handles only its own packets: a PUBLISH sent to the connect
// function fails with ErrMisrouted and changes nothing.
func TestFunctionRefusesOtherGroups(t *testing.T) {
	fns := newFunctions(t)
	ev := &session.Event{Kind: session.KindPackets, Proxy: "p", Conn: "c1",
		Packets: [][]byte{frame(t, &packet.Connect{ClientID: "a", CleanStart: true})}}
	if _, err := fns[invocation.GroupPublish].Handle(context.Background(), ev); !errors.Is(err, lambdafn.ErrMisrouted) {
		t.Fatalf("CONNECT to the publish function: %v, want ErrMisrouted", err)
	}
	r, err := fns[invocation.GroupConnect].Handle(context.Background(), ev)
	if err != nil || len(r.Packets) != 1 || r.Packets[0][0]>>4 != byte(packet.CONNACK) {
		t.Fatalf("CONNECT to the connect function: %+v, %v; want a CONNACK", r, err)
	}
	lost := &session.Event{Kind: session.KindLost, Proxy: "p", Conn: "c1", State: r.State}
	if _, err := fns[invocation.GroupConnect].Handle(context.Background(), lost); !errors.Is(err, lambdafn.ErrMisrouted) {
		t.Fatalf("lost event to the connect function: %v, want ErrMisrouted", err)
	}
	if _, err := fns[invocation.GroupSession].Handle(context.Background(), lost); err != nil {
		t.Fatalf("lost event to the session function: %v", err)
	}
}

// Invoke takes a bare event (answered with a bare reply) or a batch of
// several connections' events, answered in order with one result each; one
// event's failure is its own.
func TestFunctionInvokeBatch(t *testing.T) {
	fns := newFunctions(t)
	connect := fns[invocation.GroupConnect]
	single, _ := json.Marshal(&session.Event{Kind: session.KindPackets, Proxy: "p", Conn: "c0",
		Packets: [][]byte{frame(t, &packet.Connect{ClientID: "zero", CleanStart: true})}})
	out, err := connect.Invoke(context.Background(), single)
	if r, ok := out.(*session.Reply); err != nil || !ok || len(r.Packets) != 1 {
		t.Fatalf("bare event: %#v, %v; want a *session.Reply with the CONNACK", out, err)
	}
	b := invocation.Batch{}
	for _, id := range []string{"one", "two", "three"} {
		b.Events = append(b.Events, &session.Event{Kind: session.KindPackets, Proxy: "p", Conn: "c-" + id,
			Packets: [][]byte{frame(t, &packet.Connect{ClientID: id, CleanStart: true})}})
	}
	b.Events[1].Packets = [][]byte{frame(t, &packet.Publish{Topic: "x"})} // misrouted
	payload, _ := json.Marshal(b)
	out, err = connect.Invoke(context.Background(), payload)
	if err != nil {
		t.Fatal(err)
	}
	// Through JSON, as Lambda returns it.
	data, _ := json.Marshal(out)
	var br invocation.BatchReply
	if err := json.Unmarshal(data, &br); err != nil || len(br.Replies) != 3 {
		t.Fatalf("batch answer %s, %v; want 3 replies", data, err)
	}
	for i, res := range br.Replies {
		if i == 1 {
			if !strings.Contains(res.Error, "another function") {
				t.Errorf("misrouted event: error %q", res.Error)
			}
			continue
		}
		if res.Error != "" || res.Reply == nil || len(res.Reply.Packets) != 1 || res.Reply.State == nil || res.Reply.State.ClientID != []string{"one", "two", "three"}[i] {
			t.Errorf("event %d: %+v", i, res)
		}
	}
	if _, err := connect.Invoke(context.Background(), json.RawMessage(`[1,2]`)); err == nil {
		t.Errorf("a payload that is no event was accepted")
	}
}
