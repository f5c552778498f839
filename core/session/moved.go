package session

import "errors"

// movedRounds bounds how often moved follows a client that keeps moving.
const movedRounds = 2

// moved handles a dispatch for session s that the store fenced off
// (ErrFenced, see Store.Dispatch): the client's connection changed since s
// was read, or it went offline. The messages stay queued. When a newer
// connection holds the session, they are dispatched for it here and
// delivered to it: it may have started before they were queued (its
// resume and its first dispatch done), with nothing in flight whose
// acknowledgement would bring another dispatch. An offline session gets
// them when its client next connects.
func (c *call) moved(s *Session) error {
	for range movedRounds {
		cur, err := c.h.store.Session(c.ctx, s.ClientID)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if !cur.Online() || cur.Conn == s.Conn {
			return nil
		}
		window := int(cur.ReceiveMax)
		out, err := c.h.store.Dispatch(c.ctx, cur.ClientID, cur.Conn, window)
		if err == nil {
			err = c.sendOut(cur, out, window)
		}
		if !errors.Is(err, ErrFenced) {
			return err
		}
		s = cur
	}
	return nil
}
