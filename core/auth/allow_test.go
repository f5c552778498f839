package auth_test

import (
	"errors"
	"testing"

	"github.com/mqttless/mqttless/core/auth"
)

// check is one Allow call and its expected answer.
type check struct {
	a      auth.Access
	user   string
	client string
	topic  string
	want   bool
}

func pub(user, client, topic string, want bool) check {
	return check{auth.Publish, user, client, topic, want}
}

func subs(user, client, filter string, want bool) check {
	return check{auth.Subscribe, user, client, filter, want}
}

func allow(access auth.Access, filter string) auth.Rule {
	return auth.Rule{Access: access, Filter: filter}
}

func deny(access auth.Access, filter string) auth.Rule {
	return auth.Rule{Access: access, Filter: filter, Deny: true}
}

func forUser(user string, r auth.Rule) auth.Rule { r.User = user; return r }
func forClient(id string, r auth.Rule) auth.Rule { r.ClientID = id; return r }
func withID(id string, r auth.Rule) auth.Rule    { r.ID = id; return r }
func both(filter string) auth.Rule               { return allow(auth.Both, filter) }
func denyBoth(filter string) auth.Rule           { return deny(auth.Both, filter) }
func pubOnly(filter string) auth.Rule            { return allow(auth.Publish, filter) }
func subOnly(filter string) auth.Rule            { return allow(auth.Subscribe, filter) }
func invalid(deny bool, access auth.Access) auth.Rule {
	return auth.Rule{Access: access, Filter: "a/#/b", Deny: deny}
}

func TestAllow(t *testing.T) {
	cases := []struct {
		name   string
		rules  []auth.Rule
		checks []check
	}{
		{name: "no rules: everything allowed", checks: []check{
			pub("", "c", "a/b", true), subs("", "c", "#", true), pub("u", "c", "x", true)}},
		{name: "deny by default once a rule exists", rules: []auth.Rule{pubOnly("a/b")}, checks: []check{
			pub("u", "c", "a/b", true), pub("u", "c", "a/c", false),
			subs("u", "c", "a/b", false), // a publish rule grants no subscription
		}},
		{name: "both", rules: []auth.Rule{both("a/+")}, checks: []check{
			pub("u", "c", "a/b", true), subs("u", "c", "a/b", true), subs("u", "c", "a/+", true),
			subs("u", "c", "a/#", false), subs("u", "c", "#", false), pub("u", "c", "a/b/c", false),
		}},
		{name: "subscribe rule covers narrower filters", rules: []auth.Rule{subOnly("sensors/#")}, checks: []check{
			subs("u", "c", "sensors/#", true), subs("u", "c", "sensors/+/temp", true), subs("u", "c", "sensors", true),
			subs("u", "c", "#", false), subs("u", "c", "+/temp", false), pub("u", "c", "sensors/a", false),
		}},
		{name: "shared subscriptions checked on their filter", rules: []auth.Rule{subOnly("jobs/#")}, checks: []check{
			subs("u", "c", "$share/g/jobs/+", true), subs("u", "c", "$share/g/other", false),
			subs("u", "c", "$share/g", false),
		}},
		{name: "rule for one user", rules: []auth.Rule{forUser("alice", both("a/#"))}, checks: []check{
			pub("alice", "c1", "a/x", true), pub("bob", "c1", "a/x", false), pub("", "c1", "a/x", false),
		}},
		{name: "rule for one client id", rules: []auth.Rule{forClient("dev1", both("a/#"))}, checks: []check{
			pub("alice", "dev1", "a/x", true), pub("alice", "dev2", "a/x", false), pub("", "dev1", "a/x", true),
		}},
		{name: "rule for one user and client id", rules: []auth.Rule{forClient("dev1", forUser("alice", both("a/#")))}, checks: []check{
			pub("alice", "dev1", "a/x", true), pub("alice", "dev2", "a/x", false), pub("bob", "dev1", "a/x", false),
		}},
		{name: "%u substitution", rules: []auth.Rule{both("users/%u/#")}, checks: []check{
			pub("alice", "c", "users/alice/x", true), pub("alice", "c", "users/bob/x", false),
			subs("alice", "c", "users/alice/#", true), subs("alice", "c", "users/+/#", false),
		}},
		{name: "%c substitution", rules: []auth.Rule{both("devices/%c/+")}, checks: []check{
			pub("", "dev1", "devices/dev1/state", true), pub("", "dev1", "devices/dev2/state", false),
			subs("u", "dev1", "devices/dev1/+", true),
		}},
		{name: "%u and %c inside a level", rules: []auth.Rule{pubOnly("x/%u-%c")}, checks: []check{
			pub("alice", "d1", "x/alice-d1", true), pub("alice", "d2", "x/alice-d1", false),
		}},
		{name: "a placeholder value holding the other placeholder stays literal", rules: []auth.Rule{pubOnly("x/%u/%c")}, checks: []check{
			pub("%c", "d1", "x/%c/d1", true), pub("%c", "d1", "x/d1/d1", false),
		}},
		{name: "no escalation through wildcard names", rules: []auth.Rule{both("users/%u/#"), both("dev/%c")}, checks: []check{
			pub("#", "c", "users/#/x", false), subs("#", "c", "users/#", false), subs("+", "c", "users/+/#", false),
			pub("a/b", "c", "users/a/b/x", false), subs("", "c", "users//#", false),
			subs("u", "+", "dev/+", false), subs("u", "#", "dev/#", false), pub("u", "x/y", "dev/x/y", false),
			pub("u", "", "dev/", false),
		}},
		{name: "no escalation into $ topics", rules: []auth.Rule{subOnly("%c/#")}, checks: []check{
			subs("u", "$SYS", "$SYS/#", false), subs("u", "dev", "dev/#", true),
		}},
		{name: "deny wins over allow", rules: []auth.Rule{both("#"), denyBoth("secret/#")}, checks: []check{
			pub("u", "c", "public/x", true), pub("u", "c", "secret/x", false), pub("u", "c", "secret", false),
			subs("u", "c", "public/#", true), subs("u", "c", "secret/+", false),
		}},
		{name: "deny wins whatever the order", rules: []auth.Rule{withID("1", denyBoth("secret/#")), withID("2", both("#"))}, checks: []check{
			pub("u", "c", "secret/x", false), pub("u", "c", "other", true),
		}},
		// A deny rule refuses the subscriptions it covers; one that it only
		// overlaps is granted, and MayReceive keeps the denied messages out.
		{name: "a deny rule refuses the subscriptions it covers", rules: []auth.Rule{both("#"), deny(auth.Subscribe, "secret/#")}, checks: []check{
			subs("u", "c", "secret/#", false), subs("u", "c", "secret/+", false), subs("u", "c", "secret", false),
			subs("u", "c", "#", true), subs("u", "c", "+/x", true), subs("u", "c", "public/#", true),
			pub("u", "c", "secret/x", true), // the deny rule is about subscriptions only
		}},
		{name: "deny for one user", rules: []auth.Rule{both("#"), forUser("mallory", denyBoth("#"))}, checks: []check{
			pub("alice", "c", "x", true), pub("mallory", "c", "x", false), subs("mallory", "c", "x", false),
		}},
		{name: "deny with a placeholder that does not apply", rules: []auth.Rule{both("#"), denyBoth("%u/#")}, checks: []check{
			pub("alice", "c", "alice/x", false), pub("", "c", "x/y", true), // anonymous: the deny rule does not apply
		}},
		{name: "$ topics need an explicit rule", rules: []auth.Rule{both("#"), subOnly("$SYS/#")}, checks: []check{
			subs("u", "c", "$SYS/broker/+", true), subs("u", "c", "$other/x", false), pub("u", "c", "$other/x", false),
		}},
		{name: "an invalid allow rule is skipped", rules: []auth.Rule{invalid(false, auth.Both), pubOnly("ok")}, checks: []check{
			pub("u", "c", "ok", true), pub("u", "c", "a/x/b", false),
		}},
		{name: "an invalid deny rule denies everything to its clients", rules: []auth.Rule{both("#"), forUser("bob", invalid(true, "bad"))}, checks: []check{
			pub("alice", "c", "x", true), pub("bob", "c", "x", false), subs("bob", "c", "x", false),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store := newFakeStore()
			store.rules = tc.rules
			c := auth.NewChecker(store, auth.Options{})
			for _, ch := range tc.checks {
				got, err := c.Allow(t.Context(), ch.a, ch.user, ch.client, ch.topic)
				if err != nil {
					t.Fatalf("Allow: %v", err)
				}
				if got != ch.want {
					t.Errorf("Allow(%s, user %q, client %q, %q) = %v, want %v", ch.a, ch.user, ch.client, ch.topic, got, ch.want)
				}
			}
		})
	}
}

