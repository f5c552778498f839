package boltstore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/boltstore"
)

// TestGroupCommitCaches runs session and subscription writes on a few
// client ids from many goroutines at once, with group commits, and checks
// that the session cache and the subscription index then agree with the
// file: a store reopened from it answers Session and Match the same.
func TestGroupCommitCaches(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	st, err := boltstore.Open(path, boltstore.WithNoSync(), boltstore.WithGroupCommit())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ids := []string{"a", "b", "c", "d"}
	var wg sync.WaitGroup
	errc := make(chan error, 16)
	for g := range 16 {
		wg.Go(func() {
			for i := range 40 {
				id := ids[(g+i)%len(ids)]
				conn := fmt.Sprintf("c-%d-%d", g, i)
				s := &session.Session{ClientID: id, Proxy: "p", Conn: conn, Version: packet.V5, ExpiryInterval: uint32(i % 3), ReceiveMax: 10}
				if _, err := st.Connect(ctx, s, i%2 == 0, int64(i)); err != nil {
					errc <- err
					return
				}
				var err error
				switch i % 4 {
				case 0:
					_, err = st.Subscribe(ctx, id, conn, []session.Subscription{{Filter: fmt.Sprintf("t/%d", g), QoS: 1}})
				case 1:
					_, err = st.Unsubscribe(ctx, id, conn, []string{fmt.Sprintf("t/%d", (g+1)%16)})
				case 2:
					err = st.SetOffline(ctx, id, conn, session.Offline{ExpiresAt: 1000 + int64(i), ExpiryInterval: 60})
				case 3:
					err = st.DeleteSession(ctx, id, conn)
				}
				if err != nil && !errors.Is(err, session.ErrFenced) && !errors.Is(err, session.ErrNotFound) {
					errc <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	before := snapshot(t, st, ids)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = boltstore.Open(path, boltstore.WithNoSync())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if after := snapshot(t, st, ids); !reflect.DeepEqual(before, after) {
		t.Fatalf("in memory:\n%v\nfrom the file:\n%v", before, after)
	}
}

// snapshot is what Session and Match report for ids and topics t/0..t/15.
func snapshot(t *testing.T, st *boltstore.Store, ids []string) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	for _, id := range ids {
		s, err := st.Session(ctx, id)
		switch {
		case errors.Is(err, session.ErrNotFound):
			out = append(out, id+": none")
		case err != nil:
			t.Fatal(err)
		default:
			out = append(out, fmt.Sprintf("%s: %+v", id, *s))
		}
	}
	for g := range 16 {
		subs, err := st.Match(ctx, fmt.Sprintf("t/%d", g))
		if err != nil {
			t.Fatal(err)
		}
		var m []string
		for _, s := range subs {
			m = append(m, s.ClientID+" "+s.Filter)
		}
		slices.Sort(m)
		out = append(out, fmt.Sprintf("t/%d: %v", g, m))
	}
	return out
}

// TestEndingSessionWrites checks the writes of a session that ends with its
// connection, which return before their commit with WithGroupCommit: their
// changes show at once, and they reach the file in order with the others.
func TestEndingSessionWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	st, err := boltstore.Open(path, boltstore.WithGroupCommit())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	ending := &session.Session{ClientID: "e", Proxy: "p", Conn: "c1", Version: packet.V311, ReceiveMax: 20}
	durable := &session.Session{ClientID: "d", Proxy: "p", Conn: "c2", Version: packet.V311, ExpiryInterval: 60, ReceiveMax: 20}
	for _, s := range []*session.Session{ending, durable} {
		_, err := st.Connect(ctx, s, true, 1)
		must(err)
		_, err = st.Subscribe(ctx, s.ClientID, s.Conn, []session.Subscription{{Filter: "a/#", QoS: 1}})
		must(err)
	}
	if s, err := st.Session(ctx, "e"); err != nil || s.Conn != "c1" {
		t.Fatalf("Session(e) = %v, %v", s, err)
	}
	subs, err := st.Match(ctx, "a/b")
	must(err)
	if len(subs) != 2 {
		t.Fatalf("Match(a/b) = %v, want both sessions", subs)
	}
	msg := &session.Outbound{QoS: 1, Message: session.Message{Topic: "a/b", Payload: []byte("x"), QoS: 1}}
	for _, id := range []string{"e", "d"} {
		_, sent, err := st.Enqueue(ctx, id, []*session.Outbound{msg}, session.QueueLimit{Messages: 10}, "", 5)
		must(err)
		if len(sent) != 1 {
			t.Fatalf("Enqueue for %s dispatched %d", id, len(sent))
		}
	}
	must(st.Acknowledge(ctx, "e", "", 1))
	_, err = st.Connect(ctx, &session.Session{ClientID: "e2", Proxy: "p", Conn: "c3", Version: packet.V311}, true, 1)
	must(err)
	must(st.DeleteSession(ctx, "e2", "c3"))
	if _, err := st.Session(ctx, "e2"); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Session(e2) after DeleteSession: %v", err)
	}
	must(st.Close())

	st, err = boltstore.Open(path)
	must(err)
	defer st.Close()
	for _, id := range []string{"e", "d"} {
		if _, err := st.Session(ctx, id); err != nil {
			t.Fatalf("after reopening, Session(%s): %v", id, err)
		}
	}
	if _, err := st.Session(ctx, "e2"); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("after reopening, Session(e2): %v", err)
	}
	if f, err := st.Inflight(ctx, "e"); err != nil || len(f) != 0 {
		t.Fatalf("after reopening, in flight for e: %v, %v", f, err)
	}
	if f, err := st.Inflight(ctx, "d"); err != nil || len(f) != 1 {
		t.Fatalf("after reopening, in flight for d: %v, %v", f, err)
	}
	subs, err = st.Match(ctx, "a/b")
	must(err)
	if len(subs) != 2 {
		t.Fatalf("after reopening, Match(a/b) = %v", subs)
	}
}

// TestEndingSessionReadsOwnWrites checks that a write answered before its
// commit (a session that ends with its connection, with WithGroupCommit) is
// seen by the reads that follow it, those served by read-only transactions
// (Subscriptions, Inflight) included: the subscription limit counts a
// client's subscriptions that way, and let one too many through when the
// last SUBSCRIBE was not yet committed.
func TestEndingSessionReadsOwnWrites(t *testing.T) {
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "store.db"), boltstore.WithGroupCommit())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	s := &session.Session{ClientID: "e", Proxy: "p", Conn: "c1", Version: packet.V311, ReceiveMax: 20}
	if _, err := st.Connect(ctx, s, true, 1); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		filter := fmt.Sprintf("f/%d", i)
		if _, err := st.Subscribe(ctx, "e", "c1", []session.Subscription{{Filter: filter, QoS: 1}}); err != nil {
			t.Fatal(err)
		}
		subs, err := st.Subscriptions(ctx, "e")
		if err != nil {
			t.Fatal(err)
		}
		if len(subs) != i+1 {
			t.Fatalf("after subscribing to %s, Subscriptions has %d, want %d", filter, len(subs), i+1)
		}
		msg := &session.Outbound{QoS: 1, Message: session.Message{Topic: filter, Payload: []byte("x"), QoS: 1}}
		if _, _, err := st.Enqueue(ctx, "e", []*session.Outbound{msg}, session.QueueLimit{Messages: 100}, "", 100); err != nil {
			t.Fatal(err)
		}
		if f, err := st.Inflight(ctx, "e"); err != nil || len(f) != i+1 {
			t.Fatalf("after dispatching message %d, in flight: %d, %v", i+1, len(f), err)
		}
	}
}
