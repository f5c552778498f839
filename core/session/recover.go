package session

import (
	"context"
	"fmt"
)

// Recover ends the connections that proxy held when it stopped without
// telling the handlers, as a proxy restarted after a crash does at start:
// each session it owned is handled as a lost connection (its will is
// published or scheduled, and it goes offline or ends). It returns the
// deliveries the wills make and how many sessions it recovered.
func (h *Handler) Recover(ctx context.Context, proxy string) (*Reply, int, error) {
	reply := &Reply{}
	n := 0
	seen := map[string]bool{}
	delivIdx := map[string]int{} // shared, so each connection gets one delivery
	for {
		owned, err := h.store.Owned(ctx, proxy, 1000)
		if err != nil {
			return reply, n, err
		}
		progress := false
		for _, s := range owned {
			if seen[s.ClientID+"\x00"+s.Conn] {
				continue
			}
			seen[s.ClientID+"\x00"+s.Conn] = true
			progress = true
			c := &call{h: h, ctx: ctx, now: h.now(), reply: reply,
				ev: &Event{Kind: KindLost, Proxy: s.Proxy, Conn: s.Conn},
				st: &ConnState{ClientID: s.ClientID, Version: s.Version, SessionExpiry: s.ExpiryInterval}, delivIdx: delivIdx}
			err := c.goOffline(true)
			if ferr := c.flush(); err == nil {
				err = ferr
			}
			if err != nil {
				return reply, n, fmt.Errorf("session: recover %q: %w", s.ClientID, err)
			}
			n++
		}
		if !progress {
			return reply, n, nil
		}
	}
}
