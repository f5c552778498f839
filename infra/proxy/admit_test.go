package proxy_test

import (
	"context"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/proxy"
)

// emfileListener fails its first fails accepts with EMFILE, as a process
// out of file descriptors sees them.
type emfileListener struct {
	net.Listener
	fails atomic.Int32
}

func (l *emfileListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// Running out of file descriptors does not stop Serve: it backs off (5 ms
// doubling, so 8 failures take about 1.3 s) and serves the next connection.
func TestAcceptOutOfDescriptors(t *testing.T) {
	srv, err := proxy.New(proxy.Config{ID: "p1"}, &fakeInvoker{reply: acceptConnect(packet.V311, 0, 0)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &emfileListener{Listener: tl}
	ln.fails.Store(8)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	c := dial(t, tl.Addr().String(), packet.V311)
	c.send(&packet.Connect{ClientID: "c"})
	c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.fr.ReadFrame(nil); err != nil {
		t.Fatalf("no CONNACK after the accept errors: %v", err)
	}
	if n := ln.fails.Load(); n >= 0 {
		t.Fatalf("%d accept errors left", n+1)
	}
	shutdown(t, srv)
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// connectOK sends a CONNECT and reports whether a CONNACK came back, or
// false when the connection was closed without one.
func connectOK(t *testing.T, addr string, v packet.Version, p *packet.Connect) (*client, *packet.Connack) {
	t.Helper()
	c := dial(t, addr, v)
	c.send(p)
	got, err := c.read(3 * time.Second)
	if err != nil {
		if isTimeout(err) {
			t.Fatal("connection neither answered nor closed")
		}
		return c, nil
	}
	return c, got.(*packet.Connack)
}

func isTimeout(err error) bool {
	var ne net.Error
	return asNetError(err, &ne) && ne.Timeout()
}

// Past MaxConnections, new connections are closed at once; once one
// closes, there is room again.
func TestMaxConnections(t *testing.T) {
	inv := &fakeInvoker{reply: acceptConnect(packet.V311, 0, 0)}
	srv, addr := start(t, inv, proxy.Config{MaxConnections: 2})
	c1, ack1 := connectOK(t, addr, packet.V311, &packet.Connect{ClientID: "a"})
	_, ack2 := connectOK(t, addr, packet.V311, &packet.Connect{ClientID: "b"})
	if ack1 == nil || ack2 == nil {
		t.Fatal("the first two connections were refused")
	}
	if _, ack := connectOK(t, addr, packet.V311, &packet.Connect{ClientID: "c"}); ack != nil {
		t.Fatal("a third connection was served over MaxConnections 2")
	}
	c1.nc.Close()
	eventually(t, func() bool { return srv.Connections() == 1 })
	if _, ack := connectOK(t, addr, packet.V311, &packet.Connect{ClientID: "d"}); ack == nil {
		t.Fatal("refused after a connection closed")
	}
}

// Past MaxPendingConnects connections that have not sent their CONNECT,
// new connections are closed at once; a CONNECT accepted makes room.
func TestMaxPendingConnects(t *testing.T) {
	inv := &fakeInvoker{reply: acceptConnect(packet.V311, 0, 0)}
	srv, addr := start(t, inv, proxy.Config{MaxPendingConnects: 2})
	p1, p2 := dial(t, addr, packet.V311), dial(t, addr, packet.V311)
	eventually(t, func() bool { return srv.Connections() == 2 })
	if _, ack := connectOK(t, addr, packet.V311, &packet.Connect{ClientID: "c"}); ack != nil {
		t.Fatal("served over MaxPendingConnects 2")
	}
	p1.send(&packet.Connect{ClientID: "p1"})
	p1.expect(packet.CONNACK)
	if _, ack := connectOK(t, addr, packet.V311, &packet.Connect{ClientID: "d"}); ack == nil {
		t.Fatal("refused once a pending connection had connected")
	}
	_ = p2
}

// Past MaxUserConnections of one user, the CONNECT the handlers accepted
// is refused with 0x97 (return code 3 at 3.1.1), and the handlers get a
// DISCONNECT from it, so its will is not published; other users and
// anonymous clients are not affected, and a closed connection makes room.
func TestMaxUserConnections(t *testing.T) {
	var mu sync.Mutex
	disconnects := map[string]int{} // by connection id
	inv := &fakeInvoker{reply: func(ev *session.Event) (*session.Reply, error) {
		if ev.Kind != session.KindPackets {
			return &session.Reply{}, nil
		}
		if ev.State != nil {
			for _, f := range ev.Packets {
				if packet.Type(f[0]>>4) == packet.DISCONNECT {
					mu.Lock()
					disconnects[ev.Conn]++
					mu.Unlock()
					return &session.Reply{Close: true}, nil
				}
			}
			return &session.Reply{}, nil
		}
		var p packet.Connect
		if err := p.Decode(ev.Packets[0], 0); err != nil {
			return nil, err
		}
		ack, _ := (&packet.Connack{}).Append(nil, p.Version)
		return &session.Reply{Packets: [][]byte{ack},
			State: &session.ConnState{ClientID: p.ClientID, Version: p.Version, Username: p.Username}}, nil
	}}
	srv, addr := start(t, inv, proxy.Config{MaxUserConnections: 2})
	as := func(user, id string) *packet.Connect {
		return &packet.Connect{ClientID: id, Username: user, UsernameFlag: user != ""}
	}
	u1, ack := connectOK(t, addr, packet.V5, as("u", "u1"))
	if ack == nil || ack.ReasonCode != packet.Success {
		t.Fatal("u's first connection refused")
	}
	if _, ack := connectOK(t, addr, packet.V5, as("u", "u2")); ack == nil || ack.ReasonCode != packet.Success {
		t.Fatal("u's second connection refused")
	}
	for _, v := range []packet.Version{packet.V5, packet.V311} {
		want := packet.QuotaExceeded
		if v == packet.V311 {
			want = packet.ServerUnavailable // how return code 3 decodes
		}
		c, ack := connectOK(t, addr, v, as("u", "u3"))
		if ack == nil || ack.ReasonCode != want {
			t.Fatalf("u's third connection at %v: CONNACK %+v, want 0x97 (return code 3)", v, ack)
		}
		c.expectClosed()
	}
	eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(disconnects) == 2
	})
	for _, who := range []*packet.Connect{as("v", "v1"), as("", "anon1"), as("", "anon2"), as("", "anon3")} {
		if _, ack := connectOK(t, addr, packet.V5, who); ack == nil || ack.ReasonCode != packet.Success {
			t.Fatalf("%q refused", who.Username)
		}
	}
	u1.nc.Close()
	eventually(t, func() bool { return srv.Connections() == 5 })
	if _, ack := connectOK(t, addr, packet.V5, as("u", "u4")); ack == nil || ack.ReasonCode != packet.Success {
		t.Fatal("u refused after one of its connections closed")
	}
}

// Until the CONNECT is accepted, a frame over MaxConnectSize closes the
// connection from its fixed header; after it, MaxPacketSize applies, also
// to a packet sent right behind the CONNECT.
func TestMaxConnectSize(t *testing.T) {
	var got atomic.Int32
	connect := acceptConnect(packet.V311, 0, 0)
	inv := &fakeInvoker{reply: func(ev *session.Event) (*session.Reply, error) {
		if ev.State != nil {
			for _, f := range ev.Packets {
				if len(f) > 4096 {
					got.Add(1)
				}
			}
		}
		return connect(ev)
	}}
	_, addr := start(t, inv, proxy.Config{MaxConnectSize: 1024, MaxPacketSize: 64 << 10})
	big := &packet.Connect{ClientID: "c", Will: &packet.Will{Topic: "w", Payload: make([]byte, 2048)}}
	if _, ack := connectOK(t, addr, packet.V311, big); ack != nil {
		t.Fatal("a CONNECT over MaxConnectSize was handled")
	}
	c := dial(t, addr, packet.V311)
	pub := frame(t, &packet.Publish{Topic: "t", Payload: make([]byte, 32<<10)}, packet.V311)
	c.nc.Write(append(frame(t, &packet.Connect{ClientID: "c"}, packet.V311), pub...))
	c.expect(packet.CONNACK)
	c.send(&packet.Publish{Topic: "t", Payload: make([]byte, 32<<10)})
	eventually(t, func() bool { return got.Load() == 2 })
}

// A connection that reads nothing holds at most MaxSendBytes, the batch
// being written included; and all of them together at most
// MaxSendBytesTotal, past which QoS 0 messages are dropped.
func TestSendBudget(t *testing.T) {
	var mu sync.Mutex
	var ids []string
	connect := acceptConnect(packet.V311, 0, 0)
	inv := &fakeInvoker{reply: func(ev *session.Event) (*session.Reply, error) {
		if ev.State == nil {
			mu.Lock()
			ids = append(ids, ev.Conn)
			mu.Unlock()
		}
		return connect(ev)
	}}
	const perConn, total = 256 << 10, 384 << 10
	srv, addr := start(t, inv, proxy.Config{MaxSendBytes: perConn, MaxSendBytesTotal: total})
	for _, id := range []string{"a", "b"} {
		c := dial(t, addr, packet.V311)
		// A small receive buffer, so the socket takes little of what is sent.
		c.nc.(*net.TCPConn).SetReadBuffer(4096)
		c.send(&packet.Connect{ClientID: id})
		c.expect(packet.CONNACK)
	}
	mu.Lock()
	conns := append([]string(nil), ids...)
	mu.Unlock()
	msg := frame(t, &packet.Publish{Topic: "t", Payload: make([]byte, 16<<10)}, packet.V311)
	most := int64(0)
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; i < 400 && time.Now().Before(deadline); i++ {
		for j, id := range conns {
			srv.Deliver(context.Background(), []session.Delivery{{Proxy: "p1", Conn: id, Packets: [][]byte{msg}}})
			if j == 0 {
				most = max(most, srv.SendBytes())
			}
		}
		most = max(most, srv.SendBytes())
		time.Sleep(time.Millisecond)
	}
	if most > total {
		t.Errorf("%d bytes waiting over all connections, over MaxSendBytesTotal %d", most, total)
	}
	if most <= perConn {
		t.Errorf("at most %d bytes waiting: the second connection queued nothing?", most)
	}
	if srv.Dropped.Load() == 0 {
		t.Error("nothing dropped")
	}
}
