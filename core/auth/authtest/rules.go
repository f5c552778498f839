package authtest

import (
	"slices"
	"strings"

	"github.com/mqttless/mqttless/core/auth"
)

var ruleTests = []test{
	{"AssignID", testRuleAssignID},
	{"OwnID", testRuleOwnID},
	{"Replace", testRuleReplace},
	{"Ordered", testRulesOrdered},
	{"Delete", testDeleteRule},
	{"Fields", testRuleFields},
	{"IDs", testRuleIDs},
	{"Invalid", testRuleInvalid},
}

// testRuleAssignID: PutRule of a rule without ID assigns it a new one,
// returns it, and stores the rule under it; the same rule put twice is two
// rules.
func testRuleAssignID(e *env) {
	r := auth.Rule{Access: auth.Publish, Filter: e.topic("a")}
	id1 := e.putRule(r)
	id2 := e.putRule(r)
	if id1 == id2 {
		e.Fatalf("PutRule twice without ID: the same ID %q twice", id1)
	}
	r1, r2 := r, r
	r1.ID, r2.ID = id1, id2
	want := []auth.Rule{r1, r2}
	slices.SortFunc(want, func(a, b auth.Rule) int { return strings.Compare(a.ID, b.ID) })
	e.eq("Rules", e.listRules(), want)
}

// testRuleOwnID: PutRule of a rule with an ID that no rule has stores it
// under that ID, and returns it.
func testRuleOwnID(e *env) {
	r := auth.Rule{ID: e.ruleID("r1"), Access: auth.Subscribe, Filter: e.topic("+")}
	e.putRule(r)
	e.eq("Rules", e.listRules(), []auth.Rule{r})
}

// testRuleReplace: PutRule of a rule with the ID of another replaces it,
// every field, an assigned ID as well as one given.
func testRuleReplace(e *env) {
	id := e.ruleID("r")
	e.putRule(auth.Rule{ID: id, User: e.id + "-alice", ClientID: "c1", Access: auth.Publish, Filter: e.topic("a"), Deny: true})
	r := auth.Rule{ID: id, Access: auth.Both, Filter: e.topic("b", "#")}
	e.putRule(r)
	e.eq("Rules after replacing", e.listRules(), []auth.Rule{r})
	assigned := e.putRule(auth.Rule{Access: auth.Subscribe, Filter: e.topic("c")})
	r2 := auth.Rule{ID: assigned, User: "bob", ClientID: "c2", Access: auth.Publish, Filter: e.topic("d"), Deny: true}
	e.putRule(r2)
	want := []auth.Rule{r, r2}
	slices.SortFunc(want, func(a, b auth.Rule) int { return strings.Compare(a.ID, b.ID) })
	e.eq("Rules after replacing an assigned ID", e.listRules(), want)
}

// testRulesOrdered: Rules returns every rule ordered by ID (byte order),
// whatever the order they were put in.
func testRulesOrdered(e *env) {
	suffixes := []string{"b", "a", "é", "c", "a/b", "Z", "a b", "10", "9", "名", "~", "ab"}
	var want []auth.Rule
	for _, s := range suffixes {
		r := auth.Rule{ID: e.ruleID(s), Access: auth.Both, Filter: e.topic(s)}
		e.putRule(r)
		want = append(want, r)
	}
	for range 2 {
		r := auth.Rule{Access: auth.Publish, Filter: e.topic("assigned")}
		r.ID = e.putRule(r)
		want = append(want, r)
	}
	slices.SortFunc(want, func(a, b auth.Rule) int { return strings.Compare(a.ID, b.ID) })
	e.eq("Rules", e.listRules(), want)
}

