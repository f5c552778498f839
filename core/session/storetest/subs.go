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
