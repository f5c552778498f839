package storetest

import (
	"fmt"
	"slices"
	"sync"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// The store steps of delivery v2 (session.StreamStore). A store that does
// not have them yet skips these tests, saying so: issue 16 builds them
// store by store (memstore first), and every store is to pass them.

var streamTests = []test{
	{"AppendDense", testAppendDense},
	{"AppendConcurrent", testAppendConcurrent},
	{"ReadStreamRange", testReadStreamRange},
	{"StreamCopies", testStreamCopies},
	{"PositionsSaved", testPositionsSaved},
	{"PositionsFenced", testPositionsFenced},
	{"PositionsFollowSubscriptions", testPositionsFollowSubscriptions},
	{"AppendBatch", testAppendBatch},
	{"AppendBatchShown", testAppendBatchShown},
}

// streams returns the store's StreamStore, or skips the test.
func (e *env) streams() session.StreamStore {
	e.Helper()
	ss, ok := e.st.(session.StreamStore)
	if !ok {
		e.Skipf("%T has no delivery v2 streams yet (issue 16)", e.st)
	}
	return ss
}

// appendMsg appends a QoS 1 message with payload to id and returns its
// offset.
func (e *env) appendMsg(ss session.StreamStore, id session.StreamID, payload string) uint64 {
	e.Helper()
	off, err := ss.Append(e.ctx, id, &session.Message{Topic: id.Filter, Payload: []byte(payload), QoS: 1})
	e.must(err, "Append "+payload)
	return off
}

// positions returns clientID's positions, which must be readable.
func (e *env) positions(ss session.StreamStore, clientID string) session.Positions {
	e.Helper()
	got, err := ss.Positions(e.ctx, clientID)
	e.must(err, "Positions")
	return got
}

// readAll reads every entry of id above after, in pages of 3.
func (e *env) readAll(ss session.StreamStore, id session.StreamID, after uint64) []session.StreamEntry {
	e.Helper()
	var out []session.StreamEntry
	for {
		page, err := ss.ReadStream(e.ctx, id, after, 3)
		e.must(err, "ReadStream")
		if len(page) > 3 {
			e.Fatalf("ReadStream returned %d entries, limit 3", len(page))
		}
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		after = page[len(page)-1].Offset
	}
}

// testAppendDense: offsets of a sub-stream follow each other from its
// first (at least 1: a store may begin a sub-stream with no entry higher,
// see session.StreamStore); another shard of the same filter, and another
// filter, count apart; a sub-stream with no entry reads empty, and its
// first entry follows its head.
func testAppendDense(e *env) {
	ss := e.streams()
	a := session.StreamID{Filter: e.topic("a")}
	a1 := session.StreamID{Filter: a.Filter, Shard: 1}
	b := session.StreamID{Filter: e.topic("b", "+")}
	empty := session.StreamID{Filter: e.topic("none")}
	first := e.appendMsg(ss, a, "a0")
	if first < 1 {
		e.Errorf("first offset of a = %d, want at least 1", first)
	}
	for i := range uint64(2) {
		e.eq(fmt.Sprintf("offset of a's message %d", i+1), e.appendMsg(ss, a, fmt.Sprint("a", i+1)), first+i+1)
	}
	fa1, fb := e.appendMsg(ss, a1, "x"), e.appendMsg(ss, b, "y")
	if fa1 < 1 || fb < 1 {
		e.Errorf("first offsets of a's shard 1 and of b = %d, %d, want at least 1", fa1, fb)
	}
	heads, err := ss.Heads(e.ctx, []session.StreamID{a, a1, b, empty})
	e.must(err, "Heads")
	emptyHead := heads[empty]
	delete(heads, empty)
	e.eq("heads", heads, map[session.StreamID]uint64{a: first + 2, a1: fa1, b: fb})
	got, err := ss.ReadStream(e.ctx, empty, 0, 10)
	e.must(err, "ReadStream of an empty sub-stream")
	e.eq("entries of an empty sub-stream", len(got), 0)
	// A subscription that starts at the head of an empty sub-stream gets
	// its first entry next, with no gap.
	e.eq("first offset after the head of an empty sub-stream", e.appendMsg(ss, empty, "e"), emptyHead+1)
}

// testAppendConcurrent: appends racing on one sub-stream get n offsets
// that follow each other, each once, and each writer's messages keep its
// order.
func testAppendConcurrent(e *env) {
	ss := e.streams()
	id := session.StreamID{Filter: e.topic("hot")}
	const writers, each = 4, 10
	var wg sync.WaitGroup
	offsets := make([][]uint64, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				off, err := ss.Append(e.ctx, id, &session.Message{Topic: id.Filter, Payload: fmt.Appendf(nil, "%d-%d", w, i), QoS: 1})
				if err != nil {
					e.Errorf("Append %d-%d: %v", w, i, err)
					return
				}
				offsets[w] = append(offsets[w], off)
			}
		})
	}
	wg.Wait()
	var all []uint64
	for w, offs := range offsets {
		if !slices.IsSorted(offs) {
			e.Errorf("writer %d's offsets are out of its order: %v", w, offs)
		}
		all = append(all, offs...)
	}
	slices.Sort(all)
	want := make([]uint64, writers*each)
	for i := range want {
		want[i] = all[0] + uint64(i)
	}
	e.eq("offsets given", all, want)
	entries := e.readAll(ss, id, 0)
	e.eq("entries read", len(entries), writers*each)
	for _, en := range entries {
		var w, i int
		if _, err := fmt.Sscanf(string(en.Message.Payload), "%d-%d", &w, &i); err != nil || offsets[w][i] != en.Offset {
			e.Errorf("entry at %d holds %q, which Append placed elsewhere", en.Offset, en.Message.Payload)
		}
	}
}

