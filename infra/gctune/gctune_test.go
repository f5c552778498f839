package gctune_test

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/mqttless/mqttless/infra/gctune"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		live, headroom uint64
		want           int
	}{
		{4 * mib, 32 * mib, 800},  // a small heap: the headroom
		{3 * mib, 32 * mib, 1067}, // rounded up: at least the headroom
		{32 * mib, 32 * mib, 100},
		{200 * mib, 32 * mib, 100}, // a large heap: Go's default
		{0, 32 * mib, 3200},        // before the first collection: 1 MiB
	} {
		if got := gctune.Percent(tc.live, tc.headroom); got != tc.want {
			t.Errorf("Percent(%d MiB, %d MiB) = %d, want %d", tc.live/mib, tc.headroom/mib, got, tc.want)
		}
	}
}

func read(names ...string) []uint64 {
	s := make([]metrics.Sample, len(names))
	for i, n := range names {
		s[i].Name = n
	}
	metrics.Read(s)
	out := make([]uint64, len(s))
	for i := range s {
		out[i] = s[i].Value.Uint64()
	}
	return out
}

// waitPercent collects until the tuner has set pct (its cleanup runs after
// a collection), or fails.
func waitPercent(t *testing.T, ok func(pct uint64) bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		if ok(read("/gc/gogc:percent")[0]) {
			return
		}
	}
	t.Fatalf("GOGC percent %d after 10 s of collections: %s", read("/gc/gogc:percent")[0], what)
}

var retained [][]byte

// With a small live heap the next collection waits for the headroom; with
// a live heap larger than the headroom the runtime's 100 % holds; Stop
// gives back the percentage found.
func TestTunerHeadroom(t *testing.T) {
	const headroom = 64 << 20
	before := debug.SetGCPercent(150)
	defer debug.SetGCPercent(before)
	tu := gctune.Start(headroom, nil)
	waitPercent(t, func(p uint64) bool { return p > 150 }, "want the headroom's percentage for a small heap")
	v := read("/gc/heap/live:bytes", "/gc/heap/goal:bytes")
	if live, goal := v[0], v[1]; goal < live+headroom*7/8 {
		t.Errorf("heap goal %d MiB with %d MiB live, want about the live heap + the %d MiB headroom", goal>>20, live>>20, headroom>>20)
	}

	for range 160 { // 160 MiB live
		retained = append(retained, make([]byte, 1<<20))
	}
	waitPercent(t, func(p uint64) bool { return p == 100 }, "want 100 with 160 MiB live")
	retained = nil

	tu.Stop()
	if p := read("/gc/gogc:percent")[0]; p != 150 {
		t.Errorf("GOGC percent %d after Stop, want the 150 set before Start", p)
	}
	runtime.GC()
	time.Sleep(20 * time.Millisecond)
	if p := read("/gc/gogc:percent")[0]; p != 150 {
		t.Errorf("GOGC percent %d after Stop and a collection, want 150: the tuner still adjusts", p)
	}
}
