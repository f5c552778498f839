package e2e_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
)

// Migration from delivery v1 to v2 (docs/architecture.md, "Delivery v2",
// "Migration"): a persistent session that a v1 broker left with QoS 1 and
// 2 messages in flight and queued reconnects to a v2 broker on the same
// store. It must get what was in flight again, with DUP and the packet
// identifiers it was sent under, a released QoS 2 message as PUBREL
// [MQTT-4.4.0-1] [MQTT-3.3.1-1]; then what v1 queued; then what was
// published after the upgrade (on the streams); each message once, in
// order per topic [MQTT-4.6.0-6].
func TestMigrateV1SessionToV2(t *testing.T) {
	needOwnBroker(t)
	dir := t.TempDir()
	flags := []string{"-max-inflight", "20"}
	v1 := startBroker(t, withDataDir(dir), withFlags(append([]string{"-delivery", "v1"}, flags...)...))

	root := topicRoot("migrate")
	topics := map[byte]string{1: root + "/q1", 2: root + "/q2"}
	id := uniq("migrate-sub")
	sub, _ := rawConnect(t, v1.addr, packet.V5, id, false)
	sub.subscribe(1, packet.Subscription{Filter: topics[1], QoS: 1}, packet.Subscription{Filter: topics[2], QoS: 2})

	pub, _ := rawConnect(t, v1.addr, packet.V5, uniq("migrate-pub"), true)
	pubID := uint16(0)
	publish := func(pub *rawClient, qos byte, from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			pubID++
			pub.publish(&packet.Publish{Topic: topics[qos], QoS: qos, PacketID: pubID, Payload: []byte(strconv.Itoa(i))})
		}
	}
	// A warm-up, acknowledged, so that v1's packet identifiers move past
	// -max-inflight, into what v2's PIDPlan gives its streams.
	const warm = 25
	publish(pub, 1, -warm, 0)
	for i := -warm; i < 0; i++ {
		sub.ack(sub.expectPublish(topics[1], strconv.Itoa(i)))
	}

	// v1: 0..9 of each topic sent; QoS 1 0..4 acknowledged, QoS 2 0..2
	// completed and 3 released (PUBREC, PUBREL, no PUBCOMP); the rest in
	// flight. Then 10..29 queued while the session is offline.
	publish(pub, 1, 0, 10)
	publish(pub, 2, 0, 10)
	sent := map[string]uint16{} // "qos/n" -> packet id of the first sending
	for range 20 {
		p := expect[*packet.Publish](t, sub)
		sent[fmt.Sprintf("%d/%s", p.QoS, p.Payload)] = p.PacketID
		n, _ := strconv.Atoi(string(p.Payload))
		switch {
		case p.QoS == 1 && n < 5, p.QoS == 2 && n < 3:
			sub.ack(p)
		case p.QoS == 2 && n == 3:
			sub.send(&packet.Pubrec{PacketID: p.PacketID})
			sub.expectPubrel(p.PacketID)
		}
	}
	sub.ping()
	sub.disconnect(packet.Success)
	publish(pub, 1, 10, 30)
	publish(pub, 2, 10, 30)
	pub.close()
	if err := v1.stop(); err != nil {
		t.Fatalf("stopping the v1 broker: %v", err)
	}

	// v2 on the same store: 30..39 published while the session is offline.
	v2 := startBroker(t, withDataDir(dir), withFlags(append([]string{"-delivery", "v2"}, flags...)...))
	pub, _ = rawConnect(t, v2.addr, packet.V5, uniq("migrate-pub"), true)
	defer pub.close()
	publish(pub, 1, 30, 40)
	publish(pub, 2, 30, 40)

	sub = reconnectAfterRestart(t, v2, packet.V5, id)
	defer sub.close()
	next := map[byte]int{1: 5, 2: 4} // the next message expected per QoS
	released := sent["2/3"]
	receive := func(upTo int) {
		t.Helper()
		for next[1] < upTo || next[2] < upTo || released != 0 {
			p, err := sub.next(waitTime)
			if err != nil {
				t.Fatalf("after the upgrade, waiting for QoS 1 %d, QoS 2 %d, PUBREL %d: %v", next[1], next[2], released, err)
			}
			switch p := p.(type) {
			case *packet.Pubrel:
				if p.PacketID != released {
					t.Fatalf("PUBREL %d, want %d (the released QoS 2 message)", p.PacketID, released)
				}
				released = 0
				sub.send(&packet.Pubcomp{PacketID: p.PacketID})
			case *packet.Publish:
				n, err := strconv.Atoi(string(p.Payload))
				if err != nil || !strings.HasPrefix(p.Topic, root) || topics[p.QoS] != p.Topic {
					t.Fatalf("unexpected PUBLISH %q %q QoS %d", p.Topic, p.Payload, p.QoS)
				}
				if n != next[p.QoS] {
					t.Fatalf("QoS %d message %d, want %d: lost, repeated or out of order", p.QoS, n, next[p.QoS])
				}
				next[p.QoS]++
				if n < 10 { // in flight under v1
					if want := sent[fmt.Sprintf("%d/%d", p.QoS, n)]; !p.Dup || p.PacketID != want {
						t.Errorf("QoS %d message %d resent with DUP %v under packet id %d, want DUP under %d", p.QoS, n, p.Dup, p.PacketID, want)
					}
				} else if p.Dup {
					t.Errorf("QoS %d message %d, first sent, has DUP", p.QoS, n)
				}
				sub.ack(p)
			default:
				t.Fatalf("got %s %+v", p.Type(), p)
			}
		}
	}
	receive(40)

	// Online, after the upgrade: on the streams.
	publish(pub, 1, 40, 45)
	publish(pub, 2, 40, 45)
	receive(45)
	sub.expectNone(500 * time.Millisecond)

	// Everything acknowledged: nothing again after a reconnect.
	sub.ping()
	sub.disconnect(packet.Success)
	sub = reconnectAfterRestart(t, v2, packet.V5, id)
	defer sub.close()
	sub.expectNone(time.Second)
}
