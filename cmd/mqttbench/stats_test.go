package main

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
)

func TestPercentileNearestRank(t *testing.T) {
	hundred := make([]int64, 100)
	for i := range hundred {
		hundred[i] = int64(i + 1)
	}
	for _, tc := range []struct {
		data []int64
		p    float64
		want int64
	}{
		{hundred, 50, 50},
		{hundred, 99, 99},
		{hundred, 100, 100},
		{hundred, 1, 1},
		{hundred, 0.5, 1},
		{[]int64{10, 20, 30}, 50, 20},
		{[]int64{10, 20, 30}, 99, 30},
		{[]int64{10, 20, 30, 40}, 50, 20}, // rank ceil(2) = 2
		{[]int64{10, 20, 30, 40}, 51, 30}, // rank ceil(2.04) = 3
		{[]int64{7}, 99, 7},
		{nil, 50, 0},
	} {
		if got := percentile(tc.data, tc.p); got != tc.want {
			t.Errorf("percentile(%v, %v) = %d, want %d", tc.data, tc.p, got, tc.want)
		}
	}
}

func TestPercentileOfMergedLatencies(t *testing.T) {
	// 1,000 samples 1..1000 ns split unevenly over three goroutines' slices.
	var ls [3]latencies
	for i := 1000; i >= 1; i-- {
		ls[i%3] = append(ls[i%3], int64(i))
	}
	all := merge(ls[:])
	if len(all) != 1000 || !slices.IsSorted(all) {
		t.Fatalf("merge gave %d samples, sorted %v", len(all), slices.IsSorted(all))
	}
	if p50, p99 := percentile(all, 50), percentile(all, 99); p50 != 500 || p99 != 990 {
		t.Errorf("p50, p99 = %d, %d, want 500, 990", p50, p99)
	}
}

func TestSummarizeMedianAndSpread(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		vs   []float64
		want spread
		ok   bool
	}{
		{[]float64{3, 1, 2}, spread{2, 1, 3}, true},
		{[]float64{10, 40, 20, 30}, spread{25, 10, 40}, true},
		{[]float64{5}, spread{5, 5, 5}, true},
		{[]float64{9, nan, 1}, spread{5, 1, 9}, true}, // a failed round is left out
		{[]float64{nan, nan}, spread{}, false},
		{nil, spread{}, false},
	} {
		got, ok := summarize(tc.vs)
		if got != tc.want || ok != tc.ok {
			t.Errorf("summarize(%v) = %+v, %v; want %+v, %v", tc.vs, got, ok, tc.want, tc.ok)
		}
	}
}

func TestRatioOfMedians(t *testing.T) {
	if r := ratio([]float64{100, 300, 200}, []float64{90, 50, 80}); r != 2.5 {
		t.Errorf("ratio = %v, want 2.5, the medians 200 over 80", r)
	}
}

func TestRateAndLost(t *testing.T) {
	if r := rate(500, 2*time.Second); r != 250 {
		t.Errorf("rate(500, 2s) = %v, want 250", r)
	}
	if r := rate(30, 1500*time.Millisecond); r != 20 {
		t.Errorf("rate(30, 1.5s) = %v, want 20", r)
	}
	if r := rate(10, 0); r != 0 {
		t.Errorf("rate(10, 0) = %v, want 0", r)
	}
	if l := lost(1000, 990); l != 10 {
		t.Errorf("lost(1000, 990) = %d, want 10", l)
	}
	if l := lost(1000, 1002); l != -2 {
		t.Errorf("lost(1000, 1002) = %d, want -2 (duplicates)", l)
	}
	if c := cpuPercent(time.Second, 2*time.Second); c != 50 {
		t.Errorf("cpuPercent(1s, 2s) = %v, want 50", c)
	}
}

