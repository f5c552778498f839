package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"time"

	"github.com/mqttless/mqttless/core/packet"
)

// client is a lean MQTT 3.1.1 client over one TCP connection: frames are
// built with core/packet's Append and read with its FrameReader, nothing
// else. Reads and writes are each for one goroutine at a time.
type client struct {
	nc  net.Conn
	br  *bufio.Reader
	fr  *packet.FrameReader
	bw  *bufio.Writer
	buf []byte // the last frame read
	out []byte // scratch for Append
}

// dialOpts configures dial.
type dialOpts struct {
	local     net.IP // source address, nil: any
	bufSize   int    // read and write buffer sizes, 0: 16 KiB
	keepAlive uint16
}

// dial connects, sends CONNECT with a clean session and waits for a
// successful CONNACK.
func dial(ctx context.Context, addr, clientID string, o dialOpts) (*client, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	if o.local != nil {
		d.LocalAddr = &net.TCPAddr{IP: o.local}
	}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	size := o.bufSize
	if size == 0 {
		size = 16 << 10
	}
	br := bufio.NewReaderSize(nc, size)
	c := &client{nc: nc, br: br, fr: packet.NewFrameReader(br, 1<<20), bw: bufio.NewWriterSize(nc, size)}
	ka := o.keepAlive
	if ka == 0 {
		ka = 600
	}
	if err := c.write(&packet.Connect{ClientID: clientID, CleanStart: true, KeepAlive: ka}); err != nil {
		nc.Close()
		return nil, err
	}
	if err := c.flush(); err != nil {
		nc.Close()
		return nil, err
	}
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	f, err := c.read()
	nc.SetReadDeadline(time.Time{})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("CONNACK for %s: %w", clientID, err)
	}
	var ack packet.Connack
	if err := ack.Decode(f, packet.V311); err != nil || ack.ReasonCode != 0 {
		nc.Close()
		return nil, fmt.Errorf("CONNACK for %s: code %d, %v", clientID, ack.ReasonCode, err)
	}
	return c, nil
}

// write appends p to the write buffer; flush sends it.
func (c *client) write(p packet.Packet) error {
	var err error
	c.out, err = p.Append(c.out[:0], packet.V311)
	if err != nil {
		return err
	}
	_, err = c.bw.Write(c.out)
	return err
}

func (c *client) flush() error { return c.bw.Flush() }

// read reads the next frame; it stays valid until the next read.
func (c *client) read() ([]byte, error) {
	var err error
	c.buf, err = c.fr.ReadFrame(c.buf)
	return c.buf, err
}

// buffered reports whether a whole or partial frame is already buffered,
// so that a reader can put off flushing its acknowledgements.
func (c *client) buffered() bool { return c.br.Buffered() > 0 }

// subscribe subscribes to filter and waits for its SUBACK; call it before
// anything else is read from the connection.
func (c *client) subscribe(filter string, qos byte) error {
	if err := c.write(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: filter, QoS: qos}}}); err != nil {
		return err
	}
	if err := c.flush(); err != nil {
		return err
	}
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.nc.SetReadDeadline(time.Time{})
	f, err := c.read()
	if err != nil {
		return fmt.Errorf("SUBACK for %s: %w", filter, err)
	}
	var ack packet.Suback
	if err := ack.Decode(f, packet.V311); err != nil || len(ack.ReasonCodes) != 1 || ack.ReasonCodes[0] > 2 {
		return fmt.Errorf("SUBACK for %s: %v %v", filter, ack.ReasonCodes, err)
	}
	return nil
}

// disconnect sends DISCONNECT and closes the connection.
func (c *client) disconnect() {
	c.write(&packet.Disconnect{})
	c.flush()
	c.nc.Close()
}

// The bench payload starts with the publisher's index, the message's
// sequence number (from 1) and the time it was sent, in nanoseconds since
// the generator's clock origin; the rest is padding.
const stampLen = 2 + 8 + 8

type stamp struct {
	pub  int
	seq  int64
	sent int64 // ns since clockOrigin
}

var clockOrigin = time.Now()

func now() int64 { return int64(time.Since(clockOrigin)) }

func putStamp(payload []byte, s stamp) {
	binary.BigEndian.PutUint16(payload, uint16(s.pub))
	binary.BigEndian.PutUint64(payload[2:], uint64(s.seq))
	binary.BigEndian.PutUint64(payload[10:], uint64(s.sent))
}

func getStamp(payload []byte) (stamp, bool) {
	if len(payload) < stampLen {
		return stamp{}, false
	}
	return stamp{
		pub:  int(binary.BigEndian.Uint16(payload)),
		seq:  int64(binary.BigEndian.Uint64(payload[2:])),
		sent: int64(binary.BigEndian.Uint64(payload[10:])),
	}, true
}

// parsePublish returns the QoS, packet identifier and payload of a 3.1.1
// PUBLISH frame without allocating; ok is false for any other frame.
func parsePublish(f []byte) (qos byte, id uint16, payload []byte, ok bool) {
	h, n, err := packet.ParseFixedHeader(f)
	if err != nil || h.Type != packet.PUBLISH {
		return 0, 0, nil, false
	}
	b := f[n:]
	if len(b) < 2 {
		return 0, 0, nil, false
	}
	tl := int(binary.BigEndian.Uint16(b))
	b = b[2:]
	if len(b) < tl {
		return 0, 0, nil, false
	}
	b = b[tl:]
	qos = h.Flags >> 1 & 3
	if qos > 0 {
		if len(b) < 2 {
			return 0, 0, nil, false
		}
		id = binary.BigEndian.Uint16(b)
		b = b[2:]
	}
	return qos, id, b, true
}
