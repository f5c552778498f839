package e2e_test

// The transports besides plain TCP: MQTT over TLS (-tls-addr), with
// client certificates (-tls-client-ca, -tls-require-client-cert,
// -cert-identity), and MQTT over WebSockets (-ws-addr, -wss-addr) at path
// /mqtt with subprotocol mqtt. Every client of one transport exchanges
// messages with clients of the others: they are one broker.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/mqttless/mqttless/core/packet"
)

// TestTLS runs a broker with a TLS listener and a secure WebSocket
// listener, both with a certificate of a test CA: Paho clients at 3.1.1
// (tls://) and 5.0 (over a tls.Conn) and a 5.0 client over wss:// connect
// with the CA as their only root, and exchange messages both ways with a
// plain-TCP client.
func TestTLS(t *testing.T) {
	t.Parallel()
	needOwnBroker(t)
	ca := newCA(t, "mqttless e2e CA")
	certFile, keyFile, _ := ca.issue("127.0.0.1", true)
	tlsAddr, wssAddr := mustFreeAddr(t), mustFreeAddr(t)
	b := startBroker(t, withFlags("-tls-addr", tlsAddr, "-wss-addr", wssAddr, "-tls-cert", certFile, "-tls-key", keyFile))

	// exchange checks that c, a client over another transport, and a
	// plain-TCP client see each other's messages.
	exchange := func(t *testing.T, c testClient, level byte) {
		t.Helper()
		root := topicRoot("tls")
		plain := connectAs(t, level, b.addr, uniq("tls-plain"), true)
		plain.sub(root+"/from-tls", 1)
		c.sub(root+"/from-tcp", 1)
		plain.pub(root+"/from-tcp", 1, false, "over tcp")
		expectMsg(t, c, root+"/from-tcp", "over tcp")
		c.pub(root+"/from-tls", 1, false, "over tls")
		expectMsg(t, plain, root+"/from-tls", "over tls")
	}

	t.Run("3.1.1", func(t *testing.T) {
		c := connectV3(t, tlsAddr, uniq("tls3"), true, func(o *mqtt.ClientOptions) {
			o.Servers = nil
			o.AddBroker("tls://" + tlsAddr)
			o.SetTLSConfig(ca.clientTLS())
		})
		exchange(t, c, 4)
	})
	t.Run("5.0", func(t *testing.T) {
		tc, err := dialTLS(tlsAddr, ca.clientTLS())
		if err != nil {
			t.Fatalf("TLS handshake with %s: %v", tlsAddr, err)
		}
		if st := tc.ConnectionState(); len(st.PeerCertificates) == 0 || st.PeerCertificates[0].Subject.CommonName != "127.0.0.1" {
			t.Fatalf("the TLS listener presented %+v, want the test certificate", st.PeerCertificates)
		}
		c, err := connectV5Over(t, tc, v5Connect(uniq("tls5"), true))
		if err != nil {
			t.Fatalf("5.0 connect over TLS: %v", err)
		}
		exchange(t, c, 5)
	})
	t.Run("wss", func(t *testing.T) {
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: ca.clientTLS()}}
		nc := dialWS(t, "wss://"+wssAddr+"/mqtt", hc)
		c, err := connectV5Over(t, nc, v5Connect(uniq("wss5"), true))
		if err != nil {
			t.Fatalf("5.0 connect over wss: %v", err)
		}
		exchange(t, c, 5)
	})
	t.Run("plain on the TLS port", func(t *testing.T) {
		// A client that speaks MQTT without TLS to the TLS listener gets
		// no CONNACK: its CONNECT is no TLS handshake.
		c := dialRaw(t, tlsAddr, packet.V5)
		c.send(connectPacket(packet.V5, uniq("tls-plain"), true))
		if p, err := c.next(waitTime); err == nil {
			t.Fatalf("got %s from the TLS listener for a plain CONNECT, want the connection closed", p.Type())
		}
	})
}

