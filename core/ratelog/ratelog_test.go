package ratelog_test

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mqttless/mqttless/core/ratelog"
)

func TestLimiterOnePerKeyPerInterval(t *testing.T) {
	l := ratelog.New(10*time.Second, 8)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if ok, n := l.Allow("a", t0); !ok || n != 0 {
		t.Fatalf("first event: %v %d, want allowed", ok, n)
	}
	for i := range 5 {
		if ok, _ := l.Allow("a", t0.Add(time.Duration(i)*time.Second)); ok {
			t.Fatalf("event %d within the interval allowed", i)
		}
	}
	if ok, _ := l.Allow("b", t0); !ok {
		t.Fatalf("another key held back")
	}
	if ok, n := l.Allow("a", t0.Add(10*time.Second)); !ok || n != 5 {
		t.Fatalf("after the interval: %v %d, want allowed reporting 5 held back", ok, n)
	}
}

// Keys beyond maxKeys share one: a stream of new keys is held back too.
func TestLimiterBoundsKeys(t *testing.T) {
	l := ratelog.New(time.Minute, 4)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	allowed := 0
	for i := range 1000 {
		if ok, _ := l.Allow(strings.Repeat("k", i), t0); ok {
			allowed++
		}
	}
	if allowed != 5 {
		t.Fatalf("%d of 1000 distinct keys allowed, want 4 and the overflow's one", allowed)
	}
	// Once their interval passed, keys are forgotten and new ones come in.
	if ok, _ := l.Allow("new", t0.Add(time.Minute)); !ok {
		t.Fatalf("a new key after the interval held back")
	}
}

func TestTruncate(t *testing.T) {
	if got := ratelog.Truncate("short", 64); got != "short" {
		t.Errorf("Truncate(short) = %q", got)
	}
	got := ratelog.Truncate(strings.Repeat("é", 100), 5) // 2 bytes each
	if !utf8.ValidString(got) || !strings.HasSuffix(got, "…") || len(got) > 5+len("…") {
		t.Errorf("Truncate = %q, want at most 5 bytes of whole runes and …", got)
	}
}