// testDeleteRule: DeleteRule removes one rule, and no other (not one whose
// ID it is a prefix of), and is ErrNotFound for a rule that does not exist.
func testDeleteRule(e *env) {
	r1 := auth.Rule{ID: e.ruleID("x"), Access: auth.Publish, Filter: e.topic("1")}
	r2 := auth.Rule{ID: e.ruleID("x/y"), Access: auth.Publish, Filter: e.topic("2")}
	r3 := auth.Rule{ID: e.ruleID("xx"), Access: auth.Publish, Filter: e.topic("3")}
	r4 := auth.Rule{Access: auth.Subscribe, Filter: e.topic("4")}
	for _, r := range []auth.Rule{r1, r2, r3} {
		e.putRule(r)
	}
	r4.ID = e.putRule(r4)
	e.must(e.st.DeleteRule(e.ctx, r1.ID), "DeleteRule")
	e.must(e.st.DeleteRule(e.ctx, r4.ID), "DeleteRule of an assigned ID")
	e.eq("Rules after DeleteRule", e.listRules(), []auth.Rule{r2, r3})
	e.wantErr(e.st.DeleteRule(e.ctx, r1.ID), auth.ErrNotFound, "DeleteRule of a deleted rule")
	e.wantErr(e.st.DeleteRule(e.ctx, r4.ID), auth.ErrNotFound, "DeleteRule of a deleted assigned ID")
	e.wantErr(e.st.DeleteRule(e.ctx, e.ruleID("never")), auth.ErrNotFound, "DeleteRule of an unknown rule")
	e.wantErr(e.st.DeleteRule(e.ctx, ""), auth.ErrNotFound, "DeleteRule of the empty ID")
	e.putRule(r1)
	e.eq("Rules after putting one back", e.listRules(), []auth.Rule{r1, r2, r3})
}

// testRuleFields: every field of a rule comes back as put.
func testRuleFields(e *env) {
	rules := []auth.Rule{
		{ID: e.ruleID("1"), User: "alice", Access: auth.Publish, Filter: "%u/#"},
		{ID: e.ruleID("2"), ClientID: "sensor-1", Access: auth.Subscribe, Filter: "a/+/c", Deny: true},
		{ID: e.ruleID("3"), User: "ünï 名", ClientID: "c/#+ x", Access: auth.Both, Filter: "ünï/名/%c/#"},
		{ID: e.ruleID("4"), Access: auth.Both, Filter: "#", Deny: true},
		{ID: e.ruleID("5"), User: "u", ClientID: "c", Access: auth.Subscribe, Filter: "$SYS/+/x y"},
		{ID: e.ruleID("6"), User: "\"'\\", Access: auth.Publish, Filter: "+", Deny: true},
	}
	for _, r := range rules {
		e.putRule(r)
	}
	e.eq("Rules", e.listRules(), rules)
}

// testRuleIDs: rules whose IDs hold unicode, '/', '#', '+', spaces and
// other special characters are put, listed, replaced and deleted like any
// other.
func testRuleIDs(e *env) {
	var want []auth.Rule
	for _, s := range nameSuffixes {
		r := auth.Rule{ID: e.ruleID(s), Access: auth.Subscribe, Filter: e.topic("x")}
		e.putRule(r)
		want = append(want, r)
	}
	slices.SortFunc(want, func(a, b auth.Rule) int { return strings.Compare(a.ID, b.ID) })
	e.eq("Rules", e.listRules(), want)
	for i := range want {
		want[i].Deny = true
		e.putRule(want[i])
	}
	e.eq("Rules after replacing them all", e.listRules(), want)
	for _, r := range want {
		e.must(e.st.DeleteRule(e.ctx, r.ID), "DeleteRule "+r.ID)
	}
	e.eq("Rules after deleting them all", e.listRules(), []auth.Rule{})
}

// testRuleInvalid: PutRule of a rule with an unknown Access, an empty
// Filter or a string that is not UTF-8 is ErrInvalid and stores nothing.
func testRuleInvalid(e *env) {
	for what, r := range map[string]auth.Rule{
		"no access":          {Filter: e.topic("a")},
		"unknown access":     {Access: "all", Filter: e.topic("a")},
		"no filter":          {User: e.id + "-u", Access: auth.Publish},
		"ID not UTF-8":       {ID: e.ruleID("\xff"), Access: auth.Publish, Filter: e.topic("a")},
		"user not UTF-8":     {User: e.id + "\xff", Access: auth.Publish, Filter: e.topic("a")},
		"client not UTF-8":   {ClientID: "\xc3", Access: auth.Publish, Filter: e.topic("a")},
		"filter not UTF-8":   {Access: auth.Publish, Filter: e.topic("a\xff")},
		"with ID, no access": {ID: e.ruleID("r"), Filter: e.topic("a")},
	} {
		id, err := e.st.PutRule(e.ctx, r)
		e.wantErr(err, auth.ErrInvalid, "PutRule of a rule with "+what)
		if id != "" {
			e.track(id)
		}
	}
	e.eq("Rules", e.listRules(), []auth.Rule{})
}
