package session

import (
	"strings"
	"testing"
)

func TestPIDPlanDefaults(t *testing.T) {
	p, err := NewPIDPlan(20, 1000, 1)
	if err != nil {
		t.Fatal(err)
	}
	if p.Span != 65 {
		t.Fatalf("span %d, want 65 ((65535-20)/1000)", p.Span)
	}
	// Every (slot, offset) in a window of Span consecutive offsets gets an
	// identifier of its own, above the reserved ones and within 16 bits, and
	// no two slots share one.
	seen := map[uint16]string{}
	for slot := range p.Slots {
		for off := uint64(1000); off < 1000+uint64(p.Span); off++ {
			id := p.ID(slot, off)
			if id <= uint16(p.Reserved) || id == 0 {
				t.Fatalf("slot %d offset %d: id %d in the reserved range 1..%d", slot, off, id, p.Reserved)
			}
			if prev, ok := seen[id]; ok {
				t.Fatalf("slot %d offset %d: id %d already given to %s", slot, off, id, prev)
			}
			seen[id] = "another"
		}
	}
}

func TestPIDPlanStableAcrossConnections(t *testing.T) {
	// The identifier depends only on durable facts: the same message gets
	// the same identifier whenever it is computed [MQTT-4.4.0-1].
	a, _ := NewPIDPlan(20, 100, 4)
	b, _ := NewPIDPlan(20, 100, 4)
	if a.ID(a.Slot(7, 3), 123456) != b.ID(b.Slot(7, 3), 123456) {
		t.Fatal("two plans of the same settings disagree")
	}
	slots := map[int]bool{}
	for n := range 100 {
		for shard := range 4 {
			s := a.Slot(n, shard)
			if s < 0 || s >= a.Slots || slots[s] {
				t.Fatalf("subscription %d sub-stream %d: slot %d out of range or taken", n, shard, s)
			}
			slots[s] = true
		}
	}
}

func TestPIDPlanSendable(t *testing.T) {
	p, _ := NewPIDPlan(20, 1000, 1)
	if !p.Sendable(10, 10) || !p.Sendable(10, 10+64) {
		t.Fatal("offsets within the span must be sendable")
	}
	if p.Sendable(10, 10+65) {
		t.Fatal("an offset Span above the oldest unacknowledged would reuse its identifier")
	}
	if p.ID(0, 10) != p.ID(0, 10+65) {
		t.Fatal("the test's premise: offsets Span apart share an identifier")
	}
	if p.Sendable(10, 9) {
		t.Fatal("an offset below the oldest unacknowledged is acknowledged, not sendable")
	}
}

func TestPIDPlanRefusesSmallSpan(t *testing.T) {
	_, err := NewPIDPlan(100, 1000, 1) // (65535-100)/1000 = 65 < 100
	if err == nil || !strings.Contains(err.Error(), "-max-inflight 100") || !strings.Contains(err.Error(), "-max-subscriptions 1000") {
		t.Fatalf("want a refusal naming the settings, got %v", err)
	}
	if _, err := NewPIDPlan(0, 1, 1); err == nil {
		t.Fatal("a window of 0 must be refused")
	}
}
