package proxy_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/proxy"
)

// Idle plain TCP connections hold no goroutine, and still answer, take
// deliveries, time out and close when they are parked.
func TestIdleConnectionsPark(t *testing.T) {
	inv := &fakeInvoker{reply: acceptConnect(packet.V311, 60, 0)}
	srv, addr := start(t, inv, proxy.Config{})
	const n = 50
	base := runtime.NumGoroutine()
	cs := make([]*client, n)
	for i := range cs {
		cs[i] = dial(t, addr, packet.V311)
		cs[i].send(&packet.Connect{ClientID: "c", KeepAlive: 60})
		cs[i].expect(packet.CONNACK)
	}
	eventually(t, func() bool { return runtime.NumGoroutine() < base+n/2 })
	if got := srv.Connections(); got != n {
		t.Fatalf("%d connections, want %d", got, n)
	}
	// A parked connection wakes for bytes...
	cs[0].send(&packet.Pingreq{})
	cs[0].expect(packet.PINGRESP)
	time.Sleep(2 * proxy.ParkAfter)
	// ... and for frames to write, and a close.
	var id string
	inv.mu.Lock()
	id = inv.events[1].Conn
	inv.mu.Unlock()
	pub, _ := (&packet.Publish{Topic: "a", Payload: []byte("x")}).Append(nil, packet.V311)
	srv.Deliver(context.Background(), []session.Delivery{{Proxy: "p1", Conn: id, Packets: [][]byte{pub}, Close: true}})
	cs[1].expect(packet.PUBLISH)
	cs[1].expectClosed()
	// A client that goes away is noticed.
	cs[2].nc.Close()
	eventually(t, func() bool { return srv.Connections() == n-2 })
	// Shutdown ends the parked connections and tells the handlers.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	lost := 0
	for _, k := range inv.kinds() {
		if k == session.KindLost {
			lost++
		}
	}
	if lost != n {
		t.Fatalf("%d lost events, want %d", lost, n)
	}
}

// The goroutine-per-connection path, which connections that cannot park
// (TLS, WebSockets) take, still works on its own.
func TestWithoutPolling(t *testing.T) {
	prev := proxy.SetPolling(false)
	defer proxy.SetPolling(prev)
	for name, test := range map[string]func(*testing.T){
		"ping": TestPingAnsweredByProxy, "keepalive": TestKeepAliveTimeout,
		"connect timeout": TestConnectTimeout, "order": TestPacketsInOrder,
		"deliver": TestDeliver, "too large": TestPacketTooLarge,
	} {
		t.Run(name, test)
	}
}
