package proxy_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/proxy"
)

// fakeInvoker answers events with a function and records them.
type fakeInvoker struct {
	mu     sync.Mutex
	events []session.Event
	reply  func(ev *session.Event) (*session.Reply, error)
	active int // concurrent Invoke calls per connection, to check ordering
	maxAct int
}

func (f *fakeInvoker) Invoke(_ context.Context, ev *session.Event) (*session.Reply, error) {
	f.mu.Lock()
	cp := *ev
	cp.Packets = make([][]byte, len(ev.Packets))
	for i, p := range ev.Packets {
		cp.Packets[i] = append([]byte(nil), p...)
	}
	f.events = append(f.events, cp)
	f.active++
	f.maxAct = max(f.maxAct, f.active)
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.active--; f.mu.Unlock() }()
	if f.reply == nil {
		return &session.Reply{}, nil
	}
	return f.reply(ev)
}

func (f *fakeInvoker) kinds() []session.Kind {
	f.mu.Lock()
	defer f.mu.Unlock()
	var k []session.Kind
	for _, e := range f.events {
		k = append(k, e.Kind)
	}
	return k
}

// acceptConnect accepts every CONNECT at version v with keep alive ka.
func acceptConnect(v packet.Version, ka uint16, aliasMax uint16) func(ev *session.Event) (*session.Reply, error) {
	return func(ev *session.Event) (*session.Reply, error) {
		if ev.State == nil && ev.Kind == session.KindPackets {
			ack, _ := (&packet.Connack{}).Append(nil, v)
			return &session.Reply{Packets: [][]byte{ack},
				State: &session.ConnState{ClientID: "c", Version: v, KeepAlive: ka, TopicAliasMax: aliasMax}}, nil
		}
		return &session.Reply{}, nil
	}
}

func start(t *testing.T, inv proxy.Invoker, cfg proxy.Config) (*proxy.Server, string) {
	t.Helper()
	if cfg.ID == "" {
		cfg.ID = "p1"
	}
	srv, err := proxy.New(cfg, inv, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return srv, ln.Addr().String()
}

type client struct {
	t  *testing.T
	nc net.Conn
	fr *packet.FrameReader
	v  packet.Version
}

func dial(t *testing.T, addr string, v packet.Version) *client {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &client{t: t, nc: nc, fr: packet.NewFrameReader(bufio.NewReader(nc), 0), v: v}
}

func (c *client) send(p packet.Packet) {
	c.t.Helper()
	b, err := p.Append(nil, c.v)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) read(within time.Duration) (packet.Packet, error) {
	c.nc.SetReadDeadline(time.Now().Add(within))
	f, err := c.fr.ReadFrame(nil)
	if err != nil {
		return nil, err
	}
	return packet.Decode(f, c.v)
}

func (c *client) expect(t packet.Type) packet.Packet {
	c.t.Helper()
	p, err := c.read(2 * time.Second)
	if err != nil {
		c.t.Fatalf("waiting for %s: %v", t, err)
	}
	if p.Type() != t {
		c.t.Fatalf("got %s, want %s", p.Type(), t)
	}
	return p
}

// expectClosed waits for the server to close the connection.
func (c *client) expectClosed() {
	c.t.Helper()
	for {
		if _, err := c.read(3 * time.Second); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.t.Fatal("connection still open")
			}
			return
		}
	}
}

func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// [MQTT-3.12.4-1] The proxy answers PINGREQ without calling the handlers.
func TestPingAnsweredByProxy(t *testing.T) {
	inv := &fakeInvoker{reply: acceptConnect(packet.V311, 60, 0)}
	_, addr := start(t, inv, proxy.Config{})
	c := dial(t, addr, packet.V311)
	c.send(&packet.Connect{ClientID: "c", KeepAlive: 60})
	c.expect(packet.CONNACK)
	c.send(&packet.Pingreq{})
	c.expect(packet.PINGRESP)
	if k := inv.kinds(); len(k) != 1 {
		t.Fatalf("handlers saw %d events, want only the CONNECT", len(k))
	}
}

// [MQTT-3.1.0-1] A first packet other than CONNECT closes the connection
// without reaching the handlers.
func TestFirstPacketMustBeConnect(t *testing.T) {
	inv := &fakeInvoker{}
	_, addr := start(t, inv, proxy.Config{})
	c := dial(t, addr, packet.V311)
	c.send(&packet.Pingreq{})
	c.expectClosed()
	if k := inv.kinds(); len(k) != 0 {
		t.Fatalf("handlers saw %v", k)
	}
}