// TestTLSClientCertRequired runs a TLS listener with -tls-client-ca and
// -tls-require-client-cert: a client without a certificate, or with one of
// another CA, fails the TLS handshake and gets no CONNACK; a client with a
// certificate of the CA connects.
func TestTLSClientCertRequired(t *testing.T) {
	t.Parallel()
	needOwnBroker(t)
	ca := newCA(t, "mqttless e2e CA")
	certFile, keyFile, _ := ca.issue("127.0.0.1", true)
	_, _, good := ca.issue("device-1", false)
	other := newCA(t, "another CA")
	_, _, stranger := other.issue("device-1", false)
	tlsAddr := mustFreeAddr(t)
	startBroker(t, withFlags("-tls-addr", tlsAddr, "-tls-cert", certFile, "-tls-key", keyFile,
		"-tls-client-ca", ca.caFile, "-tls-require-client-cert=true"))

	for _, tc := range []struct {
		name string
		cfg  func() *tls.Config
	}{
		{"no certificate", func() *tls.Config { return ca.clientTLS() }},
		{"certificate of another CA", func() *tls.Config { return ca.clientTLS(stranger) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := mqttOverTLS(t, tlsAddr, tc.cfg()); err == nil {
				t.Fatal("connected, want the TLS handshake to fail")
			} else {
				t.Logf("refused as expected: %v", err)
			}
		})
	}
	t.Run("certificate of the CA", func(t *testing.T) {
		if err := mqttOverTLS(t, tlsAddr, ca.clientTLS(good)); err != nil {
			t.Fatalf("a client with a certificate of the client CA: %v", err)
		}
	})
}

// mqttOverTLS opens a TLS connection to addr with cfg, sends a 5.0
// CONNECT and waits for a CONNACK that accepts it. A TLS 1.3 client
// finishes its side of the handshake before the server checks its
// certificate, so a refused certificate may show only as a failed read.
func mqttOverTLS(t *testing.T, addr string, cfg *tls.Config) error {
	t.Helper()
	tc, err := dialTLS(addr, cfg)
	if err != nil {
		return err
	}
	defer tc.Close()
	b, err := connectPacket(packet.V5, uniq("mtls"), true).Append(nil, packet.V5)
	if err != nil {
		t.Fatal(err)
	}
	tc.SetDeadline(time.Now().Add(waitTime))
	if _, err := tc.Write(b); err != nil {
		return err
	}
	c := rawOver(t, tc, packet.V5)
	p, err := c.next(waitTime)
	if err != nil {
		return err
	}
	ack, ok := p.(*packet.Connack)
	if !ok {
		return errors.New("got " + p.Type().String() + ", want CONNACK")
	}
	if ack.ReasonCode != packet.Success {
		return errors.New("CONNACK " + ack.ReasonCode.String())
	}
	return nil
}

