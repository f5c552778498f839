package session_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/memstore"
)

// lease renews proxy's lease for period through a KindLease event.
func (e *env) lease(proxy string, period time.Duration) {
	e.t.Helper()
	_, err := e.handler().Handle(context.Background(), &session.Event{Kind: session.KindLease, Proxy: proxy, LeaseMs: period.Milliseconds()})
	if err != nil {
		e.t.Fatalf("lease of %s: %v", proxy, err)
	}
}

// sweep runs one KindSweep event and checks its reply.
func (e *env) sweep() *session.Reply {
	e.t.Helper()
	r, err := e.handler().Handle(context.Background(), &session.Event{Kind: session.KindSweep})
	if err != nil {
		e.t.Fatalf("sweep: %v", err)
	}
	e.checkReply(nil, r)
	return r
}

// The sweep ends the sessions of a proxy whose lease lapsed as lost
// connections [MQTT-3.1.2-8]: wills without delay are published at once,
// delayed ones after their delay, a session with expiry 0 ends
// (section 3.1.2.11.2) and a persistent one goes offline with its expiry
// counting from then. Sessions of a proxy whose lease holds, and sessions
// of a proxy while its lease holds, are untouched.
func TestSweepLapsedLease(t *testing.T) {
	e := newEnv(t, session.Config{})
	e.lease("proxy-1", 5*time.Second)
	e.lease("proxy-2", time.Minute)
	watcher, _, _ := e.connectOn("proxy-2", v5, "watcher")
	watcher.sub(sub("will/#", 0))
	e.connect(v5, "now", persistent(), will("will/now", "now", 0, false, 0))
	e.connect(v5, "later", expiry(100), will("will/later", "later", 0, false, 30))
	e.connect(v5, "ends", will("will/ends", "ends", 0, false, 30))
	e.connectOn("proxy-2", v5, "alive", persistent(), will("will/alive", "alive", 0, false, 0))

	e.clock.Advance(4 * time.Second)
	wantPayloads(t, watcher.recv(e.sweep())) // the lease still holds
	if s, _ := e.store.Session(context.Background(), "now"); !s.Online() {
		t.Fatalf("session of a live lease taken offline: %+v", s)
	}

	e.clock.Advance(2 * time.Second)
	got := payloads(watcher.recv(e.sweep()))
	if len(got) != 2 || !(got[0] == "now" && got[1] == "ends" || got[0] == "ends" && got[1] == "now") {
		t.Fatalf("wills published when the lease lapsed: %q, want now and ends (expiry 0 sends the will at once)", got)
	}
	ctx := context.Background()
	if s, err := e.store.Session(ctx, "now"); err != nil || s.Online() || s.ExpiresAt != e.clock.Now().Add(time.Hour).UnixMilli() {
		t.Fatalf("session now after the sweep: %+v, %v; want offline, expiring an hour (MaxSessionExpiry) from the sweep", s, err)
	}
	if s, err := e.store.Session(ctx, "later"); err != nil || s.Online() || s.ExpiresAt != e.clock.Now().Add(100*time.Second).UnixMilli() {
		t.Fatalf("session later after the sweep: %+v, %v; want offline, expiring 100 s from the sweep", s, err)
	}
	if _, err := e.store.Session(ctx, "ends"); err == nil {
		t.Fatalf("session with expiry 0 still exists after the sweep")
	}
	if s, _ := e.store.Session(ctx, "alive"); !s.Online() {
		t.Fatalf("session of proxy-2, whose lease holds, went offline")
	}
	leases, _ := e.store.Leases(ctx)
	for _, l := range leases {
		if l.Proxy == "proxy-1" && !l.Ended {
			t.Fatalf("lease of proxy-1 not ended after its sessions were: %+v", l)
		}
	}

	e.clock.Advance(29 * time.Second)
	wantPayloads(t, watcher.recv(e.sweep()))
	e.clock.Advance(time.Second)
	wantPayloads(t, watcher.recv(e.sweep()), "later") // its Will Delay Interval from the lapse
	wantPayloads(t, watcher.recv(e.sweep()))

	// The client comes back through another proxy: its session resumed.
	c, ack, _ := e.connectOn("proxy-2", v5, "now", persistent())
	if !ack.SessionPresent {
		t.Fatalf("session of the dead proxy not present on reconnect")
	}
	c.disconnect()
}

// A proxy restarted under the same id renews its lease before it accepts
// connections: the sweep leaves the sessions of the new run alone, and a
// renewed lease ends nothing.
func TestSweepRenewedLease(t *testing.T) {
	e := newEnv(t, session.Config{})
	e.lease("proxy-1", 5*time.Second)
	watcher, _, _ := e.connectOn("proxy-W", v5, "watcher")
	watcher.sub(sub("will/#", 0))
	e.connect(v5, "a", persistent(), will("will/a", "a", 0, false, 0))
	for range 10 {
		e.clock.Advance(3 * time.Second)
		e.lease("proxy-1", 5*time.Second)
		wantPayloads(t, watcher.recv(e.sweep()))
	}
	if s, _ := e.store.Session(context.Background(), "a"); !s.Online() {
		t.Fatalf("session of a renewed lease went offline")
	}
}

