package e2e_test

import (
	"bufio"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
)

// TestSubscriberChurn publishes QoS 1 messages while clean-session
// subscribers to the topic keep connecting and going away: every PUBLISH is
// acknowledged and the publisher's connection stays open, however a
// subscriber's session ends in the middle of a delivery to it.
//
// [MQTT-3.3.4-1] [MQTT-4.3.2-4] the publisher gets its PUBACK; 5.0
// [MQTT-3.1.2-23] (3.1.1 [MQTT-3.1.2-6]) a clean session ends with its
// connection.
func TestSubscriberChurn(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	root := topicRoot("churn")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				churnOnce(b.addr, root)
			}
		}()
	}
	pub, _ := rawConnect(t, b.addr, packet.V5, uniq("churn-pub"), true)
	deadline := time.Now().Add(1500 * time.Millisecond)
	n := 0
	for id := uint16(1); time.Now().Before(deadline); id = id%1000 + 1 {
		pub.publish(&packet.Publish{Topic: root, QoS: 1, PacketID: id, Payload: []byte("churn")})
		n++
	}
	close(stop)
	wg.Wait()
	pub.ping()
	t.Logf("%d messages published during the churn", n)
}

// churnOnce connects a clean 5.0 session, subscribes to topic at QoS 1 and
// goes away, by DISCONNECT or by dropping the connection. Errors are
// ignored: the broker is free to be slow with these clients.
func churnOnce(addr, topic string) {
	nc, err := net.DialTimeout("tcp", addr, waitTime)
	if err != nil {
		return
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(waitTime))
	fr := packet.NewFrameReader(bufio.NewReader(nc), 0)
	write := func(p packet.Packet) bool {
		b, err := p.Append(nil, packet.V5)
		if err == nil {
			_, err = nc.Write(b)
		}
		return err == nil
	}
	if !write(connectPacket(packet.V5, uniq("churn"), true)) {
		return
	}
	if _, err := fr.ReadFrame(nil); err != nil { // CONNACK
		return
	}
	if !write(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: topic, QoS: 1}}}) {
		return
	}
	if _, err := fr.ReadFrame(nil); err != nil { // SUBACK (or a PUBLISH)
		return
	}
	if seq.Add(1)%2 == 0 {
		write(&packet.Disconnect{})
	}
}