// TestTLSCertIdentity runs a broker with -cert-identity and
// -allow-anonymous=false and the rule devices/%u/# for alice: a client
// presenting a certificate with CN=alice connects without a username or
// password and is subject to alice's rules; with the username bob it is
// refused (4, 0x86), with alice it passes; a TLS client without a
// certificate, and a plain-TCP client without a username, are refused as
// anonymous (return code 5, 0x87).
func TestTLSCertIdentity(t *testing.T) {
	t.Parallel()
	dir := authDataDir(t)
	addRule(t, dir, "-user", "alice", "-access", "both", "-filter", "devices/%u/#")
	ca := newCA(t, "mqttless e2e CA")
	certFile, keyFile, _ := ca.issue("127.0.0.1", true)
	_, _, alice := ca.issue("alice", false)
	tlsAddr := mustFreeAddr(t)
	b := startBroker(t, withDataDir(dir), withFlags("-tls-addr", tlsAddr, "-tls-cert", certFile, "-tls-key", keyFile,
		"-tls-client-ca", ca.caFile, "-cert-identity=true", "-allow-anonymous=false", "-auth-cache", authCache))

	inTurn(t, func(t *testing.T, v packet.Version) {
		r := strings.ReplaceAll(uniq("r"), "-", "")
		tc, err := dialTLS(tlsAddr, ca.clientTLS(alice))
		if err != nil {
			t.Fatalf("TLS handshake with CN=alice: %v", err)
		}
		c := rawOver(t, tc, v)
		c.mustConnect(connectPacket(v, uniq("cert"), true))
		ack := c.suback(1,
			packet.Subscription{Filter: "devices/alice/" + r + "/#", QoS: 0},
			packet.Subscription{Filter: "devices/bob/#", QoS: 0})
		if want := refusedCode(v, packet.NotAuthorized); ack.ReasonCodes[0] != packet.Success || ack.ReasonCodes[1] != want {
			t.Fatalf("SUBACK %v for [devices/alice/..., devices/bob/#] as CN=alice, want [%s %s]", ack.ReasonCodes, packet.Success, want)
		}
		c.send(&packet.Publish{Topic: "devices/alice/" + r + "/x", Payload: []byte("by certificate")})
		c.expectPublish("devices/alice/"+r+"/x", "by certificate")
		if rc := c.publish(&packet.Publish{Topic: "devices/bob/" + r, QoS: 1, PacketID: 1, Payload: []byte("no")}); v == packet.V5 && rc != packet.NotAuthorized {
			t.Errorf("PUBACK %s for CN=alice publishing to devices/bob/, want 0x87", rc)
		}
		c.expectNone(quietTime)

		// alice's certificate with the username bob (and a wrong
		// password) is refused as bad credentials, not taken for alice;
		// with her own name it passes, the password unchecked.
		tcBob, err := dialTLS(tlsAddr, ca.clientTLS(alice))
		if err != nil {
			t.Fatalf("TLS handshake with CN=alice: %v", err)
		}
		bob := connectPacket(v, uniq("cert-bob"), true)
		bob.UsernameFlag, bob.Username, bob.PasswordFlag, bob.Password = true, "bob", true, []byte("wrong")
		if ack := rawOver(t, tcBob, v).connect(bob); ack.ReasonCode != packet.BadUsernameOrPassword {
			t.Errorf("CONNACK %s for CN=alice with username bob, want bad user name or password (4, 0x86)", ack.ReasonCode)
		}
		tcAlice, err := dialTLS(tlsAddr, ca.clientTLS(alice))
		if err != nil {
			t.Fatalf("TLS handshake with CN=alice: %v", err)
		}
		same := connectPacket(v, uniq("cert-alice"), true)
		same.UsernameFlag, same.Username, same.PasswordFlag, same.Password = true, "alice", true, []byte("not checked")
		rawOver(t, tcAlice, v).mustConnect(same)

		tc2, err := dialTLS(tlsAddr, ca.clientTLS())
		if err != nil {
			t.Fatalf("TLS handshake without a client certificate (not required): %v", err)
		}
		anon := rawOver(t, tc2, v)
		if ack := anon.connect(connectPacket(v, uniq("cert-anon"), true)); ack.ReasonCode != packet.NotAuthorized {
			t.Errorf("CONNACK %s for an anonymous TLS client without a certificate, want not authorized (5, 0x87)", ack.ReasonCode)
		}
		plain := dialRaw(t, b.addr, v)
		if ack := plain.connect(connectPacket(v, uniq("cert-plain"), true)); ack.ReasonCode != packet.NotAuthorized {
			t.Errorf("CONNACK %s for an anonymous plain-TCP client, want not authorized (5, 0x87)", ack.ReasonCode)
		}
	})
}

// dialWS opens a WebSocket connection to url offering the subprotocol
// mqtt, with hc (nil for the default client), and returns it as a
// net.Conn of binary messages.
func dialWS(t testing.TB, url string, hc *http.Client) net.Conn {
	t.Helper()
	c, err := tryDialWS(t, url, hc, "mqtt")
	if err != nil {
		t.Fatalf("WebSocket %s: %v", url, err)
	}
	if c.Subprotocol() != "mqtt" {
		t.Fatalf("WebSocket %s: subprotocol %q, want mqtt", url, c.Subprotocol())
	}
	return websocket.NetConn(context.Background(), c, websocket.MessageBinary)
}

