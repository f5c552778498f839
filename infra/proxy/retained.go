package proxy

import (
	"time"

	"github.com/mqttless/mqttless/core/session"
)

// Retained messages of a SUBSCRIBE come a page at a time: when a reply
// leaves ConnState.RetainedMore set, the reader sends a KindRetained event
// each time the send queue is empty (nothing queued, no write under way),
// so that the handlers never send more than the queue takes
// (core/session/retained.go). Until then the reader waits at a frame
// boundary, in its goroutine (the connection does not park), for bytes
// from the client or for the writer to empty the queue: the writer then
// cuts the wait short through the read deadline (waitingDrain, under mu).

// sendRoom returns the bytes the send queue can take now, at least 1 (0
// would say the proxy does not tell).
func (c *conn) sendRoom() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return max(c.srv.cfg.MaxSendBytes-c.queued, 1)
}

// retainedPending reports whether the handlers asked for a KindRetained
// event and no bytes from the client wait to be handled first.
func (c *conn) retainedPending() bool {
	return c.state != nil && c.state.RetainedMore && c.rd.buffered() == 0
}

// serveRetained sends KindRetained events while the state asks for them,
// each once the send queue is empty, waiting for that or for bytes from
// the client. It reports whether the connection goes on; bytes may then be
// buffered for step.
func (c *conn) serveRetained() bool {
	waitStart := time.Now()
	for c.retainedPending() {
		var dl time.Time
		if c.deadline > 0 {
			dl = waitStart.Add(c.deadline)
		}
		// Set before waitingDrain, so that the writer's deadline wins.
		c.setReadDeadline(dl)
		c.mu.Lock()
		closed, idle := c.closed, len(c.queue) == 0 && !c.writing
		c.waitingDrain = !idle && !closed
		c.mu.Unlock()
		if closed {
			return false
		}
		if idle {
			if !c.invoke(&session.Event{Kind: session.KindRetained}) {
				return false
			}
			continue
		}
		err := c.rd.fill()
		c.mu.Lock()
		c.waitingDrain = false
		c.mu.Unlock()
		if err == nil {
			return true
		}
		if !isTimeout(err) || (!dl.IsZero() && !time.Now().Before(dl)) {
			c.readFailed(err)
			return false
		}
	}
	return true
}

// drained is called by the writer, with mu held, when it has emptied the
// queue: it ends the reader's wait for that.
func (c *conn) drained() {
	if c.waitingDrain {
		c.waitingDrain = false
		c.nc.SetReadDeadline(time.Now())
	}
}
