package e2e_test

import (
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
)

// willConnect connects id with a will on topic and returns the connection.
// At 5.0 delay sets the Will Delay Interval and expiry the Session Expiry
// Interval (the session is clean when expiry is 0).
func willConnect(t testing.TB, addr string, v packet.Version, id string, w *packet.Will, delay, expiry uint32) *rawClient {
	t.Helper()
	c := dialRaw(t, addr, v)
	p := connectPacket(v, id, expiry == 0)
	p.Will = w
	if v == packet.V5 {
		if delay > 0 {
			w.Properties.WillDelay = delay
			w.Properties.Set(packet.PropWillDelay)
		}
		p.Properties.SessionExpiry = expiry
		p.Properties.Set(packet.PropSessionExpiry)
	}
	c.mustConnect(p)
	return c
}

// watcher subscribes a fresh raw client to filter at QoS 2.
func watcher(t testing.TB, addr string, v packet.Version, filter string) *rawClient {
	t.Helper()
	c, _ := rawConnect(t, addr, v, uniq("watch"), true)
	c.subscribe(1, packet.Subscription{Filter: filter, QoS: 2})
	return c
}

// TestWillOnConnectionLoss drops a connection without DISCONNECT: its will
// is published, at its QoS. After a DISCONNECT no will is published.
//
// [MQTT-3.1.2-8] the will is published when the connection closes without
// DISCONNECT; 3.1.1 [MQTT-3.1.2-10], 5.0 [MQTT-3.1.2-10] [MQTT-3.14.4-3]
// DISCONNECT removes it.
func TestWillOnConnectionLoss(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	forRaw(t, func(t *testing.T, v packet.Version) {
		root := topicRoot("will")
		w := watcher(t, b.addr, v, root+"/#")

		c := willConnect(t, b.addr, v, uniq("willer"), &packet.Will{Topic: root + "/lost", QoS: 1, Payload: []byte("gone")}, 0, 0)
		c.close()
		p := w.expectPublish(root+"/lost", "gone")
		if p.QoS != 1 || p.Retain {
			t.Errorf("will arrived at QoS %d retain %v, want QoS 1 not retained", p.QoS, p.Retain)
		}
		w.ack(p)

		c = willConnect(t, b.addr, v, uniq("willer"), &packet.Will{Topic: root + "/clean", QoS: 1, Payload: []byte("never")}, 0, 0)
		c.disconnect(packet.Success)
		w.expectNone(quietTime)
	})
}

// TestWillRetainAndQoS publishes a will with Will Retain and QoS 2: it
// arrives at QoS 2 and is kept as the topic's retained message. A will
// without Will Retain is not retained.
//
// 3.1.1 [MQTT-3.1.2-17], 5.0 [MQTT-3.1.2-15] a will with Will Retain is
// retained; 3.1.1 [MQTT-3.1.2-16], 5.0 [MQTT-3.1.2-14] one without is not;
// will QoS (3.1.1 and 5.0 section 3.1.2.6).
func TestWillRetainAndQoS(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	forRaw(t, func(t *testing.T, v packet.Version) {
		root := topicRoot("willret")
		w := watcher(t, b.addr, v, root+"/#")

		c := willConnect(t, b.addr, v, uniq("willer"), &packet.Will{Topic: root + "/r", QoS: 2, Retain: true, Payload: []byte("retained will")}, 0, 0)
		c.close()
		p := w.expectPublish(root+"/r", "retained will")
		if p.QoS != 2 {
			t.Errorf("will arrived at QoS %d, want 2", p.QoS)
		}
		w.ack(p)
		c = willConnect(t, b.addr, v, uniq("willer"), &packet.Will{Topic: root + "/n", QoS: 1, Payload: []byte("plain will")}, 0, 0)
		c.close()
		w.ack(w.expectPublish(root+"/n", "plain will"))

		late, _ := rawConnect(t, b.addr, v, uniq("late"), true)
		late.subscribe(1, packet.Subscription{Filter: root + "/#", QoS: 2})
		p = late.expectPublish(root+"/r", "retained will")
		if !p.Retain || p.QoS != 2 {
			t.Errorf("retained will sent on subscribe with retain %v QoS %d, want retain at QoS 2", p.Retain, p.QoS)
		}
		late.ack(p)
		late.expectNone(quietTime) // the will without Will Retain was not kept

		// Clear the retained will so the topic holds nothing after the test.
		pub, _ := rawConnect(t, b.addr, v, uniq("clear"), true)
		pub.publish(&packet.Publish{Topic: root + "/r", Retain: true})
	})
}

