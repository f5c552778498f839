package proxy

import (
	"fmt"
	"testing"

	"github.com/mqttless/mqttless/core/packet"
)

// BenchmarkCountBatch measures what counting one batch of received frames
// costs: the tally, the $SYS counters and, with metrics, the Prometheus
// counters, from all CPUs at once (they share the counters).
func BenchmarkCountBatch(b *testing.B) {
	pub, _ := (&packet.Publish{Topic: "devices/1234/telemetry", Payload: make([]byte, 64)}).Append(nil, packet.V311)
	for _, batch := range []int{1, 16} {
		frames := make([][]byte, batch)
		for i := range frames {
			frames[i] = pub
		}
		for _, withMetrics := range []bool{false, true} {
			b.Run(fmt.Sprintf("batch=%d/metrics=%v", batch, withMetrics), func(b *testing.B) {
				s := &Server{}
				if withMetrics {
					m, err := NewMetrics(nil)
					if err != nil {
						b.Fatal(err)
					}
					s.metrics = m
				}
				b.SetBytes(int64(batch * len(pub)))
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						var fc frameCounts
						for _, f := range frames {
							fc.add(f)
						}
						s.received(&fc)
					}
				})
			})
		}
	}
}
