package proxy_test

import (
	"net"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/infra/proxy"
)

// A client over MaxPublishRate is throttled, not disconnected: 60 PUBLISH
// packets sent at once at 20 per second (bursts of 20) reach the handlers
// over at least two seconds, all of them, on the same connection. Parked
// or not, the limit holds.
func TestMaxPublishRate(t *testing.T) {
	for _, polling := range []bool{true, false} {
		name := "parking"
		if !polling {
			name = "goroutine"
		}
		t.Run(name, func(t *testing.T) {
			prev := proxy.SetPolling(polling)
			defer proxy.SetPolling(prev)
			inv := &fakeInvoker{reply: acceptConnect(packet.V311, 60, 0)}
			_, addr := start(t, inv, proxy.Config{MaxPublishRate: 20})
			c := dial(t, addr, packet.V311)
			c.send(&packet.Connect{ClientID: "c", KeepAlive: 60})
			c.expect(packet.CONNACK)
			// Let the connection park, with a full bucket.
			time.Sleep(3 * proxy.ParkAfter)
			var all []byte
			for i := 1; i <= 60; i++ {
				all = append(all, frame(t, &packet.Publish{Topic: "t", QoS: 1, PacketID: uint16(i)}, packet.V311)...)
			}
			begin := time.Now()
			if _, err := c.nc.Write(all); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for len(inv.publishes(t, packet.V311)) < 60 {
				if time.Now().After(deadline) {
					t.Fatalf("%d of 60 PUBLISH reached the handlers", len(inv.publishes(t, packet.V311)))
				}
				time.Sleep(5 * time.Millisecond)
			}
			// 20 at once, then 40 more at 20 a second: 2 s, less timer
			// slack.
			if d := time.Since(begin); d < 1500*time.Millisecond {
				t.Fatalf("60 PUBLISH handled in %v, faster than 20 per second allows", d)
			}
			for i, p := range inv.publishes(t, packet.V311) {
				if int(p.PacketID) != i+1 {
					t.Fatalf("publish %d has id %d", i, p.PacketID)
				}
			}
			// Still connected, and PINGREQ still answered.
			c.send(&packet.Pingreq{})
			c.expect(packet.PINGRESP)
		})
	}
}

// Over MaxConnRate, connections from one address are closed right after
// accept; a second later the address may connect again.
func TestMaxConnRate(t *testing.T) {
	inv := &fakeInvoker{reply: acceptConnect(packet.V311, 0, 0)}
	_, addr := start(t, inv, proxy.Config{MaxConnRate: 5})
	connect := frame(t, &packet.Connect{ClientID: "c"}, packet.V311)
	try := func() bool {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.Write(connect)
		c := wrapClient(t, nc, packet.V311)
		p, err := c.read(3 * time.Second)
		if err != nil {
			var ne net.Error
			if ok := asNetError(err, &ne); ok && ne.Timeout() {
				t.Fatal("connection neither answered nor closed")
			}
			return false
		}
		return p.Type() == packet.CONNACK
	}
	accepted := 0
	begin := time.Now()
	for range 20 {
		if try() {
			accepted++
		}
	}
	// A burst of 5, and 5 more tokens a second while the loop ran (a
	// fraction of a second, unless the machine is very slow).
	most := 5 + int(time.Since(begin).Seconds()*5) + 1
	if accepted > most || accepted < 5 {
		t.Fatalf("%d of 20 rapid connections accepted at 5 per second (burst 5), want 5 to %d", accepted, most)
	}
	time.Sleep(time.Second)
	if !try() {
		t.Fatal("a connection a second later was refused")
	}
}
