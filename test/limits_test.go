package e2e_test

// The limits of issue 8, each through a broker started with it set low:
// what a client past the limit gets (a refusal, a failure code, a closed
// connection, a delay) and that a client within it is served.

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
)

// fixedID returns a client id unique to this run, n bytes long (n ≥ 12).
func fixedID(n int) string {
	s := fmt.Sprintf("%s%d", runID, seq.Add(1))
	if len(s) > n {
		return s[len(s)-n:]
	}
	return strings.Repeat("x", n-len(s)) + s
}

// shortRoot returns a one-level topic prefix unique to this run.
func shortRoot() string { return fmt.Sprintf("l%s%d", runID, seq.Add(1)) }

// TestLimitMaxPacketSize runs a broker with -max-packet-size 1024: a 5.0
// client is told the maximum in CONNACK; a PUBLISH within it is delivered,
// and one larger than it closes the connection, with DISCONNECT 0x95
// Packet too large at 5.0 and without a word at 3.1.1.
func TestLimitMaxPacketSize(t *testing.T) {
	t.Parallel()
	b := startBroker(t, withFlags("-max-packet-size", "1024"))
	inTurn(t, func(t *testing.T, v packet.Version) {
		root := topicRoot("maxpkt")
		sub, _ := rawConnect(t, b.addr, v, uniq("maxpkt-sub"), true)
		sub.subscribe(1, packet.Subscription{Filter: root, QoS: 1})
		pub, ack := rawConnect(t, b.addr, v, uniq("maxpkt-pub"), true)
		if v == packet.V5 && (!ack.Properties.Has(packet.PropMaximumPacketSize) || ack.Properties.MaximumPacketSize != 1024) {
			t.Errorf("CONNACK Maximum Packet Size %d (present %v), want 1024", ack.Properties.MaximumPacketSize, ack.Properties.Has(packet.PropMaximumPacketSize))
		}
		fits := strings.Repeat("f", 900)
		pub.publish(&packet.Publish{Topic: root, QoS: 1, PacketID: 1, Payload: []byte(fits)})
		sub.ack(sub.expectPublish(root, fits))

		pub.send(&packet.Publish{Topic: root, QoS: 1, PacketID: 2, Payload: make([]byte, 2000)})
		d := pub.expectClose(waitTime)
		switch {
		case v == packet.V5 && (d == nil || d.ReasonCode != packet.PacketTooLarge):
			t.Errorf("DISCONNECT %v before the close, want 0x95 packet too large", d)
		case v == packet.V311 && d != nil:
			t.Errorf("got DISCONNECT at 3.1.1, want the connection closed without one")
		}
		sub.expectNone(quietTime)
	})
}

// TestLimitMaxClientID runs a broker with -max-client-id 23 (the least it
// takes: the protocol requires 23 bytes to be accepted): a client id of 23
// bytes connects, one of 24 is refused with return code 2 (3.1.1) or 0x85
// Client Identifier not valid (5.0).
func TestLimitMaxClientID(t *testing.T) {
	t.Parallel()
	b := startBroker(t, withFlags("-max-client-id", "23"))
	inTurn(t, func(t *testing.T, v packet.Version) {
		rawConnect(t, b.addr, v, fixedID(23), true)
		c := dialRaw(t, b.addr, v)
		ack := c.connect(connectPacket(v, fixedID(24), true))
		if ack.ReasonCode != packet.ClientIdentifierNotValid {
			t.Fatalf("CONNACK %s for a 24-byte client id, want client identifier not valid (2, 0x85)", ack.ReasonCode)
		}
		c.expectClose(waitTime)
	})
}

