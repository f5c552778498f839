package boltstore_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/boltstore"
)

// state is everything TestReopen reads back from a store.
type state struct {
	sessions map[string]*session.Session
	subs     map[string][]session.Subscription
	match    map[string][]string
	retained []*session.Message
	inflight []*session.Outbound
	due      []string
}

// read reads the state of clients a and b from st.
func read(t *testing.T, st *boltstore.Store, now int64) state {
	t.Helper()
	ctx := t.Context()
	var s state
	var err error
	if s.sessions, err = st.Sessions(ctx, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	s.subs = map[string][]session.Subscription{}
	for _, id := range []string{"a", "b"} {
		if s.subs[id], err = st.Subscriptions(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	s.match = map[string][]string{}
	for _, name := range []string{"x/b", "y/z", "$SYS/x"} {
		subs, err := st.Match(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		for _, sub := range subs {
			s.match[name] = append(s.match[name], sub.ClientID+" "+sub.Filter)
		}
		slices.Sort(s.match[name])
	}
	if s.retained, err = st.RetainedPage(ctx, "#", "", 1000, 1<<30); err != nil {
		t.Fatal(err)
	}
	if s.inflight, err = st.Inflight(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	due, err := st.Due(ctx, now+3600_000, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range due {
		s.due = append(s.due, d.ClientID)
	}
	return s
}

// TestReopen checks that everything a store holds survives closing and
// reopening its file, with the default (synced) settings.
func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "store.db")
	now := time.Now().UnixMilli()
	st, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	will := &session.Will{Delay: 30, Message: session.Message{Topic: "wills/b", Payload: []byte("gone"), QoS: 1}}
	a := &session.Session{ClientID: "a", Proxy: "p1", Conn: "c1", Version: packet.V5, ExpiryInterval: 60, ReceiveMax: 3, Will: will}
	b := &session.Session{ClientID: "b", Proxy: "p1", Conn: "c2", Version: packet.V311, ExpiryInterval: 60, ReceiveMax: 3}
	for _, s := range []*session.Session{a, b} {
		_, err := st.Connect(ctx, s, false, now)
		must(err)
	}
	_, err = st.Subscribe(ctx, "a", "c1", []session.Subscription{
		{ClientID: "a", Filter: "x/+", QoS: 1}, {ClientID: "a", Filter: "$share/g/y/#", QoS: 2, SubID: 5}, {ClientID: "a", Filter: "$SYS/#"},
	})
	must(err)
	_, err = st.Subscribe(ctx, "b", "c2", []session.Subscription{{ClientID: "b", Filter: "x/b", QoS: 0, NoLocal: true}})
	must(err)
	must(st.SetOffline(ctx, "b", "c2", session.Offline{ExpiresAt: now + 60_000, ExpiryInterval: 60, Will: will, WillAt: now + 30_000}))
	for _, name := range []string{"r/1", "r/2", "$SYS/x"} {
		must(st.SetRetained(ctx, &session.Message{Topic: name, Payload: []byte(name), QoS: 1, Retain: true}, session.RetainedLimits{}))
	}
	msgs := []*session.Outbound{
		{QoS: 2, Message: session.Message{Topic: "x/b", Payload: []byte("1"), QoS: 2}},
		{QoS: 1, Message: session.Message{Topic: "x/b", Payload: []byte("2"), QoS: 1}},
		{QoS: 1, Message: session.Message{Topic: "x/b", Payload: []byte("3"), QoS: 1}},
		{QoS: 1, Message: session.Message{Topic: "x/b", Payload: []byte("4"), QoS: 1}},
		{QoS: 2, Message: session.Message{Topic: "x/b", Payload: []byte("5"), QoS: 2}},
	}
	_, inflight, err := st.Enqueue(ctx, "a", msgs, session.QueueLimit{Messages: 100}, "", 2)
	must(err)
	must(st.Release(ctx, "a", "", inflight[0].PacketID))
	_, err = st.Receive(ctx, "a", "", &session.Inbound{PacketID: 9, Message: session.Message{Topic: "in", Payload: []byte("in"), QoS: 2}})
	must(err)
	must(st.MarkFannedOut(ctx, "a", "", 9))
	before := read(t, st, now)
	must(st.Close())

	st, err = boltstore.Open(path)
	must(err)
	defer func() { must(st.Close()) }()
	after := read(t, st, now)
	if !reflect.DeepEqual(after, before) {
		t.Fatalf("after reopening:\n got  %+v\n want %+v", after, before)
	}
	wantMatch := map[string][]string{"x/b": {"a x/+", "b x/b"}, "y/z": {"a $share/g/y/#"}, "$SYS/x": {"a $SYS/#"}}
	if !reflect.DeepEqual(after.match, wantMatch) {
		t.Fatalf("Match after reopening = %v, want %v", after.match, wantMatch)
	}
	if len(after.inflight) != 2 || len(after.retained) != 2 || !slices.Equal(after.due, []string{"b"}) {
		t.Fatalf("after reopening: %d in flight, %d retained, due %v", len(after.inflight), len(after.retained), after.due)
	}
	in, err := st.Receive(ctx, "a", "", &session.Inbound{PacketID: 9})
	must(err)
	if in == nil || !in.Routed || string(in.Message.Payload) != "in" {
		t.Fatalf("receive state after reopening: %+v", in)
	}

	// Dispatching goes on where it stopped: the rest of the queue, in
	// order, under packet ids not in flight, with increasing Seq.
	used := map[uint16]bool{inflight[0].PacketID: true, inflight[1].PacketID: true}
	lastSeq := inflight[1].Seq
	check := func(d []*session.Outbound, want ...string) {
		t.Helper()
		var got []string
		for _, o := range d {
			got = append(got, string(o.Message.Payload))
			if o.Seq <= lastSeq {
				t.Fatalf("seq %d after %d", o.Seq, lastSeq)
			}
			lastSeq = o.Seq
			if o.PacketID == 0 || used[o.PacketID] {
				t.Fatalf("packet id %d handed out while in flight (%v)", o.PacketID, used)
			}
			used[o.PacketID] = true
		}
		if !slices.Equal(got, want) {
			t.Fatalf("dispatched %v, want %v", got, want)
		}
	}
	d, err := st.Dispatch(ctx, "a", "", 4)
	must(err)
	check(d, "3", "4")
	must(st.Acknowledge(ctx, "a", "", inflight[1].PacketID))
	must(st.Complete(ctx, "a", "", inflight[0].PacketID))
	delete(used, inflight[0].PacketID)
	delete(used, inflight[1].PacketID)
	_, d, err = st.Enqueue(ctx, "a", []*session.Outbound{{QoS: 1, Message: session.Message{Topic: "x/b", Payload: []byte("6"), QoS: 1}}}, session.QueueLimit{Messages: 100}, "", 4)
	must(err)
	check(d, "5", "6")

	// Subscription changes after the reopen survive the next one too.
	_, err = st.Unsubscribe(ctx, "a", "c1", []string{"x/+"})
	must(err)
	must(st.DeleteSession(ctx, "b", ""))
	must(st.Close())
	st, err = boltstore.Open(path)
	must(err)
	subs, err := st.Match(ctx, "x/b")
	must(err)
	if len(subs) != 0 {
		t.Fatalf("Match after unsubscribing and deleting = %v", subs)
	}
	f, err := st.Inflight(ctx, "a")
	must(err)
	if len(f) != 4 {
		t.Fatalf("%d in flight after the second reopen, want 4", len(f))
	}
}

// TestOpenLocked checks that a second Open of a file in use gives up after
// the lock timeout.
func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	st, err := boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	start := time.Now()
	st2, err := boltstore.Open(path, boltstore.WithLockTimeout(100*time.Millisecond))
	if err == nil {
		st2.Close()
		t.Fatal("second Open of a file in use succeeded")
	}
	if !errors.Is(err, bolterrors.ErrTimeout) {
		t.Fatalf("second Open: %v, want a timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("second Open took %v", d)
	}
}

// TestIndexConsistent races the writes that change subscriptions on the
// same clients and checks that the in-memory index ends up as the file
// says: the index built by a reopen matches the same.
func TestIndexConsistent(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "store.db")
	st, err := boltstore.Open(path, boltstore.WithNoSync())
	if err != nil {
		t.Fatal(err)
	}
	clients := []string{"a", "b", "c"}
	filters := []string{"t/+", "t/1", "#", "$share/g/t/#"}
	names := []string{"t/1", "t/2", "u"}
	now := time.Now().UnixMilli()
	var conns atomic.Int64
	connect := func(id string, clean bool) {
		s := &session.Session{ClientID: id, Conn: fmt.Sprintf("conn%d", conns.Add(1)), Proxy: "p", ExpiryInterval: 60}
		if _, err := st.Connect(ctx, s, clean, now); err != nil {
			t.Error(err)
		}
	}
	for _, id := range clients {
		connect(id, false)
	}
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for range 300 {
				id := clients[r.IntN(len(clients))]
				s, err := st.Session(ctx, id)
				if errors.Is(err, session.ErrNotFound) {
					connect(id, false)
					continue
				} else if err != nil {
					t.Error(err)
					return
				}
				f := filters[r.IntN(len(filters))]
				switch r.IntN(6) {
				case 0, 1:
					_, err = st.Subscribe(ctx, id, s.Conn, []session.Subscription{{ClientID: id, Filter: f}})
				case 2:
					_, err = st.Unsubscribe(ctx, id, s.Conn, []string{f})
				case 3:
					connect(id, r.IntN(2) == 0)
				case 4:
					if err = st.SetOffline(ctx, id, s.Conn, session.Offline{ExpiresAt: now - 1, ExpiryInterval: 1}); err == nil {
						connect(id, false) // finds it expired
					}
				case 5:
					err = st.DeleteSession(ctx, id, s.Conn)
				}
				if err != nil && !errors.Is(err, session.ErrFenced) && !errors.Is(err, session.ErrNotFound) {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	matches := func(st *boltstore.Store) map[string][]string {
		out := map[string][]string{}
		for _, name := range names {
			subs, err := st.Match(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range subs {
				out[name] = append(out[name], s.ClientID+" "+s.Filter)
			}
			slices.Sort(out[name])
		}
		return out
	}
	live := matches(st)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = boltstore.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if reopened := matches(st); !reflect.DeepEqual(live, reopened) {
		t.Fatalf("index before closing:\n %v\nrebuilt from the file:\n %v", live, reopened)
	}
}
