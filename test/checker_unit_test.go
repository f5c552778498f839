package e2e_test

import (
	"strings"
	"testing"
	"time"
)

// synth builds a synthetic history on a fake clock: each call records an
// event at the current time, then advances the clock by a millisecond;
// wait advances it more.
type synth struct {
	h   *history
	now time.Time
}

func newSynth() *synth {
	s := &synth{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s.h = &history{now: func() time.Time { t := s.now; s.now = s.now.Add(time.Millisecond); return t }}
	return s
}

func (s *synth) wait(d time.Duration) { s.now = s.now.Add(d) }

// base: a publisher P and a persistent subscriber S of t/# at QoS 2, both
// on proxy A.
func (s *synth) base() *synth {
	s.h.online("P", "A", true, "")
	s.h.online("S", "A", false, "")
	s.h.subscribed("S", "t/#", 2)
	return s
}

func runCheck(s *synth, c Checks) *checkResult { return check(s.h.events(), s.now, c) }

// wantViolation fails unless r has a violation of check that mentions
// each of words; wantOK fails on any violation.
func wantViolation(t *testing.T, r *checkResult, check string, words ...string) {
	t.Helper()
	for _, v := range r.Violations {
		if !strings.HasPrefix(v, check+":") {
			continue
		}
		all := true
		for _, w := range words {
			all = all && strings.Contains(v, w)
		}
		if all {
			return
		}
	}
	t.Errorf("want a violation of %q mentioning %q; got %q (%s)", check, words, r.Violations, r.Summary())
}

func wantOK(t *testing.T, r *checkResult) {
	t.Helper()
	if !r.OK() {
		t.Errorf("violations: %q", r.Violations)
	}
}

func TestCheckerDelivered(t *testing.T) {
	t.Run("all delivered", func(t *testing.T) {
		s := newSynth().base()
		for _, q := range []byte{1, 2} {
			id := string('0' + q)
			s.h.sent("P", id, "t/x", q)
			s.h.acked("P", id)
			s.h.arrived("S", id, "t/x", q, false, 7)
		}
		r := runCheck(s, Checks{})
		wantOK(t, r)
		if !strings.Contains(r.Summary(), chkDelivered+" 2/2") {
			t.Errorf("summary %q, want 2 of 2 delivered", r.Summary())
		}
	})
	t.Run("acked, lost", func(t *testing.T) {
		s := newSynth().base()
		s.h.sent("P", "m1", "t/x", 1)
		s.h.acked("P", "m1")
		wantViolation(t, runCheck(s, Checks{}), chkDelivered, "m1", "never reached S")
	})
	t.Run("lost across a reconnect of the subscriber", func(t *testing.T) {
		s := newSynth().base()
		s.h.offline("S")
		s.h.sent("P", "m1", "t/x", 2)
		s.h.acked("P", "m1")
		s.h.online("S", "B", false, "")
		wantViolation(t, runCheck(s, Checks{}), chkDelivered, "m1")
	})
	t.Run("subscribing again keeps the promise", func(t *testing.T) {
		s := newSynth().base()
		s.h.sent("P", "m1", "t/x", 1)
		s.h.acked("P", "m1")
		s.h.offline("S")
		s.h.online("S", "B", false, "")
		s.h.subscribed("S", "t/#", 2)
		wantViolation(t, runCheck(s, Checks{}), chkDelivered, "m1")
	})
	t.Run("subscriber never came back", func(t *testing.T) {
		s := newSynth().base()
		s.h.offline("S")
		s.h.sent("P", "m1", "t/x", 1)
		s.h.acked("P", "m1")
		wantOK(t, runCheck(s, Checks{}))
	})
	t.Run("unacked may be lost", func(t *testing.T) {
		s := newSynth().base()
		s.h.sent("P", "m1", "t/x", 1)
		wantOK(t, runCheck(s, Checks{}))
	})
	t.Run("clean start of the subscriber drops it", func(t *testing.T) {
		s := newSynth().base()
		s.h.sent("P", "m1", "t/x", 1)
		s.h.acked("P", "m1")
		s.h.online("S", "B", true, "")
		wantOK(t, runCheck(s, Checks{}))
	})
	t.Run("subscribed after sending, or another topic", func(t *testing.T) {
		s := newSynth()
		s.h.online("P", "A", true, "")
		s.h.online("S", "A", false, "")
		s.h.sent("P", "m1", "t/x", 1)
		s.h.acked("P", "m1")
		s.h.subscribed("S", "t/x", 1)
		s.h.subscribed("S", "u/+", 1)
		s.h.sent("P", "m2", "t/y", 1)
		s.h.acked("P", "m2")
		wantOK(t, runCheck(s, Checks{}))
	})
	t.Run("subscribed at QoS 0 promises nothing durable", func(t *testing.T) {
		s := newSynth()
		s.h.online("P", "A", true, "")
		s.h.online("S", "A", false, "")
		s.h.subscribed("S", "t/x", 0)
		s.h.sent("P", "m1", "t/x", 1)
		s.h.acked("P", "m1")
		wantOK(t, runCheck(s, Checks{}))
	})
}

func TestCheckerRepeats(t *testing.T) {
	t.Run("QoS 1 again with DUP", func(t *testing.T) {
		s := newSynth().base()
		s.h.sent("P", "m1", "t/x", 1)
		s.h.acked("P", "m1")
		s.h.arrived("S", "m1", "t/x", 1, false, 3)
		s.h.arrived("S", "m1", "t/x", 1, true, 3)
		wantOK(t, runCheck(s, Checks{}))
	})
	t.Run("QoS 1 again without DUP", func(t *testing.T) {
		s := newSynth().base()
		s.h.sent("P", "m1", "t/x", 1)
		s.h.acked("P", "m1")
		s.h.arrived("S", "m1", "t/x", 1, false, 3)
		s.h.arrived("S", "m1", "t/x", 1, false, 4)
		wantViolation(t, runCheck(s, Checks{}), chkDupQoS1, "m1", "without DUP")
	})
	t.Run("QoS 2 resent before PUBREL", func(t *testing.T) {
		s := newSynth().base()
		s.h.sent("P", "m1", "t/x", 2)
		s.h.acked("P", "m1")
		s.h.arrived("S", "m1", "t/x", 2, false, 5)
		s.h.arrived("S", "m1", "t/x", 2, true, 5)
		s.h.released("S", 5)
		wantOK(t, runCheck(s, Checks{}))
	})
	t.Run("QoS 2 twice after PUBREL", func(t *testing.T) {
		s := newSynth().base()
		s.h.sent("P", "m1", "t/x", 2)
		s.h.acked("P", "m1")
		s.h.arrived("S", "m1", "t/x", 2, false, 5)
		s.h.released("S", 5)
		s.h.arrived("S", "m1", "t/x", 2, true, 5)
		wantViolation(t, runCheck(s, Checks{}), chkOnceQoS2, "m1")
	})
	t.Run("QoS 2 twice under another packet id", func(t *testing.T) {
		s := newSynth().base()
		s.h.sent("P", "m1", "t/x", 2)
		s.h.arrived("S", "m1", "t/x", 2, false, 5)
		s.h.arrived("S", "m1", "t/x", 2, true, 6)
		wantViolation(t, runCheck(s, Checks{}), chkOnceQoS2, "m1")
	})
	t.Run("QoS 0 twice", func(t *testing.T) {
		s := newSynth().base()
		s.h.sent("P", "m1", "t/x", 0)
		s.h.arrived("S", "m1", "t/x", 0, false, 0)
		s.h.arrived("S", "m1", "t/x", 0, false, 0)
		wantViolation(t, runCheck(s, Checks{}), chkOnceQoS0, "m1")
	})
}

func TestCheckerQoS0(t *testing.T) {
	c := Checks{QoS0: true, Settle: time.Second}
	t.Run("delivered", func(t *testing.T) {
		s := newSynth().base()
		s.h.sent("P", "m1", "t/x", 0)
		s.h.arrived("S", "m1", "t/x", 0, false, 0)
		s.wait(2 * time.Second)
		r := runCheck(s, c)
		wantOK(t, r)
		if !strings.Contains(r.Summary(), chkQoS0+" 1/1") {
			t.Errorf("summary %q", r.Summary())
		}
	})
	t.Run("lost while connected", func(t *testing.T) {
		s := newSynth().base()
		s.h.sent("P", "m1", "t/x", 0)
		s.wait(2 * time.Second)
		wantViolation(t, runCheck(s, c), chkQoS0, "m1", "never reached S")
	})
	t.Run("lost after the subscriber moved", func(t *testing.T) {
		s := newSynth().base()
		s.h.offline("S")
		s.h.online("S", "B", false, "")
		s.h.subscribed("S", "t/#", 0)
		s.wait(time.Millisecond)
		s.h.sent("P", "m1", "t/x", 0)
		s.wait(2 * time.Second)
		wantViolation(t, runCheck(s, c), chkQoS0, "m1")
	})
	t.Run("lost after a fault turned on twice ended", func(t *testing.T) {
		s := newSynth().base()
		s.h.faultOn("x")
		s.h.faultOn("x")
		s.h.faultOff("x")
		s.h.sent("P", "m1", "t/x", 0)
		s.wait(2 * time.Second)
		wantViolation(t, runCheck(s, c), chkQoS0, "m1")
	})
	t.Run("excused", func(t *testing.T) {
		for name, f := range map[string]func(s *synth){
			"during a fault":        func(s *synth) { s.h.faultOn("throttle"); s.h.sent("P", "m1", "t/x", 0); s.h.faultOff("throttle") },
			"after a proxy died":    func(s *synth) { s.h.proxyDied("B"); s.h.sent("P", "m1", "t/x", 0) },
			"subscriber went away":  func(s *synth) { s.h.sent("P", "m1", "t/x", 0); s.h.offline("S") },
			"publisher went away":   func(s *synth) { s.h.sent("P", "m1", "t/x", 0); s.h.offline("P") },
			"not settled":           func(s *synth) { s.h.sent("P", "m1", "t/x", 0); s.now = s.now.Add(-2 * time.Second) },
			"checks.QoS0 unset":     nil,
			"fault just before end": func(s *synth) { s.h.sent("P", "m1", "t/x", 0); s.wait(500 * time.Millisecond); s.h.faultOn("x") },
		} {
			t.Run(name, func(t *testing.T) {
				s := newSynth().base()
				cc := c
				if f == nil {
					s.h.sent("P", "m1", "t/x", 0)
					cc = Checks{}
				} else {
					f(s)
				}
				s.wait(2 * time.Second)
				wantOK(t, runCheck(s, cc))
			})
		}
	})
}

func TestCheckerWills(t *testing.T) {
	c := Checks{WillBound: 10 * time.Second}
	setup := func() *synth {
		s := newSynth()
		s.h.online("W", "B", true, "")
		s.h.subscribed("W", "will/#", 1)
		s.h.online("X", "A", false, "will-x")
		s.h.online("Y", "A", false, "") // no will
		s.h.online("Z", "B", false, "will-z")
		s.h.proxyDied("A")
		s.h.offline("X")
		return s
	}
	t.Run("published in time", func(t *testing.T) {
		s := setup()
		s.wait(3 * time.Second)
		s.h.arrived("W", "will-x", "will/x", 1, false, 1)
		s.wait(10 * time.Second)
		r := runCheck(s, c)
		wantOK(t, r)
		if !strings.Contains(r.Summary(), chkWill+" 1/1") {
			t.Errorf("summary %q", r.Summary())
		}
	})
	t.Run("published late", func(t *testing.T) {
		s := setup()
		s.wait(12 * time.Second)
		s.h.arrived("W", "will-x", "will/x", 1, false, 1)
		wantViolation(t, runCheck(s, c), chkWill, "will-x", "after A died")
	})
	t.Run("never published", func(t *testing.T) {
		s := setup()
		s.wait(20 * time.Second)
		wantViolation(t, runCheck(s, c), chkWill, "will-x", "never published")
	})
	t.Run("history too short", func(t *testing.T) {
		s := setup()
		s.wait(time.Second)
		wantViolation(t, runCheck(s, c), chkWill, "will-x", "before the bound")
	})
}

func TestCheckerLatency(t *testing.T) {
	c := Checks{PublishBound: 2 * time.Second}
	t.Run("fast", func(t *testing.T) {
		s := newSynth().base()
		s.h.sent("P", "m0", "t/x", 1) // before the death: not bounded
		s.wait(5 * time.Second)
		s.h.proxyDied("B")
		s.h.acked("P", "m0")
		s.h.arrived("S", "m0", "t/x", 1, false, 1)
		s.h.sent("P", "m1", "t/x", 1)
		s.wait(100 * time.Millisecond)
		s.h.acked("P", "m1")
		s.h.arrived("S", "m1", "t/x", 1, false, 2)
		s.wait(5 * time.Second)
		r := runCheck(s, c)
		wantOK(t, r)
		if !strings.Contains(r.Summary(), chkLatency+" 1/1") {
			t.Errorf("summary %q", r.Summary())
		}
	})
	t.Run("waits on the dead proxy", func(t *testing.T) {
		s := newSynth().base()
		s.h.proxyDied("B")
		s.h.sent("P", "m1", "t/x", 1)
		s.wait(10 * time.Second)
		s.h.acked("P", "m1")
		s.h.arrived("S", "m1", "t/x", 1, false, 2)
		wantViolation(t, runCheck(s, c), chkLatency, "m1", "acknowledged after 10")
	})
	t.Run("never acknowledged", func(t *testing.T) {
		s := newSynth().base()
		s.h.proxyDied("B")
		s.h.sent("P", "m1", "t/x", 2)
		s.wait(5 * time.Second)
		wantViolation(t, runCheck(s, c), chkLatency, "m1", "not acknowledged")
	})
	t.Run("publisher's connection ended", func(t *testing.T) {
		s := newSynth().base()
		s.h.proxyDied("B")
		s.h.sent("P", "m1", "t/x", 2)
		s.h.offline("P")
		s.wait(5 * time.Second)
		wantOK(t, runCheck(s, c))
	})
}

func TestCheckerFilterMatches(t *testing.T) {
	for _, tc := range []struct {
		filter, topic string
		want          bool
	}{
		{"a/b", "a/b", true}, {"a/+", "a/b", true}, {"a/#", "a", true}, {"a/#", "a/b/c", true},
		{"#", "a/b", true}, {"a/+", "a/b/c", false}, {"a/b", "a/c", false}, {"a/b/c", "a/b", false},
	} {
		if got := filterMatches(tc.filter, tc.topic); got != tc.want {
			t.Errorf("filterMatches(%q, %q) = %v, want %v", tc.filter, tc.topic, got, tc.want)
		}
	}
}

func TestCheckerDeadOwners(t *testing.T) {
	owners := map[string]string{"a": "http://p1", "b": "http://p2", "c": "http://p3"}
	got := deadOwners(owners, map[string]bool{"http://p2": true})
	if strings.Join(got, ",") != "a on http://p1,c on http://p3" {
		t.Errorf("deadOwners = %q, want a and c", got)
	}
	if got := deadOwners(owners, map[string]bool{"http://p1": true, "http://p2": true, "http://p3": true}); len(got) != 0 {
		t.Errorf("all owners live: deadOwners = %q", got)
	}
}