// [MQTT-3.1.2-22] A client silent for 1.5 times its keep alive is
// disconnected (with 0x8D at 5.0) and the handlers learn it was lost.
func TestKeepAliveTimeout(t *testing.T) {
	inv := &fakeInvoker{reply: acceptConnect(packet.V5, 1, 0)}
	_, addr := start(t, inv, proxy.Config{})
	c := dial(t, addr, packet.V5)
	c.send(&packet.Connect{ClientID: "c", KeepAlive: 1})
	c.expect(packet.CONNACK)
	begin := time.Now()
	d := c.expect(packet.DISCONNECT).(*packet.Disconnect)
	if d.ReasonCode != packet.KeepAliveTimeout {
		t.Fatalf("reason %v, want keep alive timeout", d.ReasonCode)
	}
	if waited := time.Since(begin); waited < 1200*time.Millisecond {
		t.Fatalf("closed after %v, before 1.5 keep alive periods", waited)
	}
	c.expectClosed()
	eventually(t, func() bool { k := inv.kinds(); return len(k) == 2 && k[1] == session.KindLost })
}

// A client that never sends CONNECT is closed after the connect timeout.
func TestConnectTimeout(t *testing.T) {
	inv := &fakeInvoker{}
	_, addr := start(t, inv, proxy.Config{ConnectTimeout: 200 * time.Millisecond})
	c := dial(t, addr, packet.V311)
	c.expectClosed()
	if k := inv.kinds(); len(k) != 0 {
		t.Fatalf("handlers saw %v", k)
	}
}

// A frame over the maximum packet size closes the connection with 0x95 at
// 5.0 (section 3.1.2.11.4), without reading or allocating its body.
func TestPacketTooLarge(t *testing.T) {
	inv := &fakeInvoker{reply: acceptConnect(packet.V5, 0, 0)}
	_, addr := start(t, inv, proxy.Config{MaxPacketSize: 1024})
	c := dial(t, addr, packet.V5)
	c.send(&packet.Connect{ClientID: "c"})
	c.expect(packet.CONNACK)
	// A PUBLISH claiming 256 MB.
	c.nc.Write([]byte{0x30, 0xff, 0xff, 0xff, 0x7f})
	d := c.expect(packet.DISCONNECT).(*packet.Disconnect)
	if d.ReasonCode != packet.PacketTooLarge {
		t.Fatalf("reason %v, want packet too large", d.ReasonCode)
	}
	c.expectClosed()
}

// A handler error closes only that connection, with DISCONNECT 0x80 at 5.0.
func TestHandlerErrorClosesConnection(t *testing.T) {
	connect := acceptConnect(packet.V5, 0, 0)
	inv := &fakeInvoker{reply: func(ev *session.Event) (*session.Reply, error) {
		if ev.State != nil && ev.Kind == session.KindPackets {
			return &session.Reply{}, errors.New("store down")
		}
		return connect(ev)
	}}
	_, addr := start(t, inv, proxy.Config{})
	c := dial(t, addr, packet.V5)
	c.send(&packet.Connect{ClientID: "c"})
	c.expect(packet.CONNACK)
	c.send(&packet.Publish{Topic: "t", Payload: []byte("x")})
	if d := c.expect(packet.DISCONNECT).(*packet.Disconnect); d.ReasonCode != packet.UnspecifiedError {
		t.Fatalf("reason %v", d.ReasonCode)
	}
	c.expectClosed()
}

