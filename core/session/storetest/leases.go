package storetest

import (
	"strings"
	"sync"

	"github.com/mqttless/mqttless/core/session"
)

var leaseTests = []test{
	{"RenewAndRead", testLeaseRenew},
	{"End", testLeaseEnd},
	{"EndRace", testLeaseEndRace},
	{"Unreachable", testLeaseUnreachable},
}

// leaseAt is a time in 2001 (Unix ms): leases the suite writes have lapsed
// long ago, so that nothing sweeping a shared store takes them for live
// proxies.
const leaseAt = 1_000_000_000_000

// leases returns this test's leases, by proxy.
func (e *env) leases() map[string]session.Lease {
	e.Helper()
	all, err := e.st.Leases(e.ctx)
	e.must(err, "Leases")
	out := map[string]session.Lease{}
	for _, l := range all {
		if strings.HasPrefix(l.Proxy, e.id+"-") {
			if _, dup := out[l.Proxy]; dup {
				e.Fatalf("Leases returned %q twice", l.Proxy)
			}
			out[l.Proxy] = l
		}
	}
	return out
}

// testLeaseRenew: RenewLease creates a proxy's lease and moves its Until;
// Leases returns every proxy's lease once, with the Until last set.
func testLeaseRenew(e *env) {
	a, b := e.id+"-a", e.id+"-b"
	if got := e.leases(); len(got) != 0 {
		e.Fatalf("leases before any renewal: %v", got)
	}
	e.must(e.st.RenewLease(e.ctx, a, leaseAt), "RenewLease a")
	e.must(e.st.RenewLease(e.ctx, b, leaseAt+5), "RenewLease b")
	e.must(e.st.RenewLease(e.ctx, a, leaseAt+10), "RenewLease a again")
	got := e.leases()
	want := map[string]session.Lease{a: {Proxy: a, Until: leaseAt + 10}, b: {Proxy: b, Until: leaseAt + 5}}
	if len(got) != 2 || got[a] != want[a] || got[b] != want[b] {
		e.Fatalf("Leases = %v, want %v", got, want)
	}
}

// testLeaseEnd: EndLease marks the lease ended only while its Until is
// the one given and it is not ended yet, and is ErrNotFound otherwise (a
// renewed lease, an ended one, a proxy without a lease); a renewal makes
// an ended lease live again.
func testLeaseEnd(e *env) {
	p := e.id + "-p"
	e.wantErr(e.st.EndLease(e.ctx, p, leaseAt), session.ErrNotFound, "EndLease without a lease")
	if got := e.leases(); len(got) != 0 {
		e.Fatalf("EndLease without a lease created %v", got)
	}
	e.must(e.st.RenewLease(e.ctx, p, leaseAt), "RenewLease")
	e.must(e.st.RenewLease(e.ctx, p, leaseAt+1), "RenewLease")
	e.wantErr(e.st.EndLease(e.ctx, p, leaseAt), session.ErrNotFound, "EndLease of an Until since renewed")
	if l := e.leases()[p]; l.Ended || l.Until != leaseAt+1 {
		e.Fatalf("lease after a refused EndLease: %+v", l)
	}
	e.must(e.st.EndLease(e.ctx, p, leaseAt+1), "EndLease")
	if l := e.leases()[p]; !l.Ended || l.Until != leaseAt+1 || l.Live(leaseAt) {
		e.Fatalf("lease after EndLease: %+v, want ended at Until %d", l, leaseAt+1)
	}
	e.wantErr(e.st.EndLease(e.ctx, p, leaseAt+1), session.ErrNotFound, "second EndLease")
	e.must(e.st.RenewLease(e.ctx, p, leaseAt+2), "RenewLease after EndLease")
	if l := e.leases()[p]; l.Ended || l.Until != leaseAt+2 || !l.Live(leaseAt+1) {
		e.Fatalf("lease renewed after EndLease: %+v, want live until %d", l, leaseAt+2)
	}
}

// testLeaseEndRace: of several EndLease calls at once for the same lease,
// exactly one succeeds (the sweep that ends a proxy's sessions is one).
func testLeaseEndRace(e *env) {
	p := e.id + "-p"
	e.must(e.st.RenewLease(e.ctx, p, leaseAt), "RenewLease")
	const n = 6
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		won  int
		errs []error
	)
	for range n {
		wg.Go(func() {
			err := e.st.EndLease(e.ctx, p, leaseAt)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				won++
			} else {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if won != 1 {
		e.Fatalf("%d of %d concurrent EndLease calls succeeded, want 1 (errors %v)", won, n, errs)
	}
	for _, err := range errs {
		e.wantErr(err, session.ErrNotFound, "losing EndLease")
	}
}

// testLeaseUnreachable: MarkUnreachable marks the lease only while its
// Until is the one given (ErrNotFound otherwise, and for a proxy without
// a lease), and the next renewal clears the mark.
func testLeaseUnreachable(e *env) {
	p := e.id + "-p"
	e.wantErr(e.st.MarkUnreachable(e.ctx, p, leaseAt), session.ErrNotFound, "MarkUnreachable without a lease")
	if got := e.leases(); len(got) != 0 {
		e.Fatalf("MarkUnreachable without a lease created %v", got)
	}
	e.must(e.st.RenewLease(e.ctx, p, leaseAt+1), "RenewLease")
	e.wantErr(e.st.MarkUnreachable(e.ctx, p, leaseAt), session.ErrNotFound, "MarkUnreachable of an Until since renewed")
	if l := e.leases()[p]; l.Unreachable {
		e.Fatalf("lease marked by a refused MarkUnreachable: %+v", l)
	}
	e.must(e.st.MarkUnreachable(e.ctx, p, leaseAt+1), "MarkUnreachable")
	if l := e.leases()[p]; !l.Unreachable || l.Until != leaseAt+1 || l.Ended || l.Reachable(leaseAt) {
		e.Fatalf("lease after MarkUnreachable: %+v, want unreachable, Until %d", l, leaseAt+1)
	}
	e.must(e.st.RenewLease(e.ctx, p, leaseAt+2), "RenewLease")
	if l := e.leases()[p]; l.Unreachable || !l.Reachable(leaseAt+1) {
		e.Fatalf("lease renewed after MarkUnreachable: %+v, want reachable", l)
	}
}