// TestLimitTopic runs a broker with -max-topic-length 32 and
// -max-topic-levels 4: a topic at both limits is served; a SUBSCRIBE
// filter over either gets a failure code while the other filters of the
// SUBSCRIBE are granted; a PUBLISH over either closes the connection,
// with DISCONNECT 0x90 Topic Name invalid at 5.0.
func TestLimitTopic(t *testing.T) {
	t.Parallel()
	b := startBroker(t, withFlags("-max-topic-length", "32", "-max-topic-levels", "4"))
	inTurn(t, func(t *testing.T, v packet.Version) {
		r := shortRoot()
		ok := r + "/a/b/" + strings.Repeat("c", 32-len(r)-5) // 4 levels, 32 bytes
		long := r + "/" + strings.Repeat("x", 32-len(r))     // 2 levels, 33 bytes
		deep := r + "/a/b/c/d"                               // 5 levels
		if len(ok) != 32 || len(long) != 33 {
			t.Fatalf("test topics of %d and %d bytes, want 32 and 33", len(ok), len(long))
		}

		sub, _ := rawConnect(t, b.addr, v, uniq("topic-sub"), true)
		ack := sub.suback(1,
			packet.Subscription{Filter: long, QoS: 1},
			packet.Subscription{Filter: ok, QoS: 1},
			packet.Subscription{Filter: deep, QoS: 1},
			packet.Subscription{Filter: r + "/+/+/+/#", QoS: 1})
		if !ack.ReasonCodes[0].IsError() || !ack.ReasonCodes[2].IsError() || !ack.ReasonCodes[3].IsError() ||
			ack.ReasonCodes[1] != packet.GrantedQoS1 {
			t.Errorf("SUBACK %v for [33 bytes, at both limits, 5 levels, 5 levels with wildcards], want [failure granted-QoS-1 failure failure]", ack.ReasonCodes)
		}
		if v == packet.V311 {
			for _, i := range []int{0, 2, 3} {
				if ack.ReasonCodes[i] != packet.UnspecifiedError {
					t.Errorf("SUBACK code %d: %s, want 0x80 at 3.1.1", i, ack.ReasonCodes[i])
				}
			}
		}

		pub, _ := rawConnect(t, b.addr, v, uniq("topic-pub"), true)
		pub.publish(&packet.Publish{Topic: ok, QoS: 1, PacketID: 1, Payload: []byte("at the limits")})
		sub.ack(sub.expectPublish(ok, "at the limits"))

		for _, topic := range []string{long, deep} {
			c, _ := rawConnect(t, b.addr, v, uniq("topic-over"), true)
			c.send(&packet.Publish{Topic: topic, QoS: 1, PacketID: 1, Payload: []byte("over")})
			d := c.expectClose(waitTime)
			if v == packet.V5 && (d == nil || d.ReasonCode != packet.TopicNameInvalid) {
				t.Errorf("PUBLISH to %q: DISCONNECT %v before the close, want 0x90 topic name invalid", topic, d)
			}
		}
		sub.expectNone(quietTime)
	})
}

// TestLimitMaxSubscriptions runs a broker with -max-subscriptions 3: a
// client subscribes to three filters, may subscribe to one of them again,
// but its fourth filter gets 0x97 Quota exceeded (5.0) or 0x80 (3.1.1)
// while the others keep working; after an UNSUBSCRIBE the fourth fits.
func TestLimitMaxSubscriptions(t *testing.T) {
	t.Parallel()
	b := startBroker(t, withFlags("-max-subscriptions", "3"))
	inTurn(t, func(t *testing.T, v packet.Version) {
		root := topicRoot("maxsubs")
		c, _ := rawConnect(t, b.addr, v, uniq("maxsubs"), true)
		c.subscribe(1,
			packet.Subscription{Filter: root + "/1", QoS: 1},
			packet.Subscription{Filter: root + "/2", QoS: 1},
			packet.Subscription{Filter: root + "/3", QoS: 1})
		c.subscribe(2, packet.Subscription{Filter: root + "/1", QoS: 0})
		ack := c.suback(3, packet.Subscription{Filter: root + "/4", QoS: 1})
		if want := refusedCode(v, packet.QuotaExceeded); ack.ReasonCodes[0] != want {
			t.Fatalf("SUBACK %s for the fourth filter, want %s", ack.ReasonCodes[0], want)
		}
		pub, _ := rawConnect(t, b.addr, v, uniq("maxsubs-pub"), true)
		pub.publish(&packet.Publish{Topic: root + "/4", QoS: 1, PacketID: 1, Payload: []byte("4")})
		pub.publish(&packet.Publish{Topic: root + "/3", QoS: 1, PacketID: 2, Payload: []byte("3")})
		c.ack(c.expectPublish(root+"/3", "3"))

		c.send(&packet.Unsubscribe{PacketID: 4, Filters: []string{root + "/1"}})
		if ua := expect[*packet.Unsuback](t, c); v == packet.V5 && (len(ua.ReasonCodes) != 1 || ua.ReasonCodes[0] != packet.Success) {
			t.Errorf("UNSUBACK %v for a filter the client has, want [success]", ua.ReasonCodes)
		}
		// The UNSUBACK came: the next SUBSCRIBE must see the room it made.
		if ack := c.suback(5, packet.Subscription{Filter: root + "/4", QoS: 1}); ack.ReasonCodes[0] != packet.GrantedQoS1 {
			t.Fatalf("SUBACK %s for the fourth filter right after the UNSUBACK of another, want QoS 1 granted: the broker still counts the removed subscription", ack.ReasonCodes[0])
		}
		pub.publish(&packet.Publish{Topic: root + "/4", QoS: 1, PacketID: 3, Payload: []byte("4 again")})
		c.ack(c.expectPublish(root+"/4", "4 again"))
	})
}

