package proxy_test

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/proxy"
)

// syncBuffer is a log the proxy's goroutines write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// count returns how many lines hold every one of parts.
func (s *syncBuffer) count(parts ...string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, line := range strings.Split(s.b.String(), "\n") {
		all := line != ""
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}

// Refusals are counted once, by reason, in the metric and in $SYS
// connections/refused, which agree: the handlers' reasons (Reply.Refused)
// as given, without a line from the proxy (the handlers log them); the
// proxy's own (no CONNECT in time) logged at info, one line per reason per
// interval. Denials are counted by reason. $SYS counts clients as
// Mosquitto does: a socket that never sent an accepted CONNECT is none.
func TestRefusalsCountedAndLogged(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := proxy.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	var log syncBuffer
	var sysMu sync.Mutex
	var sys []session.SysValue
	accept := acceptConnect(packet.V311, 0, 0)
	inv := &fakeInvoker{reply: func(ev *session.Event) (*session.Reply, error) {
		switch {
		case ev.Kind == session.KindSys:
			sysMu.Lock()
			sys = ev.Sys
			sysMu.Unlock()
			return &session.Reply{}, nil
		case ev.State == nil && ev.Kind == session.KindPackets:
			var p packet.Connect
			if err := p.Decode(ev.Packets[0], 0); err != nil {
				return nil, err
			}
			if p.Username == "mallory" {
				ack, _ := (&packet.Connack{ReasonCode: packet.BadUsernameOrPassword}).Append(nil, packet.V311)
				return &session.Reply{Packets: [][]byte{ack}, Close: true, Refused: []string{session.RefusedWrongPassword}}, nil
			}
		case ev.State != nil && len(ev.Packets) > 0 && packet.Type(ev.Packets[0][0]>>4) == packet.SUBSCRIBE:
			ack, _ := (&packet.Suback{PacketID: 1, ReasonCodes: []packet.ReasonCode{packet.NotAuthorized}}).Append(nil, packet.V311)
			return &session.Reply{Packets: [][]byte{ack}, Refused: []string{session.DeniedSubscribe}}, nil
		}
		return accept(ev)
	}}
	srv, err := proxy.New(proxy.Config{ID: "p1", Metrics: m, ConnectTimeout: 150 * time.Millisecond}, inv,
		slog.New(slog.NewTextHandler(&log, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { shutdown(t, srv) })
	addr := ln.Addr().String()

	// A client, subscribing where it may not.
	c := dial(t, addr, packet.V311)
	c.send(&packet.Connect{ClientID: "ok"})
	c.expect(packet.CONNACK)
	c.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "secret/#"}}})
	c.expect(packet.SUBACK)
	// Three wrong passwords.
	for range 3 {
		r := dial(t, addr, packet.V311)
		r.send(&packet.Connect{ClientID: "m", UsernameFlag: true, Username: "mallory", PasswordFlag: true, Password: []byte("x")})
		r.expect(packet.CONNACK)
		r.expectClosed()
	}
	// Three sockets that never send CONNECT, open meanwhile.
	var idle []*client
	for range 3 {
		idle = append(idle, dial(t, addr, packet.V311))
	}
	const refused = "mqttless_connections_refused_total"
	eventually(t, func() bool { return metricValue(t, reg, "mqttless_connections", "") == 4 })
	sysValues := func() map[string]string {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { srv.RunSys(ctx, time.Hour, ""); close(done) }()
		eventually(t, func() bool { sysMu.Lock(); defer sysMu.Unlock(); return sys != nil })
		cancel()
		<-done
		sysMu.Lock()
		defer sysMu.Unlock()
		vals := map[string]string{}
		for _, v := range sys {
			vals[strings.TrimPrefix(v.Topic, "$SYS/broker/")] = v.Value
		}
		sys = nil
		return vals
	}
	vals := sysValues()
	for k, want := range map[string]string{"clients/connected": "1", "clients/maximum": "1", "clients/total": "1"} {
		if vals[k] != want {
			t.Errorf("$SYS %s = %q with one client and three sockets without CONNECT, want %s", k, vals[k], want)
		}
	}
	for _, i := range idle {
		i.expectClosed() // the connect timeout
	}
	eventually(t, func() bool { return metricValue(t, reg, refused, "reason=connect_timeout") == 3 })

	for _, want := range []struct {
		family, label string
		v             float64
	}{
		{refused, "reason=wrong_password", 3},
		{refused, "reason=connect_timeout", 3},
		{refused, "reason=connect_refused", 0},
		{"mqttless_access_denied_total", "reason=subscribe_denied", 1},
		{"mqttless_access_denied_total", "reason=publish_denied", 0},
	} {
		if got := metricValue(t, reg, want.family, want.label); got != want.v {
			t.Errorf("%s{%s} = %v, want %v", want.family, want.label, got, want.v)
		}
	}
	total := 0.0
	for _, r := range append([]string{proxy.RefusedRateLimit, proxy.RefusedConnectTimeout, proxy.RefusedTLSHandshake,
		proxy.RefusedProtocol, proxy.RefusedConnect, proxy.RefusedShuttingDown, proxy.RefusedSubprotocol,
		proxy.RefusedMaxConnections, proxy.RefusedPendingConnects, proxy.RefusedUserConnections}, session.ConnectRefusals...) {
		total += metricValue(t, reg, refused, "reason="+r)
	}
	vals = sysValues()
	if got := vals["connections/refused"]; got != strconv.Itoa(int(total)) || total != 6 {
		t.Errorf("$SYS connections/refused = %q, the metric's sum %v; want both 6", got, total)
	}
	if vals["clients/maximum"] != "1" {
		t.Errorf("$SYS clients/maximum = %q, want 1", vals["clients/maximum"])
	}
	// The proxy logged its own refusals at info, once for the three
	// within the interval, and none of the handlers' (they log those).
	if n := log.count("level=INFO", `msg="connection refused"`, "reason=connect_timeout"); n != 1 {
		t.Errorf("%d info lines of connect_timeout, want 1 (rate-limited):\n%s", n, log.b.String())
	}
	if n := log.count("wrong_password"); n != 0 {
		t.Errorf("the proxy logged the handlers' refusals %d times", n)
	}
}
