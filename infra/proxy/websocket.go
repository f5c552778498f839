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

// wsSubprotocol is the WebSocket subprotocol of MQTT (MQTT 5.0 section
// 6.0, 3.1.1 section 6).
const wsSubprotocol = "mqtt"

// WebSocketHandler returns the handler of MQTT over WebSockets; the caller
// mounts it, at /mqtt by convention, on an http.Server (with TLS for wss).
//
// The client must offer the subprotocol mqtt [MQTT-6.0.0-3]: an upgrade
// that does not is refused with 400 Bad Request and no upgrade (RFC 6455
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
// MaxConnRate applies (429 Too Many Requests when over it), as do the
// connect timeout, keep alive and everything else; WebSocket connections
// never park, so each holds a goroutine (the handler's own, which returns
// when the connection ends). http.Server deadlines end at the upgrade.
func (s *Server) WebSocketHandler() http.Handler {
	return http.HandlerFunc(s.serveWebSocket)
}

func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if !offersMQTT(r.Header) {
		s.metrics.refuse(RefusedSubprotocol)
		http.Error(w, "proxy: the WebSocket subprotocol mqtt is required", http.StatusBadRequest)
		return
	}
	if s.shuttingDown() {
		s.metrics.refuse(RefusedShuttingDown)
		http.Error(w, "proxy: shutting down", http.StatusServiceUnavailable)
		return
	}
	if !s.allowConn(httpRemote(r.RemoteAddr)) {
		http.Error(w, "proxy: too many connections", http.StatusTooManyRequests)
		return
	}
	wc, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols:       []string{wsSubprotocol},
		InsecureSkipVerify: true, // any Origin: see the doc comment
	})
	if err != nil {
		s.log.Debug("WebSocket upgrade failed", "remote", r.RemoteAddr, "err", err)
		return // Accept answered the request
	}
	// NetConn lifts the read limit; put it back, per message.
	nc := websocket.NetConn(context.Background(), wc, websocket.MessageBinary)
	wc.SetReadLimit(int64(s.cfg.MaxPacketSize) + 5)
	c := s.newConn(&wsConn{Conn: nc})
	if c == nil {
		s.metrics.refuse(RefusedShuttingDown)
		nc.Close()
		return
	}
	if r.TLS != nil { // WebSockets over TLS: the HTTP server verified the chain
		c.certIdentity = certIdentity(*r.TLS)
	}
	c.serve()
}

// offersMQTT reports whether the upgrade request offers the mqtt
// subprotocol.
func offersMQTT(h http.Header) bool {
	for _, v := range h.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(p), wsSubprotocol) {
				return true
			}
		}
	}
	return false
}

// httpRemote is the address of an http.Request's RemoteAddr.
type httpRemote string

func (a httpRemote) Network() string { return "tcp" }
func (a httpRemote) String() string  { return string(a) }

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