// TestLimitMaxInflight runs a broker with -max-inflight 5: a subscriber
// that never acknowledges gets exactly five QoS 1 messages, even a 5.0
// one that announced Receive Maximum 100, and one more for each PUBACK it
// then sends, until all have come in order.
func TestLimitMaxInflight(t *testing.T) {
	t.Parallel()
	b := startBroker(t, withFlags("-max-inflight", "5"))
	inTurn(t, func(t *testing.T, v packet.Version) {
		const n = 12
		root := topicRoot("inflight")
		sub := dialRaw(t, b.addr, v)
		cp := connectPacket(v, uniq("inflight-sub"), true)
		if v == packet.V5 {
			cp.Properties.ReceiveMaximum = 100
			cp.Properties.Set(packet.PropReceiveMaximum)
		}
		sub.mustConnect(cp)
		sub.subscribe(1, packet.Subscription{Filter: root, QoS: 1})
		pub, _ := rawConnect(t, b.addr, v, uniq("inflight-pub"), true)
		for i := range n {
			pub.publish(&packet.Publish{Topic: root, QoS: 1, PacketID: uint16(i + 1), Payload: []byte(fmt.Sprint(i))})
		}
		var inflight []*packet.Publish
		for i := range 5 {
			inflight = append(inflight, sub.expectPublish(root, fmt.Sprint(i)))
		}
		sub.expectNone(time.Second)
		for next := 5; len(inflight) > 0; {
			sub.ack(inflight[0])
			inflight = inflight[1:]
			if next < n {
				inflight = append(inflight, sub.expectPublish(root, fmt.Sprint(next)))
				next++
				if len(inflight) == 5 {
					sub.expectNone(quietTime)
				}
			}
		}
		sub.expectNone(quietTime)
	})
}

// TestLimitMaxQueued runs a broker with -max-queued 3: an offline
// persistent session keeps three of six QoS 1 and QoS 2 messages
// published to it (the first three under delivery v1, the last three
// under v2: keptFrom), delivered at their QoS when it comes back, and no
// more.
func TestLimitMaxQueued(t *testing.T) {
	t.Parallel()
	b := startBroker(t, withFlags("-max-queued", "3"))
	inTurn(t, func(t *testing.T, v packet.Version) {
		id, root := uniq("queued"), topicRoot("queued")
		sub, _ := rawConnect(t, b.addr, v, id, false)
		sub.subscribe(1, packet.Subscription{Filter: root, QoS: 2})
		sub.disconnect(packet.Success)
		pub, _ := rawConnect(t, b.addr, v, uniq("queued-pub"), true)
		for i := range 6 {
			pub.publish(&packet.Publish{Topic: root, QoS: byte(1 + i%2), PacketID: uint16(i + 1), Payload: []byte(fmt.Sprint(i))})
		}
		sub, ack := rawConnect(t, b.addr, v, id, false)
		if !ack.SessionPresent {
			t.Fatal("the persistent session is gone")
		}
		for i := keptFrom(6, 3); i < keptFrom(6, 3)+3; i++ {
			p := sub.expectPublish(root, fmt.Sprint(i))
			if p.QoS != byte(1+i%2) {
				t.Errorf("message %d at QoS %d, want %d", i, p.QoS, 1+i%2)
			}
			sub.ack(p)
		}
		sub.expectNone(quietTime)
	})
}

