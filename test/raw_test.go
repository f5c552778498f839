package e2e_test

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
)

const (
	// waitTime bounds the wait for something that should happen.
	waitTime = 5 * time.Second
	// quietTime is how long a test watches to be sure something does not
	// happen.
	quietTime = 300 * time.Millisecond
)

// rawClient is an MQTT connection driven frame by frame: the test builds
// packets with core/packet and reads back what the broker sends, decoded at
// the connection's protocol version.
type rawClient struct {
	t  testing.TB
	nc net.Conn
	v  packet.Version
	in chan packet.Packet // closed when the connection ends
	// err is why reading stopped, valid once in is closed.
	err error
	// held are packets read ahead (by ack) that next returns first.
	held []packet.Packet
}

// dialRaw opens a connection to addr that speaks version v.
func dialRaw(t testing.TB, addr string, v packet.Version) *rawClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, waitTime)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c := &rawClient{t: t, nc: nc, v: v, in: make(chan packet.Packet, 4096)}
	go c.readLoop()
	t.Cleanup(func() { nc.Close() })
	return c
}

func (c *rawClient) readLoop() {
	defer close(c.in)
	fr := packet.NewFrameReader(bufio.NewReader(c.nc), 0)
	for {
		frame, err := fr.ReadFrame(nil)
		if err != nil {
			c.err = err
			return
		}
		p, err := packet.Decode(frame, c.v)
		if err != nil {
			c.err = fmt.Errorf("the broker sent a frame that does not decode at %s (% x): %w", c.v, frame, err)
			return
		}
		c.in <- p
	}
}

// send writes p, encoded at the connection's version.
func (c *rawClient) send(p packet.Packet) {
	c.t.Helper()
	b, err := p.Append(nil, c.v)
	if err != nil {
		c.t.Fatalf("encoding %s: %v", p.Type(), err)
	}
	c.sendBytes(b)
}

// sendBytes writes raw bytes.
func (c *rawClient) sendBytes(b []byte) {
	c.t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(waitTime))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// errClosed is returned by next when the connection has ended.
var errClosed = errors.New("connection closed")

// next returns the next packet, or an error when none comes within d or
// the connection ended.
func (c *rawClient) next(d time.Duration) (packet.Packet, error) {
	if len(c.held) > 0 {
		p := c.held[0]
		c.held = c.held[1:]
		return p, nil
	}
	select {
	case p, ok := <-c.in:
		if !ok {
			return nil, fmt.Errorf("%w: %v", errClosed, c.err)
		}
		return p, nil
	case <-time.After(d):
		return nil, fmt.Errorf("no packet within %v", d)
	}
}

// expect reads the next packet and fails the test unless it is a T.
func expect[T packet.Packet](t testing.TB, c *rawClient) T {
	t.Helper()
	p, err := c.next(waitTime)
	if err != nil {
		var zero T
		t.Fatalf("waiting for %T: %v", zero, err)
	}
	v, ok := p.(T)
	if !ok {
		var zero T
		t.Fatalf("got %s %+v, want %T", p.Type(), p, zero)
	}
	return v
}

// expectNone fails the test if a packet arrives, or the connection ends,
// within d.
func (c *rawClient) expectNone(d time.Duration) {
	c.t.Helper()
	if len(c.held) > 0 {
		c.t.Fatalf("got %s %+v, want nothing", c.held[0].Type(), c.held[0])
	}
	select {
	case p, ok := <-c.in:
		if !ok {
			c.t.Fatalf("connection closed (%v), want it open and quiet", c.err)
		}
		c.t.Fatalf("got %s %+v, want nothing", p.Type(), p)
	case <-time.After(d):
	}
}

