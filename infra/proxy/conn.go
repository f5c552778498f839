package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// pingresp is the whole PINGRESP frame [MQTT-3.12.4-1].
var pingresp = []byte{byte(packet.PINGRESP) << 4, 0}

// conn is one client connection. Its reader reads frames, calls the
// handlers one event at a time (so packets are handled in order) and sends
// KindLost when the connection ends. A plain TCP connection has a reader
// goroutine only while bytes are flowing: once none came for parkAfter it
// parks in the poller (park.go, poll_linux.go) and the goroutine exits; other
// connections (and every connection where epoll is unavailable) keep one
// reader goroutine, blocked in a read while idle. A writer goroutine runs
// only while frames wait to be written.
type conn struct {
	srv *Server
	nc  net.Conn
	id  string
	rd  connReader
	fr  packet.FrameReader

	// The fields down to mu are owned by the reader (the goroutine running
	// the connection), except that pstate and parkUntil follow park's
	// rules.

	// state is owned by the reader, except Version which push reads
	// through mu.
	state *session.ConnState
	// deadline is the read deadline: the connect timeout until CONNECT,
	// then one and a half keep alive periods; 0 for none.
	deadline  time.Duration
	raw       rawConn // the raw socket, for connections that park; nil otherwise
	token     uint64  // the poller's name for the connection
	pstate    atomic.Uint32
	parkUntil atomic.Int64 // Unix ns the parked connection times out at, 0 for never
	// certIdentity is the subject common name of the verified client
	// certificate of a TLS connection, set by the handshake.
	certIdentity string
	// pubRate is the MaxPublishRate bucket, nil without a limit; stop is
	// closed when the connection closes (it exists only with pubRate, to
	// end a throttling wait).
	pubRate *rate.Limiter
	stop    chan struct{}
	// pending is set until the handlers accept the CONNECT; user is the
	// username the connection counts against, when userCounted (admit.go:
	// the reader sets them under Server.mu). quotaRefused is set when the
	// CONNECT was accepted by the handlers but refused for
	// MaxUserConnections.
	pending      bool
	user         string
	userCounted  bool
	quotaRefused bool
	// refusedFor is the reason the handlers gave for refusing the CONNECT
	// (refusals.go), set by the reader.
	refusedFor string
	// abandoned is set when the client closed the connection while its
	// CONNECT waited for the handlers (connectwait.go): by the watching
	// goroutine before it cancels the call; read by the reader once the
	// call returned.
	abandoned atomic.Bool
	// isClient is set while the connection counts as a client in $SYS
	// (its CONNECT accepted, admit.go); Server.mu guards it.
	isClient bool

	mu        sync.Mutex // guards the fields below
	version   packet.Version
	aliasMax  uint16   // the client's Topic Alias Maximum
	maxPacket uint32   // the client's Maximum Packet Size, 0 for none
	aliases   aliasLRU // topic aliases assigned to outgoing PUBLISH
	queue     [][]byte // frames waiting to be written
	queued    int      // bytes in queue
	// inWrite is the bytes of the batch the writer is writing: they count
	// against MaxSendBytes and MaxSendBytesTotal until written.
	inWrite     int
	spare       [][]byte
	writing     bool // a writer goroutine is running
	established bool // CONNACK is queued; frames before it wait
	closeAfter  bool // close once the queue is written
	closed      bool // closing started for good (closing.go)
	// lingerBy is when the closing ends at the latest (closing.go);
	// writeBy the deadline of the write under way; writerGone, when set,
	// is closed as the writer exits.
	lingerBy   time.Time
	writeBy    time.Time
	writerGone chan struct{}
	// waitingDrain: the reader waits for the queue to empty (retained.go).
	waitingDrain bool
	// ord holds QoS 1 and 2 PUBLISH frames until their predecessor in
	// the session's order is written (order.go).
	ord orderState
	// sw is the delivery v2 window (window.go), nil under v1: set once,
	// by the reader, when the CONNACK is applied.
	sw *streamWin
}

// serve runs the connection's reader until it ends or parks.
func (c *conn) serve() {
	// Until the CONNECT is accepted, frames are bounded by MaxConnectSize
	// (apply raises the bound to MaxPacketSize).
	c.fr = *packet.NewFrameReader(&c.rd, c.srv.cfg.MaxConnectSize)
	c.deadline = c.srv.cfg.ConnectTimeout // until CONNECT, then keep alive
	if !c.handshake() {
		c.end()
		return
	}
	c.raw = c.pollable()
	c.run()
}

