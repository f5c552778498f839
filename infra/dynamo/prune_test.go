package dynamo_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mqttless/mqttless/core/session"
)

// TestPruneEmptyTrieNodes: the subscription trie nodes and retained
// counters whose counts fall to 0 are deleted; those still counting stay.
func TestPruneEmptyTrieNodes(t *testing.T) {
	st, id := connected(t)
	ctx := t.Context()
	root := uniqueName(t)
	exists := func(pk, sk string) bool {
		t.Helper()
		it, err := st.Item(ctx, pk, sk)
		if err != nil {
			t.Fatal(err)
		}
		return it != nil
	}
	count := func(pk, sk string) string {
		t.Helper()
		it, err := st.Item(ctx, pk, sk)
		if err != nil {
			t.Fatal(err)
		}
		if it == nil {
			return "none"
		}
		return it["n"].(*types.AttributeValueMemberN).Value
	}

	subs := []session.Subscription{{Filter: root + "/a/b/c", QoS: 1}, {Filter: root + "/x", QoS: 1}, {Filter: "$share/g/" + root + "/a/+", QoS: 1}}
	if _, err := st.Subscribe(ctx, id, "c1", subs); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Unsubscribe(ctx, id, "c1", []string{root + "/a/b/c"}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{root + "/a/b/c", root + "/a/b"} {
		if exists("T#"+f, "#") {
			t.Errorf("trie node %q with no subscriptions left", f)
		}
	}
	if got := count("T#"+root+"/a", "#"); got != "1" {
		t.Errorf("trie node %q: n = %s, want 1 (the shared subscription)", root+"/a", got)
	}
	if got := count("T#"+root, "#"); got != "2" {
		t.Errorf("trie node %q: n = %s, want 2", root, got)
	}
	// A session cleared by a clean start purges its subscriptions: the
	// whole branch goes.
	s := &session.Session{ClientID: id, Identity: testIdentity, Conn: "c2", Proxy: "p", ReceiveMax: 20}
	if _, err := st.Connect(ctx, s, true, 1); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{root + "/a/+", root + "/a", root + "/x", root} {
		if exists("T#"+f, "#") {
			t.Errorf("trie node %q left after the session was cleared", f)
		}
	}
	if got, err := st.Match(ctx, root+"/a/b"); err != nil || len(got) != 0 {
		t.Errorf("Match = %v, %v; want nothing", got, err)
	}
	// Subscribing again recreates the nodes.
	if _, err := st.Subscribe(ctx, id, "c2", subs[:1]); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Match(ctx, root+"/a/b/c"); err != nil || len(got) != 1 {
		t.Errorf("Match after subscribing again = %v, %v; want 1 subscription", got, err)
	}

	// Retained: clearing the message of a topic deletes the counters
	// that fall to 0.
	for _, topic := range []string{root + "/r/s/t", root + "/r/u"} {
		if err := st.SetRetained(ctx, &session.Message{Topic: topic, Payload: []byte("m"), Retain: true}, session.RetainedLimits{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SetRetained(ctx, &session.Message{Topic: root + "/r/s/t", Retain: true}, session.RetainedLimits{}); err != nil {
		t.Fatal(err)
	}
	if exists("R#"+root+"/r", "Ns") {
		t.Errorf("retained counter of %q left at 0", root+"/r/s")
	}
	if got := count("R#"+root, "Nr"); got != "1" {
		t.Errorf("retained counter of %q: n = %s, want 1", root+"/r", got)
	}
	if got := count("R", "N"+root); got != "1" {
		t.Errorf("retained counter of %q: n = %s, want 1", root, got)
	}
	if err := st.SetRetained(ctx, &session.Message{Topic: root + "/r/u", Retain: true}, session.RetainedLimits{}); err != nil {
		t.Fatal(err)
	}
	if exists("R#"+root, "Nr") || exists("R", "N"+root) {
		t.Errorf("retained counters of %q left at 0", root)
	}
	msgs, err := st.RetainedPage(ctx, root+"/#", "", 1000, 1<<30)
	if err != nil || len(msgs) != 0 {
		t.Errorf("Retained = %v, %v; want none", msgs, err)
	}
}
