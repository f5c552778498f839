// Package gctune gives the Go collector a headroom: after each collection
// it sets the collector's percentage (what GOGC sets) so that the next
// collection comes once the heap has grown by at least the headroom, and
// by the runtime's default of 100 % of the live heap when that is more.
//
// Why: with GOGC=100 the collector runs each time the heap has doubled.
// The broker's live heap is small when it carries a few busy connections
// (3 to 4 MB in BenchmarkS2), so it collected about 20 times a second at
// 20,000 messages a second, and the collector took about 14 % of its CPU.
// A fixed headroom of some MiB (16 by default) makes them rare,
// while a broker with a large live heap (many connections, say) keeps
// Go's default: its heap goal is live + max(live, headroom), never above
// live + live unless the live heap is smaller than the headroom.
//
// An operator's GOGC (or GOGC=off with GOMEMLIMIT) wins: the broker starts
// no Tuner when GOGC is set. GOMEMLIMIT still bounds the heap as the
// runtime documents it, whatever percentage the Tuner sets.
//
// Concurrency: adjust runs on the runtime's cleanup goroutine, and Stop
// on its caller's; mu guards pct and stopped.
package gctune

import (
	"log/slog"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// liveMetric is the heap the last collection found live.
const liveMetric = "/gc/heap/live:bytes"

// minLive keeps the percentage finite before the first collection and for
// an almost empty heap.
const minLive = 1 << 20

// Tuner sets the collector's percentage after each collection.
type Tuner struct {
	headroom uint64
	orig     int // the percentage before Start, restored by Stop
	sample   []metrics.Sample

	mu      sync.Mutex
	pct     int // the percentage set last
	stopped bool
}

// sentinel is an object nothing refers to: its cleanup runs after the
// collection that finds it unreachable. It holds a pointer so that the
// runtime's tiny allocator, whose objects may never be cleaned up, does
// not allocate it.
type sentinel struct{ _ *sentinel }

// Start returns a Tuner that keeps a headroom of headroom bytes over the
// live heap, from the next collection on. headroom must be positive.
func Start(headroom uint64, log *slog.Logger) *Tuner {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &Tuner{headroom: headroom, sample: []metrics.Sample{{Name: liveMetric}}}
	log.Info("garbage collector headroom", "bytes", headroom)
	t.orig = debug.SetGCPercent(100)
	t.pct = 100
	t.adjust()
	t.arm()
	return t
}

// Percent returns the percentage for a live heap of live bytes: enough
// for headroom bytes of growth, and at least 100.
func Percent(live, headroom uint64) int {
	live = max(live, minLive)
	pct := (headroom*100 + live - 1) / live
	return int(max(min(pct, 1<<20), 100))
}

// arm sets a sentinel whose cleanup adjusts the percentage and arms the
// next one.
func (t *Tuner) arm() {
	runtime.AddCleanup(new(sentinel), func(t *Tuner) {
		if t.adjust() {
			t.arm()
		}
	}, t)
}

// adjust sets the percentage from the live heap of the last collection,
// when it differs from the one set by more than an eighth; false once
// stopped.
func (t *Tuner) adjust() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return false
	}
	metrics.Read(t.sample)
	if t.sample[0].Value.Kind() != metrics.KindUint64 {
		return true
	}
	pct := Percent(t.sample[0].Value.Uint64(), t.headroom)
	if d := pct - t.pct; d > t.pct/8 || -d > t.pct/8 {
		debug.SetGCPercent(pct)
		t.pct = pct
	}
	return true
}

// Stop stops adjusting and restores the percentage Start found.
func (t *Tuner) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.stopped {
		t.stopped = true
		debug.SetGCPercent(t.orig)
	}
}