// testReadStreamRange: ReadStream returns the entries above after, in
// order, within limit; after at or past the head finds none.
func testReadStreamRange(e *env) {
	ss := e.streams()
	id := session.StreamID{Filter: e.topic("r")}
	first := e.appendMsg(ss, id, "m1")
	for i := range 6 {
		e.appendMsg(ss, id, fmt.Sprint("m", i+2))
	}
	var payloads []string
	for _, en := range e.readAll(ss, id, first+1) {
		payloads = append(payloads, string(en.Message.Payload))
	}
	e.eq("entries above the second", payloads, []string{"m3", "m4", "m5", "m6", "m7"})
	page, err := ss.ReadStream(e.ctx, id, first+6, 10)
	e.must(err, "ReadStream at the head")
	e.eq("entries above the head", len(page), 0)
	page, err = ss.ReadStream(e.ctx, id, 0, 2)
	e.must(err, "ReadStream limit 2")
	e.eq("offsets of the first page", []uint64{page[0].Offset, page[1].Offset}, []uint64{first, first + 1})
}

// testStreamCopies: a message appended, or read, shares nothing with the
// store.
//
// The entry keeps every field of the message, a QoS 2 message's Receipt
// included (a resend looks its entry up by it).
func testStreamCopies(e *env) {
	ss := e.streams()
	id := session.StreamID{Filter: e.topic("c")}
	m := &session.Message{Topic: id.Filter, Payload: []byte("abc"), QoS: 2, Receipt: "r1",
		Props: session.Props{CorrelationData: []byte("cd"), User: []packet.UserProperty{{Key: "k", Value: "v"}}}}
	_, err := ss.Append(e.ctx, id, m)
	e.must(err, "Append")
	m.Payload[0], m.Props.CorrelationData[0], m.Props.User[0].Value = 'X', 'X', "X"
	got, err := ss.ReadStream(e.ctx, id, 0, 1)
	e.must(err, "ReadStream")
	want := session.Message{Topic: id.Filter, Payload: []byte("abc"), QoS: 2, Receipt: "r1",
		Props: session.Props{CorrelationData: []byte("cd"), User: []packet.UserProperty{{Key: "k", Value: "v"}}}}
	e.eq("entry after the caller changed its message", got[0].Message, want)
	got[0].Message.Payload[0] = 'Y'
	again, err := ss.ReadStream(e.ctx, id, 0, 1)
	e.must(err, "ReadStream")
	e.eq("entry after the caller changed what it read", again[0].Message, want)
}

