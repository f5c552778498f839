package main

// The fan-out benchmark's counting and report (mqttbench fanout,
// fanout.go): which subscriber received which message, how often, with
// DUP or without, and the figures printed for issue 16.

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
)

// fanoutTally counts the receipts of messages 1..len(msgs) by subscribers
// 0..subs-1, subscriber i connected to proxy i mod proxies. Every
// subscriber goroutine calls receive; the lock guards all of it.
type fanoutTally struct {
	mu      sync.Mutex
	subs    int
	proxies int
	msgs    []msgTally // message seq is msgs[seq-1]
}

// msgTally is one message's counts.
type msgTally struct {
	sent       int64         // when the PUBLISH was written, ns since clockOrigin; 0: not yet
	puback     time.Duration // from sent to PUBACK; 0: none
	pubackErr  string        // why there was no PUBACK
	got        []uint16      // receipts per subscriber
	received   int           // subscribers with at least one receipt
	byProxy    []int         // of received, per proxy
	last       int64         // the latest first receipt, ns since clockOrigin
	dupWithDUP int           // receipts after the first that had DUP set
	dupNoDUP   int           // receipts after the first without DUP: the broker sent it twice as new
}

func newFanoutTally(subs, messages, proxies int) *fanoutTally {
	t := &fanoutTally{subs: subs, proxies: proxies, msgs: make([]msgTally, messages)}
	for i := range t.msgs {
		t.msgs[i].got = make([]uint16, subs)
		t.msgs[i].byProxy = make([]int, proxies)
	}
	return t
}

// sent records that message seq was written at at.
func (t *fanoutTally) sent(seq int, at int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.msgs[seq-1].sent = at
}

// acked records the publisher's PUBACK for seq after d, or with d 0 why
// there was none.
func (t *fanoutTally) acked(seq int, d time.Duration, why string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.msgs[seq-1].puback, t.msgs[seq-1].pubackErr = d, why
}

// receive records that subscriber sub received message seq at at, with
// DUP set or not. A second receipt of a message by one subscriber is a
// duplicate, counted by its own DUP flag. It reports false for a message
// this run did not send.
func (t *fanoutTally) receive(sub, seq int, dup bool, at int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if seq < 1 || seq > len(t.msgs) || sub < 0 || sub >= t.subs {
		return false
	}
	m := &t.msgs[seq-1]
	if m.got[sub] > 0 {
		if dup {
			m.dupWithDUP++
		} else {
			m.dupNoDUP++
		}
	} else {
		m.received++
		m.byProxy[sub%t.proxies]++
		m.last = max(m.last, at)
	}
	m.got[sub]++
	return true
}

// all reports whether every subscriber has received message seq.
func (t *fanoutTally) all(seq int) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.msgs[seq-1].received == t.subs
}

// fanoutResult is one message's figures, as reported.
type fanoutResult struct {
	seq                  int
	puback               time.Duration // 0: none
	pubackErr            string
	lastDelivery         time.Duration // from the send to the last first receipt; 0: none received
	received, missing    int
	byProxy              string // received per proxy: "100/100 0/100"
	dupWithDUP, dupNoDUP int
}

// results returns each sent message's figures.
func (t *fanoutTally) results() []fanoutResult {
	t.mu.Lock()
	defer t.mu.Unlock()
	var rs []fanoutResult
	for i, m := range t.msgs {
		if m.sent == 0 {
			continue
		}
		r := fanoutResult{seq: i + 1, puback: m.puback, pubackErr: m.pubackErr,
			received: m.received, missing: t.subs - m.received,
			dupWithDUP: m.dupWithDUP, dupNoDUP: m.dupNoDUP}
		var per []string
		for p, n := range m.byProxy {
			per = append(per, fmt.Sprintf("%d/%d", n, (t.subs-p+t.proxies-1)/t.proxies))
		}
		r.byProxy = strings.Join(per, " ")
		if m.received > 0 {
			r.lastDelivery = time.Duration(m.last - m.sent)
		}
		rs = append(rs, r)
	}
	return rs
}