// expectClose waits until the broker closes the connection and returns the
// DISCONNECT it sent first, if any. Any other packet fails the test.
func (c *rawClient) expectClose(d time.Duration) *packet.Disconnect {
	c.t.Helper()
	var disc *packet.Disconnect
	for _, p := range c.held {
		c.t.Fatalf("got %s %+v while waiting for the connection to close", p.Type(), p)
	}
	deadline := time.After(d)
	for {
		select {
		case p, ok := <-c.in:
			if !ok {
				return disc
			}
			if dp, isDisc := p.(*packet.Disconnect); isDisc && disc == nil {
				disc = dp
				continue
			}
			c.t.Fatalf("got %s %+v while waiting for the connection to close", p.Type(), p)
		case <-deadline:
			c.t.Fatalf("the connection is still open after %v", d)
		}
	}
}

// close drops the connection without DISCONNECT, as a network failure would.
func (c *rawClient) close() { c.nc.Close() }

// disconnect sends DISCONNECT (with reason rc at 5.0) and waits until the
// broker closes the connection, which it does once it has dealt with the
// DISCONNECT: the session is offline (or gone) when disconnect returns.
func (c *rawClient) disconnect(rc packet.ReasonCode) {
	c.t.Helper()
	c.send(&packet.Disconnect{ReasonCode: rc})
	deadline := time.After(waitTime)
	for {
		select {
		case _, ok := <-c.in: // what was in flight towards us is dropped
			if !ok {
				c.nc.Close()
				return
			}
		case <-deadline:
			c.t.Fatalf("the broker did not close the connection within %v of DISCONNECT", waitTime)
		}
	}
}

// connect sends p and returns the CONNACK.
func (c *rawClient) connect(p *packet.Connect) *packet.Connack {
	c.t.Helper()
	c.send(p)
	return expect[*packet.Connack](c.t, c)
}

// mustConnect connects and fails the test unless the broker accepts.
func (c *rawClient) mustConnect(p *packet.Connect) *packet.Connack {
	c.t.Helper()
	ack := c.connect(p)
	if ack.ReasonCode != packet.Success {
		c.t.Fatalf("CONNACK %s, want success", ack.ReasonCode)
	}
	return ack
}

// connectPacket builds a CONNECT with keep alive 30 s. At 5.0 with clean
// false it asks for a session expiry of 300 s, so that the session outlives
// the connection as a 3.1.1 persistent session does.
func connectPacket(v packet.Version, id string, clean bool) *packet.Connect {
	p := &packet.Connect{ClientID: id, CleanStart: clean, KeepAlive: 30}
	if v == packet.V5 && !clean {
		p.Properties.SessionExpiry = 300
		p.Properties.Set(packet.PropSessionExpiry)
	}
	return p
}

// rawConnect dials addr and connects as id.
func rawConnect(t testing.TB, addr string, v packet.Version, id string, clean bool) (*rawClient, *packet.Connack) {
	t.Helper()
	c := dialRaw(t, addr, v)
	return c, c.mustConnect(connectPacket(v, id, clean))
}

// subscribe sends one SUBSCRIBE and returns the SUBACK, failing unless
// every filter was granted the QoS asked for.
func (c *rawClient) subscribe(id uint16, subs ...packet.Subscription) *packet.Suback {
	c.t.Helper()
	c.send(&packet.Subscribe{PacketID: id, Subscriptions: subs})
	return c.checkSuback(id, subs)
}

// subscribeID subscribes with a subscription identifier (5.0).
func (c *rawClient) subscribeID(id uint16, subID uint32, subs ...packet.Subscription) *packet.Suback {
	c.t.Helper()
	p := &packet.Subscribe{PacketID: id, Subscriptions: subs}
	p.Properties.SubscriptionIDs = []uint32{subID}
	c.send(p)
	return c.checkSuback(id, subs)
}

func (c *rawClient) checkSuback(id uint16, subs []packet.Subscription) *packet.Suback {
	c.t.Helper()
	ack := expect[*packet.Suback](c.t, c)
	if ack.PacketID != id || len(ack.ReasonCodes) != len(subs) {
		c.t.Fatalf("SUBACK %+v does not answer SUBSCRIBE %d of %d filters", ack, id, len(subs))
	}
	for i, s := range subs {
		if ack.ReasonCodes[i] != packet.ReasonCode(s.QoS) {
			c.t.Fatalf("SUBACK code %s for %q, want QoS %d granted", ack.ReasonCodes[i], s.Filter, s.QoS)
		}
	}
	return ack
}