func TestBacklogRoom(t *testing.T) {
	b := newBacklog(250)
	if r := b.room(); r != 250 {
		t.Fatalf("room of a new backlog = %d, want 250", r)
	}
	b.sent(250)
	if r := b.room(); r != 0 {
		t.Fatalf("room after 250 sent = %d, want 0", r)
	}
	b.seen(100)
	if r := b.room(); r != 100 {
		t.Fatalf("room after seq 100 seen = %d, want 100", r)
	}
	b.seen(60) // a lower sequence number does not move the mark back
	if r := b.room(); r != 100 {
		t.Fatalf("room after seq 60 seen = %d, want 100", r)
	}
	b.seen(120) // 101..119 dropped by the broker: 120 received covers them
	if r := b.room(); r != 120 {
		t.Fatalf("room after seq 120 seen = %d, want 120", r)
	}
}

func TestBacklogWaitWakesAndGivesUp(t *testing.T) {
	ctx := context.Background()
	b := newBacklog(10)
	if !b.wait(ctx, time.Second) {
		t.Fatal("wait with room returned false")
	}
	b.sent(10)
	go func() { time.Sleep(20 * time.Millisecond); b.seen(3) }()
	start := time.Now()
	if !b.wait(ctx, 10*time.Second) || b.room() != 3 {
		t.Fatalf("wait returned with room %d, want 3", b.room())
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("wait was not woken by seen")
	}
	b.sent(3)
	// Nothing more arrives: after the stall time the outstanding messages
	// are given up and there is room again.
	if !b.wait(ctx, 30*time.Millisecond) || b.room() != 10 {
		t.Fatalf("after a stall room = %d, want 10", b.room())
	}
	b.sent(10)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if b.wait(cctx, time.Hour) {
		t.Fatal("wait with a cancelled context returned true")
	}
}

// A publisher that waits on its backlog never has more than the limit sent
// and not received, whatever the subscriber's pace and drops.
func TestBacklogBoundsOutstanding(t *testing.T) {
	const limit, total = 25, 5000
	b := newBacklog(limit)
	ch := make(chan int64, total)
	var wg sync.WaitGroup
	received := 0
	wg.Go(func() { // the subscriber; the broker drops every 7th message
		for seq := range ch {
			if seq%7 == 0 {
				continue
			}
			if rand.IntN(50) == 0 {
				time.Sleep(time.Millisecond)
			}
			received++
			b.seen(seq)
		}
	})
	var seq int64
	for seq < total {
		if !b.wait(context.Background(), 5*time.Second) {
			t.Fatal("wait failed")
		}
		n := min(b.room(), 8, total-seq)
		b.sent(n)
		for range n {
			seq++
			ch <- seq
		}
		if out := b.sentN.Load() - b.seenSeq.Load(); out > limit {
			t.Fatalf("%d outstanding, over the limit of %d", out, limit)
		}
	}
	close(ch)
	wg.Wait()
	if want := total - total/7; received != want {
		t.Errorf("received %d, want %d", received, want)
	}
	if l := lost(total, int64(received)); l != total/7 {
		t.Errorf("lost = %d, want %d", l, total/7)
	}
}

func TestStampAndParsePublish(t *testing.T) {
	payload := make([]byte, 64)
	putStamp(payload, stamp{pub: 7, seq: 123456789, sent: 42})
	for _, qos := range []byte{0, 1} {
		f, err := (&packet.Publish{QoS: qos, PacketID: 9, Topic: "bench/s1/7", Payload: payload}).Append(nil, packet.V311)
		if err != nil {
			t.Fatal(err)
		}
		gotQoS, id, pl, ok := parsePublish(f)
		if !ok || gotQoS != qos || (qos == 1 && id != 9) || len(pl) != 64 {
			t.Fatalf("parsePublish at QoS %d = %d, %d, %d bytes, %v", qos, gotQoS, id, len(pl), ok)
		}
		if st, ok := getStamp(pl); !ok || st != (stamp{pub: 7, seq: 123456789, sent: 42}) {
			t.Errorf("getStamp = %+v, %v", st, ok)
		}
	}
	if _, _, _, ok := parsePublish([]byte{0x40, 2, 0, 1}); ok {
		t.Error("parsePublish accepted a PUBACK")
	}
}
