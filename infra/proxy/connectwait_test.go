package proxy_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/invocation"
	"github.com/mqttless/mqttless/infra/proxy"
)

// ctxInvoker is an Invoker that hands each call's context and event to
// call.
type ctxInvoker func(ctx context.Context, ev *session.Event) (*session.Reply, error)

func (f ctxInvoker) Invoke(ctx context.Context, ev *session.Event) (*session.Reply, error) {
	return f(ctx, ev)
}

func startMetered(t *testing.T, inv proxy.Invoker) (*proxy.Server, string, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := proxy.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	srv, addr := start(t, inv, proxy.Config{Metrics: m, InvokeTimeout: 10 * time.Second})
	return srv, addr, reg
}

// A CONNECT the invoker sheds, having no time left to answer it, is
// refused at once: CONNACK 0x89 Server busy at 5.0, return code 3 Server
// unavailable at 3.1.1, then the close [MQTT-3.2.2-7] (3.1.1
// [MQTT-3.2.2-5]); it is counted as a refusal, not a handler failure. The
// CONNECT reached the invoker marked sheddable.
func TestShedConnectRefusedBusy(t *testing.T) {
	sheddable := make(chan bool, 4)
	inv := ctxInvoker(func(ctx context.Context, ev *session.Event) (*session.Reply, error) {
		if ev.Kind == session.KindPackets && ev.State == nil {
			sheddable <- invocation.IsSheddable(ctx)
			return nil, invocation.ErrShed
		}
		return &session.Reply{}, nil
	})
	srv, addr, reg := startMetered(t, inv)
	for _, tc := range []struct {
		v    packet.Version
		want packet.ReasonCode
	}{{packet.V5, packet.ServerBusy}, {packet.V311, packet.ServerUnavailable}} {
		c := dial(t, addr, tc.v)
		c.send(&packet.Connect{ClientID: "c", CleanStart: true})
		ack := c.expect(packet.CONNACK).(*packet.Connack)
		if ack.ReasonCode != tc.want || ack.SessionPresent {
			t.Fatalf("%v: CONNACK %v (session present %v), want %v", tc.v, ack.ReasonCode, ack.SessionPresent, tc.want)
		}
		c.expectClosed()
		if !<-sheddable {
			t.Fatalf("%v: the CONNECT was not marked sheddable", tc.v)
		}
	}
	eventually(t, func() bool {
		return metricValue(t, reg, "mqttless_connections_refused_total", "reason="+proxy.RefusedBusy) == 2
	})
	if n := srv.HandlerErrors.Load(); n != 0 {
		t.Fatalf("%d handler errors, want 0", n)
	}
}

// A client that closes its connection while its CONNECT waits for the
// handlers has the call cancelled, so that a queued event is dropped
// before it is invoked; the connection counts as abandoned.
func TestClosedConnectionCancelsWaitingConnect(t *testing.T) {
	ended := make(chan error, 1)
	inv := ctxInvoker(func(ctx context.Context, ev *session.Event) (*session.Reply, error) {
		if ev.Kind == session.KindPackets && ev.State == nil {
			<-ctx.Done() // waiting in the invoker's queue
			ended <- ctx.Err()
			return nil, ctx.Err()
		}
		return &session.Reply{}, nil
	})
	srv, addr, reg := startMetered(t, inv)
	c := dial(t, addr, packet.V311)
	c.send(&packet.Connect{ClientID: "c", CleanStart: true})
	time.Sleep(100 * time.Millisecond) // the CONNECT waits
	c.nc.Close()
	select {
	case err := <-ended:
		if err != context.Canceled {
			t.Fatalf("the call ended with %v, want context.Canceled", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the waiting CONNECT's call was not cancelled after its client closed")
	}
	eventually(t, func() bool {
		return metricValue(t, reg, "mqttless_connections_refused_total", "reason="+proxy.RefusedAbandoned) == 1
	})
	if n := srv.HandlerErrors.Load(); n != 0 {
		t.Fatalf("%d handler errors, want 0", n)
	}
}

// A client that sent more after its CONNECT (here a DISCONNECT) and closed
// is not taken for gone: its CONNECT is handled.
func TestPipelinedConnectNotCancelled(t *testing.T) {
	handled := make(chan error, 1)
	inv := ctxInvoker(func(ctx context.Context, ev *session.Event) (*session.Reply, error) {
		if ev.Kind == session.KindPackets && ev.State == nil {
			time.Sleep(2 * 250 * time.Millisecond) // two looks at the socket
			handled <- ctx.Err()
			return acceptConnect(packet.V311, 0, 0)(ev)
		}
		return &session.Reply{}, nil
	})
	_, addr := start(t, inv, proxy.Config{InvokeTimeout: 10 * time.Second})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	b := frame(t, &packet.Connect{ClientID: "c", CleanStart: true}, packet.V311)
	b = append(b, frame(t, &packet.Disconnect{}, packet.V311)...)
	if _, err := nc.Write(b); err != nil {
		t.Fatal(err)
	}
	nc.(*net.TCPConn).CloseWrite()
	if err := <-handled; err != nil {
		t.Fatalf("the CONNECT's call was cancelled: %v", err)
	}
	nc.Close()
}

// A CONNECT that waits for the handlers longer than -connect-timeout (the
// read deadline the connection had for its CONNECT) is answered: the
// expired deadline is not taken for a client that went away. In the
// 2,000-client storm of make bench-connect-storm, every CONNECT that
// waited 10 s in the invoker's queue was closed without CONNACK.
func TestConnectWaitingPastConnectTimeoutAnswered(t *testing.T) {
	inv := ctxInvoker(func(ctx context.Context, ev *session.Event) (*session.Reply, error) {
		if ev.Kind == session.KindPackets && ev.State == nil {
			time.Sleep(4 * 250 * time.Millisecond) // looks at the socket past the deadline
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			return acceptConnect(packet.V311, 0, 0)(ev)
		}
		return &session.Reply{}, nil
	})
	_, addr := start(t, inv, proxy.Config{ConnectTimeout: 300 * time.Millisecond, InvokeTimeout: 10 * time.Second})
	c := dial(t, addr, packet.V311)
	c.send(&packet.Connect{ClientID: "c", CleanStart: true})
	c.expect(packet.CONNACK)
}
