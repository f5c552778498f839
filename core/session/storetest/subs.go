package storetest

import (
	"slices"
	"strings"

	"github.com/mqttless/mqttless/core/session"
)

var subscriptionTests = []test{
	{"SubscribeExisted", testSubscribeExisted},
	{"UnsubscribeExisted", testUnsubscribeExisted},
	{"SubscriptionsUnknown", testSubscriptionsUnknown},
	{"Match", testMatch},
	{"MatchAfterDelete", testMatchAfterDelete},
}

// sortSubs sorts subscriptions by client id and filter.
func sortSubs(subs []session.Subscription) []session.Subscription {
	slices.SortFunc(subs, func(a, b session.Subscription) int {
		if c := strings.Compare(a.ClientID, b.ClientID); c != 0 {
			return c
		}
		return strings.Compare(a.Filter, b.Filter)
	})
	return subs
}

// testSubscribeExisted: Subscribe reports which subscriptions it replaced;
// a replaced subscription stays one entry, with the new options.
func testSubscribeExisted(e *env) {
	c := e.client("c")
	e.connect(c, "conn1", false)
	a, b, d := e.topic("a"), e.topic("b", "+"), e.topic("d", "#")
	e.eq("existed", e.subscribe(c, "conn1", a, b), []bool{false, false})
	a2 := session.Subscription{ClientID: c, Filter: a, QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: 1, SubID: 42}
	existed, err := e.st.Subscribe(e.ctx, c, "conn1", []session.Subscription{a2, sub(c, d)})
	e.must(err, "Subscribe")
	e.eq("existed", existed, []bool{true, false})
	subs, err := e.st.Subscriptions(e.ctx, c)
	e.must(err, "Subscriptions")
	e.eq("subscriptions", sortSubs(subs), []session.Subscription{a2, sub(c, b), sub(c, d)})
	matched, err := e.st.Match(e.ctx, a)
	e.must(err, "Match")
	var mine []session.Subscription
	for _, s := range matched {
		if e.mine(s.ClientID) {
			mine = append(mine, s)
		}
	}
	e.eq("Match of the replaced subscription", mine, []session.Subscription{a2})
}

// testUnsubscribeExisted: Unsubscribe reports which subscriptions existed
// and removes them from Subscriptions and Match.
func testUnsubscribeExisted(e *env) {
	c := e.client("c")
	e.connect(c, "conn1", false)
	a, b := e.topic("a"), e.topic("b")
	e.subscribe(c, "conn1", a, b)
	existed, err := e.st.Unsubscribe(e.ctx, c, "conn1", []string{a, e.topic("never")})
	e.must(err, "Unsubscribe")
	e.eq("existed", existed, []bool{true, false})
	e.eq("subscriptions", e.filters(c), []string{b})
	e.eq("match", e.match(a), []string(nil))
	e.eq("match", e.match(b), []string{c + " " + b})
	existed, err = e.st.Unsubscribe(e.ctx, c, "conn1", []string{a, b})
	e.must(err, "Unsubscribe")
	e.eq("existed", existed, []bool{false, true})
	e.eq("subscriptions", e.filters(c), []string(nil))
	e.eq("match", e.match(b), []string(nil))
}

// testSubscriptionsUnknown: an unknown client has no subscriptions.
func testSubscriptionsUnknown(e *env) {
	subs, err := e.st.Subscriptions(e.ctx, e.client("nobody"))
	e.must(err, "Subscriptions")
	if len(subs) != 0 {
		e.Fatalf("Subscriptions of an unknown client = %v", subs)
	}
}

