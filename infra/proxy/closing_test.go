package proxy_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/proxy"
)

// sendingClient publishes QoS 0 every millisecond from its own goroutine,
// as a client still sending when the server closes does, until stop. It
// records the first write error.
type sendingClient struct {
	*client
	stopOnce sync.Once
	stopCh   chan struct{}
	done     chan struct{}
	mu       sync.Mutex
	writeErr error
}

func startSending(c *client) *sendingClient {
	s := &sendingClient{client: c, stopCh: make(chan struct{}), done: make(chan struct{})}
	pub, err := (&packet.Publish{Topic: "t", Payload: make([]byte, 100)}).Append(nil, c.v)
	if err != nil {
		c.t.Fatal(err)
	}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-s.stopCh:
				return
			case <-tick.C:
			}
			c.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := c.nc.Write(pub); err != nil {
				s.mu.Lock()
				s.writeErr = err
				s.mu.Unlock()
				return
			}
		}
	}()
	return s
}

func (s *sendingClient) stop() error {
	s.stopOnce.Do(func() { close(s.stopCh) })
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writeErr
}

// readDisconnect reads until a DISCONNECT, which it returns; a read error
// first fails the test.
func (s *sendingClient) readDisconnect() *packet.Disconnect {
	s.t.Helper()
	for {
		p, err := s.read(5 * time.Second)
		if err != nil {
			s.t.Fatalf("the client never read the DISCONNECT: %v (write error: %v)", err, s.stop())
		}
		if d, ok := p.(*packet.Disconnect); ok {
			return d
		}
	}
}

// closingPaths are ways the proxy closes a 5.0 connection with a
// DISCONNECT. Each connects c (CONNACK read) with inv answering, and makes
// the proxy close it while c is sending; want is the reason code.
var closingPaths = []struct {
	name string
	want packet.ReasonCode
	// reply answers a PUBLISH batch (after a delay, so that the client's
	// next PUBLISH frames are unread when the proxy closes).
	reply func(ev *session.Event) (*session.Reply, error)
	// act makes the proxy close, when reply does not.
	act func(t *testing.T, srv *proxy.Server, c *client)
}{
	{name: "handler DISCONNECT 0x93", want: packet.ReceiveMaximumExceeded,
		reply: func(ev *session.Event) (*session.Reply, error) {
			time.Sleep(100 * time.Millisecond)
			d, _ := (&packet.Disconnect{ReasonCode: packet.ReceiveMaximumExceeded}).Append(nil, packet.V5)
			return &session.Reply{Packets: [][]byte{d}, Close: true}, nil
		}},
	{name: "handler error 0x80", want: packet.UnspecifiedError,
		reply: func(ev *session.Event) (*session.Reply, error) {
			time.Sleep(100 * time.Millisecond)
			return nil, errors.New("store down")
		}},
	{name: "drain 0x8B", want: packet.ServerShuttingDown,
		act: func(t *testing.T, srv *proxy.Server, c *client) {
			time.Sleep(100 * time.Millisecond)
			go srv.Drain(context.Background())
		}},
	{name: "packet too large 0x95", want: packet.PacketTooLarge,
		act: func(t *testing.T, srv *proxy.Server, c *client) {
			time.Sleep(50 * time.Millisecond)
			c.nc.Write([]byte{0x30, 0xff, 0xff, 0xff, 0x7f}) // claims 256 MB
		}},
}

// A 5.0 client that keeps publishing while the proxy closes its connection
// reads the DISCONNECT and its reason code, then the end of the stream:
// the proxy half-closes and drains the input rather than answering the
// client's writes with a TCP reset (issue 15, item 5). Its writes never
// fail before it has read the DISCONNECT.
func TestClosingDisconnectReachesSendingClient(t *testing.T) {
	for _, transport := range []string{"tcp", "tls"} {
		for _, p := range closingPaths {
			if transport == "tls" && p.name == "drain 0x8B" {
				continue // the TLS helper keeps its server to itself
			}
			t.Run(transport+"/"+p.name, func(t *testing.T) {
				connect := acceptConnect(packet.V5, 0, 0)
				inv := &fakeInvoker{reply: func(ev *session.Event) (*session.Reply, error) {
					if ev.State == nil || ev.Kind != session.KindPackets || p.reply == nil {
						return connect(ev)
					}
					return p.reply(ev)
				}}
				var srv *proxy.Server
				var c *client
				if transport == "tls" {
					pki := newPKI(t)
					c = dialTLS(t, startTLS(t, inv, proxy.Config{MaxPacketSize: 1024}, pki, false), pki, nil)
					c.v = packet.V5
				} else {
					var addr string
					srv, addr = start(t, inv, proxy.Config{MaxPacketSize: 1024})
					c = dial(t, addr, packet.V5)
				}
				c.send(&packet.Connect{ClientID: "c"})
				c.expect(packet.CONNACK)
				s := startSending(c)
				if p.act != nil {
					p.act(t, srv, c)
				}
				d := s.readDisconnect()
				werr := s.stop()
				if d.ReasonCode != p.want {
					t.Fatalf("reason %v, want %v", d.ReasonCode, p.want)
				}
				if werr != nil {
					t.Fatalf("a write failed before the DISCONNECT was read: %v", werr)
				}
				// Then the end of the stream, not a reset.
				if _, err := c.read(5 * time.Second); !errors.Is(err, io.EOF) {
					t.Fatalf("after the DISCONNECT: %v, want EOF (the proxy's half-close)", err)
				}
				c.nc.Close()
				eventually(t, func() bool { k := inv.kinds(); return len(k) > 0 && k[len(k)-1] == session.KindLost })
			})
		}
	}
}

