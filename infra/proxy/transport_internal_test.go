package proxy

import (
	"crypto/tls"
	"net"
	"testing"
)

// TLS and WebSocket connections never park: they keep the goroutine path.
func TestTLSAndWebSocketDoNotPark(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if nc, err := ln.Accept(); err == nil {
			defer nc.Close()
			nc.Read(make([]byte, 1))
		}
	}()
	tc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	srv := &Server{}
	if (&conn{srv: srv, nc: tc}).pollable() == nil && usePoller && thePollAvailable() {
		t.Fatal("a plain TCP connection cannot park")
	}
	for name, nc := range map[string]net.Conn{
		"tls":       tls.Server(tc, &tls.Config{}),
		"websocket": &wsConn{Conn: tc},
	} {
		if (&conn{srv: srv, nc: nc}).pollable() != nil {
			t.Errorf("a %s connection would park", name)
		}
	}
}