// testMatch: Match finds the subscriptions whose filters match a topic
// name: wildcards, shared subscriptions with their full filter, and
// '$'-topics that leading wildcards do not match.
func testMatch(e *env) {
	a, b := e.client("a"), e.client("b")
	e.connect(a, "conn-a", false)
	e.connect(b, "conn-b", false)
	p := e.id
	sys := "$SYS/" + p
	fa := []string{
		p + "/a/b", p + "/+/b", p + "/#", p + "/a/+", p + "/a/b/#", "+/a/b", "#",
		sys + "/x", "$SYS/+/x", "+/" + p + "/x", sys + "/#", p + "/+",
	}
	fb := []string{p + "/a/b", "$share/g/" + p + "/a/+", "$share/h/" + p + "/#"}
	e.subscribe(a, "conn-a", fa...)
	e.subscribe(b, "conn-b", fb...)
	for _, tc := range []struct {
		name string
		want []string // "a filter" or "b filter"
	}{
		{p + "/a/b", []string{"a " + p + "/a/b", "a " + p + "/+/b", "a " + p + "/#", "a " + p + "/a/+", "a " + p + "/a/b/#", "a +/a/b", "a #",
			"b " + p + "/a/b", "b $share/g/" + p + "/a/+", "b $share/h/" + p + "/#"}},
		{p + "/x/b", []string{"a " + p + "/+/b", "a " + p + "/#", "a #", "b $share/h/" + p + "/#"}},
		{p + "/a/c", []string{"a " + p + "/#", "a " + p + "/a/+", "a #", "b $share/g/" + p + "/a/+", "b $share/h/" + p + "/#"}},
		{p + "/a", []string{"a " + p + "/#", "a " + p + "/+", "a #", "b $share/h/" + p + "/#"}},
		{p, []string{"a " + p + "/#", "a #", "b $share/h/" + p + "/#"}},
		{p + "/a/b/c", []string{"a " + p + "/#", "a " + p + "/a/b/#", "a #", "b $share/h/" + p + "/#"}},
		{p + "/", []string{"a " + p + "/#", "a " + p + "/+", "a #", "b $share/h/" + p + "/#"}},
		{p + "x/a/b", []string{"a +/a/b", "a #"}},
		{sys + "/x", []string{"a " + sys + "/x", "a $SYS/+/x", "a " + sys + "/#"}},
		{sys, []string{"a " + sys + "/#"}},
		{"$" + p + "/x", nil},
	} {
		var want []string
		for _, w := range tc.want {
			who, filter, _ := strings.Cut(w, " ")
			want = append(want, map[string]string{"a": a, "b": b}[who]+" "+filter)
		}
		slices.Sort(want)
		e.eq("Match "+tc.name, e.match(tc.name), want)
	}
}

// testMatchAfterDelete: the subscriptions of a deleted session no longer
// match.
func testMatchAfterDelete(e *env) {
	a, b := e.client("a"), e.client("b")
	f := e.topic("+")
	e.connect(a, "conn-a", false)
	e.connect(b, "conn-b", false)
	e.subscribe(a, "conn-a", f)
	e.subscribe(b, "conn-b", f, "$share/g/"+f)
	e.eq("match", e.match(e.topic("x")), []string{a + " " + f, b + " $share/g/" + f, b + " " + f})
	e.must(e.st.DeleteSession(e.ctx, b, "conn-b"), "DeleteSession")
	e.eq("match after deleting b", e.match(e.topic("x")), []string{a + " " + f})
	e.offline(a, "conn-a", session.Offline{ExpiresAt: e.now + 1000, ExpiryInterval: 1})
	e.eq("match of the offline a", e.match(e.topic("x")), []string{a + " " + f})
	e.must(e.st.DeleteSession(e.ctx, a, ""), "DeleteSession")
	e.eq("match after deleting a", e.match(e.topic("x")), []string(nil))
}

var retainedTests = []test{
	{"SetReplaceDelete", testRetainedSetReplaceDelete},
	{"Filters", testRetainedFilters},
}

// retained returns the retained messages matching filter whose topic has
// this test's prefix (or "$SYS/" and the prefix), sorted by topic.
func (e *env) retainedMine(filter string) []*session.Message {
	e.Helper()
	msgs, err := e.st.Retained(e.ctx, filter)
	e.must(err, "Retained "+filter)
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
	e.must(e.st.SetRetained(e.ctx, &session.Message{Topic: name, QoS: 1, Retain: true}), "SetRetained empty")
	e.eq("deleted", e.retainedMine(name), []*session.Message(nil))
	e.must(e.st.SetRetained(e.ctx, &session.Message{Topic: name, Payload: []byte{}}), "SetRetained empty again")
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
		all, err := e.st.Retained(e.ctx, f)
		e.must(err, "Retained "+f)
		for _, m := range all {
			if strings.HasPrefix(m.Topic, "$") {
				e.Fatalf("Retained %q returned %q", f, m.Topic)
			}
		}
	}
}
