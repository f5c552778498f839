package proxy

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// wsSubprotocols are the WebSocket subprotocols the proxy accepts, in
// its order of preference: mqtt, the subprotocol of MQTT (MQTT 5.0
// section 6.0, 3.1.1 section 6), and mqttv3.1, which MQTT.js and Paho
// JavaScript offer for MQTT 3.1 (MQIsdp). Either carries any version: the
// CONNECT says which.
var wsSubprotocols = []string{"mqtt", "mqttv3.1"}

// WebSocketHandler returns the handler of MQTT over WebSockets; the caller
// mounts it, at /mqtt by convention, on an http.Server (with TLS for wss).
//
// The client must offer the subprotocol mqtt [MQTT-6.0.0-3] (or
// mqttv3.1, which MQTT 3.1 clients offer; mqtt is chosen when both are):
// an upgrade that offers neither is refused with 400 Bad Request and no upgrade (RFC 6455
// section 4.2.2 lets the server fail a handshake it cannot serve). MQTT
// travels in binary messages [MQTT-6.0.0-1]: a text message closes the
// connection. A message may hold part of a packet, or several
// [MQTT-6.0.0-2]; one message is at most MaxPacketSize + 5 bytes.
// Each frame the proxy sends is one message.
//
// Any Origin is accepted: MQTT clients are devices and services rather
// than browsers holding cookies for this host, the broker does not
// authenticate by cookie, so cross-site requests gain nothing; clients
// authenticate in CONNECT.
//
// MaxConnRate and MaxConnections apply at accept when the http.Server
// serves a listener from Listener, as NewWebSocketServer's callers do:
// before the upgrade, so that a client over them sends no headers.
// MaxConnections, MaxPendingConnects and a shutdown answer the upgrade
// with 503 Service Unavailable; the connect timeout, keep alive and
// everything else apply after it. WebSocket connections never park, so each holds a goroutine (the
// handler's own, which returns when the connection ends). http.Server
// deadlines end at the upgrade.
func (s *Server) WebSocketHandler() http.Handler {
	return http.HandlerFunc(s.serveWebSocket)
}

// WebSocketMaxHeaderBytes bounds the request line and headers of a
// WebSocket upgrade (http.Server.MaxHeaderBytes, to which net/http adds
// 4 KiB of slack); a larger request is answered 431. An upgrade needs a
// few hundred bytes; browsers add their cookies for the host.
const WebSocketMaxHeaderBytes = 16 << 10

// NewWebSocketServer returns the http.Server of MQTT over WebSockets: the
// handler at path /mqtt, at most WebSocketMaxHeaderBytes of headers, which
// must come within ConnectTimeout, as must the next request of an idle
// keep-alive connection. Serve it on Listener(ln) (for wss, on
// tls.NewListener(Listener(ln), cfg), so that the limits apply before the
// handshake).
func (s *Server) NewWebSocketServer() *http.Server {
	mux := http.NewServeMux()
	mux.Handle("/mqtt", s.WebSocketHandler())
	return &http.Server{Handler: mux, MaxHeaderBytes: WebSocketMaxHeaderBytes,
		ReadHeaderTimeout: s.cfg.ConnectTimeout, IdleTimeout: s.cfg.ConnectTimeout}
}

func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if !offersMQTT(r.Header) {
		s.refuse(RefusedSubprotocol)
		http.Error(w, "proxy: the WebSocket subprotocol mqtt (or mqttv3.1) is required", http.StatusBadRequest)
		return
	}
	s.mu.RLock()
	refused := s.admitLocked()
	s.mu.RUnlock()
	if refused != "" {
		s.refuse(refused)
		http.Error(w, "proxy: "+refused, http.StatusServiceUnavailable)
		return
	}
	wc, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols:       wsSubprotocols,
		InsecureSkipVerify: true, // any Origin: see the doc comment
	})
	if err != nil {
		s.log.Debug("WebSocket upgrade failed", "remote", r.RemoteAddr, "err", err)
		return // Accept answered the request
	}
	// NetConn lifts the read limit; put it back, per message.
	nc := websocket.NetConn(context.Background(), wc, websocket.MessageBinary)
	wc.SetReadLimit(int64(s.cfg.MaxPacketSize) + 5)
	c, refused := s.newConn(&wsConn{Conn: nc})
	if c == nil { // the limits were reached since the check above
		s.refuse(refused)
		wc.CloseNow()
		return
	}
	if r.TLS != nil { // WebSockets over TLS: the HTTP server verified the chain
		c.certIdentity = certIdentity(*r.TLS)
	}
	c.serve()
}

// offersMQTT reports whether the upgrade request offers one of
// wsSubprotocols.
func offersMQTT(h http.Header) bool {
	for _, v := range h.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(v, ",") {
			for _, want := range wsSubprotocols {
				if strings.EqualFold(strings.TrimSpace(p), want) {
					return true
				}
			}
		}
	}
	return false
}

// wsConn is a WebSocket net.Conn whose reads fail with
// os.ErrDeadlineExceeded (a net.Error timeout) once the read deadline has
// passed, as a socket's do; the library reports its own error. readBy
// (Unix ns, 0 for none) is atomic: the reader sets it, and any goroutine
// may read it.
type wsConn struct {
	net.Conn
	readBy atomic.Int64
}

func (c *wsConn) SetReadDeadline(t time.Time) error {
	if t.IsZero() {
		c.readBy.Store(0)
	} else {
		c.readBy.Store(t.UnixNano())
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *wsConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.Conn.SetWriteDeadline(t)
}

func (c *wsConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		if by := c.readBy.Load(); by != 0 && time.Now().UnixNano() >= by {
			return n, fmt.Errorf("proxy: websocket read: %w", os.ErrDeadlineExceeded)
		}
	}
	return n, err
}