// tryDialWS opens a WebSocket connection offering subprotocols.
func tryDialWS(t testing.TB, url string, hc *http.Client, subprotocols ...string) (*websocket.Conn, error) {
	t.Helper()
	c, resp, err := websocket.Dial(ctx(t, waitTime), url, &websocket.DialOptions{HTTPClient: hc, Subprotocols: subprotocols})
	if err != nil {
		if resp != nil {
			return nil, &wsRefused{status: resp.StatusCode, err: err}
		}
		return nil, err
	}
	return c, nil
}

// wsRefused is a WebSocket upgrade answered with another status than 101.
type wsRefused struct {
	status int
	err    error
}

func (e *wsRefused) Error() string { return http.StatusText(e.status) + ": " + e.err.Error() }

// TestWebSocket runs a broker with -ws-addr: a 5.0 client over a WebSocket
// (github.com/coder/websocket) at /mqtt with subprotocol mqtt and a 3.1.1
// Paho client over ws:// connect, subscribe and receive what a plain-TCP
// client publishes, and publish to it; an upgrade offering another
// subprotocol, or none, is refused.
func TestWebSocket(t *testing.T) {
	t.Parallel()
	needOwnBroker(t)
	wsAddr := mustFreeAddr(t)
	b := startBroker(t, withFlags("-ws-addr", wsAddr))
	url := "ws://" + wsAddr + "/mqtt"

	exchange := func(t *testing.T, c testClient, level byte) {
		t.Helper()
		root := topicRoot("ws")
		plain := connectAs(t, level, b.addr, uniq("ws-plain"), true)
		plain.sub(root+"/from-ws", 1)
		c.sub(root+"/from-tcp", 1)
		plain.pub(root+"/from-tcp", 1, false, "over tcp")
		expectMsg(t, c, root+"/from-tcp", "over tcp")
		c.pub(root+"/from-ws", 1, false, "over websocket")
		expectMsg(t, plain, root+"/from-ws", "over websocket")
	}

	t.Run("5.0", func(t *testing.T) {
		c, err := connectV5Over(t, dialWS(t, url, nil), v5Connect(uniq("ws5"), true))
		if err != nil {
			t.Fatalf("5.0 connect over WebSocket: %v", err)
		}
		exchange(t, c, 5)
	})
	t.Run("3.1.1", func(t *testing.T) {
		c := connectV3(t, wsAddr, uniq("ws3"), true, func(o *mqtt.ClientOptions) {
			o.Servers = nil
			o.AddBroker(url)
		})
		exchange(t, c, 4)
	})
	t.Run("3.1 with subprotocol mqttv3.1", func(t *testing.T) {
		// MQTT.js offers mqttv3.1, alone, for MQTT 3.1 (MQIsdp).
		wc, err := tryDialWS(t, url, nil, "mqttv3.1")
		if err != nil {
			t.Fatalf("WebSocket offering mqttv3.1: %v", err)
		}
		if wc.Subprotocol() != "mqttv3.1" {
			t.Fatalf("subprotocol %q, want mqttv3.1", wc.Subprotocol())
		}
		c := rawOver(t, websocket.NetConn(context.Background(), wc, websocket.MessageBinary), packet.V31)
		c.mustConnect(connectPacket(packet.V31, strings.ReplaceAll(uniq("ws31"), "-", ""), true)) // 3.1: at most 23 characters
		c.ping()
	})
	t.Run("raw 3.1.1", func(t *testing.T) {
		// Packets split across WebSocket messages, and several in one,
		// are one byte stream [MQTT-6.0.0-2].
		c := rawOver(t, dialWS(t, url, nil), packet.V311)
		b, err := connectPacket(packet.V311, uniq("ws-raw"), true).Append(nil, packet.V311)
		if err != nil {
			t.Fatal(err)
		}
		c.sendBytes(b[:3])
		c.sendBytes(b[3:])
		expect[*packet.Connack](t, c)
		c.ping()
	})
	for _, offer := range [][]string{{"wamp"}, nil} {
		name := "no subprotocol refused"
		if len(offer) > 0 {
			name = "subprotocol " + strings.Join(offer, ",") + " refused"
		}
		t.Run(name, func(t *testing.T) {
			c, err := tryDialWS(t, url, nil, offer...)
			if err == nil {
				c.CloseNow()
				t.Fatalf("WebSocket upgrade offering %q accepted (subprotocol %q), want it refused", offer, c.Subprotocol())
			}
			var re *wsRefused
			if !errors.As(err, &re) || re.status == http.StatusSwitchingProtocols {
				t.Fatalf("WebSocket upgrade offering %q: %v, want an HTTP error status", offer, err)
			}
			t.Logf("refused: %v", err)
		})
	}
}

