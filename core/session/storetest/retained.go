package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mqttless/mqttless/core/session"
)

var retainedTests = []test{
	{"SetReplaceDelete", testRetainedSetReplaceDelete},
	{"Filters", testRetainedFilters},
	{"Pages", testRetainedPages},
	{"PageBytes", testRetainedPageBytes},
	{"PageAfterRemoved", testRetainedPageAfterRemoved},
	{"Limits", testRetainedLimits},
}

// retainedAll returns every retained message matching filter, read with
// RetainedPage a page of at most count messages at a time, checking that
// no topic comes twice.
func (e *env) retainedAll(filter string, count, bytes int) []*session.Message {
	e.Helper()
	var msgs []*session.Message
	seen := map[string]bool{}
	after := ""
	for {
		page, err := e.st.RetainedPage(e.ctx, filter, after, count, bytes)
		e.must(err, "RetainedPage "+filter+" after "+after)
		if len(page) == 0 {
			return msgs
		}
		if len(page) > count {
			e.Fatalf("RetainedPage %q: %d messages, asked for at most %d", filter, len(page), count)
		}
		for _, m := range page {
			if seen[m.Topic] {
				e.Fatalf("RetainedPage %q returned %q twice", filter, m.Topic)
			}
			seen[m.Topic] = true
		}
		msgs = append(msgs, page...)
		after = page[len(page)-1].Topic
	}
}

// retained returns the retained messages matching filter whose topic has
// this test's prefix (or "$SYS/" and the prefix), sorted by topic.
func (e *env) retainedMine(filter string) []*session.Message {
	e.Helper()
	msgs := e.retainedAll(filter, 1000, 1<<30)
	var out []*session.Message
	for _, m := range msgs {
		if strings.HasPrefix(m.Topic, e.id) || strings.HasPrefix(m.Topic, "$SYS/"+e.id) {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b *session.Message) int { return strings.Compare(a.Topic, b.Topic) })
	return out
}

// testRetainedSetReplaceDelete: SetRetained stores, replaces and, with an
// empty payload, deletes the retained message of a topic.
func testRetainedSetReplaceDelete(e *env) {
	name := e.topic("a")
	m1 := e.retain(name, "one")
	e.eq("retained", e.retainedMine(name), []*session.Message{m1})
	m2 := e.retain(name, "two")
	e.eq("replaced", e.retainedMine(name), []*session.Message{m2})
	e.must(e.st.SetRetained(e.ctx, &session.Message{Topic: name, QoS: 1, Retain: true}, session.RetainedLimits{}), "SetRetained empty")
	e.eq("deleted", e.retainedMine(name), []*session.Message(nil))
	e.must(e.st.SetRetained(e.ctx, &session.Message{Topic: name, Payload: []byte{}}, session.RetainedLimits{}), "SetRetained empty again")
	e.eq("deleted", e.retainedMine(name), []*session.Message(nil))
}

