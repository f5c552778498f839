package storetest

import (
	"fmt"
	"strconv"
	"sync"

	"github.com/mqttless/mqttless/core/session"
)

var concurrencyTests = []test{
	{"Outbound", testConcurrentOutbound},
	{"EnqueueBound", testConcurrentEnqueueBound},
	{"Connect", testConcurrentConnect},
}

// testConcurrentOutbound: goroutines enqueueing, dispatching and
// acknowledging on one session at once never get a packet id that is still
// in flight, never exceed the window, and deliver every accepted message
// exactly once.
func testConcurrentOutbound(e *env) {
	c := e.connected("c")
	const (
		workers = 6
		perWork = 60
		window  = 8
	)
	var (
		mu       sync.Mutex
		inflight = map[uint16]*session.Outbound{} // handed out, not yet being acknowledged
		seen     = map[string]int{}               // deliveries by payload
		accepted = 0
		failed   error
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if failed == nil {
			failed = err
		}
	}
	// take records messages handed out. Entries leave inflight just before
	// their final acknowledgement, so inflight is always a subset of what
	// the store has in flight.
	take := func(d []*session.Outbound) {
		mu.Lock()
		defer mu.Unlock()
		for _, o := range d {
			seen[string(o.Message.Payload)]++
			if o.QoS == 0 {
				continue
			}
			if o.PacketID == 0 || inflight[o.PacketID] != nil {
				if failed == nil {
					failed = fmt.Errorf("packet id %d handed out for %q while %v holds it", o.PacketID, o.Message.Payload, inflight[o.PacketID])
				}
				continue
			}
			inflight[o.PacketID] = o
		}
		if len(inflight) > window && failed == nil {
			failed = fmt.Errorf("%d messages in flight with window %d", len(inflight), window)
		}
	}
	// finish completes the exchange of one message handed out, if any.
	finish := func() bool {
		mu.Lock()
		var o *session.Outbound
		for _, f := range inflight {
			o = f
			break
		}
		if o != nil {
			delete(inflight, o.PacketID)
		}
		mu.Unlock()
		if o == nil {
			return false
		}
		var err error
		if o.QoS == 1 {
			err = e.st.Acknowledge(e.ctx, c, "conn1", o.PacketID)
		} else if err = e.st.Release(e.ctx, c, "conn1", o.PacketID); err == nil {
			err = e.st.Complete(e.ctx, c, "conn1", o.PacketID)
		}
		if err != nil {
			fail(fmt.Errorf("acknowledging %d (%q): %w", o.PacketID, o.Message.Payload, err))
		}
		return true
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWork {
				o := out(byte(i%3), fmt.Sprintf("%d-%d", w, i))
				win := 0
				if i%2 == 0 {
					win = window
				}
				n, d, err := e.st.Enqueue(e.ctx, c, []*session.Outbound{o}, session.QueueLimit{Messages: 1_000_000}, "", win)
				if err != nil {
					fail(err)
					return
				}
				mu.Lock()
				accepted += n
				mu.Unlock()
				take(d)
				if i%3 == 0 {
					d, err := e.st.Dispatch(e.ctx, c, "", window)
					if err != nil {
						fail(err)
						return
					}
					take(d)
				}
				finish()
			}
		})
	}
	wg.Wait()
	if failed != nil {
		e.Fatal(failed)
	}
	// Drain what is left.
	for range workers * perWork * 2 {
		d := e.dispatch(c, window)
		take(d)
		if failed != nil {
			e.Fatal(failed)
		}
		more := len(d) > 0
		for finish() {
			more = true
		}
		if failed != nil {
			e.Fatal(failed)
		}
		if !more {
			break
		}
	}
	if accepted != workers*perWork {
		e.Fatalf("accepted %d of %d messages", accepted, workers*perWork)
	}
	if len(seen) != accepted {
		e.Fatalf("delivered %d distinct messages, want %d", len(seen), accepted)
	}
	for p, n := range seen {
		if n != 1 {
			e.Fatalf("message %s delivered %d times", p, n)
		}
	}
	e.eq("in flight at the end", states(e.inflight(c)), []string{})
}

// testConcurrentEnqueueBound: concurrent Enqueues together accept no more
// than maxQueued messages.
func testConcurrentEnqueueBound(e *env) {
	c := e.connected("c")
	const maxQueued = 20
	var (
		mu       sync.Mutex
		accepted int
		errs     []error
		wg       sync.WaitGroup
	)
	for w := range 8 {
		wg.Go(func() {
			for i := range 6 {
				n, _, err := e.st.Enqueue(e.ctx, c, outs(1, strconv.Itoa(w*10+i)), session.QueueLimit{Messages: maxQueued}, "", 0)
				mu.Lock()
				accepted += n
				if err != nil {
					errs = append(errs, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		e.Fatal(errs[0])
	}
	if accepted != maxQueued {
		e.Fatalf("accepted %d, want %d", accepted, maxQueued)
	}
	if d := e.dispatch(c, 100); len(d) != maxQueued {
		e.Fatalf("dispatched %d, want %d", len(d), maxQueued)
	}
}

// testConcurrentConnect: of two concurrent Connects for one client, exactly
// one replaces the other, which then owns the session.
func testConcurrentConnect(e *env) {
	for _, existing := range []bool{false, true} {
		for round := range 20 {
			c := e.client(fmt.Sprintf("c%v%d", existing, round))
			if existing {
				e.connect(c, "conn0", false)
			}
			var prev [2]*session.Session
			var errs [2]error
			var wg sync.WaitGroup
			for i := range 2 {
				wg.Go(func() {
					prev[i], errs[i] = e.st.Connect(e.ctx, newSession(c, "conn"+strconv.Itoa(i+1)), round%2 == 0, e.now)
				})
			}
			wg.Wait()
			e.must(errs[0], "Connect")
			e.must(errs[1], "Connect")
			conn := func(s *session.Session) string {
				if s == nil {
					return "none"
				}
				return s.Conn
			}
			first, second := 0, 1 // the order the store applied them in
			if conn(prev[0]) == "conn2" {
				first, second = 1, 0
			}
			want := "none"
			if existing {
				want = "conn0"
			}
			if conn(prev[first]) != want || conn(prev[second]) != "conn"+strconv.Itoa(first+1) {
				e.Fatalf("concurrent Connects saw %s and %s", conn(prev[0]), conn(prev[1]))
			}
			if got := e.session(c).Conn; got != "conn"+strconv.Itoa(second+1) {
				e.Fatalf("session owned by %s after %s replaced conn%d", got, "conn"+strconv.Itoa(second+1), first+1)
			}
		}
	}
}
