package proxy_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/proxy"
)

// countingInvoker accepts CONNECT and counts PUBLISH frames.
type countingInvoker struct{ n atomic.Int64 }

func (c *countingInvoker) Invoke(_ context.Context, ev *session.Event) (*session.Reply, error) {
	if ev.State == nil {
		ack, _ := (&packet.Connack{}).Append(nil, packet.V311)
		return &session.Reply{Packets: [][]byte{ack}, State: &session.ConnState{ClientID: "c", Version: packet.V311}}, nil
	}
	c.n.Add(int64(len(ev.Packets)))
	return &session.Reply{}, nil
}

// BenchmarkPublishIn measures PUBLISH frames from one client through the
// proxy to the handlers, with and without metrics: the difference is the
// per-packet cost of the metrics on the whole path.
func BenchmarkPublishIn(b *testing.B) {
	for _, withMetrics := range []bool{false, true} {
		name := "metrics=off"
		if withMetrics {
			name = "metrics=on"
		}
		b.Run(name, func(b *testing.B) {
			cfg := proxy.Config{ID: "p1"}
			if withMetrics {
				m, err := proxy.NewMetrics(prometheus.NewRegistry())
				if err != nil {
					b.Fatal(err)
				}
				cfg.Metrics = m
			}
			inv := &countingInvoker{}
			srv, err := proxy.New(cfg, inv, nil)
			if err != nil {
				b.Fatal(err)
			}
			ln, _ := net.Listen("tcp", "127.0.0.1:0")
			go srv.Serve(ln)
			defer srv.Shutdown(context.Background())
			nc, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			connect, _ := (&packet.Connect{ClientID: "c"}).Append(nil, packet.V311)
			nc.Write(connect)
			nc.Read(make([]byte, 4))
			pub, _ := (&packet.Publish{Topic: "devices/1234/telemetry", Payload: make([]byte, 64)}).Append(nil, packet.V311)
			const chunk = 256
			var buf []byte
			for range chunk {
				buf = append(buf, pub...)
			}
			b.SetBytes(int64(len(pub)))
			b.ResetTimer()
			sent := 0
			for sent < b.N {
				k := min(chunk, b.N-sent)
				if _, err := nc.Write(buf[:k*len(pub)]); err != nil {
					b.Fatal(err)
				}
				sent += k
			}
			for inv.n.Load() < int64(b.N) {
				time.Sleep(50 * time.Microsecond)
			}
		})
	}
}
