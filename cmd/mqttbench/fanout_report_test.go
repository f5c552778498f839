package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// A run of 3 subscribers over 2 proxies (0 and 2 on the first) and 3
// messages: message 1 reaches everyone once;
// message 2 reaches subscriber 0 twice more (once redelivered with DUP,
// once sent again as new) and misses subscriber 2; message 3 has no
// PUBACK and reaches nobody.
func fanoutSample() *fanoutTally {
	t := newFanoutTally(3, 3, 2)
	ms := int64(time.Millisecond)
	t.sent(1, 100*ms)
	t.acked(1, 20*time.Millisecond, "")
	t.receive(0, 1, false, 110*ms)
	t.receive(1, 1, false, 150*ms)
	t.receive(2, 1, false, 130*ms)

	t.sent(2, 1000*ms)
	t.acked(2, 40*time.Millisecond, "")
	t.receive(0, 2, false, 1010*ms)
	t.receive(0, 2, true, 1500*ms)  // redelivered with DUP
	t.receive(0, 2, false, 1600*ms) // sent twice as new
	t.receive(1, 2, true, 1200*ms)  // a first receipt with DUP is no duplicate

	t.sent(3, 2000*ms)
	t.acked(3, 0, "closed after 30s")
	return t
}

func TestFanoutTallyCountsDuplicatesAndMissing(t *testing.T) {
	rs := fanoutSample().results()
	want := []fanoutResult{
		{seq: 1, puback: 20 * time.Millisecond, lastDelivery: 50 * time.Millisecond, received: 3, byProxy: "2/2 1/1"},
		{seq: 2, puback: 40 * time.Millisecond, lastDelivery: 200 * time.Millisecond, received: 2, missing: 1, byProxy: "1/2 1/1", dupWithDUP: 1, dupNoDUP: 1},
		{seq: 3, pubackErr: "closed after 30s", missing: 3, byProxy: "0/2 0/1"},
	}
	if len(rs) != len(want) {
		t.Fatalf("results: %d messages, want %d: %+v", len(rs), len(want), rs)
	}
	for i := range want {
		if rs[i] != want[i] {
			t.Errorf("message %d: %+v, want %+v", i+1, rs[i], want[i])
		}
	}
}

func TestFanoutTallyIgnoresOtherMessages(t *testing.T) {
	tl := newFanoutTally(2, 2, 2)
	tl.sent(1, 1)
	for _, c := range []struct{ sub, seq int }{{0, 0}, {0, 3}, {-1, 1}, {2, 1}} {
		if tl.receive(c.sub, c.seq, false, 5) {
			t.Errorf("receive(sub %d, seq %d) counted a message the run did not send to it", c.sub, c.seq)
		}
	}
	if rs := tl.results(); len(rs) != 1 || rs[0].received != 0 {
		t.Errorf("results %+v, want message 1 received by none (message 2 unsent, left out)", rs)
	}
	if tl.all(1) {
		t.Error("all(1) with no receipt")
	}
}

func TestFanoutSummaryVerdict(t *testing.T) {
	// Delivered to all, with a duplicate that had DUP: passes.
	ok := newFanoutTally(2, 1, 2)
	ok.sent(1, 1)
	ok.acked(1, time.Millisecond, "")
	ok.receive(0, 1, false, 2)
	ok.receive(1, 1, false, 3)
	ok.receive(1, 1, true, 4)
	var out bytes.Buffer
	if err := reportFanout(&out, 2, ok.results()); err != nil {
		t.Errorf("a complete run with a DUP redelivery failed: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "FANOUT | 2 subscribers | 1 messages | delivered to all 1/1 |") ||
		!strings.Contains(out.String(), "duplicates 1 with DUP, 0 without | pass") {
		t.Errorf("summary line:\n%s", out.String())
	}

	out.Reset()
	err := reportFanout(&out, 3, fanoutSample().results())
	if err == nil {
		t.Fatalf("the sample run passed:\n%s", out.String())
	}
	for _, w := range []string{"2 of 3 messages not delivered", "4 receipts missing", "1 duplicates without DUP", "1 of 3 messages without PUBACK"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	for _, w := range []string{
		"message 3: PUBACK none (closed after 30s); last delivery -; received by 0 of 3 (missing 3; per proxy 0/2 0/1)",
		"FANOUT | 3 subscribers | 3 messages | delivered to all 1/3 | PUBACK 2/3, median 20ms, max 40ms | last delivery median 50ms, max 200ms | missing 4 | duplicates 1 with DUP, 1 without | FAIL",
	} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("report lacks %q:\n%s", w, out.String())
		}
	}
}