// testRetainedFilters: Retained returns exactly the messages whose topics
// match the filter; leading wildcards do not match '$'-topics.
func testRetainedFilters(e *env) {
	p := e.id
	msgs := map[string]*session.Message{}
	for _, name := range []string{"/a", "/b", "/a/b", "/a/c", "/b/c", "/a/b/c", "/", ""} {
		msgs[p+name] = e.retain(p+name, "m"+name)
	}
	sys := "$SYS/" + p + "/x"
	msgs[sys] = e.retain(sys, "sys")
	for _, tc := range []struct {
		filter string
		want   []string // topics without the prefix
	}{
		{p + "/a", []string{"/a"}},
		{p, []string{""}},
		{p + "/+", []string{"/", "/a", "/b"}},
		{p + "/+/c", []string{"/a/c", "/b/c"}},
		{p + "/+/+", []string{"/a/b", "/a/c", "/b/c"}},
		{p + "/a/#", []string{"/a", "/a/b", "/a/b/c", "/a/c"}},
		{p + "/#", []string{"", "/", "/a", "/a/b", "/a/b/c", "/a/c", "/b", "/b/c"}},
		{"+/a/b", []string{"/a/b"}},
		{"#", []string{"", "/", "/a", "/a/b", "/a/b/c", "/a/c", "/b", "/b/c"}},
		{"+", []string{""}},
		{p + "/nothing", nil},
		{p + "/a/b/c/d", nil},
		{"$SYS/" + p + "/#", []string{"$"}},
		{"$SYS/+/x", []string{"$"}},
	} {
		var want []*session.Message
		for _, w := range tc.want {
			if w == "$" {
				want = append(want, msgs[sys])
			} else {
				want = append(want, msgs[p+w])
			}
		}
		slices.SortFunc(want, func(a, b *session.Message) int { return strings.Compare(a.Topic, b.Topic) })
		e.eq("Retained "+tc.filter, e.retainedMine(tc.filter), want)
	}
	// The leading wildcards never return a '$'-topic, anyone's.
	for _, f := range []string{"#", "+/#", "+/+/x"} {
		for _, m := range e.retainedAll(f, 1000, 1<<30) {
			if strings.HasPrefix(m.Topic, "$") {
				e.Fatalf("Retained %q returned %q", f, m.Topic)
			}
		}
	}
}

// mineSorted returns the messages of msgs under this test's prefix, sorted
// by topic.
func (e *env) mineSorted(msgs []*session.Message) []*session.Message {
	var out []*session.Message
	for _, m := range msgs {
		if strings.HasPrefix(m.Topic, e.id) {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b *session.Message) int { return strings.Compare(a.Topic, b.Topic) })
	return out
}

// testRetainedPages: a scan a few messages at a time returns every
// matching message once, whatever the page size, and nothing else.
func testRetainedPages(e *env) {
	p := e.id
	var want []*session.Message
	for _, name := range []string{"/a", "/a/b", "/a-b", "/a/c/d", "/b", "/b/a", "/c", "/c/c", "/a0", "/a/a"} {
		want = append(want, e.retain(p+name, "m"+name))
	}
	e.retain(p+"x/no", "not under p/")
	slices.SortFunc(want, func(a, b *session.Message) int { return strings.Compare(a.Topic, b.Topic) })
	for _, count := range []int{1, 2, 3, 7} {
		got := e.retainedAll(p+"/#", count, 1<<30)
		e.eq(fmt.Sprintf("pages of %d of %s/#", count, p), e.mineSorted(got), want)
		if len(got) != len(want) {
			e.Errorf("pages of %d: %d messages, want %d", count, len(got), len(want))
		}
	}
	var plus []*session.Message
	for _, m := range want {
		if strings.Count(m.Topic, "/") == 2 {
			plus = append(plus, m)
		}
	}
	e.eq("pages of 2 of "+p+"/+/+", e.mineSorted(e.retainedAll(p+"/+/+", 2, 1<<30)), plus)
	ab := want[slices.IndexFunc(want, func(m *session.Message) bool { return m.Topic == p+"/a/b" })]
	e.eq("a page of a topic", e.retainedAll(p+"/a/b", 1, 1), []*session.Message{ab})
}

// testRetainedPageBytes: a page stops before the message that would take
// its sizes past maxBytes, but holds the first message however large.
func testRetainedPageBytes(e *env) {
	p := e.id
	payload := strings.Repeat("x", 1000)
	for _, name := range []string{"/1", "/2", "/3", "/4", "/5"} {
		e.retain(p+name, payload)
	}
	size := e.retainedMine(p + "/1")[0].Size()
	for _, tc := range []struct{ bytes, want int }{{1, 1}, {size, 1}, {2*size + size/2, 2}, {3 * size, 3}, {100 * size, 5}} {
		page, err := e.st.RetainedPage(e.ctx, p+"/+", "", 100, tc.bytes)
		e.must(err, "RetainedPage")
		if len(page) != tc.want {
			e.Errorf("RetainedPage with maxBytes %d (messages of %d): %d messages, want %d", tc.bytes, size, len(page), tc.want)
		}
	}
	e.eq("a scan a message at a time", len(e.retainedAll(p+"/+", 100, 1)), 5)
}