// metricValue returns the value of the sample named series (with its
// labels, such as name{type="PUBLISH"}) in a Prometheus text exposition,
// and whether it is there.
func metricValue(body, series string) (float64, bool) {
	for _, line := range strings.Split(body, "\n") {
		rest, ok := strings.CutPrefix(line, series+" ")
		if !ok {
			continue
		}
		var v float64
		if _, err := fmt.Sscan(strings.TrimSpace(rest), &v); err == nil {
			return v, true
		}
	}
	return 0, false
}

// TestMetricsAndHealth runs a broker with -metrics-addr: GET /healthz
// answers 200, and GET /metrics serves mqttless_connections and
// mqttless_packets_received_total{type="PUBLISH"}, which follow a
// client's connection and its PUBLISH packets.
func TestMetricsAndHealth(t *testing.T) {
	t.Parallel()
	needOwnBroker(t)
	metricsAddr := mustFreeAddr(t)
	b := startBroker(t, withFlags("-metrics-addr", metricsAddr))
	base := "http://" + metricsAddr

	if code, body := httpGet(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("GET /healthz: %d %q, want 200", code, body)
	}

	const conns, publish = "mqttless_connections", `mqttless_packets_received_total{type="PUBLISH"}`
	read := func(series string) float64 {
		t.Helper()
		code, body := httpGet(t, base+"/metrics")
		if code != http.StatusOK {
			t.Fatalf("GET /metrics: %d, want 200", code)
		}
		v, ok := metricValue(body, series)
		if !ok {
			t.Fatalf("GET /metrics has no %s:\n%s", series, body)
		}
		return v
	}
	// The broker is this test's own: once the harness's readiness probe
	// has closed, it holds no connection. Wait for that, so that the probe
	// ending meanwhile does not hide the client's connection.
	if !waitFor(waitTime, func() bool { return read(conns) == 0 }) {
		t.Fatalf("%s %v before any client connected, want 0", conns, read(conns))
	}
	conns0, publish0 := read(conns), read(publish)

	root := topicRoot("metrics")
	c, _ := rawConnect(t, b.addr, packet.V5, uniq("metrics"), true)
	for i := range 3 {
		c.publish(&packet.Publish{Topic: root, QoS: 1, PacketID: uint16(i + 1), Payload: []byte("m")})
	}
	if !waitFor(waitTime, func() bool { return read(conns) >= conns0+1 && read(publish) >= publish0+3 }) {
		t.Errorf("after a connection and 3 PUBLISH: %s %v (was %v), %s %v (was %v); want +1 and +3",
			conns, read(conns), conns0, publish, read(publish), publish0)
	}
	c.disconnect(packet.Success)
	if !waitFor(waitTime, func() bool { return read(conns) <= conns0 }) {
		t.Errorf("after the client disconnected: %s %v, want %v", conns, read(conns), conns0)
	}
	if code, _ := httpGet(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("GET /healthz after traffic: %d, want 200", code)
	}
}

