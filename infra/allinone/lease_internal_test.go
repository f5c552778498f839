package allinone

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/session"
)

// leaseInvoker answers lease events: each succeeds while ok, fails or
// hangs (until its context ends) after.
type leaseInvoker struct {
	mu      sync.Mutex
	fail    bool
	hang    bool
	lastOK  time.Time // when the last successful renewal was sent
	renewed int
	periods []int64
}

func (f *leaseInvoker) Invoke(ctx context.Context, ev *session.Event) (*session.Reply, error) {
	if ev.Kind != session.KindLease {
		return nil, errors.New("not a lease event")
	}
	sent := time.Now()
	f.mu.Lock()
	fail, hang := f.fail, f.hang
	f.periods = append(f.periods, ev.LeaseMs)
	f.mu.Unlock()
	if hang {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if fail {
		return nil, errors.New("invocation failed")
	}
	f.mu.Lock()
	f.lastOK, f.renewed = sent, f.renewed+1
	f.mu.Unlock()
	return &session.Reply{}, nil
}

// A proxy renews its lease every third of the period while the renewals
// succeed; once they fail, or hang, it gives up (and stops serving)
// before the lease it last got can lapse, and not while one holds.
func TestLeaseHolder(t *testing.T) {
	const period = 600 * time.Millisecond
	for _, mode := range []string{"fail", "hang"} {
		t.Run(mode, func(t *testing.T) {
			inv := &leaseInvoker{}
			l := &leaseHolder{inv: inv, id: "p", period: period, log: discard()}
			held, err := l.renew(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- l.hold(context.Background(), held) }()
			select {
			case err := <-done:
				t.Fatalf("hold returned while renewals succeed: %v", err)
			case <-time.After(2 * period):
			}
			inv.mu.Lock()
			if inv.renewed < 5 {
				t.Errorf("%d renewals in two periods, want one every third of the period", inv.renewed)
			}
			for _, ms := range inv.periods {
				if ms != period.Milliseconds() {
					t.Errorf("lease event asks for %d ms, want %d", ms, period.Milliseconds())
				}
			}
			inv.fail, inv.hang = mode == "fail", mode == "hang"
			inv.mu.Unlock()
			err = <-done
			stopped := time.Now()
			if err == nil {
				t.Fatal("hold returned no error after the renewals stopped")
			}
			inv.mu.Lock()
			lapses := inv.lastOK.Add(period)
			inv.mu.Unlock()
			if !stopped.Before(lapses) {
				t.Errorf("gave up %v after the last renewal lapsed, want before", stopped.Sub(lapses))
			}
		})
	}
}

// hold returns nil when its context ends.
func TestLeaseHolderStops(t *testing.T) {
	l := &leaseHolder{inv: &leaseInvoker{}, id: "p", period: time.Second, log: discard()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.hold(ctx, time.Now()) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("hold after its context ended: %v", err)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// A proxy whose drain used up its deadline (a storm's drain often does)
// still releases its lease, within a third of the period of its own.
func TestLeaseReleaseAfterDrainTimeout(t *testing.T) {
	inv := &leaseInvoker{}
	l := &leaseHolder{inv: ctxInvoker{inv}, id: "p", period: 600 * time.Millisecond, log: discard()}
	drained, cancel := context.WithCancel(context.Background())
	cancel() // -drain-timeout passed
	l.release(drained)
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if inv.renewed != 1 || len(inv.periods) != 1 || inv.periods[0] != 1 {
		t.Fatalf("release after the drain's deadline: %d sent (periods %v), want the release (1 ms) sent", inv.renewed, inv.periods)
	}
}

// ctxInvoker fails a call whose context has ended, as the Lambda invoker does.
type ctxInvoker struct{ *leaseInvoker }

func (c ctxInvoker) Invoke(ctx context.Context, ev *session.Event) (*session.Reply, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.leaseInvoker.Invoke(ctx, ev)
}
