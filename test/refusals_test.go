package e2e_test

// Refusals an operator can see (issue 18), through the real broker: each
// is logged at info with its reason, counted by reason in the Prometheus
// metrics, and $SYS/broker/connections/refused is their sum; $SYS counts
// clients, not sockets.

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
)

func TestRefusalsSeen(t *testing.T) {
	t.Parallel()
	dir := authDataDir(t)
	addUser(t, dir, "alice", "alice-pw")
	addUser(t, dir, "ops", "ops-pw")
	addRule(t, dir, "-user", "alice", "-access", "both", "-filter", "devices/%u/#")
	addRule(t, dir, "-user", "ops", "-access", "subscribe", "-filter", "$SYS/broker/#")
	ca := newCA(t, "mqttless e2e CA")
	certFile, keyFile, _ := ca.issue("127.0.0.1", true)
	tlsAddr, metricsAddr := mustFreeAddr(t), mustFreeAddr(t)
	b := startBroker(t, withDataDir(dir), withFlags("-allow-anonymous=false", "-auth-cache", authCache,
		"-auth-backoff", "0", "-max-keepalive", "60", "-sys-interval", "500ms", "-metrics-addr", metricsAddr,
		"-connect-timeout", "2m", // the two idle sockets below stay unrefused while $SYS is read
		"-tls-addr", tlsAddr, "-tls-cert", certFile, "-tls-key", keyFile))

	refuse := func(p *packet.Connect, want packet.ReasonCode) {
		t.Helper()
		c := dialRaw(t, b.addr, packet.V311)
		if ack := c.connectSlow(p); ack.ReasonCode != want { // an unknown user costs a default-cost bcrypt
			t.Errorf("CONNACK %s, want %s", ack.ReasonCode, want)
		}
	}
	refuse(rawCreds(packet.V311, uniq("r"), "alice", "wrong"), packet.BadUsernameOrPassword)
	refuse(rawCreds(packet.V311, uniq("r"), "mallory", "x"), packet.BadUsernameOrPassword)
	refuse(rawCreds(packet.V311, uniq("r"), "", ""), packet.NotAuthorized)
	long := rawCreds(packet.V311, uniq("r"), "alice", "alice-pw")
	long.KeepAlive = 120
	refuse(long, packet.ClientIdentifierNotValid) // Mosquitto's answer too
	// A TLS handshake that fails: bytes that are no ClientHello.
	nc, err := net.Dial("tcp", tlsAddr)
	if err != nil {
		t.Fatal(err)
	}
	nc.Write([]byte("not TLS\r\n\r\n"))
	nc.SetReadDeadline(time.Now().Add(waitTime))
	nc.Read(make([]byte, 64))
	nc.Close()

	alice := rawLogin(t, b.addr, packet.V5, uniq("alice"), "alice", "alice-pw")
	if ack := alice.suback(1, packet.Subscription{Filter: "devices/bob/#"}); ack.ReasonCodes[0] != packet.NotAuthorized {
		t.Errorf("SUBACK %s for devices/bob/#, want 0x87", ack.ReasonCodes[0])
	}
	if rc := alice.publish(&packet.Publish{Topic: "devices/bob/x", QoS: 1, PacketID: 2, Payload: []byte("no")}); rc != packet.NotAuthorized {
		t.Errorf("PUBACK %s for devices/bob/x, want 0x87", rc)
	}

	reasons := []string{"wrong_password", "unknown_user", "anonymous", "keep_alive", "tls_handshake"}
	metric := func(series string) float64 {
		_, body := httpGet(t, "http://"+metricsAddr+"/metrics")
		v, _ := metricValue(body, series)
		return v
	}
	refused := func(reason string) float64 {
		return metric(`mqttless_connections_refused_total{reason="` + reason + `"}`)
	}
	if !waitFor(waitTime, func() bool { return refused("tls_handshake") == 1 }) {
		t.Errorf("tls_handshake refusals %v, want 1", refused("tls_handshake"))
	}
	for _, r := range reasons {
		if got := refused(r); got != 1 {
			t.Errorf(`mqttless_connections_refused_total{reason="%s"} = %v, want 1`, r, got)
		}
	}
	for _, r := range []string{"publish_denied", "subscribe_denied"} {
		if got := metric(`mqttless_access_denied_total{reason="` + r + `"}`); got != 1 {
			t.Errorf(`mqttless_access_denied_total{reason="%s"} = %v, want 1`, r, got)
		}
	}
	// Each at info, with its reason (the harness runs the broker at
	// debug; these lines are at the default level). On the serverless
	// stack the functions log the handlers' refusals.
	logged := func(msg, reason string) bool {
		for _, line := range strings.Split(b.log.String(), "\n") {
			if strings.Contains(line, "level=INFO") && strings.Contains(line, `msg="`+msg+`"`) && strings.Contains(line, "reason="+reason) {
				return true
			}
		}
		return false
	}
	for _, want := range []struct{ msg, reason string }{
		{"connection refused", "tls_handshake"},
		{"connection refused", "wrong_password"}, {"connection refused", "unknown_user"},
		{"connection refused", "anonymous"}, {"connection refused", "keep_alive"},
		{"subscribe denied", "subscribe_denied"}, {"publish denied", "publish_denied"},
	} {
		if want.reason != "tls_handshake" && e2eStack == "lambda" {
			continue
		}
		if !logged(want.msg, want.reason) {
			t.Errorf("no info line %q with reason=%s", want.msg, want.reason)
		}
	}

	// $SYS: two sockets that never send CONNECT are no clients, while
	// mqttless_connections counts them; connections/refused is the sum of
	// the metric's reasons.
	for range 2 {
		s, err := net.Dial("tcp", b.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
	}
	ops := rawLogin(t, b.addr, packet.V311, uniq("ops"), "ops", "ops-pw")
	prefix := "$SYS/broker/"
	if e2eStack == "lambda" {
		prefix = "$SYS/broker/proxies/+/"
	}
	ops.subscribe(1, packet.Subscription{Filter: prefix + "clients/connected"},
		packet.Subscription{Filter: prefix + "connections/refused"})
	sys := map[string]string{}
	wantRefused := strconv.Itoa(len(reasons))
	// Every -sys-interval; on the serverless stack each publication is a
	// call of the session function, which may queue behind others.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && (sys["clients/connected"] != "2" || sys["connections/refused"] != wantRefused) {
		p, err := ops.next(time.Until(deadline))
		if err != nil {
			break
		}
		if pub, ok := p.(*packet.Publish); ok {
			parts := strings.Split(pub.Topic, "/")
			sys[strings.Join(parts[len(parts)-2:], "/")] = string(pub.Payload)
		}
	}
	if sys["clients/connected"] != "2" {
		t.Errorf("$SYS clients/connected = %q with alice and ops connected and two sockets without CONNECT, want 2", sys["clients/connected"])
	}
	if sys["connections/refused"] != wantRefused {
		t.Errorf("$SYS connections/refused = %q, want %s", sys["connections/refused"], wantRefused)
	}
	if sum := sumRefused(t, metricsAddr); strconv.Itoa(int(sum)) != sys["connections/refused"] {
		t.Errorf("$SYS connections/refused = %q, the metric's reasons sum to %v", sys["connections/refused"], sum)
	}
	if got := metric("mqttless_connections"); got < 4 {
		t.Errorf("mqttless_connections = %v, want the two sockets counted with the two clients", got)
	}
}

// sumRefused is the sum of mqttless_connections_refused_total over its
// reasons.
func sumRefused(t *testing.T, metricsAddr string) float64 {
	t.Helper()
	_, body := httpGet(t, "http://"+metricsAddr+"/metrics")
	sum := 0.0
	for _, line := range strings.Split(body, "\n") {
		if rest, ok := strings.CutPrefix(line, "mqttless_connections_refused_total{"); ok {
			if i := strings.LastIndex(rest, " "); i >= 0 {
				v, err := strconv.ParseFloat(rest[i+1:], 64)
				if err == nil {
					sum += v
				}
			}
		}
	}
	return sum
}
