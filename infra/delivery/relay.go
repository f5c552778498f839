package delivery

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/mqttless/mqttless/core/session"
)

// Forwarder sends deliveries to one proxy and reports the connections it
// no longer holds; *Client is one. An error means every connection of ds
// is to be treated as gone, or, when it wraps ErrNotDelivered, as not
// reached: the proxy wrote none of ds.
type Forwarder interface {
	Forward(ctx context.Context, proxy string, ds []session.Delivery) (gone []string, err error)
}

// Handler is what a Relay wraps: session.Handler.
type Handler interface {
	Handle(ctx context.Context, ev *session.Event) (*session.Reply, error)
	Undelivered(ctx context.Context, ds []session.Delivery) (*session.Reply, error)
	Unreached(ctx context.Context, ds []session.Delivery) (*session.Reply, error)
}

// MaxReplyBytes bounds the frame bytes a Relay leaves in a reply for the
// calling proxy to write itself; above it they are posted to the proxy's
// endpoint like any other, so that a Lambda response stays under its 6 MB
// limit.
const MaxReplyBytes = 3 << 20

// Relay wraps the handlers and relays their deliveries: after each event
// it keeps in the reply the deliveries for the proxy that sent the event,
// which writes them itself, and posts the others to the delivery endpoints
// of their proxies, one request per proxy, all at
// once. Deliveries that find their connection gone go to the handler's
// Undelivered, which sends them to the session's newer connection or
// queues what a persistent session must not lose.
type Relay struct {
	h      Handler
	fwd    Forwarder
	log    *slog.Logger
	leases *lapsedProxies // nil: every proxy is tried (leases.go)
}

// NewRelay returns a Relay over h that forwards through fwd.
func NewRelay(h Handler, fwd Forwarder, log *slog.Logger) *Relay {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Relay{h: h, fwd: fwd, log: log}
}

// Handle handles ev and makes the reply's deliveries. Its error is the
// handler's: when there is one, every delivery is posted (the reply is
// lost with an error in Lambda), the caller's own ones included.
func (r *Relay) Handle(ctx context.Context, ev *session.Event) (*session.Reply, error) {
	hctx, cancel := handlerContext(ctx)
	reply, err := r.h.Handle(hctx, ev)
	cancel()
	if reply == nil || len(reply.Deliveries) == 0 {
		return reply, err
	}
	keepOwn := err == nil && ev.Proxy != ""
	var own []session.Delivery
	size := 0
	remote := map[string][]session.Delivery{}
	for _, d := range reply.Deliveries {
		if keepOwn && d.Proxy == ev.Proxy {
			own = append(own, d)
			for _, p := range d.Packets {
				size += len(p)
			}
			continue
		}
		remote[d.Proxy] = append(remote[d.Proxy], d)
	}
	if size > MaxReplyBytes {
		remote[ev.Proxy] = append(remote[ev.Proxy], own...)
		own = nil
	}
	reply.Deliveries = own
	r.deliver(ctx, remote, true)
	return reply, err
}

// maxReserve bounds the time a Relay keeps for its deliveries.
const maxReserve = 2 * time.Second

// handlerContext returns the context the handler runs under: ctx, but
// when ctx has a deadline (a Lambda invocation's), one that ends a quarter
// of the time left (at most maxReserve) earlier. The Relay keeps that time
// for posting the deliveries the handler made, which it does whether the
// handler succeeded or not: a handler that runs out of time (a slow
// DynamoDB) then fails with what it made durable so far (QoS 1 and 2
// messages put in flight for their subscribers) still delivered, instead
// of the function being ended in the middle of the posts with the
// messages left in flight, never sent, for connections that are alive.
func handlerContext(ctx context.Context) (context.Context, context.CancelFunc) {
	dl, ok := ctx.Deadline()
	if !ok {
		return ctx, func() {}
	}
	reserve := min(time.Until(dl)/4, maxReserve)
	return context.WithDeadline(ctx, dl.Add(-reserve))
}

// deliver posts deliveries to their proxies and hands those that find
// their connection gone to the handler's Undelivered, and those whose
// proxy certainly wrote nothing (ErrNotDelivered, after the Client's
// retries) to its Unreached, which puts what the connection was not sent
// back in the session's queue; what they return (messages for the
// session's newer connection) is posted once more, with no further retry.
func (r *Relay) deliver(ctx context.Context, byProxy map[string][]session.Delivery, retry bool) {
	gone := r.leases.split(ctx, byProxy)
	g, unreached := r.forward(ctx, byProxy)
	gone = append(gone, g...)
	var next []session.Delivery
	if len(unreached) > 0 {
		again, err := r.h.Unreached(ctx, unreached)
		if err != nil {
			r.log.Error("handling unreached messages failed", "deliveries", len(unreached), "err", err)
		}
		if again != nil {
			next = append(next, again.Deliveries...)
		}
	}
	if len(gone) > 0 {
		again, err := r.h.Undelivered(ctx, gone)
		if err != nil {
			r.log.Error("handling undelivered messages failed", "deliveries", len(gone), "err", err)
		}
		if again != nil {
			next = append(next, again.Deliveries...)
		}
	}
	if !retry || len(next) == 0 {
		return
	}
	byNext := map[string][]session.Delivery{}
	for _, d := range next {
		byNext[d.Proxy] = append(byNext[d.Proxy], d)
	}
	r.deliver(ctx, byNext, false)
}

// forward posts each proxy's deliveries concurrently and returns the
// deliveries whose connections are gone, or whose proxy could not be
// reached without knowing what it wrote, and those it certainly did not
// write.
func (r *Relay) forward(ctx context.Context, byProxy map[string][]session.Delivery) (gone, unreached []session.Delivery) {
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for proxy, ds := range byProxy {
		wg.Go(func() {
			g, err := r.fwd.Forward(ctx, proxy, ds)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && unreachable(err) && ctx.Err() == nil {
				r.leases.failed(ctx, proxy)
			}
			switch {
			case errors.Is(err, ErrNotDelivered):
				r.log.Warn("delivery to a proxy failed, nothing written; messages in flight go back to their queues", "proxy", proxy, "deliveries", len(ds), "err", err)
				unreached = append(unreached, ds...)
			case err != nil:
				r.log.Warn("delivery to a proxy failed; its connections are treated as gone", "proxy", proxy, "deliveries", len(ds), "err", err)
				gone = append(gone, ds...)
			default:
				gone = append(gone, pick(ds, g)...)
			}
		})
	}
	wg.Wait()
	return gone, unreached
}

// pick returns the deliveries of ds whose connections are in ids.
func pick(ds []session.Delivery, ids []string) []session.Delivery {
	if len(ids) == 0 {
		return nil
	}
	set := make(map[string]bool, len(ids))
	for _, id := range ids {
		set[id] = true
	}
	var out []session.Delivery
	for _, d := range ds {
		if set[d.Conn] {
			out = append(out, d)
		}
	}
	return out
}
