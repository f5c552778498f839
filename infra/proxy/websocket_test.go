package proxy_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/proxy"
)

// startWS serves the proxy's WebSocket server (NewWebSocketServer, on the
// proxy's Listener) and returns its ws:// URL of path /mqtt.
func startWS(t *testing.T, inv proxy.Invoker, cfg proxy.Config) (*proxy.Server, string) {
	t.Helper()
	if cfg.ID == "" {
		cfg.ID = "p1"
	}
	srv, err := proxy.New(cfg, inv, nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(nil)
	hs.Config = srv.NewWebSocketServer()
	hs.Listener = srv.Listener(hs.Listener)
	hs.Start()
	t.Cleanup(func() { shutdown(t, srv); hs.Close() })
	return srv, "ws" + strings.TrimPrefix(hs.URL, "http") + "/mqtt"
}

// dialWS opens a WebSocket with subprotocol mqtt; the client's writes are
// one binary message each.
func dialWS(t *testing.T, url string, v packet.Version) (*client, *websocket.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	wc, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"mqtt"}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("Sec-WebSocket-Protocol") != "mqtt" || wc.Subprotocol() != "mqtt" {
		t.Fatalf("subprotocol %q", wc.Subprotocol())
	}
	nc := websocket.NetConn(context.Background(), wc, websocket.MessageBinary)
	t.Cleanup(func() { nc.Close() })
	return wrapClient(t, nc, v), wc
}

// publishes returns the PUBLISH frames the handlers saw, in order.
func (f *fakeInvoker) publishes(t *testing.T, v packet.Version) []*packet.Publish {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var ps []*packet.Publish
	for _, e := range f.events {
		for _, fr := range e.Packets {
			if packet.Type(fr[0]>>4) != packet.PUBLISH {
				continue
			}
			p := new(packet.Publish)
			if err := p.Decode(fr, v); err != nil {
				t.Fatal(err)
			}
			ps = append(ps, p)
		}
	}
	return ps
}

// MQTT over WebSockets: CONNECT and CONNACK, a packet split across two
// messages, two packets in one message, PINGREQ, and a delivery.
func TestWebSocket(t *testing.T) {
	inv := &fakeInvoker{reply: acceptConnect(packet.V5, 60, 0)}
	srv, url := startWS(t, inv, proxy.Config{})
	c, wc := dialWS(t, url, packet.V5)
	c.send(&packet.Connect{ClientID: "c", KeepAlive: 60})
	c.expect(packet.CONNACK)

	ctx := context.Background()
	one := frame(t, &packet.Publish{Topic: "a/1", Payload: []byte("split")}, packet.V5)
	if err := wc.Write(ctx, websocket.MessageBinary, one[:3]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	if err := wc.Write(ctx, websocket.MessageBinary, one[3:]); err != nil {
		t.Fatal(err)
	}
	two := append(frame(t, &packet.Publish{Topic: "a/2", Payload: []byte("x")}, packet.V5),
		frame(t, &packet.Publish{Topic: "a/3", Payload: []byte("y")}, packet.V5)...)
	if err := wc.Write(ctx, websocket.MessageBinary, two); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { return len(inv.publishes(t, packet.V5)) == 3 })
	for i, p := range inv.publishes(t, packet.V5) {
		if want := []string{"a/1", "a/2", "a/3"}[i]; p.Topic != want {
			t.Fatalf("publish %d: topic %q, want %q", i, p.Topic, want)
		}
	}
	c.send(&packet.Pingreq{})
	c.expect(packet.PINGRESP)

	inv.mu.Lock()
	id, remote := inv.events[0].Conn, inv.events[0].Remote
	inv.mu.Unlock()
	if !strings.HasPrefix(remote, "127.0.0.1:") {
		t.Errorf("remote %q", remote)
	}
	pub := frame(t, &packet.Publish{Topic: "down", Payload: []byte("hi")}, packet.V5)
	srv.Deliver(ctx, []session.Delivery{{Proxy: "p1", Conn: id, Packets: [][]byte{pub}}})
	if p := c.expect(packet.PUBLISH).(*packet.Publish); string(p.Payload) != "hi" {
		t.Fatalf("payload %q", p.Payload)
	}
	c.nc.Close()
	eventually(t, func() bool { k := inv.kinds(); return k[len(k)-1] == session.KindLost })
}

// An upgrade that does not offer subprotocol mqtt is refused with 400.
func TestWebSocketSubprotocolRequired(t *testing.T) {
	inv := &fakeInvoker{}
	_, url := startWS(t, inv, proxy.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, protos := range [][]string{nil, {"wamp"}} {
		wc, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: protos})
		if err == nil {
			wc.CloseNow()
			t.Fatalf("subprotocols %v: upgraded", protos)
		}
		if resp == nil || resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("subprotocols %v: %v %v, want 400", protos, resp, err)
		}
	}
	// Several offered, mqtt among them: accepted.
	wc, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"wamp", "mqtt"}})
	if err != nil {
		t.Fatal(err)
	}
	wc.CloseNow()
}

