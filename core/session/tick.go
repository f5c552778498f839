package session

import (
	"context"
	"errors"
	"fmt"
)

// Tick does the work that waits for time rather than for a packet: it
// publishes wills whose delay has passed and removes expired sessions,
// publishing their pending wills first. It handles up to limit sessions and
// returns the deliveries the wills make (in Reply.Deliveries) and how many
// sessions it handled; run it every second or so. It is safe to run on
// several machines at once: a will is published only by the call that
// clears it.
func (h *Handler) Tick(ctx context.Context, limit int) (*Reply, int, error) {
	now := h.now()
	c := &call{h: h, ctx: ctx, ev: &Event{}, now: now, reply: &Reply{}}
	due, err := h.store.Due(ctx, now.UnixMilli(), limit)
	if err != nil {
		return c.reply, 0, err
	}
	for _, s := range due {
		if s.Will != nil && s.WillAt != 0 && (s.WillAt <= now.UnixMilli() || (s.ExpiresAt != 0 && s.ExpiresAt <= now.UnixMilli())) {
			err := h.store.ClearWill(ctx, s.ClientID, s.WillAt)
			if errors.Is(err, ErrNotFound) {
				continue // someone else published it, or the client came back
			}
			if err != nil {
				return c.reply, 0, err
			}
			if err := c.publishWill(s.Will, s.Identity); err != nil {
				return c.reply, 0, fmt.Errorf("session: publish will of %q: %w", s.ClientID, err)
			}
			if err := c.flush(); err != nil {
				return c.reply, 0, fmt.Errorf("session: publish will of %q: %w", s.ClientID, err)
			}
		}
		if s.ExpiresAt != 0 && s.ExpiresAt <= now.UnixMilli() {
			if err := h.store.DeleteSession(ctx, s.ClientID, ""); err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrFenced) {
				return c.reply, 0, err
			}
		}
	}
	return c.reply, len(due), nil
}