// Packets of one connection reach the handlers in order, one call at a
// time, batched when they arrive together.
func TestPacketsInOrder(t *testing.T) {
	connect := acceptConnect(packet.V311, 0, 0)
	inv := &fakeInvoker{reply: func(ev *session.Event) (*session.Reply, error) {
		time.Sleep(time.Millisecond)
		return connect(ev)
	}}
	_, addr := start(t, inv, proxy.Config{})
	c := dial(t, addr, packet.V311)
	c.send(&packet.Connect{ClientID: "c"})
	c.expect(packet.CONNACK)
	const n = 200
	var all []byte
	for i := 1; i <= n; i++ {
		b, _ := (&packet.Publish{Topic: "t", QoS: 1, PacketID: uint16(i)}).Append(nil, packet.V311)
		all = append(all, b...)
	}
	c.nc.Write(all)
	var ids []uint16
	eventually(t, func() bool {
		inv.mu.Lock()
		defer inv.mu.Unlock()
		ids = ids[:0]
		for _, e := range inv.events[1:] {
			for _, f := range e.Packets {
				var p packet.Publish
				if err := p.Decode(f, packet.V311); err != nil {
					t.Fatal(err)
				}
				ids = append(ids, p.PacketID)
			}
		}
		return len(ids) == n
	})
	for i, id := range ids {
		if int(id) != i+1 {
			t.Fatalf("packet %d has id %d: out of order", i, id)
		}
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if inv.maxAct != 1 {
		t.Fatalf("%d concurrent calls for one connection", inv.maxAct)
	}
	if len(inv.events) > n {
		t.Fatalf("%d events for %d packets: no batching", len(inv.events), n)
	}
}

// Deliveries go to the addressed connection; a delivery to a closed
// connection reports it gone; Close closes after the frames.
func TestDeliver(t *testing.T) {
	var mu sync.Mutex
	var connIDs []string
	connect := acceptConnect(packet.V5, 0, 0)
	inv := &fakeInvoker{reply: func(ev *session.Event) (*session.Reply, error) {
		mu.Lock()
		if ev.State == nil {
			connIDs = append(connIDs, ev.Conn)
		}
		mu.Unlock()
		return connect(ev)
	}}
	srv, addr := start(t, inv, proxy.Config{})
	c := dial(t, addr, packet.V5)
	c.send(&packet.Connect{ClientID: "c"})
	c.expect(packet.CONNACK)
	mu.Lock()
	id := connIDs[0]
	mu.Unlock()
	pub, _ := (&packet.Publish{Topic: "a/b", Payload: []byte("hi")}).Append(nil, packet.V5)
	disc, _ := (&packet.Disconnect{ReasonCode: packet.SessionTakenOver}).Append(nil, packet.V5)
	gone := srv.Deliver(context.Background(), []session.Delivery{
		{Proxy: "p1", Conn: id, Packets: [][]byte{pub}},
		{Proxy: "p1", Conn: "nope", Packets: [][]byte{pub}},
	})
	if len(gone) != 1 || gone[0] != "nope" {
		t.Fatalf("gone = %v", gone)
	}
	if p := c.expect(packet.PUBLISH).(*packet.Publish); string(p.Payload) != "hi" {
		t.Fatalf("payload %q", p.Payload)
	}
	srv.Deliver(context.Background(), []session.Delivery{{Proxy: "p1", Conn: id, Packets: [][]byte{disc}, Close: true}})
	c.expect(packet.DISCONNECT)
	c.expectClosed()
}

// Topic aliases to a 5.0 client that allows them: the first PUBLISH of a
// topic carries topic and alias, later ones the alias alone; once the
// client's Topic Alias Maximum is reached, the least recently used alias
// is mapped to the new topic (section 3.3.2.3.4).
func TestOutboundTopicAlias(t *testing.T) {
	var mu sync.Mutex
	var id string
	connect := acceptConnect(packet.V5, 0, 1)
	inv := &fakeInvoker{reply: func(ev *session.Event) (*session.Reply, error) {
		mu.Lock()
		id = ev.Conn
		mu.Unlock()
		return connect(ev)
	}}
	srv, addr := start(t, inv, proxy.Config{})
	c := dial(t, addr, packet.V5)
	c.send(&packet.Connect{ClientID: "c"})
	c.expect(packet.CONNACK)
	frame := func(topic string) []byte {
		b, _ := (&packet.Publish{Topic: topic, Payload: []byte("x")}).Append(nil, packet.V5)
		return b
	}
	mu.Lock()
	conn := id
	mu.Unlock()
	srv.Deliver(context.Background(), []session.Delivery{{Proxy: "p1", Conn: conn,
		Packets: [][]byte{frame("a/b"), frame("a/b"), frame("c/d")}}})
	p1 := c.expect(packet.PUBLISH).(*packet.Publish)
	p2 := c.expect(packet.PUBLISH).(*packet.Publish)
	p3 := c.expect(packet.PUBLISH).(*packet.Publish)
	if p1.Topic != "a/b" || p1.Properties.TopicAlias != 1 {
		t.Fatalf("first: topic %q alias %d", p1.Topic, p1.Properties.TopicAlias)
	}
	if p2.Topic != "" || p2.Properties.TopicAlias != 1 {
		t.Fatalf("second: topic %q alias %d", p2.Topic, p2.Properties.TopicAlias)
	}
	if p3.Topic != "c/d" || p3.Properties.TopicAlias != 1 {
		t.Fatalf("third (alias 1 remapped): topic %q alias %d", p3.Topic, p3.Properties.TopicAlias)
	}
}

// A full send queue drops QoS 0 messages and counts them, rather than
// stalling the sender.
func TestSendQueueDropsQoS0(t *testing.T) {
	var mu sync.Mutex
	var id string
	connect := acceptConnect(packet.V311, 0, 0)
	inv := &fakeInvoker{reply: func(ev *session.Event) (*session.Reply, error) {
		mu.Lock()
		id = ev.Conn
		mu.Unlock()
		return connect(ev)
	}}
	srv, addr := start(t, inv, proxy.Config{MaxSendBytes: 256 << 10})
	c := dial(t, addr, packet.V311)
	c.send(&packet.Connect{ClientID: "c"})
	c.expect(packet.CONNACK)
	mu.Lock()
	conn := id
	mu.Unlock()
	big, _ := (&packet.Publish{Topic: "t", Payload: make([]byte, 64<<10)}).Append(nil, packet.V311)
	// The client reads nothing, so the socket buffers fill and the queue
	// with them; Deliver must keep returning promptly.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 500; i++ {
			srv.Deliver(context.Background(), []session.Delivery{{Proxy: "p1", Conn: conn, Packets: [][]byte{big}}})
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Deliver stalled on a slow consumer")
	}
	if srv.Dropped.Load() == 0 {
		t.Fatal("no QoS 0 frame was dropped")
	}
}

