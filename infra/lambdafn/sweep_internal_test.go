package lambdafn

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/delivery"
	"github.com/mqttless/mqttless/infra/invocation"
)

// countingHandler counts the sweeps it is asked for.
type countingHandler struct{ sweeps atomic.Int32 }

func (h *countingHandler) Handle(_ context.Context, ev *session.Event) (*session.Reply, error) {
	if ev.Kind == session.KindSweep {
		h.sweeps.Add(1)
	}
	return &session.Reply{}, nil
}

func (h *countingHandler) Undelivered(context.Context, []session.Delivery) (*session.Reply, error) {
	return &session.Reply{}, nil
}

func (h *countingHandler) Unreached(context.Context, []session.Delivery) (*session.Reply, error) {
	return &session.Reply{}, nil
}

type noForwarder struct{}

func (noForwarder) Forward(context.Context, string, []session.Delivery) ([]string, error) {
	return nil, nil
}

// The scheduled sweep repeats the sweep every tick and returns before the
// invocation's deadline, leaving sweepMargin; a proxy's sweep (a tick, or
// a sweep without a deadline) is one pass.
func TestScheduledSweepLoops(t *testing.T) {
	h := &countingHandler{}
	f := NewFunction(invocation.GroupSession, delivery.NewRelay(h, noForwarder{}, nil), nil)
	f.tick = 50 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), sweepMargin+500*time.Millisecond)
	defer cancel()
	deadline, _ := ctx.Deadline()
	if _, err := f.Handle(ctx, &session.Event{Kind: session.KindSweep}); err != nil {
		t.Fatal(err)
	}
	if left := time.Until(deadline); left < sweepMargin-time.Second {
		t.Errorf("the sweep returned %v before its deadline, want about %v", left, sweepMargin)
	}
	if n := h.sweeps.Load(); n < 3 {
		t.Errorf("%d sweeps in 500 ms at a tick of 50 ms, want several", n)
	}
	h.sweeps.Store(0)
	if _, err := f.Handle(context.Background(), &session.Event{Kind: session.KindSweep}); err != nil || h.sweeps.Load() != 1 {
		t.Errorf("sweep without a deadline: %d passes, %v; want 1", h.sweeps.Load(), err)
	}
}
