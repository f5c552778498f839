package proxy

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// The connection rate limit remembers a bounded number of addresses,
// forgets those whose bucket refilled, and lets an address it cannot
// remember through.
func TestConnLimiterBounded(t *testing.T) {
	l := newConnLimiter(1, 3)
	now := time.Now()
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}) }
	for i := range 5 {
		if !l.allow(addr(i), now) {
			t.Fatalf("first connection of %v refused", addr(i))
		}
	}
	if n := l.size(); n != 3 {
		t.Fatalf("%d addresses remembered, want 3", n)
	}
	if l.allow(addr(0), now) {
		t.Fatal("second connection within the second allowed")
	}
	// Two seconds later every bucket is full again: a new address sweeps
	// them away.
	later := now.Add(2 * time.Second)
	if !l.allow(addr(9), later) {
		t.Fatal("new address refused")
	}
	if n := l.size(); n != 1 {
		t.Fatalf("%d addresses remembered after the sweep, want 1", n)
	}
	// The periodic sweep forgets idle addresses even when not full.
	l.allow(addr(8), later.Add(connSweepEvery+time.Second))
	if n := l.size(); n != 1 {
		t.Fatalf("%d addresses remembered after the periodic sweep, want 1", n)
	}
}

func TestSourceIP(t *testing.T) {
	for _, tc := range []struct {
		a    net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.1"), Port: 5}, "192.0.2.1"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 5}, "2001:db8::1"},
		{httpRemote("192.0.2.7:443"), "192.0.2.7"},
		{httpRemote("[2001:db8::2]:443"), "2001:db8::2"},
	} {
		ip, ok := sourceIP(tc.a)
		if !ok || ip.String() != tc.want {
			t.Errorf("sourceIP(%v) = %v %v, want %s", tc.a, ip, ok, tc.want)
		}
	}
	if _, ok := sourceIP(httpRemote("pipe")); ok {
		t.Error("an address without IP gave one")
	}
}

func TestBurstOf(t *testing.T) {
	for r, want := range map[float64]int{0.2: 1, 1: 1, 2.5: 2, 20: 20} {
		if got := burstOf(r); got != want {
			t.Errorf("burstOf(%v) = %d, want %d", r, got, want)
		}
	}
}

// httpRemote is an address known by its string only, such as an
// http.Request's RemoteAddr.
type httpRemote string

func (a httpRemote) Network() string { return "tcp" }
func (a httpRemote) String() string  { return string(a) }
