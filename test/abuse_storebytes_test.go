package e2e_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
)

// TestAbuseStoreBytes: many offline sessions, each within its own
// -max-queued-bytes, together stop at -max-store-bytes (plus the one
// message that crosses it): the store counts the bytes queued by all
// sessions in the transaction of each enqueue (issue 14, Medium 1: "a store
// quota"). Once the queues drain, there is room again.
func TestAbuseStoreBytes(t *testing.T) {
	needOwnBroker(t)
	if e2eStore == "dynamo" {
		// -store dynamo refuses -max-store-bytes at start-up (infra/config
		// tests that); its sessions are bounded by -max-queued-bytes.
		t.Skip("-max-store-bytes is for the embedded store; DynamoDB refuses it")
	}
	const (
		perSession = 256 << 10
		store      = 512 << 10
		size       = 64 << 10
		sessions   = 8
		sent       = 10
	)
	// -delivery v1: -max-store-bytes counts the per-session queues; under
	// v2 a non-shared subscription's messages are stored once per filter
	// in streams, which it does not count (README, "Delivery v2").
	b := startBroker(t, withFlags(hostileFlags("-delivery", "v1", "-max-queued-bytes", fmt.Sprint(perSession),
		"-max-store-bytes", fmt.Sprint(store), "-max-queued", "1000")...))
	id := func(i int) string { return fmt.Sprintf("store-bytes-%d", i) }
	for i := range sessions {
		s := dialRaw(t, b.addr, packet.V5)
		s.mustConnect(connectPacket(packet.V5, id(i), false))
		s.subscribe(1, packet.Subscription{Filter: "abuse/store", QoS: 1})
		s.disconnect(packet.Success)
	}
	pub := dialRaw(t, b.addr, packet.V5)
	pub.mustConnect(connectPacket(packet.V5, "store-bytes-pub", true))
	payload := bytes.Repeat([]byte{'s'}, size)
	quota := 0
	for i := range sent {
		if pub.publish(&packet.Publish{Topic: "abuse/store", Payload: payload, QoS: 1, PacketID: uint16(i + 1)}) == packet.QuotaExceeded {
			quota++
		}
	}
	drain := func(i int) int {
		s := dialRaw(t, b.addr, packet.V5)
		defer s.close()
		if ack := s.mustConnect(connectPacket(packet.V5, id(i), false)); !ack.SessionPresent {
			t.Fatalf("session %s not present", id(i))
		}
		got := 0
		for {
			p, err := s.next(time.Second)
			if err != nil {
				break
			}
			if pp, ok := p.(*packet.Publish); ok {
				got++
				s.send(&packet.Puback{PacketID: pp.PacketID})
			}
		}
		s.disconnect(packet.Success)
		return got
	}
	total := 0
	for i := range sessions {
		total += drain(i)
	}
	// Each queued copy is a little over size (topic, properties): the
	// store takes copies while it holds fewer than store bytes.
	want := store/size + 1
	abuseReport(t, "offline queue bytes, all sessions", fmt.Sprintf("-max-store-bytes %d KiB (default 1 GiB), -max-queued-bytes %d KiB", store>>10, perSession>>10),
		fmt.Sprintf("%d sessions × %d messages of %d KiB: %d copies queued (%d KiB) in all; each session alone could hold %d KiB; %d PUBACKs 0x97", sessions, sent, size>>10, total, total*size>>10, perSession>>10, quota))
	if total > want {
		t.Fatalf("%d copies of %d KiB queued in all with -max-store-bytes %d KiB, want at most %d", total, size>>10, store>>10, want)
	}
	if quota != sent-1 {
		t.Errorf("%d of %d PUBACKs 0x97 quota exceeded, want all but the first (which filled the store)", quota, sent)
	}
	if total < store/size {
		t.Fatalf("%d copies of %d KiB queued in all with -max-store-bytes %d KiB, want %d: the store is full before its quota", total, size>>10, store>>10, store/size)
	}
	// The queues drained: room again for every session.
	pub.publish(&packet.Publish{Topic: "abuse/store", Payload: []byte("again"), QoS: 1, PacketID: sent + 1})
	for i := range sessions {
		if got := drain(i); got != 1 {
			t.Fatalf("after the queues drained, session %s got %d messages, want 1", id(i), got)
		}
	}
}
