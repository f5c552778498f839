package session_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/memstore"
)

// slowOffline is a store whose SetOffline takes delay, as a throttled
// DynamoDB's may, and which counts the calls that took a session offline.
type slowOffline struct {
	*memstore.Store
	delay time.Duration
	mu    sync.Mutex
	ended map[string]int // client id -> successful SetOffline calls
}

func (s *slowOffline) SetOffline(ctx context.Context, clientID, conn string, o session.Offline) error {
	time.Sleep(s.delay)
	err := s.Store.SetOffline(ctx, clientID, conn, o)
	if err == nil {
		s.mu.Lock()
		s.ended[clientID]++
		s.mu.Unlock()
	}
	return err
}

// connectMany connects n v5 clients with a will without delay on proxy,
// named prefix0, prefix1, ...
func (e *env) connectMany(proxy, prefix string, n int) {
	for i := range n {
		id := fmt.Sprintf("%s%d", prefix, i)
		e.connectOn(proxy, v5, id, persistent(), will("will/"+id, id, 0, false, 0))
	}
}

// countWills adds the will payloads r delivers to watcher to count.
func countWills(watcher *conn, r *session.Reply, count map[string]int) {
	for _, p := range payloads(watcher.recv(r)) {
		count[p]++
	}
}

// wantEachOnce checks that every one of the n clients prefix0... had its
// session taken offline once and its will published once.
func wantEachOnce(t *testing.T, prefix string, n int, ended, wills map[string]int) {
	t.Helper()
	for i := range n {
		id := fmt.Sprintf("%s%d", prefix, i)
		if ended[id] != 1 || wills[id] != 1 {
			t.Errorf("%s: taken offline %d times, will published %d times; want once each", id, ended[id], wills[id])
		}
	}
}