// testPositionsSaved: SavePositions sets the sub-streams it names and
// keeps the others; Positions returns copies.
func testPositionsSaved(e *env) {
	ss := e.streams()
	c := e.client("c")
	e.connect(c, "conn1", false)
	fa, fb := e.topic("a"), e.topic("b", "#")
	e.subscribe(c, "conn1", fa, fb)
	a0, a1, b0 := session.StreamID{Filter: fa}, session.StreamID{Filter: fa, Shard: 1}, session.StreamID{Filter: fb}
	e.must(ss.SavePositions(e.ctx, c, "conn1", session.Positions{
		a0: {Number: 0, Acked: 4, Released: []uint64{6, 7}}, b0: {Number: 1, Acked: 9},
	}), "SavePositions")
	e.must(ss.SavePositions(e.ctx, c, "conn1", session.Positions{a1: {Acked: 2}, a0: {Acked: 7}}), "SavePositions again")
	got := e.positions(ss, c)
	want := session.Positions{a0: {Acked: 7}, a1: {Acked: 2}, b0: {Number: 1, Acked: 9}}
	e.eq("positions", got, want)
	got[b0] = session.Position{Acked: 100}
	e.eq("positions after the caller changed what it read", e.positions(ss, c), want)
	e.eq("positions of no session", len(e.positions(ss, e.client("nobody"))), 0)
}

// testPositionsFenced: only the session's connection saves its positions.
func testPositionsFenced(e *env) {
	ss := e.streams()
	c := e.client("c")
	e.connect(c, "conn1", false)
	f := e.topic("a")
	e.subscribe(c, "conn1", f)
	id := session.StreamID{Filter: f}
	e.must(ss.SavePositions(e.ctx, c, "conn1", session.Positions{id: {Acked: 3}}), "SavePositions")
	e.connect(c, "conn2", false) // takes the session over
	e.wantErr(ss.SavePositions(e.ctx, c, "conn1", session.Positions{id: {Acked: 5}}), session.ErrFenced, "SavePositions of the old connection")
	e.wantErr(ss.SavePositions(e.ctx, c, "", session.Positions{id: {Acked: 5}}), session.ErrFenced, "SavePositions of the empty connection")
	e.eq("positions kept over the takeover", e.positions(ss, c), session.Positions{id: {Acked: 3}})
}

// testPositionsFollowSubscriptions: positions belong to a subscription:
// those of a filter not subscribed are never returned, and Unsubscribe and
// a clean Connect remove them (a later Subscribe of the filter does not
// bring them back).
func testPositionsFollowSubscriptions(e *env) {
	ss := e.streams()
	c := e.client("c")
	e.connect(c, "conn1", false)
	fa, fb := e.topic("a"), e.topic("b")
	e.subscribe(c, "conn1", fa, fb)
	a, b := session.StreamID{Filter: fa}, session.StreamID{Filter: fb}
	other := session.StreamID{Filter: e.topic("never")}
	e.must(ss.SavePositions(e.ctx, c, "conn1", session.Positions{a: {Acked: 1}, b: {Acked: 2}, other: {Acked: 3}}), "SavePositions")
	e.eq("positions (the unsubscribed filter's dropped)", e.positions(ss, c), session.Positions{a: {Acked: 1}, b: {Acked: 2}})
	_, err := e.st.Unsubscribe(e.ctx, c, "conn1", []string{fb})
	e.must(err, "Unsubscribe")
	e.eq("positions after Unsubscribe", e.positions(ss, c), session.Positions{a: {Acked: 1}})
	e.subscribe(c, "conn1", fb)
	e.eq("positions after subscribing again", e.positions(ss, c), session.Positions{a: {Acked: 1}})
	e.subscribe(c, "conn1", other.Filter) // saved before its subscription
	e.eq("positions after subscribing to a filter saved before", e.positions(ss, c), session.Positions{a: {Acked: 1}})
	e.connect(c, "conn2", true)
	e.eq("positions after a clean Connect", len(e.positions(ss, c)), 0)
}

