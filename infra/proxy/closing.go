package proxy

import (
	"crypto/tls"
	"time"
)

// Closing a connection: the one rule for every path that ends one.
//
// Whatever ends a connection goes the same way: a DISCONNECT the proxy
// sends (a protocol error 0x81/0x82/0x95, keep alive 0x8D, a slow
// consumer 0x97, a handler error 0x80, shutdown 0x8B), one the handlers
// send (Receive Maximum exceeded 0x93, takeover 0x8E, ...), a refused
// CONNACK, a 3.1.1 close without a packet, the client's own close, a read
// or write error:
//
//  1. Closing starts: closeAfter (close once the queue is written) or
//     closeLocked (close now, dropping what waits). From then on no frame
//     is queued: nothing follows a DISCONNECT [MQTT-3.14.4-1]. The frames
//     the reader has read are not handled, and every write is cut to
//     closeLinger.
//  2. The writer writes the frames queued up to the closing packet, then
//     half-closes (halfClose): TCP sends its FIN after them; TLS sends
//     close_notify and then the FIN. The client reads the packet, then
//     the end of the stream.
//  3. The reader, once the writer is done, sends the handlers the lost
//     event, then drains the input: it reads and discards what the client
//     still sends until the client closes its side, closeLinger has passed
//     since closing began, or closeDrainBytes were read.
//  4. Then the socket is closed [MQTT-3.14.4-2].
//
// Without 2 and 3, closing a socket whose input holds unread bytes (or
// that receives some afterwards) makes the kernel answer with a TCP reset:
// a client that is still sending (publishing, or acknowledging) gets the
// reset on its next write and drops the connection, usually before it
// has read the reason code (issue 15, item 5). A client that keeps
// sending past the bounds is reset as before, having had closeLinger to
// read the packet.
//
// WebSocket connections have no half-close: the DISCONNECT is written as
// a message, the input is drained as above, and closing the socket sends
// the close frame and waits for the client's (at most 5 s, the WebSocket
// library's close handshake).
//
// Fields (conn.mu guards them): closed, closeAfter, writing, lingerBy,
// writeBy, writerGone.
var (
	// closeLinger bounds the time from the start of closing to the
	// socket's close: the writes of the last frames, the half-close, the
	// drain.
	closeLinger = 2 * time.Second
	// closeDrainBytes bounds the bytes read and discarded while draining.
	closeDrainBytes = 1 << 20
)

// closeLocked starts closing now: what waits in the queue is dropped (the
// batch being written, if any, is cut to closeLinger), the reader's reads
// end by closeLinger from now, and a writer runs to half-close. mu must be
// held.
func (c *conn) closeLocked() {
	if c.closed {
		return
	}
	c.closed = true
	c.queuedChanged(-c.queued)
	c.queue, c.queued = nil, 0
	c.stopOrderLocked()
	if c.stop != nil {
		close(c.stop)
	}
	c.lingerBy = time.Now().Add(closeLinger)
	c.nc.SetReadDeadline(c.lingerBy)
	c.capWriteLocked()
	if !c.writing {
		// The writer half-closes once it finds the connection closed.
		c.writing = true
		go c.write()
	}
	// A parked connection has no reader to notice: start one, which finds
	// the connection closed and ends it.
	c.wake()
}

// capWriteLocked cuts a write under way to closeLinger from now, once
// closing has started. mu must be held.
func (c *conn) capWriteLocked() {
	if !c.writing {
		return
	}
	by := time.Now().Add(closeLinger)
	if c.writeBy.IsZero() || c.writeBy.After(by) {
		c.writeBy = by
		c.nc.SetWriteDeadline(by)
	}
}

// setWriteDeadlineLocked sets the deadline of the writer's next write:
// WriteTimeout, or closeLinger once closing has started. mu must be held.
func (c *conn) setWriteDeadlineLocked() {
	d := c.srv.cfg.WriteTimeout
	if c.closeAfter || c.closed {
		d = min(d, closeLinger)
	}
	c.writeBy = time.Now().Add(d)
	c.nc.SetWriteDeadline(c.writeBy)
}

// setReadDeadline sets the reader's read deadline to t (zero for none),
// but never past closeLinger once closing has started.
func (c *conn) setReadDeadline(t time.Time) {
	c.mu.Lock()
	if c.closed && (t.IsZero() || t.After(c.lingerBy)) {
		t = c.lingerBy
	}
	c.nc.SetReadDeadline(t)
	c.mu.Unlock()
}

// isClosed reports whether closing has started for good (closeLocked).
func (c *conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// halfClose ends the output after the frames written: close_notify and
// FIN for TLS, FIN for TCP, nothing for other transports. The writer
// calls it, last.
func (c *conn) halfClose() {
	type closeWriter interface{ CloseWrite() error }
	switch nc := c.nc.(type) {
	case *tls.Conn:
		_ = nc.CloseWrite() // fails before the handshake completed: no alert then
		if tc, ok := nc.NetConn().(closeWriter); ok {
			_ = tc.CloseWrite()
		}
	case closeWriter:
		_ = nc.CloseWrite()
	}
}

// waitWriter waits until no writer runs (a closing writer ends by
// closeLinger; its write deadline says so), or WriteTimeout passed as a
// safety net.
func (c *conn) waitWriter() {
	c.mu.Lock()
	if !c.writing {
		c.mu.Unlock()
		return
	}
	if c.writerGone == nil {
		c.writerGone = make(chan struct{})
	}
	ch := c.writerGone
	c.mu.Unlock()
	t := time.NewTimer(c.srv.cfg.WriteTimeout + closeLinger)
	defer t.Stop()
	select {
	case <-ch:
	case <-t.C:
	}
}

// writerExitLocked marks the writer gone and wakes waitWriter. mu must be
// held.
func (c *conn) writerExitLocked() {
	c.writing = false
	if c.writerGone != nil {
		close(c.writerGone)
		c.writerGone = nil
	}
}

// drainInput reads and discards the client's input until it closes its
// side, the closing's deadline passes, or closeDrainBytes were read.
func (c *conn) drainInput() {
	c.mu.Lock()
	by := c.lingerBy
	c.mu.Unlock()
	if !time.Now().Before(by) {
		return
	}
	c.nc.SetReadDeadline(by)
	bp := bigBufs.Get().(*[]byte)
	defer bigBufs.Put(bp)
	for n := 0; n < closeDrainBytes; {
		k, err := c.nc.Read(*bp)
		n += k
		if err != nil {
			return
		}
	}
}