// A sweep pass stops starting work before its context's deadline, and the
// next pass resumes where it stopped: a dead proxy's sessions, more than
// one pass can end on a slow store, are all ended over a few passes, each
// returning before its deadline, with every session taken offline once
// and every will published once [MQTT-3.1.2-8].
func TestSweepPassBoundedAndResumes(t *testing.T) {
	e := newEnv(t, session.Config{})
	e.lease("proxy-1", 5*time.Second)
	watcher, _, _ := e.connectOn("proxy-W", v5, "watcher")
	watcher.sub(sub("will/#", 0))
	const n = 800
	e.connectMany("proxy-1", "c", n)
	e.clock.Advance(6 * time.Second)
	st := &slowOffline{Store: e.store, delay: 20 * time.Millisecond, ended: map[string]int{}}
	h, err := session.New(st, session.Config{}, nil, session.WithClock(e.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	wills := map[string]int{}
	ended, passes, lapsed := 0, 0, false
	for !lapsed || len(wills) < n {
		if passes++; passes > 100 {
			t.Fatalf("%d passes ended %d of %d sessions, published %d wills", passes, ended, n, len(wills))
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		deadline, _ := ctx.Deadline()
		r, stats, err := h.Sweep(ctx, 1000)
		cancel()
		if err != nil {
			t.Fatalf("pass %d: %v", passes, err)
		}
		if time.Now().After(deadline) {
			t.Errorf("pass %d returned after its context's deadline", passes)
		}
		e.checkReply(nil, r)
		countWills(watcher, r, wills)
		if passes == 1 && stats.Ended >= n {
			// 800 calls of 20 ms, 16 at a time, take 1 s at least: more
			// than half of the pass.
			t.Errorf("the first pass ended all %d sessions within half of 1 s", stats.Ended)
		}
		ended += stats.Ended
		lapsed = lapsed || stats.Lapsed == 1
	}
	if passes < 2 {
		t.Errorf("one pass did it all")
	}
	wantEachOnce(t, "c", n, st.ended, wills)
	leases, _ := e.store.Leases(context.Background())
	for _, l := range leases {
		if l.Proxy == "proxy-1" && !l.Ended {
			t.Errorf("lease of proxy-1 not ended: %+v", l)
		}
	}
}

// A draining proxy's KindDrain events end the sessions it still owns as
// lost connections, one bounded pass each, until the reply asks for no
// more: wills published once, by the drain or else by the sweep that
// follows [MQTT-3.1.2-8], persistent sessions offline
// with their expiry counting from then, sessions with expiry 0 removed
// (section 3.1.2.11.2). Other proxies' sessions and the proxy's lease are
// left alone (the proxy releases it itself).
func TestDrainEndsOwnedSessions(t *testing.T) {
	e := newEnv(t, session.Config{})
	e.lease("proxy-1", time.Minute)
	watcher, _, _ := e.connectOn("proxy-W", v5, "watcher")
	watcher.sub(sub("will/#", 0))
	const n = 200
	e.connectMany("proxy-1", "c", n)
	e.connect(v5, "ends", will("will/ends", "ends", 0, false, 30))
	e.connect(v5, "later", expiry(100), will("will/later", "later", 0, false, 30))
	e.connectOn("proxy-2", v5, "other", persistent(), will("will/other", "other", 0, false, 0))
	st := &slowOffline{Store: e.store, delay: 2 * time.Millisecond, ended: map[string]int{}}
	h, err := session.New(st, session.Config{}, nil, session.WithClock(e.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	wills := e.drainAll(h, watcher, "proxy-1")
	// A drain whose passes ran out of time in their Tick (a loaded
	// machine) leaves wills due that it scheduled: the fleet's sweep
	// publishes them (Drain's documentation), and neither publishes one
	// twice.
	byDrain := len(wills)
	for range 3 {
		countWills(watcher, e.tick(), wills)
	}
	if byDrain < len(wills) {
		t.Logf("the drain published %d wills, the sweep after it %d", byDrain, len(wills)-byDrain)
	}
	wantEachOnce(t, "c", n, st.ended, wills)
	if wills["ends"] != 1 || wills["later"] != 0 || wills["other"] != 0 {
		t.Errorf("wills: ends %d, later %d, other %d; want 1, 0 (its delay is 30 s), 0 (another proxy)", wills["ends"], wills["later"], wills["other"])
	}
	ctx := context.Background()
	if _, err := e.store.Session(ctx, "ends"); err == nil {
		t.Errorf("session with expiry 0 still exists after the drain")
	}
	if s, err := e.store.Session(ctx, "later"); err != nil || s.Online() || s.ExpiresAt != e.clock.Now().Add(100*time.Second).UnixMilli() {
		t.Errorf("session later after the drain: %+v, %v; want offline, expiring 100 s from the drain", s, err)
	}
	if s, _ := e.store.Session(ctx, "other"); !s.Online() {
		t.Errorf("session of proxy-2 went offline")
	}
	leases, _ := e.store.Leases(ctx)
	for _, l := range leases {
		if l.Proxy == "proxy-1" && !l.Live(e.clock.Now().UnixMilli()) {
			t.Errorf("the drain ended the lease of proxy-1: %+v", l)
		}
	}
	e.clock.Advance(30 * time.Second)
	countWills(watcher, e.tick(), wills)
	if wills["later"] != 1 {
		t.Errorf("delayed will published %d times after its delay, want once", wills["later"])
	}
}

// hookSession is a store that runs hook once, after the first Session read
// of client id, as if another call ran between that read and what
// follows it.
type hookSession struct {
	*memstore.Store
	id   string
	hook func()
	once sync.Once
}

func (s *hookSession) Session(ctx context.Context, clientID string) (*session.Session, error) {
	out, err := s.Store.Session(ctx, clientID)
	if clientID == s.id {
		s.once.Do(s.hook)
	}
	return out, err
}

// A connection's lost event that races the drain of its proxy publishes
// the will once, whichever comes first: the lost event that read the
// session online before the drain took it offline publishes nothing (its
// fenced write fails), and one that comes after finds it offline.
func TestDrainRacesLost(t *testing.T) {
	for _, race := range []bool{false, true} {
		t.Run(fmt.Sprintf("race=%v", race), func(t *testing.T) {
			e := newEnv(t, session.Config{})
			watcher, _, _ := e.connectOn("proxy-W", v5, "watcher")
			watcher.sub(sub("will/#", 0))
			c, _, _ := e.connect(v5, "a", persistent(), will("will/a", "a", 0, false, 0))
			wills := map[string]int{}
			drain := func() {
				r, err := e.newHandler().Handle(context.Background(), &session.Event{Kind: session.KindDrain, Proxy: "proxy-1"})
				if err != nil {
					t.Errorf("drain: %v", err)
				}
				countWills(watcher, r, wills)
			}
			if !race {
				drain()
				countWills(watcher, c.lost(), wills)
			} else {
				// The lost event reads the session online, then the drain
				// takes it offline, then the lost event goes on.
				st := &hookSession{Store: e.store, id: "a", hook: drain}
				h, err := session.New(st, session.Config{}, nil, session.WithClock(e.clock.Now))
				if err != nil {
					t.Fatal(err)
				}
				r, err := h.Handle(context.Background(), &session.Event{Kind: session.KindLost, Proxy: c.proxy, Conn: c.id, State: c.state})
				if err != nil {
					t.Fatalf("lost: %v", err)
				}
				countWills(watcher, r, wills)
			}
			if wills["a"] != 1 {
				t.Fatalf("will published %d times, want once", wills["a"])
			}
		})
	}
}

// drainAll sends h KindDrain events for proxy, each within 100 ms, until
// a reply asks for no more, and returns the will payloads they delivered
// to watcher.
func (e *env) drainAll(h *session.Handler, watcher *conn, proxy string) map[string]int {
	e.t.Helper()
	wills := map[string]int{}
	for passes := 1; ; passes++ {
		if passes > 100 {
			e.t.Fatalf("still more after %d drain events", passes)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		r, err := h.Handle(ctx, &session.Event{Kind: session.KindDrain, Proxy: proxy})
		cancel()
		if err != nil {
			e.t.Fatalf("drain event %d: %v", passes, err)
		}
		e.checkReply(nil, r)
		countWills(watcher, r, wills)
		if !r.More {
			return wills
		}
	}
}
