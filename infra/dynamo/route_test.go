package dynamo_test

import (
	"slices"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/dynamo"
)

// TestSessionsAfterMatch: Sessions for the clients Match just returned
// makes no read of its own, once; after a write of the session it reads
// it again.
func TestSessionsAfterMatch(t *testing.T) {
	st, id := connected(t)
	ctx := t.Context()
	topic := uniqueName(t) + "/a"
	if _, err := st.Subscribe(ctx, id, "c1", []session.Subscription{{Filter: topic, QoS: 1}}); err != nil {
		t.Fatal(err)
	}
	sessions := func(wantCalls int) map[string]*session.Session {
		t.Helper()
		before := st.Consumed().Calls
		got, err := st.Sessions(ctx, []string{id})
		if err != nil {
			t.Fatal(err)
		}
		if calls := st.Consumed().Calls - before; calls != wantCalls {
			t.Errorf("Sessions made %d calls, want %d", calls, wantCalls)
		}
		return got
	}
	if subs, err := st.Match(ctx, topic); err != nil || len(subs) != 1 {
		t.Fatalf("Match = %v, %v", subs, err)
	}
	if s := sessions(0)[id]; s == nil || s.Conn != "c1" {
		t.Fatalf("Sessions after Match = %+v, want online on c1", s)
	}
	sessions(1) // the item served once

	if _, err := st.Match(ctx, topic); err != nil {
		t.Fatal(err)
	}
	if err := st.SetOffline(ctx, id, "c1", session.Offline{ExpiresAt: 0}); err != nil {
		t.Fatal(err)
	}
	if s := sessions(1)[id]; s == nil || s.Online() {
		t.Fatalf("Sessions after SetOffline = %+v, want offline", s)
	}
}