// fanoutSummary totals the results of a run of subs subscribers.
type fanoutSummary struct {
	subs, messages       int
	complete             int // messages every subscriber received
	acked                int // messages with a PUBACK
	missing              int // receipts missing, over all messages
	dupWithDUP, dupNoDUP int
	puback, last         []int64 // sorted, of the messages that had one
}

func summarizeFanout(subs int, rs []fanoutResult) fanoutSummary {
	s := fanoutSummary{subs: subs, messages: len(rs)}
	for _, r := range rs {
		if r.missing == 0 {
			s.complete++
		}
		if r.puback > 0 {
			s.acked++
			s.puback = append(s.puback, int64(r.puback))
		}
		if r.received > 0 {
			s.last = append(s.last, int64(r.lastDelivery))
		}
		s.missing += r.missing
		s.dupWithDUP += r.dupWithDUP
		s.dupNoDUP += r.dupNoDUP
	}
	slices.Sort(s.puback)
	slices.Sort(s.last)
	return s
}

// failure says why the run fails: a message that some subscriber did not
// receive, one sent twice without DUP, or one without PUBACK; "" when it
// passes.
func (s fanoutSummary) failure() string {
	var why []string
	if s.complete < s.messages {
		why = append(why, fmt.Sprintf("%d of %d messages not delivered to every subscriber (%d receipts missing)", s.messages-s.complete, s.messages, s.missing))
	}
	if s.dupNoDUP > 0 {
		why = append(why, fmt.Sprintf("%d duplicates without DUP", s.dupNoDUP))
	}
	if s.acked < s.messages {
		why = append(why, fmt.Sprintf("%d of %d messages without PUBACK", s.messages-s.acked, s.messages))
	}
	return strings.Join(why, "; ")
}

// fanDur formats d to the millisecond; "-" for none.
func fanDur(d int64, ok bool) string {
	if !ok {
		return "-"
	}
	return time.Duration(d).Round(time.Millisecond).String()
}

// reportFanout prints one line per message and the FANOUT | summary, and
// returns an error when the run fails (fanoutSummary.failure).
func reportFanout(w io.Writer, subs int, rs []fanoutResult) error {
	for _, r := range rs {
		ack := fanDur(int64(r.puback), r.puback > 0)
		if r.puback == 0 && r.pubackErr != "" {
			ack = "none (" + r.pubackErr + ")"
		}
		fmt.Fprintf(w, "message %d: PUBACK %s; last delivery %s; received by %d of %d (missing %d; per proxy %s); duplicates %d with DUP, %d without\n",
			r.seq, ack, fanDur(int64(r.lastDelivery), r.received > 0), r.received, subs, r.missing, r.byProxy, r.dupWithDUP, r.dupNoDUP)
	}
	s := summarizeFanout(subs, rs)
	verdict := "pass"
	if s.failure() != "" {
		verdict = "FAIL"
	}
	fmt.Fprintf(w, "FANOUT | %d subscribers | %d messages | delivered to all %d/%d | PUBACK %d/%d, median %s, max %s | last delivery median %s, max %s | missing %d | duplicates %d with DUP, %d without | %s\n",
		subs, s.messages, s.complete, s.messages, s.acked, s.messages,
		fanDur(percentile(s.puback, 50), len(s.puback) > 0), fanDur(lastOf(s.puback), len(s.puback) > 0),
		fanDur(percentile(s.last, 50), len(s.last) > 0), fanDur(lastOf(s.last), len(s.last) > 0),
		s.missing, s.dupWithDUP, s.dupNoDUP, verdict)
	if why := s.failure(); why != "" {
		return fmt.Errorf("fanout: %s", why)
	}
	return nil
}

func lastOf(sorted []int64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[len(sorted)-1]
}
