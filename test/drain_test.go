package e2e_test

import (
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
)

// TestDrainOnSIGTERM: SIGTERM makes a proxy drain before it exits
// (proxy.Server.Drain, -drain-timeout; issue 15, What to build 1): a 5.0
// client gets DISCONNECT 0x8B Server shutting down, a 3.1.1 client the
// end of its connection, and each session is settled before the process
// exits: its will is published (retained here, so that a later
// subscriber sees it) and the session goes offline, so that it resumes
// with Session Present through another proxy, one with another id that
// recovers nothing of the first (on the serverless stack a new proxy on
// the same table; elsewhere a broker on the same data with another
// -delivery-addr, its id). Both clients keep publishing while the proxy
// drains, and still read how their connection ended.
func TestDrainOnSIGTERM(t *testing.T) {
	needOwnBroker(t)
	dir := t.TempDir()
	var flags []string
	if e2eStack != "lambda" {
		flags = []string{"-store", "bolt", "-delivery-secret", "drain-test-secret-0123"}
	}
	// withID gives a broker off the stack an id of its own, its delivery
	// URL; on the stack every proxy has one.
	withID := func() brokerOption {
		if e2eStack == "lambda" {
			return withFlags(flags...)
		}
		addr, err := freeAddr()
		if err != nil {
			t.Fatal(err)
		}
		return withFlags(append(append([]string{}, flags...), "-delivery-addr", addr)...)
	}
	a := startBroker(t, withDataDir(dir), withID())
	willRoot := topicRoot("drain-will")

	clients := map[packet.Version]*rawClient{}
	ids := map[packet.Version]string{}
	for _, v := range []packet.Version{packet.V5, packet.V311} {
		ids[v] = uniq("drain")
		c := dialRaw(t, a.addr, v)
		cp := connectPacket(v, ids[v], false)
		cp.Will = &packet.Will{Topic: willRoot + "/" + v.String(), Payload: []byte("gone"), QoS: 1, Retain: true}
		c.mustConnect(cp)
		c.subscribe(1, packet.Subscription{Filter: willRoot + "/kept", QoS: 1})
		clients[v] = c
	}
	stopSending := make(chan struct{})
	for v, c := range clients {
		pub, err := (&packet.Publish{Topic: willRoot + "/noise", Payload: []byte("x")}).Append(nil, v)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				select {
				case <-stopSending:
					return
				case <-time.After(2 * time.Millisecond):
				}
				c.nc.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := c.nc.Write(pub); err != nil {
					return
				}
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)

	begin := time.Now()
	if err := a.stop(); err != nil { // SIGTERM, then waits for the exit
		t.Fatalf("SIGTERM: %v", err)
	}
	t.Logf("the proxy drained and exited in %v", time.Since(begin).Round(time.Millisecond))
	d := clients[packet.V5].expectClose(waitTime)
	close(stopSending)
	if d == nil || d.ReasonCode != packet.ServerShuttingDown {
		t.Fatalf("5.0 client: DISCONNECT %+v, want reason 0x8B Server shutting down [MQTT-3.14.2-1]", d)
	}
	if d := clients[packet.V311].expectClose(waitTime); d != nil {
		t.Fatalf("3.1.1 client got %+v, want the connection closed", d)
	}

	b := startBroker(t, withDataDir(dir), withID())
	w, _ := rawConnect(t, b.addr, packet.V5, uniq("drain-w"), true)
	w.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: willRoot + "/+", QoS: 1}}})
	got := map[string]bool{}
	for len(got) < 2 {
		p, err := w.next(waitTime)
		if err != nil {
			t.Fatalf("the wills of the drained sessions were not published before the proxy exited (got %v): %v", got, err)
		}
		if pub, ok := p.(*packet.Publish); ok && string(pub.Payload) == "gone" {
			got[pub.Topic] = true
			w.ack(pub)
		}
	}
	for v, id := range ids {
		c := dialRaw(t, b.addr, v)
		if ack := c.mustConnect(connectPacket(v, id, false)); !ack.SessionPresent {
			t.Errorf("%s: Session Present 0 through the next proxy, want the drained session resumed", v)
		}
		c.disconnect(packet.Success)
	}
}
