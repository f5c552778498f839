package e2e_test

// The clients of the fault-injection harness: MQTT connections (frames of
// core/packet) that record into a history (checker_test.go) what they
// send and what they see, and answer the broker's packets themselves:
// PUBACK or PUBREC for each PUBLISH that arrives, PUBCOMP for each PUBREL,
// PUBREL for each PUBREC of their own PUBLISH. They never resend a PUBLISH
// (a message whose connection ended unacknowledged is not acknowledged,
// and the checker promises nothing for it), so a repeat the checker sees
// is the broker's. Their errors are returned, never t.Fatal, so that
// scenarios can drive them from several goroutines.

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/mqttless/mqttless/core/packet"
)

// fclient is one connection of a recording client.
type fclient struct {
	h     *history
	id    string // client id, the name in the history
	proxy string // the name of the proxy it connected through
	v     packet.Version
	nc    net.Conn

	wmu sync.Mutex // serialises writes

	mu      sync.Mutex
	nextPID uint16
	pending map[uint16]string // packet id -> message id of our PUBLISH awaiting PUBACK/PUBREC/PUBCOMP
	subacks map[uint16]chan *packet.Suback
	done    chan struct{} // closed when the connection ended
	err     error         // why, once done is closed
}

// fconn is how a recording client connects.
type fconn struct {
	addr, proxy string // the proxy's MQTT address and its name in the history
	id          string
	clean       bool
	v           packet.Version // V311 when zero
	willTopic   string         // a will (QoS 1) whose payload is willMsg, when set
	willMsg     string
}

// dialF connects as o says and records the connection once CONNACK
// accepted it.
func dialF(h *history, o fconn) (*fclient, bool, error) {
	if o.v == 0 {
		o.v = packet.V311
	}
	nc, err := net.DialTimeout("tcp", o.addr, waitTime)
	if err != nil {
		return nil, false, fmt.Errorf("%s: dial %s: %w", o.id, o.addr, err)
	}
	c := &fclient{h: h, id: o.id, proxy: o.proxy, v: o.v, nc: nc, pending: map[uint16]string{},
		subacks: map[uint16]chan *packet.Suback{}, done: make(chan struct{})}
	cp := connectPacket(o.v, o.id, o.clean)
	if o.willTopic != "" {
		cp.Will = &packet.Will{QoS: 1, Topic: o.willTopic, Payload: []byte(o.willMsg)}
	}
	if err := c.write(cp); err != nil {
		nc.Close()
		return nil, false, err
	}
	fr := packet.NewFrameReader(bufio.NewReader(nc), 0)
	_ = nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	frame, err := fr.ReadFrame(nil)
	if err != nil {
		nc.Close()
		return nil, false, fmt.Errorf("%s: waiting for CONNACK from %s: %w", o.id, o.proxy, err)
	}
	p, err := packet.Decode(frame, o.v)
	ack, ok := p.(*packet.Connack)
	if err != nil || !ok || ack.ReasonCode != packet.Success {
		nc.Close()
		return nil, false, fmt.Errorf("%s: CONNACK from %s: %+v %v", o.id, o.proxy, p, err)
	}
	_ = nc.SetReadDeadline(time.Time{})
	h.online(o.id, o.proxy, o.clean, o.willMsg)
	go c.readLoop(fr)
	return c, ack.SessionPresent, nil
}

func (c *fclient) write(p packet.Packet) error {
	b, err := p.Append(nil, c.v)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(waitTime))
	if _, err := c.nc.Write(b); err != nil {
		return fmt.Errorf("%s: write %s: %w", c.id, p.Type(), err)
	}
	return nil
}

func (c *fclient) readLoop(fr *packet.FrameReader) {
	var err error
	defer func() {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
		c.nc.Close()
		c.h.offline(c.id)
		close(c.done)
	}()
	for {
		var frame []byte
		if frame, err = fr.ReadFrame(nil); err != nil {
			return
		}
		var p packet.Packet
		if p, err = packet.Decode(frame, c.v); err != nil {
			return
		}
		switch p := p.(type) {
		case *packet.Publish:
			c.h.arrived(c.id, string(p.Payload), p.Topic, p.QoS, p.Dup, p.PacketID)
			switch p.QoS {
			case 1:
				err = c.write(&packet.Puback{PacketID: p.PacketID})
			case 2:
				err = c.write(&packet.Pubrec{PacketID: p.PacketID})
			}
		case *packet.Pubrel:
			c.h.released(c.id, p.PacketID)
			err = c.write(&packet.Pubcomp{PacketID: p.PacketID})
		case *packet.Puback:
			c.ackOf(p.PacketID, true)
		case *packet.Pubrec:
			if c.ackOf(p.PacketID, false) {
				err = c.write(&packet.Pubrel{PacketID: p.PacketID})
			}
		case *packet.Pubcomp:
			c.mu.Lock()
			delete(c.pending, p.PacketID)
			c.mu.Unlock()
		case *packet.Suback:
			c.mu.Lock()
			ch := c.subacks[p.PacketID]
			delete(c.subacks, p.PacketID)
			c.mu.Unlock()
			if ch != nil {
				ch <- p
			}
		case *packet.Disconnect:
			err = fmt.Errorf("DISCONNECT %s", p.ReasonCode)
			return
		}
		if err != nil {
			return
		}
	}
}