// TestWillDelay5 checks the 5.0 Will Delay Interval: the will waits for
// it, is dropped when the client comes back in time, and goes when the
// session ends first. DISCONNECT with reason 0x04 publishes the will.
//
// [MQTT-3.1.2-8] published after the delay or when the session ends;
// [MQTT-3.1.3-9] not when a new connection arrives within the delay;
// section 3.14.2.1 reason code 0x04.
func TestWillDelay5(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	v := packet.V5
	will := func(root, payload string) *packet.Will {
		return &packet.Will{Topic: root, QoS: 1, Payload: []byte(payload)}
	}
	t.Run("after the delay", func(t *testing.T) {
		t.Parallel()
		root := topicRoot("willdelay")
		w := watcher(t, b.addr, v, root)
		c := willConnect(t, b.addr, v, uniq("willer"), will(root, "late"), 1, 60)
		c.close()
		start := time.Now()
		w.expectNone(500 * time.Millisecond)
		w.ack(w.expectPublish(root, "late"))
		if took := time.Since(start); took < 900*time.Millisecond {
			t.Errorf("will published after %v, want after the 1 s delay", took)
		}
	})
	t.Run("reconnect within the delay", func(t *testing.T) {
		t.Parallel()
		root := topicRoot("willback")
		w := watcher(t, b.addr, v, root)
		id := uniq("willer")
		c := willConnect(t, b.addr, v, id, will(root, "never"), 2, 60)
		c.close()
		time.Sleep(200 * time.Millisecond)
		c, _ = rawConnect(t, b.addr, v, id, false)
		w.expectNone(2500 * time.Millisecond)
		c.disconnect(packet.Success)
	})
	t.Run("session ends first", func(t *testing.T) {
		t.Parallel()
		root := topicRoot("willexp")
		w := watcher(t, b.addr, v, root)
		c := willConnect(t, b.addr, v, uniq("willer"), will(root, "session over"), 60, 1)
		c.close()
		start := time.Now()
		w.ack(w.expectPublish(root, "session over"))
		if took := time.Since(start); took < 900*time.Millisecond {
			t.Errorf("will published after %v, want when the session expires after 1 s", took)
		}
	})
	t.Run("DISCONNECT 0x04", func(t *testing.T) {
		t.Parallel()
		root := topicRoot("willdisc")
		w := watcher(t, b.addr, v, root)
		c := willConnect(t, b.addr, v, uniq("willer"), will(root, "asked for"), 0, 0)
		c.disconnect(packet.DisconnectWithWill)
		w.ack(w.expectPublish(root, "asked for"))
	})
}

// TestKeepAlive connects with a keep alive of 1 s: PINGREQ keeps the
// connection open and is answered; a silent client is disconnected after
// 1.5 s (0x8D at 5.0) and its will is published.
//
// 5.0 [MQTT-3.1.2-22], 3.1.1 [MQTT-3.1.2-24] close after 1.5 keep alive
// periods; [MQTT-3.12.4-1] PINGRESP; [MQTT-3.1.2-8] the will goes.
func TestKeepAlive(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	forRaw(t, func(t *testing.T, v packet.Version) {
		root := topicRoot("keepalive")
		w := watcher(t, b.addr, v, root)
		c := dialRaw(t, b.addr, v)
		p := connectPacket(v, uniq("ka"), true)
		p.KeepAlive = 1
		p.Will = &packet.Will{Topic: root, QoS: 1, Payload: []byte("timed out")}
		c.mustConnect(p)
		// Pings every 250 ms for 3 s, twice the time the broker allows a
		// silent client, with slack for a loaded machine.
		for range 12 {
			time.Sleep(250 * time.Millisecond)
			c.ping()
		}
		start := time.Now()
		d := c.expectClose(5 * time.Second)
		if took := time.Since(start); took < time.Second || took > 4*time.Second {
			t.Errorf("silent client closed after %v, want about 1.5 s", took)
		}
		if v == packet.V5 && (d == nil || d.ReasonCode != packet.KeepAliveTimeout) {
			t.Errorf("got DISCONNECT %+v, want 0x8D", d)
		}
		w.ack(w.expectPublish(root, "timed out"))
	})
}
