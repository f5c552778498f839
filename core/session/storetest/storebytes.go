package storetest

import "github.com/mqttless/mqttless/core/session"

// storeBytesTests cover QueueLimit.StoreBytes (-max-store-bytes) on a
// session.StoreBytesCounter: the bytes queued by every session together,
// counted in the same step as each enqueue and dequeue. A store without
// the count skips them (and cannot be given the setting).
var storeBytesTests = []test{
	{"Counted", testStoreBytesCounted},
}

// testStoreBytesCounted: Enqueue takes messages while the queues of all
// sessions hold fewer bytes than StoreBytes (the message that crosses it
// included), so a session with room in its own queue is refused once the
// store is full; messages that leave a queue (dispatched, cleared by a
// clean Connect, or with their session deleted) free their bytes, and the
// count (QueuedStoreBytes) is always the sum of what is queued.
func testStoreBytesCounted(e *env) {
	sc, ok := e.st.(session.StoreBytesCounter)
	if !ok {
		e.Skip("the store has no session.StoreBytesCounter")
	}
	count := func() int64 {
		e.Helper()
		n, err := sc.QueuedStoreBytes(e.ctx)
		e.must(err, "QueuedStoreBytes")
		return n
	}
	base := count() // the store may be shared with other tests; run it on its own
	a, b := e.connected("a"), e.connected("b")
	size := int64(sized(400).Message.Size())
	lim := session.QueueLimit{Messages: 100, StoreBytes: base + 1000}
	want := func(what string, n int64) {
		e.Helper()
		if got := count(); got != base+n*size {
			e.Fatalf("%s: QueuedStoreBytes %d, want %d + %d × %d", what, got, base, n, size)
		}
	}
	enqueue := func(c string, n, want int) {
		e.Helper()
		msgs := make([]*session.Outbound, n)
		for i := range msgs {
			msgs[i] = sized(400)
		}
		got, _, err := e.st.Enqueue(e.ctx, c, msgs, lim, "", 0)
		e.must(err, "Enqueue")
		if got != want {
			e.Fatalf("Enqueue of %d messages of %d bytes with %d queued in the store, StoreBytes %d: accepted %d, want %d",
				n, size, count()-base, lim.StoreBytes-base, got, want)
		}
	}
	enqueue(a, 2, 2)
	want("2 queued for a", 2)
	enqueue(b, 2, 1) // 800+ below 1000: taken; then 1200+ is not
	want("2 for a, 1 for b", 3)
	enqueue(b, 1, 0) // b's own queue has room; the store has none
	if d := e.dispatch(a, 1); len(d) != 1 {
		e.Fatalf("Dispatch of a with window 1 gave %d", len(d))
	}
	want("one of a's in flight", 2)
	enqueue(b, 2, 1)
	want("1 for a, 2 for b", 3)
	e.connect(a, "conn2", true)
	want("a's queue cleared", 2)
	if s, err := e.st.Session(e.ctx, b); err == nil {
		e.must(e.st.DeleteSession(e.ctx, b, s.Conn), "DeleteSession")
	} else {
		e.Fatalf("Session %q: %v", b, err)
	}
	want("b deleted", 0)
	// StoreBytes 0 bounds nothing.
	lim = session.QueueLimit{Messages: 100}
	enqueue(a, 4, 4)
	want("4 without StoreBytes", 4)
}