// ackOf records the acknowledgement of our PUBLISH pid (the first: PUBACK,
// or PUBREC, which also keeps pid pending until PUBCOMP unless final).
func (c *fclient) ackOf(pid uint16, final bool) bool {
	c.mu.Lock()
	msg, ok := c.pending[pid]
	if final {
		delete(c.pending, pid)
	}
	c.mu.Unlock()
	if ok && msg != "" {
		c.h.acked(c.id, msg)
		if !final {
			c.mu.Lock()
			c.pending[pid] = "" // acknowledged; waits for PUBCOMP
			c.mu.Unlock()
		}
	}
	return ok
}

// subscribe subscribes to filter at qos and waits for the SUBACK.
func (c *fclient) subscribe(filter string, qos byte) error {
	c.mu.Lock()
	pid := c.allocLocked()
	ch := make(chan *packet.Suback, 1)
	c.subacks[pid] = ch
	c.mu.Unlock()
	if err := c.write(&packet.Subscribe{PacketID: pid, Subscriptions: []packet.Subscription{{Filter: filter, QoS: qos}}}); err != nil {
		return err
	}
	select {
	case ack := <-ch:
		if len(ack.ReasonCodes) != 1 || ack.ReasonCodes[0] != packet.ReasonCode(qos) {
			return fmt.Errorf("%s: SUBACK %+v for %s at QoS %d", c.id, ack, filter, qos)
		}
		c.h.subscribed(c.id, filter, qos)
		return nil
	case <-c.done:
		return fmt.Errorf("%s: connection ended before SUBACK: %v", c.id, c.why())
	case <-time.After(30 * time.Second):
		return fmt.Errorf("%s: no SUBACK within 30s", c.id)
	}
}

// allocLocked returns a packet id not pending. c.mu must be held.
func (c *fclient) allocLocked() uint16 {
	for {
		c.nextPID++
		if c.nextPID == 0 {
			c.nextPID = 1
		}
		if _, busy := c.pending[c.nextPID]; !busy {
			return c.nextPID
		}
	}
}

// publish sends msg (the payload, which names the message) on topic at qos
// and records it; the acknowledgement is recorded when it comes.
func (c *fclient) publish(msg, topic string, qos byte) error {
	p := &packet.Publish{Topic: topic, QoS: qos, Payload: []byte(msg)}
	if qos > 0 {
		c.mu.Lock()
		p.PacketID = c.allocLocked()
		c.pending[p.PacketID] = msg
		c.mu.Unlock()
	}
	c.h.sentAs(c.id, msg, topic, qos, p.PacketID)
	return c.write(p)
}

// unacked returns how many of our QoS 1/2 PUBLISH packets wait for their
// first acknowledgement.
func (c *fclient) unacked() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, m := range c.pending {
		if m != "" {
			n++
		}
	}
	return n
}

// waitAcked waits until nothing waits for an acknowledgement, or d passes,
// or the connection ends; it returns how many still wait.
func (c *fclient) waitAcked(d time.Duration) int {
	deadline := time.Now().Add(d)
	for c.unacked() > 0 && time.Now().Before(deadline) && !c.closed() {
		time.Sleep(20 * time.Millisecond)
	}
	return c.unacked()
}

func (c *fclient) closed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *fclient) why() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// disconnect sends DISCONNECT and waits for the connection to end.
func (c *fclient) disconnect() {
	_ = c.write(&packet.Disconnect{})
	select {
	case <-c.done:
	case <-time.After(waitTime):
		c.nc.Close()
		<-c.done
	}
}

// drop closes the connection without DISCONNECT, as a network failure.
func (c *fclient) drop() {
	c.nc.Close()
	<-c.done
}

// errEnded is returned by waitEnded when the connection outlives d.
var errEnded = errors.New("connection still open")

// waitEnded waits up to d for the connection to end and returns why.
func (c *fclient) waitEnded(d time.Duration) error {
	select {
	case <-c.done:
		return c.why()
	case <-time.After(d):
		return errEnded
	}
}
