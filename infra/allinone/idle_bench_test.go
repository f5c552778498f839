package allinone_test

import (
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
)

// BenchmarkIdleConnections reports the broker's memory (Go heap and
// goroutine stacks in use) per idle connection: 2,000 clients connect,
// subscribe to a topic of their own and stay idle. The clients' own sockets
// live in the same process and are counted too, so the figure overstates
// the broker's.
func BenchmarkIdleConnections(b *testing.B) {
	const n = 2000
	// One address opens every connection: no per-address connect rate.
	addr := runBroker(b, slog.New(slog.DiscardHandler), "-max-conn-rate", "0").Addr().String()
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		conns := make([]net.Conn, 0, n)
		for j := 0; j < n; j++ {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			id := fmt.Sprintf("idle-%d-%d", i, j)
			c, _ := (&packet.Connect{ClientID: id, CleanStart: true, KeepAlive: 600}).Append(nil, packet.V311)
			s, _ := (&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "idle/" + id, QoS: 1}}}).Append(nil, packet.V311)
			nc.Write(append(c, s...))
			fr := packet.NewFrameReader(nc, 1024)
			for k := 0; k < 2; k++ { // CONNACK, SUBACK
				nc.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := fr.ReadFrame(nil); err != nil {
					b.Fatal(err)
				}
			}
			conns = append(conns, nc)
		}
		// Stacks shrink by half at each GC while a goroutine uses under a
		// quarter of its stack; a few cycles give the steady state of an
		// idle broker, which collects garbage regularly.
		for range 5 {
			runtime.GC()
		}
		runtime.ReadMemStats(&after)
		used := func(m *runtime.MemStats) float64 { return float64(m.HeapInuse + m.StackInuse) }
		b.ReportMetric((used(&after)-used(&before))/n, "B/conn")
		b.ReportMetric(float64(after.StackInuse-before.StackInuse)/n, "stack-B/conn")
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/n, "heap-B/conn")
		for _, nc := range conns {
			nc.Close()
		}
	}
}