// TestLimitPublishRate runs a broker with -max-publish-rate 20: a client
// that writes 60 QoS 0 PUBLISH packets at once is slowed down, not cut
// off, so they reach a subscriber no sooner than about two seconds (the
// first 20 at once, the other 40 at 20 a second), and all of them arrive.
func TestLimitPublishRate(t *testing.T) {
	t.Parallel()
	b := startBroker(t, withFlags("-max-publish-rate", "20"))
	inTurn(t, func(t *testing.T, v packet.Version) {
		const n = 60
		root := topicRoot("pubrate")
		sub, _ := rawConnect(t, b.addr, v, uniq("pubrate-sub"), true)
		sub.subscribe(1, packet.Subscription{Filter: root, QoS: 0})
		pub, _ := rawConnect(t, b.addr, v, uniq("pubrate-pub"), true)
		var frames []byte
		for i := range n {
			var err error
			if frames, err = (&packet.Publish{Topic: root, Payload: []byte(fmt.Sprint(i))}).Append(frames, v); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		pub.sendBytes(frames)
		for i := range n {
			p, err := sub.next(20 * time.Second)
			if err != nil {
				t.Fatalf("message %d of %d after %v: %v", i, n, time.Since(start).Round(time.Millisecond), err)
			}
			pp, ok := p.(*packet.Publish)
			if !ok || string(pp.Payload) != fmt.Sprint(i) {
				t.Fatalf("got %s %+v, want PUBLISH %d", p.Type(), p, i)
			}
		}
		took := time.Since(start)
		t.Logf("%d messages at -max-publish-rate 20 arrived in %v", n, took.Round(time.Millisecond))
		if took < 1500*time.Millisecond {
			t.Errorf("%d messages arrived in %v, want at least ~2s at 20 a second", n, took)
		}
		pub.ping()
	})
}

// TestLimitConnRate runs a broker with -max-conn-rate 5: of a burst of 20
// connections from 127.0.0.1 some are refused (closed before their
// CONNACK, or refused with 0x9F at 5.0) and some served; after a pause
// of a second and a half a new connection is served again.
func TestLimitConnRate(t *testing.T) {
	t.Parallel()
	b := startBroker(t, withFlags("-max-conn-rate", "5"))
	var mu sync.Mutex
	served, refused := 0, 0
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok := tryConnectOnce(b.addr, bothVersions[i%2])
			mu.Lock()
			defer mu.Unlock()
			if ok {
				served++
			} else {
				refused++
			}
		}()
	}
	wg.Wait()
	t.Logf("burst of 20 connections at -max-conn-rate 5: %d served, %d refused", served, refused)
	if refused == 0 {
		t.Errorf("all 20 connections of the burst were served, want some refused")
	}
	if served == 0 {
		t.Errorf("no connection of the burst was served, want about 5")
	}
	time.Sleep(1500 * time.Millisecond)
	for _, v := range bothVersions {
		rawConnect(t, b.addr, v, uniq("connrate-after"), true)
	}
}

// tryConnectOnce dials addr, sends a CONNECT at version v and reports
// whether a CONNACK accepting it comes back. It does not touch the test,
// so any goroutine may call it.
func tryConnectOnce(addr string, v packet.Version) bool {
	nc, err := net.DialTimeout("tcp", addr, waitTime)
	if err != nil {
		return false
	}
	defer nc.Close()
	b, err := connectPacket(v, uniq("connrate"), true).Append(nil, v)
	if err != nil {
		return false
	}
	nc.SetDeadline(time.Now().Add(waitTime))
	if _, err := nc.Write(b); err != nil {
		return false
	}
	frame, err := packet.NewFrameReader(bufio.NewReader(nc), 0).ReadFrame(nil)
	if err != nil {
		return false
	}
	p, err := packet.Decode(frame, v)
	if err != nil {
		return false
	}
	ack, isAck := p.(*packet.Connack)
	return isAck && ack.ReasonCode == packet.Success
}

