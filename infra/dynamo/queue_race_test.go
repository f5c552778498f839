package dynamo_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/dynamo"
)

// TestQueueUnderBacklog: publishers enqueue QoS 1 messages for one
// subscriber (each Enqueue dispatching into its window, as the fan-out
// does) into a queue kept full, while the subscriber acknowledges and
// dispatches, reconnects without a clean start (resending what is in
// flight, then dispatching), and a failed delivery puts messages in flight
// back in the queue (as session.Handler.Unreached does). Every accepted
// message reaches the subscriber, and at the end the session's counters
// nq and nf equal its queued and in-flight items.
func TestQueueUnderBacklog(t *testing.T) {
	skipWithoutTable(t)
	// One Store per worker, as each function instance has its own.
	st := dynamo.New(db, table)
	stores := []*dynamo.Store{dynamo.New(db, table), dynamo.New(db, table), dynamo.New(db, table)}
	ctx := t.Context()
	client := fmt.Sprintf("backlog-%d", time.Now().UnixNano())
	const (
		window     = 4
		maxQueued  = 30
		publishers = 3
		perPub     = 60
	)
	limit := session.QueueLimit{Messages: maxQueued}
	sess := func(conn string) *session.Session {
		return &session.Session{ClientID: client, Identity: "u", Proxy: "p", Conn: conn, Version: packet.V5,
			ExpiryInterval: 3600, ReceiveMax: window, MaxPacketSize: 1 << 20}
	}
	if _, err := st.Connect(ctx, sess("c0"), true, time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.DeleteSession(context.Background(), client, "") })

	var (
		mu       sync.Mutex
		accepted = map[string]bool{}
		seen     = map[string]bool{}
		failed   error
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if failed == nil {
			failed = err
		}
	}
	// The subscriber's connection: what is sent to it, in order.
	wire := make(chan *session.Outbound, 10000)
	send := func(d []*session.Outbound) {
		mu.Lock()
		for _, o := range d {
			seen[string(o.Message.Payload)] = true
		}
		mu.Unlock()
		for _, o := range d {
			wire <- o
		}
	}
	ack := func(pid uint16) {
		if err := st.Acknowledge(ctx, client, "", pid); err != nil && !errors.Is(err, session.ErrNotFound) {
			fail(fmt.Errorf("acknowledge %d: %w", pid, err))
		}
	}
	dispatch := func() {
		d, err := st.Dispatch(ctx, client, "", window)
		if err != nil {
			fail(fmt.Errorf("dispatch: %w", err))
		}
		send(d)
	}
	var pubs sync.WaitGroup
	for p := range publishers {
		pubs.Go(func() {
			for i := range perPub {
				payload := fmt.Sprintf("%d-%d", p, i)
				o := &session.Outbound{QoS: 1, Message: session.Message{Topic: "t", Payload: []byte(payload), QoS: 1,
					ExpiresAt: time.Now().Add(time.Hour).UnixMilli()}}
				n, d, err := stores[p].Enqueue(ctx, client, []*session.Outbound{o}, limit, "", window)
				if err != nil {
					fail(fmt.Errorf("enqueue: %w", err))
					return
				}
				if n == 1 {
					mu.Lock()
					accepted[payload] = true
					mu.Unlock()
				}
				send(d)
			}
		})
	}
	var done atomic.Bool
	var others sync.WaitGroup
	// The subscriber acknowledges what it is sent, and each
	// acknowledgement dispatches.
	others.Go(func() {
		for !done.Load() {
			select {
			case o := <-wire:
				ack(o.PacketID)
				dispatch()
			case <-time.After(20 * time.Millisecond):
				dispatch()
			}
		}
	})
	// The subscriber reconnects now and then: what is in flight is sent
	// again, then the queue is dispatched.
	others.Go(func() {
		for n := 1; !done.Load(); n++ {
			time.Sleep(300 * time.Millisecond)
			if _, err := st.Connect(ctx, sess(fmt.Sprintf("c%d", n)), false, time.Now().UnixMilli()); err != nil {
				fail(fmt.Errorf("connect: %w", err))
				return
			}
			in, err := st.Inflight(ctx, client)
			if err != nil {
				fail(fmt.Errorf("in flight: %w", err))
				return
			}
			send(in)
			dispatch()
		}
	})
	// A delivery fails now and then: a message in flight is put back in
	// the queue, and its exchange ended.
	others.Go(func() {
		for !done.Load() {
			time.Sleep(200 * time.Millisecond)
			in, err := st.Inflight(ctx, client)
			if err != nil || len(in) == 0 {
				continue
			}
			o := in[len(in)-1]
			cp := &session.Outbound{QoS: o.QoS, Message: o.Message}
			n, _, err := st.Enqueue(ctx, client, []*session.Outbound{cp}, limit, "", 0)
			if err != nil {
				fail(fmt.Errorf("requeue: %w", err))
				continue
			}
			if n == 1 {
				ack(o.PacketID)
			}
		}
	})
	pubs.Wait()
	done.Store(true)
	others.Wait()
	if failed != nil {
		t.Fatal(failed)
	}
	// Drain: resend what is in flight and acknowledge everything.
	for range 200 {
		in, err := st.Inflight(ctx, client)
		if err != nil {
			t.Fatal(err)
		}
		send(in)
		dispatch()
		if len(wire) == 0 {
			break
		}
		for len(wire) > 0 {
			ack((<-wire).PacketID)
		}
	}
	nq, nf, err := st.Counters(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	items, err := st.Partition(ctx, client)
	if err != nil {
		t.Fatal(err)
	}
	queued, flying := 0, 0
	for _, it := range items {
		sk := fmt.Sprint(it["sk"])
		switch {
		case strings.Contains(sk, "#O#"):
			queued++
		case strings.Contains(sk, "#F#"):
			flying++
		}
	}
	var lost []string
	for p := range accepted {
		if !seen[p] {
			lost = append(lost, p)
		}
	}
	t.Logf("accepted %d of %d; nq %d, nf %d; items queued %d, in flight %d", len(accepted), publishers*perPub, nq, nf, queued, flying)
	if len(lost) > 0 {
		t.Errorf("%d accepted messages never sent: %v", len(lost), lost)
	}
	if nq != queued || nf != flying {
		t.Errorf("counters nq %d, nf %d; items queued %d, in flight %d", nq, nf, queued, flying)
	}
}
