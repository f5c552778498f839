package proxy_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/proxy"
)

// metricValue returns the value of the sample of a counter or gauge
// family with the given label (name=value, or "" for none), or -1.
func metricValue(t *testing.T, reg *prometheus.Registry, family, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != family {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := label == ""
			for _, lp := range m.GetLabel() {
				if lp.GetName()+"="+lp.GetValue() == label {
					match = true
				}
			}
			if !match {
				continue
			}
			switch {
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return -1
}

// The metrics move with connections, packets, refusals and failures.
func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := proxy.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := proxy.NewMetrics(reg); err == nil {
		t.Fatal("registering the metrics twice succeeded")
	}
	connect := acceptConnect(packet.V5, 0, 0)
	inv := &fakeInvoker{reply: func(ev *session.Event) (*session.Reply, error) {
		if ev.State != nil && len(ev.Packets) > 0 && packet.Type(ev.Packets[0][0]>>4) == packet.SUBSCRIBE {
			return nil, errors.New("store down")
		}
		if ev.State != nil && len(ev.Packets) > 0 {
			// Echo each PUBLISH back, as a subscriber to its own topic
			// would get it (copied: the event's frames are the proxy's).
			var echo [][]byte
			for _, f := range ev.Packets {
				echo = append(echo, append([]byte(nil), f...))
			}
			return &session.Reply{Packets: echo}, nil
		}
		return connect(ev)
	}}
	srv, addr := start(t, inv, proxy.Config{Metrics: m, MaxConnRate: 1000, ConnectTimeout: 200 * time.Millisecond})

	c := dial(t, addr, packet.V5)
	c.send(&packet.Connect{ClientID: "c"})
	c.expect(packet.CONNACK)
	pub := frame(t, &packet.Publish{Topic: "t", Payload: []byte("hello")}, packet.V5)
	c.nc.Write(append(append([]byte(nil), pub...), pub...))
	c.expect(packet.PUBLISH)
	c.expect(packet.PUBLISH)
	c.send(&packet.Pingreq{})
	c.expect(packet.PINGRESP)

	const (
		in  = "mqttless_packets_received_total"
		out = "mqttless_packets_sent_total"
	)
	eventually(t, func() bool { return metricValue(t, reg, out, "type=PINGRESP") == 1 })
	connectLen := len(frame(t, &packet.Connect{ClientID: "c"}, packet.V5))
	connackLen := len(frame(t, &packet.Connack{}, packet.V5))
	for _, want := range []struct {
		family, label string
		v             float64
	}{
		{"mqttless_connections", "", 1},
		{"mqttless_connections_total", "", 1},
		{in, "type=CONNECT", 1},
		{in, "type=PUBLISH", 2},
		{in, "type=PINGREQ", 1},
		{in, "type=SUBSCRIBE", 0},
		{out, "type=CONNACK", 1},
		{out, "type=PUBLISH", 2},
		{"mqttless_bytes_received_total", "", float64(connectLen + 2*len(pub) + 2)},
		{"mqttless_bytes_sent_total", "", float64(connackLen + 2*len(pub) + 2)},
		{"mqttless_invoke_duration_seconds", "", 2},
		{"mqttless_send_queue_bytes", "", 0},
		{"mqttless_handler_errors_total", "", 0},
	} {
		if got := metricValue(t, reg, want.family, want.label); got != want.v {
			t.Errorf("%s{%s} = %v, want %v", want.family, want.label, got, want.v)
		}
	}

	// A handler failure, and the lost connection that follows.
	c.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "t"}}})
	c.expect(packet.DISCONNECT)
	c.expectClosed()
	eventually(t, func() bool { return metricValue(t, reg, "mqttless_connections", "") == 0 })
	if got := metricValue(t, reg, "mqttless_handler_errors_total", ""); got != 1 {
		t.Errorf("handler errors %v, want 1", got)
	}
	if got := srv.HandlerErrors.Load(); got != 1 {
		t.Errorf("HandlerErrors %d, want 1", got)
	}

	// Refusals: no CONNECT in time; a first packet that is not CONNECT.
	c = dial(t, addr, packet.V5)
	c.expectClosed()
	c = dial(t, addr, packet.V5)
	c.send(&packet.Pingreq{})
	c.expectClosed()
	eventually(t, func() bool {
		return metricValue(t, reg, "mqttless_connections_refused_total", "reason=connect_timeout") == 1 &&
			metricValue(t, reg, "mqttless_connections_refused_total", "reason=protocol") == 1
	})
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP mqttless_connections_total Connections accepted (past the connection rate limit).
# TYPE mqttless_connections_total counter
mqttless_connections_total 3
`), "mqttless_connections_total"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, "mqttless_connections_refused_total"); err != nil || n != 12+len(session.ConnectRefusals) {
		t.Errorf("%d refusal reasons exported, want all 12 of the proxy and the handlers' %d (%v)", n, len(session.ConnectRefusals), err)
	}
	if n, err := testutil.GatherAndCount(reg, "mqttless_access_denied_total"); err != nil || n != len(session.Denials) {
		t.Errorf("%d denial reasons exported, want %d (%v)", n, len(session.Denials), err)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// Refused by the connection rate limit, and QoS 0 messages dropped on a
// full send queue, are counted.
func TestMetricsRefusedAndDropped(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, _ := proxy.NewMetrics(reg)
	var id string
	connect := acceptConnect(packet.V311, 0, 0)
	inv := &fakeInvoker{reply: func(ev *session.Event) (*session.Reply, error) {
		id = ev.Conn // under inv.mu
		return connect(ev)
	}}
	srv, addr := start(t, inv, proxy.Config{Metrics: m, MaxConnRate: 1, MaxSendBytes: 64 << 10})
	c := dial(t, addr, packet.V311)
	c.send(&packet.Connect{ClientID: "c"})
	c.expect(packet.CONNACK)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := nc.Read(make([]byte, 1)); err == nil {
		t.Fatal("second connection within the second not closed")
	}
	if got := metricValue(t, reg, "mqttless_connections_refused_total", "reason=rate_limit"); got != 1 {
		t.Errorf("rate_limit refusals %v, want 1", got)
	}

	inv.mu.Lock()
	conn := id
	inv.mu.Unlock()
	big := frame(t, &packet.Publish{Topic: "t", Payload: make([]byte, 32<<10)}, packet.V311)
	var most float64
	for range 400 {
		srv.Deliver(context.Background(), []session.Delivery{{Proxy: "p1", Conn: conn, Packets: [][]byte{big}}})
		q := metricValue(t, reg, "mqttless_send_queue_bytes", "")
		if q > 64<<10 {
			t.Fatalf("send queue bytes %v, over MaxSendBytes", q)
		}
		most = max(most, q)
	}
	if most == 0 {
		t.Error("send queue bytes never above 0 with a client that reads nothing")
	}
	if got, want := metricValue(t, reg, "mqttless_dropped_messages_total", ""), float64(srv.Dropped.Load()); got == 0 || got != want {
		t.Errorf("dropped %v, Dropped %v", got, want)
	}
	c.nc.Close()
	eventually(t, func() bool { return metricValue(t, reg, "mqttless_send_queue_bytes", "") == 0 })
}