// TestLimitConnectTimeout runs a broker with -connect-timeout 1s: a TCP
// connection that sends nothing is closed after about a second, while a
// client that sends its CONNECT in time keeps its connection past it.
func TestLimitConnectTimeout(t *testing.T) {
	t.Parallel()
	b := startBroker(t, withFlags("-connect-timeout", "1s"))
	inTurn(t, func(t *testing.T, v packet.Version) {
		start := time.Now()
		idle := dialRaw(t, b.addr, v)
		late := dialRaw(t, b.addr, v)
		time.Sleep(300 * time.Millisecond)
		late.mustConnect(connectPacket(v, uniq("timeout-ok"), true))
		if d := idle.expectClose(5 * time.Second); d != nil {
			t.Errorf("got DISCONNECT %s before CONNECT, want a silent close", d.ReasonCode)
		}
		took := time.Since(start)
		t.Logf("a silent connection was closed after %v", took.Round(time.Millisecond))
		if took < 900*time.Millisecond {
			t.Errorf("a silent connection was closed after %v, before -connect-timeout 1s", took)
		}
		time.Sleep(time.Until(start.Add(1500 * time.Millisecond)))
		late.ping()
	})
}

// TestLimitUserProperties runs a broker with -max-user-properties 2 and
// -max-user-property-bytes 16: a CONNECT or PUBLISH within both is served;
// a CONNECT with 3 user properties gets CONNACK 0x97, and a PUBLISH with 3,
// or with 17 bytes in 2, gets DISCONNECT 0x97 and a close (the defaults,
// 128 and 64 KiB, accept all of them).
func TestLimitUserProperties(t *testing.T) {
	t.Parallel()
	b := startBroker(t, withFlags("-max-user-properties", "2", "-max-user-property-bytes", "16"))
	v := packet.V5
	props := func(kv ...string) packet.Properties {
		var p packet.Properties
		for i := 0; i < len(kv); i += 2 {
			p.User = append(p.User, packet.UserProperty{Key: kv[i], Value: kv[i+1]})
		}
		return p
	}
	c := dialRaw(t, b.addr, v)
	cp := connectPacket(v, uniq("uprops-c"), true)
	cp.Properties.User = props("a", "1", "b", "2", "c", "3").User
	if ack := c.connect(cp); ack.ReasonCode != packet.QuotaExceeded {
		t.Fatalf("CONNECT with 3 user properties: CONNACK %s, want 0x97 quota exceeded", ack.ReasonCode)
	}
	c.expectClose(waitTime)

	root := topicRoot("uprops")
	sub, _ := rawConnect(t, b.addr, v, uniq("uprops-sub"), true)
	sub.subscribe(1, packet.Subscription{Filter: root, QoS: 1})
	for i, bad := range []packet.Properties{props("a", "1", "b", "2", "c", "3"), props("k1", "value1", "k2", "value2x")} {
		c := dialRaw(t, b.addr, v)
		cp := connectPacket(v, uniq("uprops-pub"), true)
		cp.Properties.User = props("a", "1", "b", "2").User // at the count limit, 4 bytes
		if ack := c.connect(cp); ack.ReasonCode != packet.Success {
			t.Fatalf("CONNECT with 2 user properties: CONNACK %s", ack.ReasonCode)
		}
		c.publish(&packet.Publish{Topic: root, QoS: 1, PacketID: 1, Payload: []byte("ok"),
			Properties: props("k1", "value1", "k2", "value2")}) // 16 bytes
		sub.ack(sub.expectPublish(root, "ok"))
		c.send(&packet.Publish{Topic: root, QoS: 1, PacketID: 2, Payload: []byte("over"), Properties: bad})
		if d := c.expectClose(waitTime); d == nil || d.ReasonCode != packet.QuotaExceeded {
			t.Errorf("PUBLISH %d over the limits: DISCONNECT %v before the close, want 0x97", i, d)
		}
	}
	sub.expectNone(quietTime)
}