// expectPublish reads the next packet, which must be a PUBLISH on topic
// with payload, and returns it.
func (c *rawClient) expectPublish(topic, payload string) *packet.Publish {
	c.t.Helper()
	p := expect[*packet.Publish](c.t, c)
	if p.Topic != topic || string(p.Payload) != payload {
		c.t.Fatalf("got PUBLISH %q %q, want %q %q", p.Topic, p.Payload, topic, payload)
	}
	return p
}

// publish sends a PUBLISH and completes its QoS exchange, returning the
// reason code of the PUBACK or PUBREC (Success at QoS 0).
func (c *rawClient) publish(p *packet.Publish) packet.ReasonCode {
	c.t.Helper()
	c.send(p)
	switch p.QoS {
	case 1:
		ack := expect[*packet.Puback](c.t, c)
		if ack.PacketID != p.PacketID {
			c.t.Fatalf("PUBACK for %d, want %d", ack.PacketID, p.PacketID)
		}
		return ack.ReasonCode
	case 2:
		rec := expect[*packet.Pubrec](c.t, c)
		if rec.PacketID != p.PacketID {
			c.t.Fatalf("PUBREC for %d, want %d", rec.PacketID, p.PacketID)
		}
		if rec.ReasonCode.IsError() {
			return rec.ReasonCode
		}
		c.send(&packet.Pubrel{PacketID: p.PacketID})
		comp := expect[*packet.Pubcomp](c.t, c)
		if comp.PacketID != p.PacketID || comp.ReasonCode != packet.Success {
			c.t.Fatalf("PUBCOMP %+v, want success for %d", comp, p.PacketID)
		}
		return rec.ReasonCode
	}
	return packet.Success
}

// ack acknowledges a received PUBLISH: PUBACK at QoS 1, the whole PUBREC,
// PUBREL, PUBCOMP exchange at QoS 2. PUBLISH packets that arrive before the
// PUBREL are kept for next.
func (c *rawClient) ack(p *packet.Publish) {
	c.t.Helper()
	switch p.QoS {
	case 1:
		c.send(&packet.Puback{PacketID: p.PacketID})
	case 2:
		c.send(&packet.Pubrec{PacketID: p.PacketID})
		c.expectPubrel(p.PacketID)
		c.send(&packet.Pubcomp{PacketID: p.PacketID})
	}
}

// expectPubrel waits for the PUBREL of id; PUBLISH packets that come first
// are kept for next.
func (c *rawClient) expectPubrel(id uint16) {
	c.t.Helper()
	var ahead []packet.Packet
	deadline := time.Now().Add(waitTime)
	for {
		var p packet.Packet
		var err error
		select {
		case q, ok := <-c.in:
			if !ok {
				err = fmt.Errorf("%w: %v", errClosed, c.err)
			}
			p = q
		case <-time.After(time.Until(deadline)):
			err = fmt.Errorf("no packet within %v", waitTime)
		}
		if err != nil {
			c.t.Fatalf("waiting for PUBREL %d: %v", id, err)
		}
		switch p := p.(type) {
		case *packet.Pubrel:
			if p.PacketID != id {
				c.t.Fatalf("PUBREL for %d, want %d", p.PacketID, id)
			}
			c.held = append(c.held, ahead...)
			return
		case *packet.Publish:
			ahead = append(ahead, p)
		default:
			c.t.Fatalf("got %s %+v while waiting for PUBREL %d", p.Type(), p, id)
		}
	}
}

// ping sends PINGREQ and waits for the PINGRESP.
func (c *rawClient) ping() {
	c.t.Helper()
	c.send(&packet.Pingreq{})
	expect[*packet.Pingresp](c.t, c)
}
