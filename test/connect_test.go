package e2e_test

import (
	"bytes"
	"io"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/mqttless/mqttless/core/packet"
)

// readAll reads what the broker sends until it closes the connection.
func readAll(t testing.TB, nc net.Conn) []byte {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(waitTime))
	b, err := io.ReadAll(nc)
	if err != nil {
		t.Fatalf("reading until the broker closes: %v (got % x)", err, b)
	}
	return b
}

// TestBadProtocolLevel sends a CONNECT with protocol level 6 in the 3.1.1
// layout: the broker answers with the 3.1.1 CONNACK return code 0x01 and
// closes. A protocol name other than MQTT (or MQIsdp) is closed without a
// CONNACK.
//
// 3.1.1 [MQTT-3.1.2-2]; 5.0 [MQTT-3.1.2-2] [MQTT-3.2.2-7]; [MQTT-3.1.2-1].
func TestBadProtocolLevel(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	frame, err := (&packet.Connect{ClientID: uniq("level6"), CleanStart: true, KeepAlive: 30}).Append(nil, packet.V311)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(frame, []byte("\x00\x04MQTT\x04"))
	if i < 0 {
		t.Fatalf("no protocol name in % x", frame)
	}

	t.Run("level 6", func(t *testing.T) {
		t.Parallel()
		f := bytes.Clone(frame)
		f[i+6] = 6
		nc, err := net.Dial("tcp", b.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.Write(f)
		if got, want := readAll(t, nc), []byte{0x20, 0x02, 0x00, 0x01}; !bytes.Equal(got, want) {
			t.Fatalf("got % x, want CONNACK % x and close", got, want)
		}
	})
	t.Run("protocol name", func(t *testing.T) {
		t.Parallel()
		f := bytes.Clone(frame)
		copy(f[i+2:], "MQTX")
		nc, err := net.Dial("tcp", b.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.Write(f)
		if got := readAll(t, nc); len(got) != 0 {
			t.Fatalf("got % x, want a close without CONNACK", got)
		}
	})
}

// TestFirstPacketMustBeConnect sends PINGREQ before CONNECT: the broker
// closes without answering. A second CONNECT is a protocol error.
//
// [MQTT-3.1.0-1] [MQTT-3.1.0-2]; 5.0 [MQTT-4.13.1-1] DISCONNECT 0x82.
func TestFirstPacketMustBeConnect(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		t.Run(v.String(), func(t *testing.T) {
			t.Parallel()
			c := dialRaw(t, b.addr, v)
			c.send(&packet.Pingreq{})
			if d := c.expectClose(waitTime); d != nil {
				t.Errorf("got DISCONNECT %s before CONNECT, want a silent close", d.ReasonCode)
			}

			c, _ = rawConnect(t, b.addr, v, uniq("twice"), true)
			c.send(connectPacket(v, uniq("twice"), true))
			d := c.expectClose(waitTime)
			if v == packet.V5 && (d == nil || d.ReasonCode != packet.ProtocolError) {
				t.Errorf("second CONNECT: got DISCONNECT %+v, want 0x82", d)
			}
		})
	}
}

// TestEmptyClientID311 connects at 3.1.1 with an empty client identifier:
// refused with return code 0x02 without clean session, accepted with it.
//
// 3.1.1 [MQTT-3.1.3-8] (0x02 and close), [MQTT-3.1.3-6] (a server may accept
// an empty id, assigning a unique one), [MQTT-3.2.2-4] (Session Present 0
// on a refusal).
func TestEmptyClientID311(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	c := dialRaw(t, b.addr, packet.V311)
	ack := c.connect(&packet.Connect{ClientID: "", CleanStart: false, KeepAlive: 30})
	if ack.ReasonCode != packet.ClientIdentifierNotValid || ack.SessionPresent {
		t.Fatalf("CONNACK %s present %v, want return code 2 (identifier rejected)", ack.ReasonCode, ack.SessionPresent)
	}
	c.expectClose(waitTime)

	root := topicRoot("emptyid")
	sub := connectV3(t, b.addr, "", true)
	sub.subscribe(root, 1)
	pub := connectV3(t, b.addr, "", true)
	pub.publish(root, 1, false, "hi")
	sub.expectMsg(root, "hi")
}

// TestAssignedClientID connects at 5.0 with an empty client identifier,
// with either Clean Start: the broker assigns a unique identifier, returns
// it in CONNACK and serves the connection under it.
//
// [MQTT-3.1.3-6] [MQTT-3.1.3-7] [MQTT-3.2.2-16].
func TestAssignedClientID(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	a := connectV5(t, b.addr, &paho.Connect{ClientID: "", CleanStart: true, KeepAlive: 30})
	c := connectV5(t, b.addr, v5Connect("", false))
	idA, idC := a.ack.Properties.AssignedClientID, c.ack.Properties.AssignedClientID
	if idA == "" || idC == "" || idA == idC {
		t.Fatalf("assigned client identifiers %q and %q, want two different ones", idA, idC)
	}
	root := topicRoot("assigned")
	a.subscribe(paho.SubscribeOptions{Topic: root, QoS: 1})
	c.pub(root, 1, false, "hi")
	a.expectMsg(root, "hi")
}

// TestAuthenticationMethodRefused connects at 5.0 naming an authentication
// method the broker does not offer: CONNACK 0x8C with a reason string, then
// close. An AUTH packet on a connection whose CONNECT named no method is a
// Protocol Error: DISCONNECT 0x82 with a reason string (0x8C is not a
// DISCONNECT reason code).
//
// [MQTT-4.12.0-1] [MQTT-3.2.2-6] [MQTT-3.2.2-7] [MQTT-4.13.2-1];
// [MQTT-4.12.0-7] [MQTT-3.14.2-1] [MQTT-4.13.1-1] for AUTH; reason strings
// (sections 3.2.2.3.9 and 3.14.2.2.3).
func TestAuthenticationMethodRefused(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	c := dialRaw(t, b.addr, packet.V5)
	p := connectPacket(packet.V5, uniq("auth"), true)
	p.Properties.AuthMethod = "SCRAM-SHA-1"
	p.Properties.AuthData = []byte("client-first")
	p.Properties.Set(packet.PropAuthMethod).Set(packet.PropAuthData)
	ack := c.connect(p)
	if ack.ReasonCode != packet.BadAuthenticationMethod || ack.SessionPresent {
		t.Fatalf("CONNACK %s present %v, want 0x8C without a session", ack.ReasonCode, ack.SessionPresent)
	}
	if ack.Properties.ReasonString == "" {
		t.Errorf("CONNACK 0x8C carries no reason string")
	}
	c.expectClose(waitTime)

	c, _ = rawConnect(t, b.addr, packet.V5, uniq("authpkt"), true)
	a := &packet.Auth{ReasonCode: packet.ReAuthenticate}
	a.Properties.AuthMethod = "SCRAM-SHA-1"
	a.Properties.Set(packet.PropAuthMethod)
	c.send(a)
	d := c.expectClose(waitTime)
	if d == nil || d.ReasonCode != packet.ProtocolError {
		t.Fatalf("AUTH: got DISCONNECT %+v, want 0x82", d)
	}
	if d.Properties.ReasonString == "" {
		t.Errorf("DISCONNECT 0x82 carries no reason string")
	}
}

// TestMaxKeepAlive runs a broker with -max-keepalive 1. A 5.0 client asking
// for more, or for 0, is told Server Keep Alive 1 and is held to it: silent,
// it is disconnected with 0x8D after 1.5 s. A 3.1.1 client asking for more
// is refused; one within the limit is accepted.
//
// [MQTT-3.2.2-21] [MQTT-3.2.2-22] [MQTT-3.1.2-22] (3.1.1 [MQTT-3.1.2-24]);
// 3.1.1 section 3.1.2.10 lets the server refuse a keep alive.
func TestMaxKeepAlive(t *testing.T) {
	t.Parallel()
	b := startBroker(t, withFlags("-max-keepalive", "1"))

	for _, ka := range []uint16{60, 0} {
		c := dialRaw(t, b.addr, packet.V5)
		p := connectPacket(packet.V5, uniq("ska"), true)
		p.KeepAlive = ka
		ack := c.mustConnect(p)
		if !ack.Properties.Has(packet.PropServerKeepAlive) || ack.Properties.ServerKeepAlive != 1 {
			t.Fatalf("keep alive %d: CONNACK Server Keep Alive %v %d, want 1", ka, ack.Properties.Has(packet.PropServerKeepAlive), ack.Properties.ServerKeepAlive)
		}
		start := time.Now()
		d := c.expectClose(5 * time.Second)
		// The upper bound leaves room for a loaded machine running the
		// race-enabled broker.
		if took := time.Since(start); took < time.Second || took > 4*time.Second {
			t.Errorf("keep alive %d: closed after %v, want about 1.5 s", ka, took)
		}
		if d == nil || d.ReasonCode != packet.KeepAliveTimeout {
			t.Errorf("keep alive %d: got DISCONNECT %+v, want 0x8D", ka, d)
		}
	}

	c := dialRaw(t, b.addr, packet.V5)
	p := connectPacket(packet.V5, uniq("ska"), true)
	p.KeepAlive = 1
	if ack := c.mustConnect(p); ack.Properties.Has(packet.PropServerKeepAlive) {
		t.Errorf("keep alive within the limit: CONNACK has Server Keep Alive %d", ack.Properties.ServerKeepAlive)
	}
	c.disconnect(packet.Success)

	c = dialRaw(t, b.addr, packet.V311)
	p = connectPacket(packet.V311, uniq("ka311"), true)
	p.KeepAlive = 2
	if ack := c.connect(p); ack.ReasonCode == packet.Success {
		t.Fatalf("3.1.1 keep alive 2 above -max-keepalive 1 was accepted")
	}
	c.expectClose(waitTime)
	c = dialRaw(t, b.addr, packet.V311)
	p.KeepAlive = 1
	c.mustConnect(p)
	c.disconnect(packet.Success)
}
