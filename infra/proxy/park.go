package proxy

import (
	"os"
	"syscall"
	"time"
)

// rawConn is the socket of a connection that parks between batches.
type rawConn = syscall.RawConn

// usePoller lets plain TCP connections park in the poller while idle
// (poll_linux.go). Tests turn it off to exercise the goroutine-per-
// connection path, which TLS and WebSocket connections use.
var usePoller = true

// Park states of a connection that can park (conn.pstate).
const (
	running uint32 = iota // a goroutine runs the connection
	parked                // no goroutine: bytes arriving, the keep-alive sweep or a close resume it
)

// parkAfter is how long a connection that can park waits for bytes in its
// goroutine before it parks.
const parkAfter = 50 * time.Millisecond

// park hands c, idle since waitStart, to the poller, and reports whether the
// calling goroutine must exit (it no longer owns the connection). Once
// pstate says parked, whoever changes it back to running (wake, or the
// poller's keep-alive sweep) owns the connection; park touches nothing of
// c after that.
func (c *conn) park(waitStart time.Time) bool {
	c.rd.release()
	var until int64
	if c.deadline > 0 {
		until = waitStart.Add(c.deadline).UnixNano()
	}
	raw, token := c.raw, c.token
	c.parkUntil.Store(until)
	c.pstate.Store(parked)
	if c.isClosed() {
		// Closing started while it ran: closeLocked's wake may have
		// found it running. Whoever turns it back to running ends it.
		return !c.pstate.CompareAndSwap(parked, running)
	}
	if err := armPoll(raw, token); err != nil {
		if !c.pstate.CompareAndSwap(parked, running) {
			return true // closed meanwhile: the closer runs it to its end
		}
		// The socket cannot be polled (or was closed): keep a goroutine
		// from now on. When it is closed, the next read says so.
		pollerRemove(c)
		c.raw = nil
		return false
	}
	return true
}

// wake resumes a parked connection in a new goroutine; the poller calls it
// when bytes arrive, closeLocked when the connection is closed.
func (c *conn) wake() {
	if c.pstate.CompareAndSwap(parked, running) {
		go c.run()
	}
}

// expire ends c if it is parked past its read deadline (the connect
// timeout, then one and a half keep alive periods); the poller's sweep
// calls it.
func (c *conn) expire(now int64) {
	until := c.parkUntil.Load()
	if until == 0 || now < until || c.pstate.Load() != parked {
		return
	}
	if c.pstate.CompareAndSwap(parked, running) {
		go func() {
			c.readFailed(os.ErrDeadlineExceeded)
			c.end()
		}()
	}
}