// testRetainedPageAfterRemoved: a scan goes on after a topic removed since
// the page that ended with it, and returns what is left once.
func testRetainedPageAfterRemoved(e *env) {
	p := e.id
	var all []*session.Message
	for _, name := range []string{"/a", "/b", "/c", "/d", "/e", "/f"} {
		all = append(all, e.retain(p+name, "m"+name))
	}
	page, err := e.st.RetainedPage(e.ctx, p+"/+", "", 2, 1<<30)
	e.must(err, "RetainedPage")
	if len(page) != 2 {
		e.Fatalf("first page: %d messages, want 2", len(page))
	}
	after := page[1].Topic
	e.must(e.st.SetRetained(e.ctx, &session.Message{Topic: after}, session.RetainedLimits{}), "remove "+after)
	got := append([]*session.Message(nil), page...)
	for {
		next, err := e.st.RetainedPage(e.ctx, p+"/+", after, 2, 1<<30)
		e.must(err, "RetainedPage after "+after)
		if len(next) == 0 {
			break
		}
		got = append(got, next...)
		after = next[len(next)-1].Topic
	}
	e.eq("the scan", e.mineSorted(got), all)
}

// testRetainedLimits: SetRetained refuses with ErrQuotaExceeded, storing
// nothing, a message that adds past the count or the bytes; replacing by a
// message no larger, and removing, pass at any limit.
func testRetainedLimits(e *env) {
	p := e.id
	a := e.retain(p+"/a", "12345")
	e.tr.mu.Lock()
	e.tr.retained[p+"/b"] = true
	e.tr.mu.Unlock()
	b := e.retainedMsg(p+"/b", "b")
	if err := e.st.SetRetained(e.ctx, b, session.RetainedLimits{Count: 1}); !errors.Is(err, session.ErrQuotaExceeded) {
		e.Errorf("SetRetained of a new topic at Count 1: %v, want ErrQuotaExceeded", err)
	}
	if err := e.st.SetRetained(e.ctx, b, session.RetainedLimits{Bytes: int64(a.Size())}); !errors.Is(err, session.ErrQuotaExceeded) {
		e.Errorf("SetRetained of a new topic at Bytes %d: %v, want ErrQuotaExceeded", a.Size(), err)
	}
	e.eq("refused", e.retainedMine(p+"/b"), []*session.Message(nil))
	e.must(e.st.SetRetained(e.ctx, b, session.RetainedLimits{Count: 1 << 30, Bytes: 1 << 40}), "SetRetained far from the limits")
	e.eq("stored", e.retainedMine(p+"/b"), []*session.Message{b})

	same := e.retainedMsg(p+"/a", "54321")
	e.must(e.st.SetRetained(e.ctx, same, session.RetainedLimits{Count: 1, Bytes: 1}), "replace by a message of the same size")
	e.eq("replaced", e.retainedMine(p+"/a"), []*session.Message{same})
	larger := e.retainedMsg(p+"/a", "123456")
	if err := e.st.SetRetained(e.ctx, larger, session.RetainedLimits{Count: 1 << 30, Bytes: 1}); !errors.Is(err, session.ErrQuotaExceeded) {
		e.Errorf("SetRetained of a larger message at Bytes 1: %v, want ErrQuotaExceeded", err)
	}
	e.eq("kept", e.retainedMine(p+"/a"), []*session.Message{same})
	e.must(e.st.SetRetained(e.ctx, &session.Message{Topic: p + "/a"}, session.RetainedLimits{Count: 1, Bytes: 1}), "remove at the limits")
	e.eq("removed", e.retainedMine(p+"/a"), []*session.Message(nil))
}
