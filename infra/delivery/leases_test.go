package delivery_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/delivery"
)

// fakeLeases serves fixed leases, or an error, and counts its reads.
type fakeLeases struct {
	leases []session.Lease
	err    error
	reads  atomic.Int32
}

func (f *fakeLeases) Leases(context.Context) ([]session.Lease, error) {
	f.reads.Add(1)
	return f.leases, f.err
}

func (f *fakeLeases) MarkUnreachable(context.Context, string, int64) error { return nil }

// Deliveries to a proxy whose lease lapsed (or was ended by a sweep, or
// marked unreachable since its last renewal) are never posted: they go
// straight to Undelivered, as if the connections were gone. A live lease,
// and a proxy with no lease, get theirs.
func TestRelaySkipsLapsedLeases(t *testing.T) {
	now := time.Now().UnixMilli()
	src := &fakeLeases{leases: []session.Lease{
		{Proxy: "live", Until: now + time.Hour.Milliseconds()},
		{Proxy: "lapsed", Until: now - 1},
		{Proxy: "ended", Until: now + time.Hour.Milliseconds(), Ended: true},
		{Proxy: "unreachable", Until: now + time.Hour.Milliseconds(), Unreachable: true},
	}}
	ds := []session.Delivery{dl("live", "a"), dl("lapsed", "b"), dl("ended", "c"), dl("none", "d"), dl("lapsed", "e"), dl("unreachable", "g")}
	h := &fakeHandler{reply: &session.Reply{Deliveries: slices.Clone(ds)}}
	fwd := &fakeForwarder{}
	r := delivery.NewRelay(h, fwd, nil).WithLeases(src)
	if _, err := r.Handle(context.Background(), &session.Event{Kind: session.KindSweep}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"lapsed", "ended", "unreachable"} {
		if len(fwd.calls[p]) != 0 {
			t.Errorf("deliveries posted to %s, a proxy without a live lease", p)
		}
	}
	for _, p := range []string{"live", "none"} {
		if len(fwd.calls[p]) != 1 {
			t.Errorf("proxy %s: %d requests, want 1", p, len(fwd.calls[p]))
		}
	}
	var got []string
	for _, u := range h.undelivered {
		got = append(got, conns(u)...)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"b", "c", "e", "g"}) {
		t.Errorf("undelivered %v, want b, c, e, g", got)
	}
	// The leases are read at most once a second, however many events.
	for range 5 {
		h.reply = &session.Reply{Deliveries: []session.Delivery{dl("lapsed", "f")}}
		if _, err := r.Handle(context.Background(), &session.Event{Kind: session.KindSweep}); err != nil {
			t.Fatal(err)
		}
	}
	if n := src.reads.Load(); n != 1 {
		t.Errorf("leases read %d times in a burst of events, want 1", n)
	}
}

// When the leases cannot be read, every proxy gets its deliveries.
func TestRelayLeasesUnreadable(t *testing.T) {
	h := &fakeHandler{reply: &session.Reply{Deliveries: []session.Delivery{dl("p", "a")}}}
	fwd := &fakeForwarder{}
	r := delivery.NewRelay(h, fwd, nil).WithLeases(&fakeLeases{err: errors.New("throttled")})
	if _, err := r.Handle(context.Background(), &session.Event{Kind: session.KindSweep}); err != nil {
		t.Fatal(err)
	}
	if len(fwd.calls["p"]) != 1 {
		t.Errorf("deliveries not posted while the leases could not be read")
	}
}