func TestAllowErrors(t *testing.T) {
	store := newFakeStore()
	c := auth.NewChecker(store, auth.Options{})
	if _, err := c.Allow(t.Context(), auth.Both, "u", "c", "t"); !errors.Is(err, auth.ErrInvalid) {
		t.Errorf("Allow(Both): %v, want ErrInvalid", err)
	}
	boom := errors.New("store down")
	store.err = boom
	ok, err := c.Allow(t.Context(), auth.Publish, "u", "c", "t")
	if ok || !errors.Is(err, boom) {
		t.Errorf("Allow with a failing store = %v, %v; want false and the store's error wrapped", ok, err)
	}
}

// MayReceive checks one delivered message: a subscribe rule must match
// its topic name and no deny rule may, so that a deny rule inside a
// granted subscription, and a revoked rule, keep messages out.
func TestMayReceive(t *testing.T) {
	store := newFakeStore()
	store.rules = []auth.Rule{
		forUser("alice", both("devices/%u/#")),
		denyBoth("devices/+/secrets/#"),
		subOnly("public/#"),
		pubOnly("inbox/#"),
		forClient("alice-phone", subOnly("phones/%c")),
	}
	c := auth.NewChecker(store, auth.Options{})
	for _, tc := range []struct {
		user, client, name string
		want               bool
	}{
		{"alice", "", "devices/alice/t", true},
		{"alice", "", "devices/alice/secrets/k", false}, // the deny rule, inside her subscription
		{"alice", "", "devices/bob/t", false},
		{"bob", "", "devices/alice/t", false},
		{"bob", "", "public/news", true},
		{"bob", "", "inbox/x", false}, // a publish rule grants no reading
		{"alice", "alice-phone", "phones/alice-phone", true},
		{"alice", "", "phones/alice-phone", false}, // an unbound client id: the rule does not apply
		{"", "", "public/news", true},
	} {
		got, err := c.MayReceive(t.Context(), tc.user, tc.client, tc.name)
		if err != nil || got != tc.want {
			t.Errorf("MayReceive(%q, %q, %q) = %v, %v; want %v", tc.user, tc.client, tc.name, got, err, tc.want)
		}
	}
	// Granted: alice's subscription to her whole tree, which the deny rule
	// only overlaps; the deliveries above keep the secrets out.
	if ok, err := c.Allow(t.Context(), auth.Subscribe, "alice", "", "devices/alice/#"); !ok || err != nil {
		t.Errorf("Allow(subscribe devices/alice/#) = %v, %v; want granted", ok, err)
	}
}
