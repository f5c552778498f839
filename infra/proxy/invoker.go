package proxy

import (
	"context"
	"errors"
	"time"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/invocation"
)

// Invoker hands an event to the handlers and returns their reply. An error
// means the handlers failed: the proxy closes that connection alone, at
// 5.0 with DISCONNECT 0x80, after writing whatever reply came with it.
type Invoker interface {
	Invoke(ctx context.Context, ev *session.Event) (*session.Reply, error)
}

// EventHandler handles events in-process: a *session.Handler, or a
// delivery.Relay over one.
type EventHandler interface {
	Handle(ctx context.Context, ev *session.Event) (*session.Reply, error)
}

// Local is the in-process Invoker: it calls the handlers directly.
type Local struct {
	Handler EventHandler
}

var _ Invoker = Local{}

// Invoke implements Invoker.
func (l Local) Invoke(ctx context.Context, ev *session.Event) (*session.Reply, error) {
	return l.Handler.Handle(ctx, ev)
}

// invoke calls the handlers, timing the call and counting a failure.
func (s *Server) invoke(ctx context.Context, ev *session.Event) (*session.Reply, error) {
	m := s.metrics
	var begin time.Time
	if m != nil {
		begin = time.Now()
	}
	reply, err := s.inv.Invoke(ctx, ev)
	if m != nil {
		m.invokeDuration.Observe(time.Since(begin).Seconds())
	}
	// A CONNECT shed, or dropped for its closed connection (connectwait.go),
	// is a refusal, not a failure of the handlers.
	if err != nil && !errors.Is(err, invocation.ErrShed) && !errors.Is(err, context.Canceled) {
		s.HandlerErrors.Add(1)
		if m != nil {
			m.handlerErrors.Inc()
		}
	}
	return reply, err
}
