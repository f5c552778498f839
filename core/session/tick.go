package session

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Tick does the work that waits for time rather than for a packet, in one
// pass (pass.go): it publishes wills whose delay has passed and removes
// expired sessions, publishing their pending wills first. It handles up to
// limit sessions, passParallel at a time, starting none past the pass's
// stop time; the sessions it did not reach are still due, and the next
// Tick reads them again. It returns the deliveries the wills make (in
// Reply.Deliveries) and how many sessions it handled; run it every second
// or so. It is safe to run on several machines at once: a will is
// published only by the call that clears it.
func (h *Handler) Tick(ctx context.Context, limit int) (*Reply, int, error) {
	return h.tick(ctx, newPass(ctx, passMax), limit)
}

// tick is Tick within pass p. It reads the due sessions a page of
// ownedPage at a time: a slow store's read of 1,000 (moto's index query)
// could take the whole pass, leaving none of them handled. A session
// read again within the pass (a will another call cleared, a read that
// lags) is not handled twice.
func (h *Handler) tick(ctx context.Context, p pass, limit int) (*Reply, int, error) {
	reply := &Reply{}
	var mu sync.Mutex // guards reply and byConn
	byConn := map[string]int{}
	seen := map[string]bool{}
	n := 0
	for n < limit && !p.over() {
		page := min(limit-n, ownedPage)
		due, err := h.store.Due(ctx, h.now().UnixMilli(), page)
		if err != nil {
			return reply, n, err
		}
		full := len(due) == page
		due = slices.DeleteFunc(due, func(s *Session) bool { return seen[s.ClientID] })
		if len(due) == 0 {
			break
		}
		done, all, err := each(ctx, p, due, func(s *Session) error {
			r, err := h.settleDue(ctx, s)
			mu.Lock()
			mergeDeliveries(reply, byConn, r.Deliveries)
			mu.Unlock()
			return err
		})
		n += done
		if err != nil || !all || !full {
			return reply, n, err
		}
		for _, s := range due {
			seen[s.ClientID] = true
		}
	}
	return reply, n, nil
}

// mergeDeliveries adds ds to reply, one delivery per connection: the
// frames (and their orders) and stream entries of a connection's delivery
// in ds follow those already in reply's delivery to it. byConn indexes reply.Deliveries by
// "proxy\x00conn".
func mergeDeliveries(reply *Reply, byConn map[string]int, ds []Delivery) {
	for _, d := range ds {
		key := d.Proxy + "\x00" + d.Conn
		i, ok := byConn[key]
		if !ok {
			byConn[key] = len(reply.Deliveries)
			reply.Deliveries = append(reply.Deliveries, d)
			continue
		}
		m := &reply.Deliveries[i]
		m.Packets = append(m.Packets, d.Packets...)
		m.Order = append(m.Order, d.Order...)
		// Delivery v2's entries: the connection's window orders them by
		// offset, whichever delivery carried them.
		m.Streams = append(m.Streams, d.Streams...)
		m.Close = m.Close || d.Close
	}
}

// settleDue publishes the will of the offline session s when it is due,
// and removes s when it expired. Each call has a reply of its own, which
// tick merges: the wills of several sessions are unordered with each
// other (each is one message of its own publisher).
func (h *Handler) settleDue(ctx context.Context, s *Session) (*Reply, error) {
	now := h.now()
	c := &call{h: h, ctx: ctx, ev: &Event{}, now: now, reply: &Reply{}}
	if s.Will != nil && s.WillAt != 0 && (s.WillAt <= now.UnixMilli() || (s.ExpiresAt != 0 && s.ExpiresAt <= now.UnixMilli())) {
		err := h.store.ClearWill(ctx, s.ClientID, s.WillAt)
		if errors.Is(err, ErrNotFound) {
			return c.reply, nil // someone else published it, or the client came back
		}
		if err != nil {
			return c.reply, err
		}
		if err := c.publishWill(s.Will, s.Identity); err != nil {
			return c.reply, fmt.Errorf("session: publish will of %q: %w", s.ClientID, err)
		}
		if err := c.flush(); err != nil {
			return c.reply, fmt.Errorf("session: publish will of %q: %w", s.ClientID, err)
		}
	}
	if s.ExpiresAt != 0 && s.ExpiresAt <= now.UnixMilli() {
		if err := h.store.DeleteSession(ctx, s.ClientID, ""); err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrFenced) {
			return c.reply, err
		}
	}
	return c.reply, nil
}
