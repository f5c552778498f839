package boltstore_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/boltstore"
)

// benchConfigs are the store settings the benchmarks compare.
var benchConfigs = []struct {
	name string
	opts []boltstore.Option
}{
	{"sync", nil},
	{"nosync", []boltstore.Option{boltstore.WithNoSync()}},
	{"sync-batch1ms", []boltstore.Option{boltstore.WithBatch(time.Millisecond)}},
	{"sync-group", []boltstore.Option{boltstore.WithGroupCommit()}},
}

// benchMessage is a typical small outbound message.
func benchMessage() *session.Outbound {
	return &session.Outbound{QoS: 1, SubIDs: []uint32{1}, Message: session.Message{
		Topic: "sensors/building-1/floor-2/temperature", Payload: []byte(`{"t":21.5,"unit":"C"}`), QoS: 1, Publisher: "sensor-17",
	}}
}

// benchConnect connects a client for a benchmark.
func benchConnect(b *testing.B, st session.Store, clientID string) {
	b.Helper()
	s := &session.Session{ClientID: clientID, Proxy: "p", Conn: "c-" + clientID, Version: packet.V5, ExpiryInterval: 3600, ReceiveMax: 10}
	if _, err := st.Connect(b.Context(), s, false, time.Now().UnixMilli()); err != nil {
		b.Fatal(err)
	}
}

// enqueueDispatchAck delivers one QoS 1 message to clientID as the handlers
// do: Enqueue puts it in flight at once, then the PUBACK acknowledges it.
func enqueueDispatchAck(b *testing.B, st session.Store, clientID string, m *session.Outbound) {
	ctx := b.Context()
	_, d, err := st.Enqueue(ctx, clientID, []*session.Outbound{m}, session.QueueLimit{Messages: 1000}, "", 10)
	if err != nil || len(d) != 1 {
		b.Fatalf("Enqueue: %v, %d dispatched", err, len(d))
	}
	if err := st.Acknowledge(ctx, clientID, "", d[0].PacketID); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkEnqueueDispatchAck measures one QoS 1 delivery (two
// transactions) to one client at a time.
func BenchmarkEnqueueDispatchAck(b *testing.B) {
	for _, bc := range benchConfigs {
		b.Run(bc.name, func(b *testing.B) {
			st := open(b, bc.opts...)
			benchConnect(b, st, "client")
			m := benchMessage()
			for b.Loop() {
				enqueueDispatchAck(b, st, "client", m)
			}
		})
	}
}

// BenchmarkEnqueueDispatchAckParallel measures QoS 1 deliveries to 64
// clients at once, each client served by one goroutine.
func BenchmarkEnqueueDispatchAckParallel(b *testing.B) {
	for _, bc := range benchConfigs {
		b.Run(bc.name, func(b *testing.B) {
			st := open(b, bc.opts...)
			var next atomic.Int64
			b.SetParallelism(32)
			m := benchMessage()
			b.RunParallel(func(pb *testing.PB) {
				id := fmt.Sprintf("client-%d", next.Add(1))
				benchConnect(b, st, id)
				for pb.Next() {
					enqueueDispatchAck(b, st, id, m)
				}
			})
		})
	}
}

// benchStream is the sub-stream the stream benchmarks write: one filter,
// as in S2 of make bench (publishers to topics one subscription matches).
var benchStream = session.StreamID{Filter: "sensors/+/+/temperature"}

// BenchmarkAppend measures one Append (one durable write of a published
// QoS 1 message) at a time: each commits alone, with its fsync under sync.
func BenchmarkAppend(b *testing.B) {
	for _, bc := range benchConfigs {
		b.Run(bc.name, func(b *testing.B) {
			st := open(b, bc.opts...)
			m := &benchMessage().Message
			for b.Loop() {
				if _, err := st.Append(b.Context(), benchStream, m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAppendParallel measures Appends of 64 goroutines at once to one
// sub-stream, as many publishers of one filter: with WithGroupCommit (and
// WithBatch) they share commits and fsyncs.
func BenchmarkAppendParallel(b *testing.B) {
	for _, bc := range benchConfigs {
		b.Run(bc.name, func(b *testing.B) {
			st := open(b, bc.opts...)
			b.SetParallelism(32)
			m := &benchMessage().Message
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := st.Append(b.Context(), benchStream, m); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkReadStream measures reading a window's worth (20 entries) of a
// sub-stream of 10,000, from offsets spread over it.
func BenchmarkReadStream(b *testing.B) {
	st := open(b, boltstore.WithNoSync(), boltstore.WithGroupCommit())
	m := &benchMessage().Message
	const n = 10_000
	for range n {
		if _, err := st.Append(b.Context(), benchStream, m); err != nil {
			b.Fatal(err)
		}
	}
	var after uint64
	for b.Loop() {
		got, err := st.ReadStream(b.Context(), benchStream, after, 20)
		if err != nil || len(got) == 0 {
			b.Fatalf("ReadStream after %d: %d entries, %v", after, len(got), err)
		}
		after = (after + 997) % (n - 20)
	}
}
