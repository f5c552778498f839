package proxy_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/proxy"
)

// RunSys sends the statistics as KindSys events from this proxy, with
// sane values, and writes the deliveries of the reply.
func TestRunSys(t *testing.T) {
	var mu sync.Mutex
	var sys []session.Event
	var conn string
	connect := acceptConnect(packet.V311, 0, 0)
	inv := &fakeInvoker{}
	inv.reply = func(ev *session.Event) (*session.Reply, error) {
		if ev.Kind != session.KindSys {
			mu.Lock()
			conn = ev.Conn
			mu.Unlock()
			return connect(ev)
		}
		mu.Lock()
		defer mu.Unlock()
		sys = append(sys, *ev)
		if conn == "" {
			return &session.Reply{}, nil
		}
		// The handler publishes the values; a subscriber here gets one.
		pub, _ := (&packet.Publish{Topic: ev.Sys[0].Topic, Payload: []byte(ev.Sys[0].Value), Retain: true}).Append(nil, packet.V311)
		return &session.Reply{Deliveries: []session.Delivery{{Proxy: ev.Proxy, Conn: conn, Packets: [][]byte{pub}}}}, nil
	}
	srv, addr := start(t, inv, proxy.Config{})
	c := dial(t, addr, packet.V311)
	c.send(&packet.Connect{ClientID: "c"})
	c.expect(packet.CONNACK)
	c.send(&packet.Publish{Topic: "a", Payload: []byte("x")})
	eventually(t, func() bool { return len(inv.publishes(t, packet.V311)) == 1 })

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.RunSys(ctx, 50*time.Millisecond, ""); close(done) }()
	p := c.expect(packet.PUBLISH).(*packet.Publish)
	if p.Topic != "$SYS/broker/version" || !strings.HasPrefix(string(p.Payload), "mqttless ") {
		t.Fatalf("delivered %s %q", p.Topic, p.Payload)
	}
	eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(sys) >= 3 })
	cancel()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("RunSys did not return after its context ended")
	}

	mu.Lock()
	ev := sys[len(sys)-1]
	mu.Unlock()
	if ev.Proxy != "p1" || ev.Conn != "" {
		t.Fatalf("event from proxy %q conn %q", ev.Proxy, ev.Conn)
	}
	vals := map[string]string{}
	for _, v := range ev.Sys {
		if !strings.HasPrefix(v.Topic, "$SYS/broker/") {
			t.Errorf("topic %q", v.Topic)
		}
		vals[strings.TrimPrefix(v.Topic, "$SYS/broker/")] = v.Value
	}
	num := func(k string) float64 {
		t.Helper()
		s, ok := vals[k]
		if !ok {
			t.Fatalf("no %s in %v", k, vals)
		}
		f, err := strconv.ParseFloat(strings.TrimSuffix(s, " seconds"), 64)
		if err != nil {
			t.Fatalf("%s = %q", k, s)
		}
		return f
	}
	for _, want := range []struct {
		k  string
		lo float64
		hi float64
	}{
		{"clients/connected", 1, 1},
		{"clients/maximum", 1, 1},
		{"clients/total", 1, 1},
		{"messages/received", 2, 2}, // CONNECT, PUBLISH
		{"publish/messages/received", 1, 1},
		{"messages/sent", 2, 1e9}, // CONNACK and the $SYS deliveries
		{"publish/messages/sent", 1, 1e9},
		{"publish/messages/dropped", 0, 0},
		{"bytes/received", 15, 1e9},
		{"bytes/sent", 4, 1e9},
		{"uptime", 0, 60},
		{"load/connections/1min", 0, 1e6},
		{"load/publish/sent/15min", 0, 1e6},
		{"connections/refused", 0, 0},
	} {
		if v := num(want.k); v < want.lo || v > want.hi {
			t.Errorf("%s = %v, want %v to %v", want.k, v, want.lo, want.hi)
		}
	}
	if !strings.HasSuffix(vals["uptime"], " seconds") {
		t.Errorf("uptime %q", vals["uptime"])
	}
	// The deliveries kept the publish load above zero.
	if v := num("load/publish/sent/1min"); v <= 0 {
		t.Errorf("load/publish/sent/1min = %v", v)
	}
}

// $SYS/broker/version is the version stamped at build time (the Makefile
// and the SAM build set proxy.Version with -ldflags -X), else the
// module's.
func TestSysVersionStamped(t *testing.T) {
	if got := proxy.BrokerVersion(); got == "" {
		t.Fatal("BrokerVersion is empty without a stamp")
	}
	defer func(v string) { proxy.Version = v }(proxy.Version)
	proxy.Version = "v1.2.3-4-gabcdef0"
	var mu sync.Mutex
	var vals []session.SysValue
	inv := &fakeInvoker{reply: func(ev *session.Event) (*session.Reply, error) {
		mu.Lock()
		defer mu.Unlock()
		vals = ev.Sys
		return &session.Reply{}, nil
	}}
	srv, _ := start(t, inv, proxy.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.RunSys(ctx, time.Hour, ""); close(done) }()
	eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return vals != nil })
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if vals[0].Topic != "$SYS/broker/version" || vals[0].Value != "mqttless v1.2.3-4-gabcdef0" {
		t.Errorf("%s = %q, want mqttless v1.2.3-4-gabcdef0", vals[0].Topic, vals[0].Value)
	}
}