// testAppendBatch: a batch gives the offsets successive Appends would,
// racing Appends included, and its entries read back in batch order.
// Stores without session.StreamBatcher skip it (the handlers then call
// Append for each).
func testAppendBatch(e *env) {
	ss := e.streams()
	sb, ok := ss.(session.StreamBatcher)
	if !ok {
		e.Skipf("%T appends one entry at a time (no session.StreamBatcher)", e.st)
	}
	a, b := session.StreamID{Filter: e.topic("ba")}, session.StreamID{Filter: e.topic("bb")}
	first := e.appendMsg(ss, a, "a0")
	msg := func(p string) *session.Message { return &session.Message{Topic: a.Filter, Payload: []byte(p), QoS: 1} }
	offs, err := sb.AppendBatch(e.ctx, []session.StreamAppend{{ID: a, Msg: msg("a1")}, {ID: b, Msg: msg("b0")}, {ID: a, Msg: msg("a2")}})
	e.must(err, "AppendBatch")
	if len(offs) != 3 || offs[0] != first+1 || offs[2] != first+2 || offs[1] < 1 {
		e.Fatalf("AppendBatch offsets %v after a's %d", offs, first)
	}
	var got []string
	for _, en := range e.readAll(ss, a, first) {
		got = append(got, string(en.Message.Payload))
	}
	e.eq("a's entries after its first", got, []string{"a1", "a2"})
	var wg sync.WaitGroup
	var batched [][]uint64
	var mu sync.Mutex
	for w := range 4 {
		wg.Go(func() {
			o, err := sb.AppendBatch(e.ctx, []session.StreamAppend{{ID: b, Msg: msg(fmt.Sprint(w, "x"))}, {ID: b, Msg: msg(fmt.Sprint(w, "y"))}})
			if err != nil {
				e.Errorf("AppendBatch %d: %v", w, err)
				return
			}
			mu.Lock()
			batched = append(batched, o)
			mu.Unlock()
		})
	}
	wg.Wait()
	seen := map[uint64]bool{offs[1]: true}
	for _, o := range batched {
		if len(o) != 2 || o[1] <= o[0] || seen[o[0]] || seen[o[1]] {
			e.Errorf("racing batches gave offsets %v (others: %v)", o, batched)
		}
		seen[o[0]], seen[o[1]] = true, true
	}
}

// testAppendBatchShown: the offsets shown before the commit are those the
// call returns, shown at most once and before it returns, and racing
// batches never share one; the entries read back once it returned.
// Stores without session.StreamShower skip it.
func testAppendBatchShown(e *env) {
	ss := e.streams()
	sh, ok := ss.(session.StreamShower)
	if !ok {
		e.Skipf("%T shows no offsets before the commit (no session.StreamShower)", e.st)
	}
	a := session.StreamID{Filter: e.topic("shown")}
	msg := func(p string) *session.Message { return &session.Message{Topic: a.Filter, Payload: []byte(p), QoS: 1} }
	var wg sync.WaitGroup
	var mu sync.Mutex
	all := map[uint64]string{}
	for w := range 8 {
		wg.Go(func() {
			var shown [][]uint64
			offs, err := sh.AppendBatchShown(e.ctx, []session.StreamAppend{{ID: a, Msg: msg(fmt.Sprint(w, "x"))}, {ID: a, Msg: msg(fmt.Sprint(w, "y"))}},
				func(o []uint64) { shown = append(shown, o) })
			if err != nil {
				e.Errorf("AppendBatchShown %d: %v", w, err)
				return
			}
			if len(shown) > 1 || len(shown) == 1 && !slices.Equal(shown[0], offs) {
				e.Errorf("batch %d shown %v, returned %v: want at most once, the offsets returned", w, shown, offs)
			}
			mu.Lock()
			defer mu.Unlock()
			for i, o := range offs {
				if _, dup := all[o]; dup {
					e.Errorf("offset %d given twice", o)
				}
				all[o] = fmt.Sprint(w, "xy"[i:i+1])
			}
		})
	}
	wg.Wait()
	for _, en := range e.readAll(ss, a, 0) {
		if want := all[en.Offset]; want != string(en.Message.Payload) {
			e.Errorf("entry %d reads %q, want %q", en.Offset, en.Message.Payload, want)
		}
		delete(all, en.Offset)
	}
	if len(all) > 0 {
		e.Errorf("entries not read back: %v", all)
	}
}
