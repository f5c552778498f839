package delivery

import (
	"context"
	"log/slog"
	"sync"

	"github.com/mqttless/mqttless/core/session"
)

// Forwarder sends deliveries to one proxy and reports the connections it
// no longer holds; *Client is one. An error means every connection of ds
// is to be treated as gone.
type Forwarder interface {
	Forward(ctx context.Context, proxy string, ds []session.Delivery) (gone []string, err error)
}

// Handler is what a Relay wraps: session.Handler.
type Handler interface {
	Handle(ctx context.Context, ev *session.Event) (*session.Reply, error)
	Undelivered(ctx context.Context, ds []session.Delivery) (*session.Reply, error)
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
	reply, err := r.h.Handle(ctx, ev)
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

// deliver posts deliveries to their proxies and hands those that find
// their connection gone to the handler's Undelivered; what that returns
// (messages for the session's newer connection) is posted once more, with
// no further retry.
func (r *Relay) deliver(ctx context.Context, byProxy map[string][]session.Delivery, retry bool) {
	gone := r.leases.split(ctx, byProxy)
	gone = append(gone, r.forward(ctx, byProxy)...)
	if len(gone) == 0 {
		return
	}
	again, err := r.h.Undelivered(ctx, gone)
	if err != nil {
		r.log.Error("handling undelivered messages failed", "deliveries", len(gone), "err", err)
	}
	if !retry || again == nil || len(again.Deliveries) == 0 {
		return
	}
	next := map[string][]session.Delivery{}
	for _, d := range again.Deliveries {
		next[d.Proxy] = append(next[d.Proxy], d)
	}
	r.deliver(ctx, next, false)
}

// forward posts each proxy's deliveries concurrently and returns the
// deliveries whose connections are gone.
func (r *Relay) forward(ctx context.Context, byProxy map[string][]session.Delivery) []session.Delivery {
	var (
		mu   sync.Mutex
		gone []session.Delivery
		wg   sync.WaitGroup
	)
	for proxy, ds := range byProxy {
		wg.Go(func() {
			g, err := r.fwd.Forward(ctx, proxy, ds)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if unreachable(err) && ctx.Err() == nil {
					r.leases.failed(ctx, proxy)
				}
				r.log.Warn("delivery to a proxy failed; its connections are treated as gone", "proxy", proxy, "deliveries", len(ds), "err", err)
				gone = append(gone, ds...)
				return
			}
			gone = append(gone, pick(ds, g)...)
		})
	}
	wg.Wait()
	return gone
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