// TestSysTopics runs a broker with -sys-interval 1s: a client subscribed
// to $SYS/broker/# gets $SYS/broker/clients/connected (counting itself),
// $SYS/broker/uptime and $SYS/broker/messages/received, while a client
// subscribed to # and +/broker/# gets none of them, since a filter that
// starts with a wildcard does not match topics starting with $
// [MQTT-4.7.2-1], but does get an ordinary message.
func TestSysTopics(t *testing.T) {
	t.Parallel()
	b := startBroker(t, withFlags("-sys-interval", "1s"))
	inTurn(t, func(t *testing.T, v packet.Version) {
		all, _ := rawConnect(t, b.addr, v, uniq("sys-all"), true)
		all.subscribeEarly(1, packet.Subscription{Filter: "#", QoS: 0}, packet.Subscription{Filter: "+/broker/#", QoS: 0})
		sys, _ := rawConnect(t, b.addr, v, uniq("sys"), true)
		sys.subscribeEarly(1, packet.Subscription{Filter: "$SYS/broker/#", QoS: 0})

		// The statistics are under $SYS/broker/, or on the serverless
		// stack under $SYS/broker/proxies/<proxy>/, since each proxy
		// counts its own.
		want := map[string]bool{"clients/connected": false, "uptime": false, "messages/received": false}
		prefix := "$SYS/broker/"
		if e2eStack == "lambda" {
			prefix = "$SYS/broker/proxies/"
		}
		stat := func(topic string) string {
			for name := range want {
				if strings.HasPrefix(topic, prefix) && strings.HasSuffix(topic, "/"+name) &&
					(e2eStack == "lambda" || topic == prefix+name) {
					return name
				}
			}
			return ""
		}
		connected := ""
		// On DynamoDB under a loaded emulator an update of the forty-odd
		// $SYS topics can take longer than its interval.
		deadline := time.Now().Add(4 * waitTime)
		for {
			missing := 0
			for _, seen := range want {
				if !seen {
					missing++
				}
			}
			if missing == 0 && connected != "" && connected != "0" {
				break
			}
			p, err := sys.next(time.Until(deadline))
			if err != nil {
				t.Fatalf("$SYS statistics under %s seen %v, clients/connected %q: %v", prefix, want, connected, err)
			}
			pp, ok := p.(*packet.Publish)
			if !ok {
				t.Fatalf("got %s, want PUBLISH on $SYS", p.Type())
			}
			if !strings.HasPrefix(pp.Topic, "$SYS/broker/") {
				t.Fatalf("got PUBLISH %q on a $SYS/broker/# subscription", pp.Topic)
			}
			name := stat(pp.Topic)
			if name != "" {
				want[name] = true
			}
			if name == "clients/connected" {
				connected = string(pp.Payload)
			}
			if name == "uptime" && !strings.HasSuffix(string(pp.Payload), "seconds") {
				t.Errorf("%s is %q, want \"<n> seconds\"", pp.Topic, pp.Payload)
			}
		}

		// Two more intervals pass while the # subscriber is watched.
		root := topicRoot("sys")
		pub, _ := rawConnect(t, b.addr, v, uniq("sys-pub"), true)
		time.Sleep(2200 * time.Millisecond)
		pub.publish(&packet.Publish{Topic: root, QoS: 1, PacketID: 1, Payload: []byte("ordinary")})
		for {
			p, err := all.next(waitTime)
			if err != nil {
				t.Fatalf("the # subscriber did not get the ordinary message: %v", err)
			}
			pp, ok := p.(*packet.Publish)
			if !ok {
				t.Fatalf("got %s, want PUBLISH", p.Type())
			}
			if strings.HasPrefix(pp.Topic, "$") {
				t.Fatalf("the # and +/broker/# subscriber got %q, want no $ topic [MQTT-4.7.2-1]", pp.Topic)
			}
			if pp.Topic == root {
				break
			}
			// Another subtest's ordinary message: also allowed.
		}
	})
}