// TestMatchCache: a second Match for a topic reuses the first one's walk
// (it reads the topic's two epoch items and the matched session, not the
// trie), and a change made through another Store (another function
// instance) is seen by the next Match: a new subscription, an
// unsubscription, and a clean start that replaces the session.
func TestMatchCache(t *testing.T) {
	a, id := connected(t)
	ctx := t.Context()
	b := dynamo.New(db, table) // another instance, with its own cache
	base := uniqueName(t)
	topic := base + "/dev/1/telemetry"
	if _, err := a.Subscribe(ctx, id, "c1", []session.Subscription{{Filter: base + "/dev/+/telemetry", QoS: 1}}); err != nil {
		t.Fatal(err)
	}
	match := func(st *dynamo.Store, want ...string) float64 {
		t.Helper()
		return matchWant(t, st, topic, want...).EstRead
	}
	sub1 := id + " " + base + "/dev/+/telemetry"
	walked := match(a, sub1)
	if cached := match(a, sub1); cached != 3 || cached >= walked {
		t.Errorf("cached Match read %v RCU (the walk %v), want 3: two epochs and one session", cached, walked)
	}

	// Another instance subscribes a second client: the epoch moves.
	other := id + "-b"
	if _, err := b.Connect(ctx, &session.Session{ClientID: other, Identity: testIdentity, Conn: "c2", Proxy: "p", Version: packet.V5, ReceiveMax: 20, ExpiryInterval: 3600}, true, time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Subscribe(ctx, other, "c2", []session.Subscription{{Filter: "#", QoS: 0}}); err != nil {
		t.Fatal(err)
	}
	sub2 := other + " #"
	match(a, sub1, sub2)
	match(a, sub1, sub2) // cached again

	// It unsubscribes: gone at once for a.
	if _, err := b.Unsubscribe(ctx, other, "c2", []string{"#"}); err != nil {
		t.Fatal(err)
	}
	match(a, sub1)

	// The first client comes back with a clean start through b: its old
	// subscription no longer matches, though a's cache holds it.
	if _, err := b.Connect(ctx, &session.Session{ClientID: id, Identity: testIdentity, Conn: "c3", Proxy: "p", Version: packet.V5, ReceiveMax: 20, ExpiryInterval: 3600}, true, time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	match(a)
}

// TestRouteQoS0FromLastSeenLocation: MatchSessions serves a client reached at QoS
// 0 from the session item it last saw online, so a warm QoS 0 route reads
// only the topic's two epoch items; a client reached at QoS 1 is read
// fresh, and so is one whose copy is offline. A fresh read (as
// Handler.Undelivered makes) updates the copy.
func TestRouteQoS0FromLastSeenLocation(t *testing.T) {
	a, id := connected(t) // online on c1
	ctx := t.Context()
	b := dynamo.New(db, table)
	topic := uniqueName(t) + "/x"
	if _, err := a.Subscribe(ctx, id, "c1", []session.Subscription{{Filter: topic, QoS: 1}}); err != nil {
		t.Fatal(err)
	}
	route := func(qos byte, wantConn string, wantRCU float64) {
		t.Helper()
		before := a.Consumed()
		subs, sessions, err := a.MatchSessions(ctx, topic, qos, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(subs) != 1 || subs[0].ClientID != id {
			t.Fatalf("MatchSessions QoS %d = %+v, want the one subscription", qos, subs)
		}
		if s := sessions[id]; s == nil || s.Conn != wantConn {
			t.Fatalf("MatchSessions QoS %d session %+v, want on connection %q", qos, s, wantConn)
		}
		if got := a.Consumed().Sub(before).EstRead; wantRCU >= 0 && got != wantRCU {
			t.Errorf("MatchSessions QoS %d read %v RCU, want %v", qos, got, wantRCU)
		}
	}
	route(0, "c1", -1) // walks and reads the session
	route(0, "c1", 2)  // two epochs, nothing else
	route(1, "c1", 3)  // two epochs and the session, fresh

	// The client comes back on c2 through another instance: QoS 0 still
	// goes to c1 (whose proxy will report it gone), QoS 1 to c2.
	if _, err := b.Connect(ctx, &session.Session{ClientID: id, Identity: testIdentity, Conn: "c2", Proxy: "p", Version: packet.V5, ReceiveMax: 20, ExpiryInterval: 3600}, false, time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	route(1, "c2", 3)
	route(0, "c2", 2) // the fresh read of the QoS 1 route updated the copy
	if err := b.SetOffline(ctx, id, "c2", session.Offline{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Connect(ctx, &session.Session{ClientID: id, Identity: testIdentity, Conn: "c3", Proxy: "p", Version: packet.V5, ReceiveMax: 20, ExpiryInterval: 3600}, false, time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	route(0, "c2", 2) // stale, as documented
	if _, err := a.Session(ctx, id); err != nil {
		t.Fatal(err)
	}
	route(0, "c3", 2) // Undelivered's fresh read corrected it
}

// TestRouteQoS0AfterCleanStartElsewhere: a client whose copy MatchSessions
// keeps starts a clean session through another instance (its old session
// and subscriptions gone, a new generation) and subscribes again. A QoS 0
// route does not take the copy of the old generation for the truth (which
// would drop the message as one for an ended session, and no proxy would
// report it gone): it reads the session afresh and reaches the new
// connection (issue 15, item 1).
func TestRouteQoS0AfterCleanStartElsewhere(t *testing.T) {
	a, id := connected(t) // online on c1
	ctx := t.Context()
	b := dynamo.New(db, table)
	topic := uniqueName(t) + "/x"
	if _, err := a.Subscribe(ctx, id, "c1", []session.Subscription{{Filter: topic, QoS: 0}}); err != nil {
		t.Fatal(err)
	}
	if _, sessions, err := a.MatchSessions(ctx, topic, 0, 0); err != nil || sessions[id] == nil || sessions[id].Conn != "c1" {
		t.Fatalf("MatchSessions = %+v, %v; want the session on c1", sessions, err)
	}
	if _, err := b.Connect(ctx, &session.Session{ClientID: id, Identity: testIdentity, Conn: "c2", Proxy: "p2", Version: packet.V311, ReceiveMax: 20}, true, time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Subscribe(ctx, id, "c2", []session.Subscription{{Filter: topic, QoS: 0}}); err != nil {
		t.Fatal(err)
	}
	subs, sessions, err := a.MatchSessions(ctx, topic, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(subs) != 1 || sessions[id] == nil || sessions[id].Conn != "c2" || sessions[id].Proxy != "p2" {
		t.Fatalf("after a clean start elsewhere: subscriptions %+v, session %+v; want the one on c2 of p2", subs, sessions[id])
	}
}

// TestSharedMatch: an instance that has not matched a topic yet reads the
// walk another instance stored under the same epochs (sharedmatch.go):
// one item, not the trie; a change of the filters moves the epochs, and
// the next Match walks again and sees it, in any instance.
func TestSharedMatch(t *testing.T) {
	a, id := connected(t)
	ctx := t.Context()
	base := uniqueName(t)
	topic := base + "/dev/7/telemetry"
	if _, err := a.Subscribe(ctx, id, "c1", []session.Subscription{{Filter: base + "/dev/+/telemetry", QoS: 1}}); err != nil {
		t.Fatal(err)
	}
	match := func(st *dynamo.Store, want ...string) (rcu float64, calls int) {
		t.Helper()
		d := matchWant(t, st, topic, want...)
		return d.EstRead, d.Calls
	}
	sub1 := id + " " + base + "/dev/+/telemetry"
	walked, walkCalls := match(a, sub1)
	b := dynamo.New(db, table) // another instance, its cache empty
	shared, sharedCalls := match(b, sub1)
	if shared != 4 || shared >= walked || sharedCalls >= walkCalls {
		t.Errorf("a Match from the shared walk read %v RCU in %d calls (the walk %v in %d), want 4: two epochs, the shared item, the session",
			shared, sharedCalls, walked, walkCalls)
	}

	// b subscribes a second client: the epoch moves; a fresh instance
	// must not take the stored walk, which lacks it.
	other := id + "-b"
	if _, err := b.Connect(ctx, &session.Session{ClientID: other, Identity: testIdentity, Conn: "c2", Proxy: "p", Version: packet.V5, ReceiveMax: 20, ExpiryInterval: 3600}, true, time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Subscribe(ctx, other, "c2", []session.Subscription{{Filter: base + "/#", QoS: 0}}); err != nil {
		t.Fatal(err)
	}
	sub2 := other + " " + base + "/#"
	match(dynamo.New(db, table), sub1, sub2)
	if again, _ := match(dynamo.New(db, table), sub1, sub2); again != 5 {
		t.Errorf("a Match from the new shared walk read %v RCU, want 5: two epochs, the item, two sessions", again)
	}
}

// matchWant runs Match(topic) on st, fails the test unless it returns the
// subscriptions want ("client filter"), and returns what it consumed.
func matchWant(t *testing.T, st *dynamo.Store, topic string, want ...string) dynamo.Capacity {
	t.Helper()
	before := st.Consumed()
	subs, err := st.Match(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range subs {
		got = append(got, s.ClientID+" "+s.Filter)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("Match(%q) = %q, want %q", topic, got, want)
	}
	return st.Consumed().Sub(before)
}