// run reads and handles batches of frames until the connection ends, or,
// for a connection that parks, until it has been idle for parkAfter.
func (c *conn) run() {
	for {
		if c.isClosed() {
			c.end()
			return
		}
		if c.retainedPending() && !c.serveRetained() {
			c.end()
			return
		}
		if c.raw != nil && c.rd.buffered() == 0 && (c.deadline == 0 || c.deadline > parkAfter) {
			// Wait a little in this goroutine, so that a busy connection
			// does not go through the poller for every batch; then park.
			waitStart := time.Now()
			c.setReadDeadline(waitStart.Add(parkAfter))
			if err := c.rd.fill(); err != nil {
				if !isTimeout(err) {
					c.readFailed(err)
					c.end()
					return
				}
				if c.park(waitStart) {
					return
				}
				continue
			}
		}
		if c.deadline > 0 {
			c.setReadDeadline(time.Now().Add(c.deadline))
		} else {
			c.setReadDeadline(time.Time{})
		}
		if !c.step() {
			c.end()
			return
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// step reads one batch of frames (waiting for them unless the connection
// parks) and handles it. It reports whether the connection goes on.
func (c *conn) step() bool {
	frames, bp, err := c.readBatch()
	if err != nil {
		c.readFailed(err)
		return false
	}
	if c.rd.buffered() == 0 {
		c.rd.release()
	}
	if c.isClosed() {
		batchBufs.Put(bp)
		return false // closing: what the client still sends is drained, not handled
	}
	var fc frameCounts
	for _, f := range frames {
		fc.add(f)
	}
	c.srv.received(&fc)
	if c.state == nil && packet.Type(frames[0][0]>>4) != packet.CONNECT {
		batchBufs.Put(bp)
		c.refused(RefusedProtocol)
		return false // [MQTT-3.1.0-1] the first packet must be CONNECT
	}
	if c.state != nil {
		frames = c.answerPings(frames)
		var ok bool
		if frames, ok = c.takeAcks(frames); !ok { // window.go
			batchBufs.Put(bp)
			return false
		}
	}
	if !c.throttle(fc.publish) {
		batchBufs.Put(bp)
		return false
	}
	open := len(frames) == 0 || c.invoke(&session.Event{Kind: session.KindPackets, Packets: frames})
	batchBufs.Put(bp)
	if c.state == nil {
		c.refuseConnect()
		return false
	}
	if c.quotaRefused {
		c.endRefused()
		return false
	}
	if !open {
		return false
	}
	// [MQTT-3.1.2-22] (3.1.1: [MQTT-3.1.2-24]) close after one and a half keep alive periods
	// without a packet from the client.
	c.deadline = time.Duration(c.state.KeepAlive) * 1500 * time.Millisecond
	return true
}

// end runs once the reader stops for good: it closes the connection as
// closing.go says (once a pending close-after write is done, the writer
// half-closes), tells the handlers that a connection whose CONNECT was
// accepted was lost (unless a drain settles the sessions in bulk:
// Server.CloseAll), drains the input, closes the socket and removes the
// connection from the server.
func (c *conn) end() {
	c.mu.Lock()
	if !c.closeAfter || !c.writing {
		c.closeLocked()
	}
	c.mu.Unlock()
	c.waitWriter()
	c.rd.release()
	c.endWindow() // window.go: positions saved before the session goes offline
	if c.state != nil && !c.srv.settleInBulk.Load() {
		c.invoke(&session.Event{Kind: session.KindLost})
	}
	c.drainInput()
	c.nc.Close()
	pollerRemove(c)
	c.srv.remove(c)
}

// batchBufs holds the buffers events are built in. A connection borrows
// one only once bytes have arrived, so idle connections hold none.
var batchBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// readBatch waits for data, then reads one frame and any further whole
// frames already buffered, up to MaxBatch (and, with MaxPublishRate, up to
// a burst of PUBLISH frames), into a borrowed buffer that the caller
// returns to batchBufs once the frames are handled. Frames too big for the
// buffer get arrays of their own.
func (c *conn) readBatch() ([][]byte, *[]byte, error) {
	budget := c.publishBudget()
	if c.rd.buffered() == 0 {
		if err := c.rd.fill(); err != nil {
			return nil, nil, err
		}
	}
	bp := batchBufs.Get().(*[]byte)
	buf := (*bp)[:0]
	var frames [][]byte
	for {
		start := len(buf)
		f, err := c.fr.ReadFrame(buf[start:])
		if err != nil {
			batchBufs.Put(bp)
			return nil, nil, err
		}
		if cap(buf)-start >= len(f) {
			buf = buf[:start+len(f)]
			f = buf[start:len(buf):len(buf)]
		}
		frames = append(frames, f)
		if budget > 0 && packet.Type(f[0]>>4) == packet.PUBLISH {
			budget--
		}
		if len(frames) >= c.srv.cfg.MaxBatch || c.rd.buffered() == 0 || budget == 0 && c.nextIsPublish() {
			break
		}
		if c.state == nil {
			break // the CONNECT alone: what follows it may be up to MaxPacketSize
		}
		if _, _, err := packet.Split(c.rd.buf[c.rd.r:c.rd.w], c.srv.cfg.MaxPacketSize); err != nil {
			break // incomplete or bad: the next blocking read deals with it
		}
	}
	return frames, bp, nil
}

// answerPings answers PINGREQ frames and returns the others.
func (c *conn) answerPings(frames [][]byte) [][]byte {
	kept := frames[:0]
	for _, f := range frames {
		if len(f) == 2 && f[0] == byte(packet.PINGREQ)<<4 && f[1] == 0 {
			c.push([][]byte{pingresp}, false)
			continue
		}
		kept = append(kept, f)
	}
	return kept
}

// readFailed ends the connection after a read error, telling a 5.0 client
// why when the cause is its own packet.
func (c *conn) readFailed(err error) {
	if c.isClosed() {
		return // the read ended because the connection is closing
	}
	var rc packet.ReasonCode
	var ne net.Error
	if c.state == nil {
		switch {
		case isTimeout(err):
			c.refused(RefusedConnectTimeout)
		case errors.Is(err, packet.ErrPacketTooLarge), errors.Is(err, packet.ErrVarInt):
			c.refused(RefusedProtocol)
		}
	}
	switch {
	case errors.Is(err, packet.ErrPacketTooLarge):
		rc = packet.PacketTooLarge // [MQTT-3.2.2-15] (section 3.2.2.3.6)
	case errors.Is(err, packet.ErrVarInt):
		rc = packet.MalformedPacket
	case errors.As(err, &ne) && ne.Timeout() && c.state != nil:
		rc = packet.KeepAliveTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		c.close()
		return
	}
	c.srv.log.Debug("connection read ended", "conn", c.id, "err", err)
	c.disconnect(rc)
}

// disconnect sends DISCONNECT with rc to a 5.0 client, then closes.
func (c *conn) disconnect(rc packet.ReasonCode) {
	if c.state != nil && c.state.Version == packet.V5 && rc != 0 {
		if b, err := (&packet.Disconnect{ReasonCode: rc}).Append(nil, packet.V5); err == nil {
			c.push([][]byte{b}, true)
			return
		}
	}
	c.close()
}

// invoke calls the handlers and applies the reply. It reports whether the
// connection is still open.
func (c *conn) invoke(ev *session.Event) bool {
	ev.Proxy, ev.Conn, ev.Remote, ev.State = c.srv.cfg.ID, c.id, c.nc.RemoteAddr().String(), c.state
	ev.CertIdentity = c.certIdentity
	ev.SendRoom = c.sendRoom()
	ctx, cancel := context.WithTimeout(context.Background(), c.srv.cfg.InvokeTimeout)
	defer cancel()
	ctx, unwatch := c.connectContext(ctx, cancel, ev) // connectwait.go
	reply, err := c.srv.invoke(ctx, ev)
	unwatch()
	if reply != nil {
		c.apply(ctx, reply)
	}
	if err != nil && c.connectUnanswered(ev, err) {
		return false
	}
	if err != nil {
		c.srv.log.Error("handler failed", "conn", c.id, "kind", ev.Kind, "err", err)
		c.disconnect(packet.UnspecifiedError)
		return false
	}
	return reply == nil || !reply.Close
}

// apply writes a reply: its frames to this connection, its deliveries to
// theirs, and the close it asks for.
func (c *conn) apply(ctx context.Context, r *session.Reply) {
	c.handlerRefused(r.Refused)
	if r.State != nil {
		if c.state == nil {
			c.fr.SetMaxSize(c.srv.cfg.MaxPacketSize)
			if !c.srv.connectAccepted(c, r.State.Username) {
				c.refuseUser(r)
			}
		}
		c.state = r.State
		c.mu.Lock()
		c.version = r.State.Version
		if c.version == packet.V5 {
			c.aliasMax, c.maxPacket = r.State.TopicAliasMax, r.State.MaxPacketSize
		}
		c.mu.Unlock()
	}
	if !c.isEstablished() {
		c.establish(r.Packets, r.Order, r.Close)
	} else if len(r.Packets) > 0 || len(r.Order) > 0 || r.Close {
		c.pushOrdered(r.Packets, r.Order, r.Close)
	}
	if r.Stream != nil && c.state != nil {
		c.mu.Lock()
		c.applyStreamLocked(r.Stream, c.state) // window.go
		c.mu.Unlock()
	}
	if len(r.Deliveries) > 0 {
		c.srv.deliverReply(r.Deliveries)
	}
}

func (c *conn) isEstablished() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.established
}

// establish queues the CONNACK (and what follows it in the reply) ahead of
// any delivery that arrived before it [MQTT-3.2.0-1], then lets the writer
// run.
// The reply's QoS 1 and 2 PUBLISH frames take their place in the session's
// order (order.go); the deliveries that came early passed it already.
func (c *conn) establish(frames [][]byte, order []session.Order, closeAfter bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	early, before := c.queue, c.queued
	c.queue, c.queued = make([][]byte, 0, len(frames)+len(early)), 0
	start := 0 // c.queued when the reply's frames are placed
	c.queuedChanged(-before)
	if c.closed || !c.placeLocked(frames, order, &start, false) {
		return
	}
	for _, f := range early {
		c.appendLocked(f)
	}
	c.queuedChanged(c.queued - start)
	c.established = true
	c.closeAfter = c.closeAfter || closeAfter
	c.kick()
}

// push queues frames for writing, and closes after them when closeAfter is
// set. It reports false when the connection is closed. A full queue (the
// frames waiting and the batch being written over MaxSendBytes) drops QoS
// 0 PUBLISH frames and closes the connection on anything else; past
// MaxSendBytesTotal over all connections, QoS 0 PUBLISH frames are dropped
// too.
func (c *conn) push(frames [][]byte, closeAfter bool) bool {
	return c.pushOrdered(frames, nil, closeAfter)
}

// pushOrdered is push for frames of a reply or delivery whose QoS 1 and 2
// PUBLISH frames order places in their session's order (order.go).
func (c *conn) pushOrdered(frames [][]byte, order []session.Order, closeAfter bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.closeAfter {
		return false // nothing follows the closing packet [MQTT-3.14.4-1]
	}
	before := c.queued
	if len(order) > 0 {
		if !c.placeLocked(frames, order, &before, true) {
			return false
		}
	} else {
		for _, f := range frames {
			if !c.addLocked(f, &before) {
				return false
			}
		}
	}
	c.queuedChanged(c.queued - before)
	if closeAfter {
		c.closeAfter = true
		c.capWriteLocked()
	}
	c.kick()
	return true
}

// slowConsumerLocked closes a connection whose send queue is full: what
// waits is dropped (QoS 1 and 2 messages stay in the store and are sent
// again at the next connection), and a 5.0 client gets DISCONNECT 0x97
// Quota exceeded after the batch being written, within closeLinger. mu
// must be held.
func (c *conn) slowConsumerLocked() {
	c.queuedChanged(-c.queued)
	c.queue, c.queued = nil, 0
	c.stopOrderLocked()
	if c.version == packet.V5 {
		if b, err := (&packet.Disconnect{ReasonCode: packet.QuotaExceeded}).Append(nil, packet.V5); err == nil {
			c.queue, c.queued = [][]byte{b}, len(b)
			c.queuedChanged(len(b))
		}
	}
	c.closeAfter = true
	c.capWriteLocked()
	c.kick()
}

// addLocked queues frame f, or drops it (a QoS 0 PUBLISH past a bound), or
// closes the connection when the queue is full, returning false. before is
// c.queued when the caller took mu: the caller adds c.queued - before to
// the bytes queued across connections once done, which addLocked does
// itself before closing. mu must be held.
func (c *conn) addLocked(f []byte, before *int) bool {
	qos0 := isQoS0Publish(f)
	if qos0 && c.srv.sendBytes.Load()+int64(c.queued-*before+len(f)) > int64(c.srv.cfg.MaxSendBytesTotal) {
		c.srv.dropped()
		return true
	}
	if (len(c.queue) > 0 || c.inWrite > 0) && c.queued+c.inWrite+len(f) > c.srv.cfg.MaxSendBytes {
		if qos0 {
			c.srv.dropped()
			return true
		}
		c.srv.log.Warn("send queue full, closing slow consumer", "conn", c.id)
		c.queuedChanged(c.queued - *before)
		c.slowConsumerLocked()
		return false
	}
	c.appendLocked(f)
	return true
}

// appendLocked queues f, rewritten for the connection's topic aliases,
// with no bound. mu must be held.
func (c *conn) appendLocked(f []byte) {
	f = c.aliasLocked(f)
	c.queue = append(c.queue, f)
	c.queued += len(f)
}

// kick starts the writer if there is work and none runs. mu must be held.
func (c *conn) kick() {
	if c.writing || !c.established || c.closed {
		return
	}
	if len(c.queue) == 0 {
		if c.closeAfter {
			c.closeLocked()
		}
		return
	}
	c.writing = true
	go c.write()
}

// write drains the queue with vectored writes, then exits.
func (c *conn) write() {
	for {
		c.mu.Lock()
		if c.closed || len(c.queue) == 0 {
			if !c.closed && c.closeAfter {
				c.closeLocked()
			}
			if c.closed {
				// After the last frame: half-close (closing.go).
				c.mu.Unlock()
				c.halfClose()
				c.mu.Lock()
			}
			c.writerExitLocked()
			c.drained()
			// An idle connection keeps no queue arrays.
			c.queue, c.spare = nil, nil
			c.mu.Unlock()
			return
		}
		out := c.queue
		c.inWrite = c.queued
		c.queue, c.spare, c.queued = c.spare[:0], nil, 0
		c.setWriteDeadlineLocked()
		c.mu.Unlock()

		// Tally before writing: net.Buffers.WriteTo consumes out.
		var fc frameCounts
		for _, f := range out {
			fc.add(f)
		}
		var err error
		if len(out) == 1 {
			// A plain write: a vectored one makes the socket keep an iovec
			// array for the rest of its life.
			_, err = c.nc.Write(out[0])
		} else {
			bufs := net.Buffers(out)
			_, err = bufs.WriteTo(c.nc)
		}
		if err == nil {
			c.srv.sent(&fc)
		}
		clear(out)
		c.mu.Lock()
		c.queuedChanged(-c.inWrite)
		c.inWrite = 0
		if cap(out) <= 64 {
			c.spare = out[:0]
		}
		if err != nil {
			c.closeLocked()
		}
		c.mu.Unlock()
	}
}

// queuedChanged adds d to the bytes waiting across all connections
// (Server.sendBytes, and mqttless_send_queue_bytes). mu must be held, so
// that the changes of one connection add up to its queued + inWrite.
func (c *conn) queuedChanged(d int) {
	if d == 0 {
		return
	}
	c.srv.sendBytes.Add(int64(d))
	if m := c.srv.metrics; m != nil {
		m.sendQueued.Add(int64(d))
	}
}

// dropped counts a QoS 0 frame dropped for a full send queue or budget.
func (s *Server) dropped() {
	s.Dropped.Add(1)
	if m := s.metrics; m != nil {
		m.dropped.Inc()
	}
}

func isQoS0Publish(f []byte) bool {
	return len(f) > 0 && f[0]>>4 == byte(packet.PUBLISH) && f[0]&0x06 == 0
}

// close closes the connection now, as closing.go says, without a packet.
func (c *conn) close() {
	c.mu.Lock()
	c.closeLocked()
	c.mu.Unlock()
}

// shutdown closes the connection for a server shutdown, with DISCONNECT
// 0x8B at 5.0.
func (c *conn) shutdown() {
	c.mu.Lock()
	v5 := c.version == packet.V5 && c.established
	c.mu.Unlock()
	if v5 {
		b, _ := (&packet.Disconnect{ReasonCode: packet.ServerShuttingDown}).Append(nil, packet.V5)
		c.push([][]byte{b}, true)
		return
	}
	c.close()
}
