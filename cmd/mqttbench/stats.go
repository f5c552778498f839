package main

import (
	"context"
	"math"
	"slices"
	"sync/atomic"
	"syscall"
	"time"
)

// percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest value with at least p% of the values
// at or below it. It returns 0 for no values.
func percentile(sorted []int64, p float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

// spread is the median, minimum and maximum of some rounds' figures.
type spread struct{ median, min, max float64 }

// summarize returns the spread of vs; the median of an even count is the
// mean of the middle two. NaN values (a failed run) are left out.
func summarize(vs []float64) (spread, bool) {
	s := make([]float64, 0, len(vs))
	for _, v := range vs {
		if !math.IsNaN(v) {
			s = append(s, v)
		}
	}
	if len(s) == 0 {
		return spread{}, false
	}
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return spread{median: m, min: s[0], max: s[len(s)-1]}, true
}

// rate is n events over d, per second.
func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// lost is the messages sent but never received. It is negative when more
// were received than sent (duplicates).
func lost(sent, received int64) int64 { return sent - received }

// backlog bounds one publisher's messages sent but not yet received. The
// publisher numbers its messages from 1 and calls sent after each; the
// subscriber calls seen with each sequence number it receives. A broker
// delivers one publisher's messages in order, so everything up to the
// highest sequence seen has been received or dropped: a dropped message
// does not hold the bound forever.
type backlog struct {
	limit   int64
	sentN   atomic.Int64
	seenSeq atomic.Int64
	waiting atomic.Bool
	wake    chan struct{}
}

func newBacklog(limit int64) *backlog {
	return &backlog{limit: limit, wake: make(chan struct{}, 1)}
}

// room is how many more messages may be sent now.
func (b *backlog) room() int64 {
	return b.limit - (b.sentN.Load() - b.seenSeq.Load())
}

// sent records n more messages sent.
func (b *backlog) sent(n int64) { b.sentN.Add(n) }

// seen records that message seq was received, waking a waiting publisher.
func (b *backlog) seen(seq int64) {
	for {
		cur := b.seenSeq.Load()
		if seq <= cur {
			return
		}
		if b.seenSeq.CompareAndSwap(cur, seq) {
			break
		}
	}
	if b.waiting.Load() {
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
}

// wait blocks until there is room, ctx ends (false), or stall passes
// without any: then the messages outstanding are given up as lost, so that
// a run of messages dropped at the tail cannot stop the publisher.
func (b *backlog) wait(ctx context.Context, stall time.Duration) bool {
	t := time.NewTimer(stall)
	defer t.Stop()
	for b.room() <= 0 {
		b.waiting.Store(true)
		if b.room() > 0 {
			break
		}
		select {
		case <-ctx.Done():
			b.waiting.Store(false)
			return false
		case <-b.wake:
		case <-t.C:
			b.giveUp()
		}
	}
	b.waiting.Store(false)
	return true
}

// giveUp treats every message sent so far as seen.
func (b *backlog) giveUp() { b.seen(b.sentN.Load()) }

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuPercent is CPU time used over a wall time, in percent of one core.
func cpuPercent(cpu, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return 100 * cpu.Seconds() / wall.Seconds()
}

// latencies collects one goroutine's latency samples, in nanoseconds.
type latencies []int64

// merge sorts all the samples of ls into one slice.
func merge(ls []latencies) []int64 {
	n := 0
	for _, l := range ls {
		n += len(l)
	}
	all := make([]int64, 0, n)
	for _, l := range ls {
		all = append(all, l...)
	}
	slices.Sort(all)
	return all
}