// The drain is bounded: a client that never stops sending nor closes
// after the DISCONNECT is closed within closeLinger (2 s), and the
// handlers are told at once.
func TestClosingDrainIsBounded(t *testing.T) {
	connect := acceptConnect(packet.V5, 0, 0)
	var lostAt time.Time
	var mu sync.Mutex
	inv := &fakeInvoker{reply: func(ev *session.Event) (*session.Reply, error) {
		switch {
		case ev.Kind == session.KindLost:
			mu.Lock()
			lostAt = time.Now()
			mu.Unlock()
			return &session.Reply{}, nil
		case ev.State == nil:
			return connect(ev)
		}
		d, _ := (&packet.Disconnect{ReasonCode: packet.ReceiveMaximumExceeded}).Append(nil, packet.V5)
		return &session.Reply{Packets: [][]byte{d}, Close: true}, nil
	}}
	srv, addr := start(t, inv, proxy.Config{})
	c := dial(t, addr, packet.V5)
	c.send(&packet.Connect{ClientID: "c"})
	c.expect(packet.CONNACK)
	s := startSending(c)
	begin := time.Now()
	s.readDisconnect()
	// The client goes on sending, and reads nothing more, until the proxy
	// closes (its writes then fail).
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the proxy never closed a client that kept sending")
	}
	if closedAfter := time.Since(begin); closedAfter > 5*time.Second {
		t.Fatalf("closed after %v, want within closeLinger (2 s) and slack", closedAfter)
	}
	mu.Lock()
	lost := lostAt
	mu.Unlock()
	if lost.IsZero() || lost.Sub(begin) > time.Second {
		t.Fatalf("lost event at %v after the DISCONNECT, want at once", lost.Sub(begin))
	}
	eventually(t, func() bool { return srv.Connections() == 0 })
}

// A 3.1.1 connection the proxy closes without a packet (here a takeover's
// close) ends with the end of the stream, not a reset, while its client
// sends.
func TestClosingWithoutPacketIsClean(t *testing.T) {
	var mu sync.Mutex
	var id string
	connect := acceptConnect(packet.V311, 0, 0)
	inv := &fakeInvoker{reply: func(ev *session.Event) (*session.Reply, error) {
		mu.Lock()
		id = ev.Conn
		mu.Unlock()
		return connect(ev)
	}}
	srv, addr := start(t, inv, proxy.Config{})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := &client{t: t, nc: nc, fr: packet.NewFrameReader(bufio.NewReader(nc), 0), v: packet.V311}
	c.send(&packet.Connect{ClientID: "c"})
	c.expect(packet.CONNACK)
	s := startSending(c)
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	conn := id
	mu.Unlock()
	srv.Deliver(context.Background(), []session.Delivery{{Proxy: "p1", Conn: conn, Close: true}})
	_, rerr := c.read(5 * time.Second)
	werr := s.stop()
	if !errors.Is(rerr, io.EOF) {
		t.Fatalf("read %v, want EOF", rerr)
	}
	if werr != nil {
		t.Fatalf("a write failed before the end of the stream was read: %v", werr)
	}
}

// A drain whose sessions the proxy settles in bulk (CloseAll(true)) closes
// every connection with DISCONNECT 0x8B and sends the handlers no lost
// event for any: the drain events settle them. A plain Drain sends one
// for each.
func TestCloseAllInBulkSendsNoLost(t *testing.T) {
	for _, inBulk := range []bool{false, true} {
		inv := &fakeInvoker{reply: acceptConnect(packet.V5, 0, 0)}
		srv, addr := start(t, inv, proxy.Config{})
		c := dial(t, addr, packet.V5)
		c.send(&packet.Connect{ClientID: "c"})
		c.expect(packet.CONNACK)
		srv.CloseAll(inBulk)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := srv.Drain(ctx)
		cancel()
		if err != nil {
			t.Fatalf("inBulk %v: Drain: %v", inBulk, err)
		}
		if d := c.expect(packet.DISCONNECT).(*packet.Disconnect); d.ReasonCode != packet.ServerShuttingDown {
			t.Errorf("inBulk %v: DISCONNECT %v, want 0x8B", inBulk, d.ReasonCode)
		}
		lost := slices.Contains(inv.kinds(), session.KindLost)
		if lost == inBulk {
			t.Errorf("inBulk %v: lost event sent: %v (events %v)", inBulk, lost, inv.kinds())
		}
	}
}
