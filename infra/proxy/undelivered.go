package proxy

import (
	"context"

	"github.com/mqttless/mqttless/core/session"
)

// undeliveredRounds bounds how often the deliveries of one reply go back
// to the handlers: each round reads the sessions afresh, so a second
// round is needed only when a client moved again meanwhile.
const undeliveredRounds = 2

// deliverReply writes the deliveries a reply leaves for this proxy
// (Deliver) and hands those whose connection is gone back to the handlers
// in a KindUndelivered event, whose reply is written in turn. A delivery
// endpoint reports gone connections to the function that posted to it;
// a reply's deliveries have no one else to tell: without this, a message
// routed to a connection of this proxy that a cached location still named
// after its client moved (to another connection of this proxy or another
// proxy) would be lost (issue 15, item 1). The handlers settle them as
// the gone ones of an endpoint (session.Handler.Undelivered): to the
// session's current connection, or queued. The call has its own
// -invoke-timeout, apart from the event whose reply it was; a failure is
// logged and counted, and closes no connection.
func (s *Server) deliverReply(ds []session.Delivery) {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.InvokeTimeout)
	defer cancel()
	for round := 0; ; round++ {
		back := goneOf(ds, s.Deliver(ctx, ds))
		if len(back) == 0 {
			return
		}
		if round == undeliveredRounds {
			s.log.Warn("deliveries found their connections gone again; dropped", "deliveries", len(back))
			return
		}
		s.log.Debug("deliveries to gone connections handed back", "deliveries", len(back), "round", round+1)
		reply, err := s.invoke(ctx, &session.Event{Kind: session.KindUndelivered, Proxy: s.cfg.ID, Deliveries: back})
		if err != nil {
			s.log.Warn("handing back deliveries to gone connections failed", "deliveries", len(back), "err", err)
		}
		if reply == nil {
			return
		}
		ds = reply.Deliveries
	}
}

// goneOf returns the deliveries of ds to the connections gone that carry
// frames for a session: what the handlers can settle (a close alone, or a
// delivery naming no client, needs nothing).
func goneOf(ds []session.Delivery, gone []string) []session.Delivery {
	if len(gone) == 0 {
		return nil
	}
	set := make(map[string]bool, len(gone))
	for _, id := range gone {
		set[id] = true
	}
	var out []session.Delivery
	for _, d := range ds {
		if set[d.Conn] && d.Client != "" && len(d.Packets) > 0 {
			out = append(out, d)
		}
	}
	return out
}
