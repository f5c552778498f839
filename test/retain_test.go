package e2e_test

import (
	"slices"
	"testing"

	"github.com/eclipse/paho.golang/paho"
)

// TestRetained stores, replaces and clears retained messages and checks
// what subscribers get: the retained message on subscribe with the retain
// flag, wildcard subscriptions included; live messages without it.
//
// 3.1.1 [MQTT-3.3.1-5] [MQTT-3.3.1-6] [MQTT-3.3.1-7] [MQTT-3.3.1-8]
// [MQTT-3.3.1-9] [MQTT-3.3.1-10] [MQTT-3.3.1-11]; 5.0 [MQTT-3.3.1-5]
// [MQTT-3.3.1-6] [MQTT-3.3.1-7] [MQTT-3.3.1-8] [MQTT-3.3.1-9]
// [MQTT-3.3.1-12] (section 3.3.1.3: retained messages sent on subscribe
// carry RETAIN 1).
func TestRetained(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	forVersions(t, func(t *testing.T, level byte) {
		root := topicRoot("retain")
		pub := connectAs(t, level, b.addr, uniq("rpub"), true)
		pub.pub(root+"/a", 1, true, "first")

		s1 := connectAs(t, level, b.addr, uniq("rsub"), true)
		s1.sub(root+"/a", 1)
		if m := expectMsg(t, s1, root+"/a", "first"); !m.Retain || m.QoS != 1 {
			t.Errorf("retained message on subscribe: retain %v QoS %d, want retain at QoS 1", m.Retain, m.QoS)
		}
		pub.pub(root+"/a", 1, true, "second") // replaces "first"
		if m := expectMsg(t, s1, root+"/a", "second"); m.Retain {
			t.Errorf("live message to an established subscription has RETAIN 1")
		}
		pub.pub(root+"/a", 1, false, "not retained") // leaves "second" in place
		expectMsg(t, s1, root+"/a", "not retained")
		pub.pub(root+"/b", 0, true, "b at QoS 0") // a QoS 0 retained message is kept too
		// A QoS 0 PUBLISH has no acknowledgement; a QoS 1 one on the same
		// connection is handled after it, so its PUBACK means "b" is stored.
		pub.pub(root+"/sync", 1, false, "sync")

		s2 := connectAs(t, level, b.addr, uniq("rsub"), true)
		s2.sub(root+"/#", 2)
		got := recvN(t, s2, 2)
		slices.SortFunc(got, func(x, y msg) int {
			if x.Topic < y.Topic {
				return -1
			}
			return 1
		})
		want := []msg{{Topic: root + "/a", Payload: "second", QoS: 1, Retain: true}, {Topic: root + "/b", Payload: "b at QoS 0", QoS: 0, Retain: true}}
		if !slices.Equal(got, want) {
			t.Errorf("wildcard subscription got retained %+v, want %+v", got, want)
		}
		expectNoMsg(t, s2, quietTime)

		pub.pub(root+"/a", 1, true, "") // clears the retained message, and is delivered as usual
		if m := expectMsg(t, s1, root+"/a", ""); m.Retain {
			t.Errorf("the clearing message reached a subscriber with RETAIN 1")
		}
		expectMsg(t, s2, root+"/a", "")

		s3 := connectAs(t, level, b.addr, uniq("rsub"), true)
		s3.sub(root+"/#", 1)
		expectMsg(t, s3, root+"/b", "b at QoS 0")
		expectNoMsg(t, s3, quietTime)
		pub.pub(root+"/b", 0, true, "")
	})
}

// TestRetainHandling5 checks the 5.0 subscription options Retain Handling
// (0: send retained messages on every subscribe, 1: only for a new
// subscription, 2: never) and Retain As Published.
//
// [MQTT-3.3.1-9] [MQTT-3.3.1-10] [MQTT-3.3.1-11] [MQTT-3.3.1-12]
// [MQTT-3.3.1-13]; [MQTT-3.8.4-3] [MQTT-3.8.4-4] a repeated filter replaces
// the subscription and, with Retain Handling 0, resends retained messages.
func TestRetainHandling5(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	root := topicRoot("rh")
	topic := root + "/x"
	pub := connectV5(t, b.addr, v5Connect(uniq("rhpub"), true))
	pub.pub(topic, 1, true, "kept")
	t.Cleanup(func() { pub.pub(topic, 1, true, "") })

	sub := func(c *v5Client, rh byte, rap bool) {
		c.subscribe(paho.SubscribeOptions{Topic: topic, QoS: 1, RetainHandling: rh, RetainAsPublished: rap})
	}
	rh0 := connectV5(t, b.addr, v5Connect(uniq("rh0"), true))
	sub(rh0, 0, false)
	rh0.expectMsg(topic, "kept")
	sub(rh0, 0, false)
	rh0.expectMsg(topic, "kept")

	rh1 := connectV5(t, b.addr, v5Connect(uniq("rh1"), true))
	sub(rh1, 1, false)
	rh1.expectMsg(topic, "kept")
	sub(rh1, 1, false)
	rh1.expectNone(quietTime)

	rh2 := connectV5(t, b.addr, v5Connect(uniq("rh2"), true))
	sub(rh2, 2, false)
	rap := connectV5(t, b.addr, v5Connect(uniq("rap"), true))
	sub(rap, 2, true)
	rh2.expectNone(quietTime)
	rap.expectNone(0)

	pub.pub(topic, 1, true, "live")
	if m := rh2.expectMsg(topic, "live"); m.Retain {
		t.Errorf("Retain As Published 0: live retained message forwarded with RETAIN 1")
	}
	if m := rap.expectMsg(topic, "live"); !m.Retain {
		t.Errorf("Retain As Published 1: live retained message forwarded with RETAIN 0")
	}
	pub.pub(topic, 1, false, "plain")
	if m := rap.expectMsg(topic, "plain"); m.Retain {
		t.Errorf("Retain As Published 1: message published without RETAIN forwarded with it")
	}
}