// Several sweeps at once publish each will once: only the sweep whose
// write takes the session offline schedules it, and only the one that
// clears it publishes it.
func TestSweepConcurrent(t *testing.T) {
	e := newEnv(t, session.Config{})
	e.lease("proxy-1", 5*time.Second)
	watcher, _, _ := e.connectOn("proxy-W", v5, "watcher")
	watcher.sub(sub("will/#", 0))
	const clients = 20
	for i := range clients {
		id := string(rune('a' + i))
		e.connect(v5, id, persistent(), will("will/"+id, id, 0, false, 0))
	}
	e.clock.Advance(6 * time.Second)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		replies []*session.Reply
	)
	for range 4 {
		h := e.newHandler()
		wg.Go(func() {
			r, _, err := h.Sweep(context.Background(), 1000)
			if err != nil {
				t.Errorf("Sweep: %v", err)
			}
			mu.Lock()
			replies = append(replies, r)
			mu.Unlock()
		})
	}
	wg.Wait()
	count := map[string]int{}
	for _, r := range replies {
		for _, p := range payloads(watcher.recv(r)) {
			count[p]++
		}
	}
	if len(count) != clients {
		t.Fatalf("wills published for %d of %d sessions: %v", len(count), clients, count)
	}
	for p, n := range count {
		if n != 1 {
			t.Errorf("will %q published %d times, want once", p, n)
		}
	}
}

// A lease event with no period, or one past MaxLeasePeriod, fails: a dead
// proxy would hold its sessions as long as its lease.
func TestLeaseEventRefusesBadPeriods(t *testing.T) {
	e := newEnv(t, session.Config{})
	for _, ms := range []int64{0, -1, (session.MaxLeasePeriod + time.Second).Milliseconds()} {
		if _, err := e.h.Handle(context.Background(), &session.Event{Kind: session.KindLease, Proxy: "p", LeaseMs: ms}); err == nil {
			t.Errorf("lease of %d ms accepted", ms)
		}
	}
	if _, err := e.h.Handle(context.Background(), &session.Event{Kind: session.KindLease, LeaseMs: 1000}); err == nil {
		t.Errorf("lease of no proxy accepted")
	}
}

// staleOwned is a store whose Owned keeps returning what it returned
// first, as a lagging index may.
type staleOwned struct {
	*memstore.Store
	first []*session.Session
	calls int
}

func (s *staleOwned) Owned(ctx context.Context, proxy string, limit int) ([]*session.Session, error) {
	s.calls++
	if s.first == nil {
		var err error
		if s.first, err = s.Store.Owned(ctx, proxy, limit); err != nil {
			return nil, err
		}
	}
	return s.first, nil
}

// A sweep over a store whose Owned lags ends each session once and then
// the lease, instead of going round the stale sessions.
func TestSweepStaleOwned(t *testing.T) {
	e := newEnv(t, session.Config{})
	e.lease("proxy-1", 5*time.Second)
	e.connect(v5, "a", persistent())
	e.connect(v5, "b", persistent())
	e.clock.Advance(6 * time.Second)
	st := &staleOwned{Store: e.store}
	h, err := session.New(st, session.Config{}, nil, session.WithClock(e.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	_, stats, err := h.Sweep(context.Background(), 1000)
	if err != nil || stats.Ended != 2 || stats.Lapsed != 1 {
		t.Fatalf("Sweep = %+v, %v; want 2 sessions ended and the lease", stats, err)
	}
	if st.calls > 2 {
		t.Fatalf("Owned read %d times for two sessions", st.calls)
	}
}

// trimStore is a memstore whose streams the sweep trims (StreamTrimmer).
type trimStore struct {
	*memstore.Store
	calls, limit int
	now          int64
}

func (s *trimStore) TrimStreams(_ context.Context, now int64, limit int) (int, error) {
	s.calls++
	s.now, s.limit = now, limit
	return 3, nil
}

// A store that trims its streams itself (bbolt) has them trimmed by every
// sweep, at the sweep's clock and within its limit: retention is kept
// without a ttl of its own.
func TestSweepTrimsStreams(t *testing.T) {
	st := &trimStore{Store: memstore.New()}
	clock := time.UnixMilli(1_800_000_000_000)
	h, err := session.New(st, session.Config{}, nil, session.WithClock(func() time.Time { return clock }))
	if err != nil {
		t.Fatal(err)
	}
	_, stats, err := h.Sweep(context.Background(), 50)
	if err != nil {
		t.Fatal(err)
	}
	if st.calls != 1 || st.now != clock.UnixMilli() || st.limit != 50 || stats.Trimmed != 3 {
		t.Fatalf("TrimStreams called %d times at %d limit %d, stats %+v", st.calls, st.now, st.limit, stats)
	}
}
