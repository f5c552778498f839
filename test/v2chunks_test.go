package e2e_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
)

// Delivery v2's fan-out in chunks (core/session/chunk.go): with
// -fanout-chunk 2, a topic with eight subscriptions (six online, one
// offline, the publisher's own under No Local) is fanned out in four
// chunks, each run apart from the publish call (in the broker's process,
// or in the function's under the emulator). What a subscriber relies on
// holds as without chunks: every online subscriber gets every message,
// once, in publish order [MQTT-4.6.0-6]; the offline one finds them all
// when it comes back; the publisher gets none of its own [MQTT-3.8.3-3].
func TestV2ChunkedFanOut(t *testing.T) {
	chunkedFanOut(t, v2Broker(t, "-fanout-chunk", "2", "-order-wait", "300ms"))
}

// A chunk that fails part-way, after delivering to half its clients, and
// is run again delivers nothing twice: each proxy's window takes an offset
// once. MQTTLESS_FANOUT_FAIL_ONCE=1 makes each function process fail its
// first chunk so (infra/lambdafn/chunks.go); on the serverless stack only,
// where the functions read it.
func TestV2ChunkRetriedNoDuplicates(t *testing.T) {
	if e2eStack != "lambda" {
		t.Skip("the injected chunk failure is the functions' (MQTTLESS_E2E_STACK=lambda)")
	}
	b := v2Broker(t, "-fanout-chunk", "2", "-order-wait", "300ms", "-e2e-fanout-fail-once", "1")
	chunkedFanOut(t, b)
	if !strings.Contains(b.log.String(), "failing a fan-out chunk mid-way") {
		t.Fatal("no chunk failed: the functions did not read MQTTLESS_FANOUT_FAIL_ONCE")
	}
}

// chunkedFanOut runs the scenario of TestV2ChunkedFanOut on b: expectNone
// after each subscriber's messages finds any second copy.
func chunkedFanOut(t *testing.T, b *broker) {
	t.Helper()
	topic := topicRoot("v2-chunks")
	const online, n = 6, 40
	subs := make([]*rawClient, online)
	for i := range subs {
		subs[i], _ = rawConnect(t, b.addr, packet.V5, uniq("v2-chunk"), false)
		defer subs[i].close()
		subs[i].subscribe(1, packet.Subscription{Filter: topic, QoS: 1})
	}
	offID := uniq("v2-chunk-off")
	off, _ := rawConnect(t, b.addr, packet.V5, offID, false)
	off.subscribe(1, packet.Subscription{Filter: topic, QoS: 1})
	off.disconnect(packet.Success)
	pub, _ := rawConnect(t, b.addr, packet.V5, uniq("v2-chunk-pub"), true)
	defer pub.close()
	pub.subscribe(1, packet.Subscription{Filter: topic, QoS: 1, NoLocal: true})
	// Each new follow reads its stream once, -order-wait after its SUBACK,
	// whatever was delivered; from here on only the chunks deliver.
	time.Sleep(time.Second)

	for i := range n {
		if rc := pub.publish(&packet.Publish{Topic: topic, QoS: 1, PacketID: uint16(i + 1), Payload: []byte(strconv.Itoa(i))}); rc != packet.Success {
			t.Fatalf("PUBACK %d: %s, want Success", i, rc)
		}
	}
	for _, s := range subs {
		for i := range n {
			s.ack(s.expectPublish(topic, strconv.Itoa(i)))
		}
	}
	for _, s := range subs {
		s.expectNone(300 * time.Millisecond)
	}
	pub.expectNone(300 * time.Millisecond)

	back := dialRaw(t, b.addr, packet.V5)
	defer back.close()
	if ack := back.mustConnect(connectPacket(packet.V5, offID, false)); !ack.SessionPresent {
		t.Fatal("session not present")
	}
	for i := range n {
		back.ack(back.expectPublish(topic, strconv.Itoa(i)))
	}
	back.expectNone(300 * time.Millisecond)
}