// A text message, and a message over MaxPacketSize + 5 bytes, close the
// connection; a WebSocket that sends no CONNECT is closed after the
// connect timeout.
func TestWebSocketLimits(t *testing.T) {
	inv := &fakeInvoker{reply: acceptConnect(packet.V311, 0, 0)}
	_, url := startWS(t, inv, proxy.Config{MaxPacketSize: 1024, ConnectTimeout: 300 * time.Millisecond})
	ctx := context.Background()

	c, wc := dialWS(t, url, packet.V311)
	c.send(&packet.Connect{ClientID: "c"})
	c.expect(packet.CONNACK)
	wc.Write(ctx, websocket.MessageText, frame(t, &packet.Pingreq{}, packet.V311))
	c.expectClosed()

	c, wc = dialWS(t, url, packet.V311)
	c.send(&packet.Connect{ClientID: "c"})
	c.expect(packet.CONNACK)
	wc.Write(ctx, websocket.MessageBinary, make([]byte, 1024+6))
	c.expectClosed()

	// Exactly MaxPacketSize + 5 bytes in one message is read: a 1024-byte
	// PUBLISH and 5 bytes of the next frame.
	c, wc = dialWS(t, url, packet.V311)
	c.send(&packet.Connect{ClientID: "c"})
	c.expect(packet.CONNACK)
	pub := frame(t, &packet.Publish{Topic: "t", Payload: make([]byte, 1024-2-3-1)}, packet.V311)
	if len(pub) != 1024 {
		t.Fatalf("frame of %d bytes", len(pub))
	}
	ping := frame(t, &packet.Pingreq{}, packet.V311)
	msg := append(append(append([]byte(nil), pub...), ping...), ping...)
	msg = append(msg, 0x30)
	wc.Write(ctx, websocket.MessageBinary, msg)
	c.expect(packet.PINGRESP)
	c.expect(packet.PINGRESP)

	begin := time.Now()
	c, _ = dialWS(t, url, packet.V311)
	c.expectClosed()
	if d := time.Since(begin); d > 2*time.Second {
		t.Fatalf("closed after %v", d)
	}
}

// The WebSocket server takes at most WebSocketMaxHeaderBytes of headers
// (431 past them, plus net/http's slack), and applies MaxConnRate at
// accept, before any byte of the upgrade is read.
func TestWebSocketLimitsAtAccept(t *testing.T) {
	inv := &fakeInvoker{reply: acceptConnect(packet.V311, 0, 0)}
	_, url := startWS(t, inv, proxy.Config{MaxConnRate: 3})
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "ws://"), "/mqtt")
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	go nc.Write([]byte("GET /mqtt HTTP/1.1\r\nHost: x\r\nX-Pad: " + strings.Repeat("a", 2*proxy.WebSocketMaxHeaderBytes) + "\r\n\r\n"))
	nc.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatalf("headers over the limit: %v", err)
	}
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("headers over the limit: status %d, want 431", resp.StatusCode)
	}
	closed := 0
	for range 6 { // 2 tokens left of the burst of 3
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := nc.Read(make([]byte, 1)); err != nil && !isTimeout(err) {
			closed++
		}
	}
	if closed < 3 {
		t.Fatalf("%d of 6 connections over MaxConnRate closed at accept", closed)
	}
}

// MQTT.js offers the subprotocol mqttv3.1 for MQTT 3.1 (MQIsdp): an
// upgrade offering it alone is accepted, answered with it, and carries a
// 3.1 CONNECT to its CONNACK; offered with mqtt, mqtt is chosen.
func TestWebSocketSubprotocolMQTTv31(t *testing.T) {
	inv := &fakeInvoker{reply: acceptConnect(packet.V31, 0, 0)}
	_, url := startWS(t, inv, proxy.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	wc, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"mqttv3.1"}})
	if err != nil {
		t.Fatalf("subprotocol mqttv3.1: %v", err)
	}
	if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != "mqttv3.1" {
		t.Fatalf("answered subprotocol %q, want mqttv3.1", got)
	}
	nc := websocket.NetConn(context.Background(), wc, websocket.MessageBinary)
	t.Cleanup(func() { nc.Close() })
	c := wrapClient(t, nc, packet.V31)
	c.send(&packet.Connect{ClientID: "mqttjs31"})
	c.expect(packet.CONNACK)

	both, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"mqttv3.1", "mqtt"}})
	if err != nil {
		t.Fatal(err)
	}
	defer both.CloseNow()
	if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != "mqtt" {
		t.Fatalf("offered both: answered %q, want mqtt", got)
	}
}
