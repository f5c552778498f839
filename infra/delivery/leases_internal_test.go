package delivery

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/session"
)

type staticLeases struct {
	leases []session.Lease
	marked []session.Lease // MarkUnreachable calls
}

func (s *staticLeases) Leases(context.Context) ([]session.Lease, error) { return s.leases, nil }

func (s *staticLeases) MarkUnreachable(_ context.Context, proxy string, until int64) error {
	s.marked = append(s.marked, session.Lease{Proxy: proxy, Until: until})
	return nil
}

// A proxy that could not be reached is skipped while its lease stays
// where it was (it may have died and still hold its lease), until the
// lease is renewed (it lives) or suspectFor passes; its lease is marked
// unreachable for the other Relays; the leases are re-read once
// leasesFresh passed.
func TestSuspectProxies(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	src := &staticLeases{leases: []session.Lease{{Proxy: "p", Until: now.Add(5 * time.Second).UnixMilli()}}}
	l := &lapsedProxies{src: src, now: func() time.Time { return now }, suspect: map[string]suspicion{}}
	skipped := func() bool {
		by := map[string][]session.Delivery{"p": {{Proxy: "p", Conn: "c"}}, "q": {{Proxy: "q", Conn: "d"}}}
		out := l.split(context.Background(), by)
		if len(by["q"]) != 1 {
			t.Fatalf("a proxy without a lease nor a failure was skipped")
		}
		return len(out) == 1
	}
	if skipped() {
		t.Fatal("live proxy skipped before any failure")
	}
	l.failed(context.Background(), "p")
	if want := (session.Lease{Proxy: "p", Until: src.leases[0].Until}); len(src.marked) != 1 || src.marked[0] != want {
		t.Fatalf("MarkUnreachable calls %v, want %v", src.marked, want)
	}
	now = now.Add(2 * time.Second)
	if !skipped() {
		t.Fatal("proxy not skipped after it could not be reached, its lease not renewed")
	}
	src.leases = []session.Lease{{Proxy: "p", Until: now.Add(5 * time.Second).UnixMilli()}}
	if !skipped() {
		t.Fatal("leases re-read within leasesFresh")
	}
	now = now.Add(leasesFresh)
	if skipped() {
		t.Fatal("proxy still skipped once its lease was renewed")
	}
	// No renewal: the lease lapses, and the proxy stays skipped for good.
	l.failed(context.Background(), "p")
	now = now.Add(6 * time.Second)
	if !skipped() {
		t.Fatal("proxy whose lease lapsed not skipped")
	}
	// A proxy without a lease is skipped for suspectFor at most.
	l.failed(context.Background(), "q2")
	if len(src.marked) != 2 {
		t.Fatalf("MarkUnreachable of a proxy without a lease: %v", src.marked)
	}
	by := map[string][]session.Delivery{"q2": {{Proxy: "q2"}}}
	if len(l.split(context.Background(), by)) != 1 {
		t.Fatal("unreachable proxy without a lease not skipped")
	}
	now = now.Add(suspectFor)
	by = map[string][]session.Delivery{"q2": {{Proxy: "q2"}}}
	if len(l.split(context.Background(), by)) != 0 {
		t.Fatal("unreachable proxy without a lease skipped past suspectFor")
	}
}

// Only a failure to reach a proxy raises a suspicion, not an answer.
func TestUnreachable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("delivery: post: %w", &url.Error{Op: "Post", URL: "http://x", Err: errors.New("i/o timeout")}), true},
		{context.DeadlineExceeded, true},
		{fmt.Errorf("delivery: %w", ErrReplayed), false},
		{errors.New("delivery: proxy answered 500"), false},
	} {
		if got := unreachable(c.err); got != c.want {
			t.Errorf("unreachable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
