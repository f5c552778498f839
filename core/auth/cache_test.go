package auth_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/auth"
)

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Rules are read once per CacheTTL: a change in the store shows after it.
func TestAllowCacheTTL(t *testing.T) {
	store := newFakeStore()
	store.rules = []auth.Rule{pubOnly("a")}
	clk := &fakeClock{t: time.Unix(1000, 0)}
	c := auth.NewChecker(store, auth.Options{Now: clk.Now, CacheTTL: 10 * time.Second})
	want := func(topic string, ok bool) {
		t.Helper()
		got, err := c.Allow(t.Context(), auth.Publish, "u", "c", topic)
		if err != nil || got != ok {
			t.Fatalf("Allow(%q) = %v, %v; want %v", topic, got, err, ok)
		}
	}
	want("a", true)
	want("b", false)
	if n := store.ruleReads.Load(); n != 1 {
		t.Fatalf("%d Rules reads, want 1", n)
	}
	if _, err := store.PutRule(t.Context(), pubOnly("b")); err != nil {
		t.Fatal(err)
	}
	clk.Advance(9 * time.Second)
	want("b", false) // still cached
	clk.Advance(time.Second)
	want("b", true)
	if n := store.ruleReads.Load(); n != 2 {
		t.Fatalf("%d Rules reads, want 2", n)
	}
}

// A negative CacheTTL reads the rules on every check.
func TestAllowNoCache(t *testing.T) {
	store := newFakeStore()
	c := auth.NewChecker(store, auth.Options{CacheTTL: -1})
	for range 3 {
		if _, err := c.Allow(t.Context(), auth.Publish, "u", "c", "t"); err != nil {
			t.Fatal(err)
		}
	}
	if n := store.ruleReads.Load(); n != 3 {
		t.Fatalf("%d Rules reads, want 3", n)
	}
}

// Concurrent checks that find the cache empty make one Rules read between
// them, and all get its answer.
func TestAllowConcurrentLoad(t *testing.T) {
	store := newFakeStore()
	store.rules = []auth.Rule{pubOnly("a")}
	store.gate = make(chan struct{})
	c := auth.NewChecker(store, auth.Options{})
	const n = 32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			ok, err := c.Allow(context.Background(), auth.Publish, "u", "c", "a")
			if err == nil && !ok {
				err = errors.New("denied")
			}
			errs <- err
		})
	}
	// Let the reader through once the others had time to pile up.
	time.Sleep(20 * time.Millisecond)
	close(store.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := store.ruleReads.Load(); got != 1 {
		t.Fatalf("%d Rules reads, want 1", got)
	}
}

// A check waiting for another's read gives up with its context.
func TestAllowWaitCanceled(t *testing.T) {
	store := newFakeStore()
	store.gate = make(chan struct{})
	c := auth.NewChecker(store, auth.Options{})
	started := make(chan struct{})
	done := make(chan struct{})
	go func() {
		close(started)
		_, _ = c.Allow(context.Background(), auth.Publish, "u", "c", "a")
		close(done)
	}()
	<-started
	for store.ruleReads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := c.Allow(ctx, auth.Publish, "u", "c", "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v, want the context's", err)
	}
	close(store.gate)
	<-done
}
