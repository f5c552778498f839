package dynamo_test

import (
	"testing"

	"github.com/mqttless/mqttless/core/session"
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
