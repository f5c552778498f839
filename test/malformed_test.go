package e2e_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/mqttless/mqttless/core/packet"
)

// malformedFrames are frames a broker must refuse as malformed, built at
// version v.
func malformedFrames(t testing.TB, v packet.Version, topic string) map[string][]byte {
	t.Helper()
	enc := func(p packet.Packet) []byte {
		b, err := p.Append(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	qos3 := enc(&packet.Publish{Topic: topic, QoS: 1, PacketID: 1, Payload: []byte("x")})
	qos3[0] |= 0x06 // QoS bits 11
	subFlags := enc(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: topic}}})
	subFlags[0] = 0x80 // SUBSCRIBE with reserved flags 0000
	badUTF8 := enc(&packet.Publish{Topic: topic + "/\xff\xfe", QoS: 0, Payload: []byte("x")})
	return map[string][]byte{
		"PUBLISH QoS 3":               qos3,
		"SUBSCRIBE reserved flags":    subFlags,
		"remaining length of 5 bytes": {0x30, 0xff, 0xff, 0xff, 0xff, 0x7f},
		"topic not UTF-8":             badUTF8,
		"reserved packet type 0":      {0x00, 0x00},
	}
}

// TestMalformedPacket sends malformed packets on connections of their own
// while two other clients keep publishing and receiving: each malformed
// connection is closed (at 5.0 after DISCONNECT 0x81), and nothing else is
// disturbed.
//
// 5.0 [MQTT-4.13.1-1] [MQTT-3.3.1-4] [MQTT-2.1.3-1] [MQTT-1.5.5-1]
// [MQTT-1.5.4-1] [MQTT-3.8.1-1]; 3.1.1 [MQTT-4.8.0-1] [MQTT-3.3.1-4]
// [MQTT-2.2.2-2] [MQTT-1.5.3-1].
func TestMalformedPacket(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	forVersions(t, func(t *testing.T, level byte) {
		v := packet.Version(level)
		root := topicRoot("malformed")
		sub := connectAs(t, level, b.addr, uniq("mal-sub"), true)
		sub.sub(root+"/ok", 1)
		pub := connectAs(t, level, b.addr, uniq("mal-pub"), true)

		// The healthy pair keeps talking while the malformed connections
		// come and go.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		sent := 0
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := pubErr(pub, root+"/ok", fmt.Sprint(sent)); err != nil {
					t.Errorf("publishing beside the malformed connections: %v", err)
					return
				}
				sent++
				time.Sleep(5 * time.Millisecond)
			}
		}()

		for name, frame := range malformedFrames(t, v, root+"/bad") {
			c, _ := rawConnect(t, b.addr, v, uniq("mal"), true)
			c.sendBytes(frame)
			d := c.expectClose(waitTime)
			switch {
			case v == packet.V5 && (d == nil || d.ReasonCode != packet.MalformedPacket):
				t.Errorf("%s: got DISCONNECT %+v, want 0x81", name, d)
			case v == packet.V311 && d != nil:
				t.Errorf("%s: 3.1.1 connection got a DISCONNECT", name)
			}
		}
		close(stop)
		wg.Wait()
		for i := range sent {
			expectMsg(t, sub, root+"/ok", fmt.Sprint(i))
		}
		expectNoMsg(t, sub, quietTime)
		if sent == 0 {
			t.Errorf("nothing was published beside the malformed connections")
		}
	})
}

// pubErr publishes at QoS 1 and returns the error instead of failing, for
// use off the test goroutine.
func pubErr(c testClient, topic, payload string) (err error) {
	switch c := c.(type) {
	case *v3Client:
		tok := c.c.Publish(topic, 1, false, payload)
		if !tok.WaitTimeout(waitTime) {
			return fmt.Errorf("no PUBACK within %v", waitTime)
		}
		return tok.Error()
	case *v5Client:
		_, err = c.c.Publish(ctx(c.t, waitTime), &paho.Publish{Topic: topic, QoS: 1, Payload: []byte(payload)})
		return err
	}
	return fmt.Errorf("unknown client %T", c)
}

// TestPacketTooLarge runs a broker with -max-packet-size 256: it announces
// the limit, and a bigger packet closes the connection (at 5.0 after
// DISCONNECT 0x95) without reaching any subscriber.
//
// Section 3.1.2.11.4 and 3.2.2.3.6 (Maximum Packet Size), [MQTT-3.2.2-15]
// the client obligation the broker enforces, [MQTT-4.13.1-1].
func TestPacketTooLarge(t *testing.T) {
	t.Parallel()
	b := startBroker(t, withFlags("-max-packet-size", "256"))
	forRaw(t, func(t *testing.T, v packet.Version) {
		root := topicRoot("toolarge")
		w := watcher(t, b.addr, v, root)
		c, ack := rawConnect(t, b.addr, v, uniq("large"), true)
		if v == packet.V5 && (!ack.Properties.Has(packet.PropMaximumPacketSize) || ack.Properties.MaximumPacketSize != 256) {
			t.Errorf("CONNACK Maximum Packet Size %d, want 256", ack.Properties.MaximumPacketSize)
		}
		c.publish(&packet.Publish{Topic: root, QoS: 1, PacketID: 1, Payload: bytes.Repeat([]byte("s"), 100)})
		w.ack(w.expectPublish(root, string(bytes.Repeat([]byte("s"), 100))))
		c.send(&packet.Publish{Topic: root, QoS: 1, PacketID: 2, Payload: bytes.Repeat([]byte("L"), 300)})
		d := c.expectClose(waitTime)
		if v == packet.V5 && (d == nil || d.ReasonCode != packet.PacketTooLarge) {
			t.Errorf("got DISCONNECT %+v, want 0x95", d)
		}
		w.expectNone(quietTime)
	})
}