// BenchmarkIdleConnections reports the proxy's heap per idle connection
// after CONNECT, the figure that decides how many devices one proxy holds.
func BenchmarkIdleConnections(b *testing.B) {
	const n = 2000
	inv := &fakeInvoker{reply: acceptConnect(packet.V311, 0, 0)}
	srv, err := proxy.New(proxy.Config{ID: "p1"}, inv, nil)
	if err != nil {
		b.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	connect, _ := (&packet.Connect{ClientID: "c"}).Append(nil, packet.V311)
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		conns := make([]net.Conn, 0, n)
		for j := 0; j < n; j++ {
			nc, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			nc.Write(connect)
			buf := make([]byte, 4)
			if _, err := nc.Read(buf); err != nil {
				b.Fatal(err)
			}
			conns = append(conns, nc)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		// Sys-level figures include goroutine stacks; the client side's
		// own conns are counted too, so this overestimates the proxy.
		perConn := float64((after.HeapInuse+after.StackInuse)-(before.HeapInuse+before.StackInuse)) / n
		b.ReportMetric(perConn, "B/conn")
		for _, nc := range conns {
			nc.Close()
		}
		eventually2(func() bool { return srv.Connections() == 0 })
	}
}

func eventually2(cond func() bool) {
	deadline := time.Now().Add(10 * time.Second)
	for !cond() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

// The alias property never pushes a PUBLISH past the client's Maximum
// Packet Size [MQTT-3.1.2-24]: such a frame goes out as it was.
func TestOutboundTopicAliasRespectsMaxPacketSize(t *testing.T) {
	frame, _ := (&packet.Publish{Topic: "a/b", Payload: []byte("x")}).Append(nil, packet.V5)
	var mu sync.Mutex
	var id string
	inv := &fakeInvoker{reply: func(ev *session.Event) (*session.Reply, error) {
		mu.Lock()
		id = ev.Conn
		mu.Unlock()
		if ev.State != nil {
			return &session.Reply{}, nil
		}
		ack, _ := (&packet.Connack{}).Append(nil, packet.V5)
		return &session.Reply{Packets: [][]byte{ack}, State: &session.ConnState{ClientID: "c", Version: packet.V5,
			TopicAliasMax: 5, MaxPacketSize: uint32(len(frame))}}, nil
	}}
	srv, addr := start(t, inv, proxy.Config{})
	c := dial(t, addr, packet.V5)
	c.send(&packet.Connect{ClientID: "c"})
	c.expect(packet.CONNACK)
	mu.Lock()
	conn := id
	mu.Unlock()
	srv.Deliver(context.Background(), []session.Delivery{{Proxy: "p1", Conn: conn, Packets: [][]byte{frame}}})
	if p := c.expect(packet.PUBLISH).(*packet.Publish); p.Topic != "a/b" || p.Properties.Has(packet.PropTopicAlias) {
		t.Fatalf("topic %q alias %d: the alias made the packet too large", p.Topic, p.Properties.TopicAlias)
	}
}
