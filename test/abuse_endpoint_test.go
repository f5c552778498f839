package e2e_test

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
)

// The abuse suite's tests of the delivery endpoint, the handlers' log,
// the connection state and password checks (issue 14: medium 2, 3 and 5,
// high 6).

const abuseDeliverySecret = "abuse-suite-delivery-secret-0123"

// deliveryBroker starts a broker whose delivery endpoint listens on a port
// of its own, and returns it with the endpoint's address.
func deliveryBroker(t *testing.T) (*broker, string) {
	t.Helper()
	needOwnBroker(t)
	needEmbeddedStore(t)
	addr := mustFreeAddr(t)
	b := startBroker(t, withFlags(measuredMemory(hostileFlags("-delivery-addr", addr, "-delivery-secret", abuseDeliverySecret)...)...))
	return b, addr
}

// deliveryAnswer is the endpoint's answer to a request.
type deliveryAnswer struct {
	status int
	body   string
}

// postDelivery writes a POST to the delivery endpoint at addr: headers
// (signature ones included), then the body: length bytes of it
// (Transfer-Encoding chunked when length < 0, with body as one chunk),
// written alongside reading the answer, as a client that does not wait
// for the endpoint would. It returns the answer and how many body bytes
// the endpoint took before answering and closing.
func postDelivery(t *testing.T, addr string, hdr map[string]string, length int64, body []byte) (deliveryAnswer, int64) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, waitTime)
	if err != nil {
		t.Fatalf("dial the delivery endpoint: %v", err)
	}
	defer nc.Close()
	var h strings.Builder
	fmt.Fprintf(&h, "POST /deliver HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n", addr)
	for k, v := range hdr {
		fmt.Fprintf(&h, "%s: %s\r\n", k, v)
	}
	if length < 0 {
		h.WriteString("Transfer-Encoding: chunked\r\n\r\n")
	} else {
		fmt.Fprintf(&h, "Content-Length: %d\r\n\r\n", length)
	}
	if _, err := io.WriteString(nc, h.String()); err != nil {
		t.Fatalf("write headers: %v", err)
	}
	var (
		sent int64
		wg   sync.WaitGroup
	)
	wg.Go(func() {
		nc.SetWriteDeadline(time.Now().Add(waitTime))
		switch {
		case body != nil && length < 0:
			fmt.Fprintf(nc, "%x\r\n", len(body))
			nc.Write(body)
			io.WriteString(nc, "\r\n0\r\n\r\n")
		case body != nil:
			n, _ := nc.Write(body)
			sent = int64(n)
		default: // length bytes of filler, until the endpoint stops taking them
			chunk := bytes.Repeat([]byte("x"), 1<<20)
			for sent < length {
				n, err := nc.Write(chunk[:min(int64(len(chunk)), length-sent)])
				sent += int64(n)
				if err != nil {
					return
				}
			}
		}
	})
	nc.SetReadDeadline(time.Now().Add(2 * waitTime))
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatalf("no answer from the delivery endpoint: %v", err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	nc.Close()
	wg.Wait()
	return deliveryAnswer{resp.StatusCode, strings.TrimSpace(string(data))}, sent
}

// signDelivery returns the signature headers of body at ts, as a handler
// holding the secret makes them.
func signDelivery(ts int64, body []byte) map[string]string {
	m := hmac.New(sha256.New, []byte(abuseDeliverySecret))
	m.Write([]byte(strconv.FormatInt(ts, 10) + "\n"))
	m.Write(body)
	return map[string]string{"X-Mqttless-Timestamp": strconv.FormatInt(ts, 10), "X-Mqttless-Signature": hex.EncodeToString(m.Sum(nil))}
}

// TestAbuseDeliveryEndpointBody: 8 unsigned POSTs of 60 MB at once, as the
// attack of issue 14 sent. The endpoint refuses them from their headers,
// before reading the bodies, and the broker's memory barely moves.
func TestAbuseDeliveryEndpointBody(t *testing.T) {
	b, addr := deliveryBroker(t)
	before, err := vmRSS(b)
	if err != nil {
		t.Fatal(err)
	}
	const n, size = 8, 60 << 20
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		taken   int64
		answers []deliveryAnswer
	)
	for range n {
		wg.Go(func() {
			a, sent := postDelivery(t, addr, nil, size, nil)
			mu.Lock()
			defer mu.Unlock()
			answers = append(answers, a)
			taken += sent
		})
	}
	wg.Wait()
	after, err := vmRSS(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range answers {
		if a.status != http.StatusUnauthorized {
			t.Errorf("unsigned 60 MB POST answered %d %q, want 401", a.status, a.body)
		}
	}
	grew := (after - before) >> 20
	t.Logf("RSS %d MiB before, %d MiB after; the endpoint took %d MB of the %d MB sent before answering", before>>20, after>>20, taken/1_000_000, n*size/1_000_000)
	if grew >= 32 {
		t.Errorf("RSS grew %d MiB for %d refused POSTs, want under 32", grew, n)
	}
	if err := brokerUp(b); err != nil {
		t.Fatal(err)
	}
	abuseReport(t, "memory: delivery endpoint bodies", "unsigned or over MaxBodyFor(-max-packet-size) = 4 MiB: refused from the headers; 8 requests read at once",
		fmt.Sprintf("8 unsigned 60 MB POSTs: RSS +%d MiB", grew))
}

// TestAbuseDeliveryEndpointOneAnswer: every refusal of the delivery
// endpoint is the same status and body, whatever the reason, and says
// nothing of the server's clock; a signed request is served, and its
// replay refused alike.
func TestAbuseDeliveryEndpointOneAnswer(t *testing.T) {
	_, addr := deliveryBroker(t)
	body := []byte(`{"id":"abuse-1","deliveries":[]}`)
	now := time.Now().UnixMilli()
	good := signDelivery(now, body)
	if a, _ := postDelivery(t, addr, good, int64(len(body)), body); a.status != http.StatusOK {
		t.Fatalf("signed request answered %d %q, want 200", a.status, a.body)
	}
	wrongBody := []byte(`{"id":"abuse-2","deliveries":[]}`)
	fakeSig := map[string]string{"X-Mqttless-Timestamp": strconv.FormatInt(now, 10), "X-Mqttless-Signature": strings.Repeat("0f", 32)}
	refusals := []struct {
		name   string
		hdr    map[string]string
		length int64
		body   []byte
	}{
		{"unsigned", nil, int64(len(body)), body},
		{"signed for another body", signDelivery(now, body), int64(len(wrongBody)), wrongBody},
		{"forged signature", fakeSig, int64(len(body)), body},
		{"an hour old", signDelivery(now-3_600_000, body), int64(len(body)), body},
		{"an hour ahead", signDelivery(now+3_600_000, body), int64(len(body)), body},
		{"replayed", good, int64(len(body)), body},
		{"60 MB", fakeSig, 60 << 20, nil},
		{"chunked", fakeSig, -1, body},
	}
	var first deliveryAnswer
	for i, r := range refusals {
		a, _ := postDelivery(t, addr, r.hdr, r.length, r.body)
		if i == 0 {
			first = a
			if a.status == http.StatusOK {
				t.Fatalf("unsigned request served")
			}
		}
		if a != first {
			t.Errorf("%s: answered %d %q; %s was answered %d %q: refusals differ", r.name, a.status, a.body, refusals[0].name, first.status, first.body)
		}
		if regexp.MustCompile(`[0-9]`).MatchString(a.body) {
			t.Errorf("%s: the refusal %q carries numbers (the server's clock?)", r.name, a.body)
		}
	}
	abuseReport(t, "information: delivery endpoint refusals", "-",
		fmt.Sprintf("%d kinds of refusal, one answer: %d %q", len(refusals), first.status, first.body))
}

// TestAbuseDropLogFlood: a persistent session that does not read, at
// -max-queued 5, and a client publishing 400 QoS 1 messages to it on a
// topic of 1,000 bytes, then the session reconnecting. Every drop is
// counted, but the log gets a line or two, not one per message, and no
// line carries the whole topic.
func TestAbuseDropLogFlood(t *testing.T) {
	needOwnBroker(t)
	needEmbeddedStore(t)
	metrics := mustFreeAddr(t)
	b := startBroker(t, withFlags(hostileFlags("-max-queued", "5", "-metrics-addr", metrics)...))
	topic := topicRoot("droplog") + "/" + strings.Repeat("t", 1000)
	subID := uniq("droplog-sub") + strings.Repeat("c", 500)
	sub := dialRaw(t, b.addr, packet.V5)
	sub.mustConnect(connectPacket(packet.V5, subID, false))
	sub.subscribe(1, packet.Subscription{Filter: topic, QoS: 1})
	sub.disconnect(packet.Success)
	logBefore := len(b.log.String())

	pub := dialRaw(t, b.addr, packet.V5)
	pub.mustConnect(connectPacket(packet.V5, uniq("droplog-pub"), true))
	const sent = 400
	for i := range sent {
		pub.send(&packet.Publish{Topic: topic, QoS: 1, PacketID: uint16(i + 1), Payload: []byte("m")})
	}
	for range sent {
		expect[*packet.Puback](t, pub)
	}
	// Under delivery v1 the publishes dropped them; under v2 the streams
	// hold them and the reconnect drops all but the newest -max-queued.
	sub = dialRaw(t, b.addr, packet.V5)
	defer sub.close()
	sub.mustConnect(connectPacket(packet.V5, subID, false))
	for range 5 { // what -max-queued kept: v1 the oldest, v2 the newest
		sub.ack(expect[*packet.Publish](t, sub))
	}
	log := b.log.String()[logBefore:]
	lines, whole := 0, 0
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "dropped") {
			lines++
			if strings.Contains(l, strings.Repeat("t", 1000)) || strings.Contains(l, strings.Repeat("c", 500)) {
				whole++
			}
		}
	}
	if whole > 0 {
		t.Errorf("%d log lines carry the whole topic or client id", whole)
	}
	if lines > 3 {
		t.Errorf("%d log lines about drops for %d messages past -max-queued, want at most 3", lines, sent-5)
	}
	if n := counterAt(t, metrics, "mqttless_queue_dropped_messages_total"); n < sent-5 {
		t.Errorf("mqttless_queue_dropped_messages_total %d, want at least %d", n, sent-5)
	}
	abuseReport(t, "log: dropped messages", "one line per session per 10 s, fields cut to 64 bytes; -max-queued 5",
		fmt.Sprintf("%d messages dropped: %d log lines, %d bytes of log", sent-5, lines, len(log)))
}

// TestAbuseTopicAliasBytes: a 5.0 client setting topic aliases of 65,535
// '<' each, which the connection state carries to the handlers in every
// event (to Lambda, HTML-escaped to 3.9 MB for ten). Past -max-alias-bytes
// (64 KiB) in all, the broker refuses the alias as invalid, DISCONNECT
// 0x94.
func TestAbuseTopicAliasBytes(t *testing.T) {
	b := startBroker(t)
	c := dialRaw(t, b.addr, packet.V5)
	c.mustConnect(connectPacket(packet.V5, uniq("alias-bytes"), true))
	topic := strings.Repeat("<", 65535)
	held := 0
	for a := uint16(1); a <= 10; a++ {
		p := &packet.Publish{Topic: topic, Payload: []byte("x")}
		p.Properties.TopicAlias = a
		p.Properties.Set(packet.PropTopicAlias)
		c.send(p)
		if a == 1 {
			c.expectNone(quietTime) // the first fits
			held += len(topic)
			continue
		}
		d := c.expectClose(waitTime)
		if d == nil || d.ReasonCode != packet.TopicAliasInvalid {
			t.Fatalf("alias %d past 64 KiB: DISCONNECT %+v, want 0x94 Topic Alias invalid", a, d)
		}
		break
	}
	abuseReport(t, "memory and event size: inbound topic aliases", "-max-alias-bytes 65536 (DISCONNECT 0x94 past it)",
		fmt.Sprintf("%d KiB of alias topics per connection", held>>10))
}

// TestAbusePasswordFlood: with -allow-anonymous=false, one source
// (127.0.0.2) sends 200 CONNECTs with wrong passwords for alice, as fast as
// the broker answers. After the first few, the username and the source
// are backed off: the broker refuses them as a wrong password (0x86) without
// running bcrypt. Alice, whose credentials were verified before the flood,
// and bob, from another address, still connect.
func TestAbusePasswordFlood(t *testing.T) {
	dir := authDataDir(t)
	needEmbeddedStore(t)
	addUser(t, dir, "alice", "alice-secret")
	addUser(t, dir, "bob", "bob-secret")
	metrics := mustFreeAddr(t)
	b := startBroker(t, withDataDir(dir), withFlags(hostileFlags("-allow-anonymous=false", "-auth-cache", "1m", "-metrics-addr", metrics)...))
	rawLogin(t, b.addr, packet.V5, uniq("alice"), "alice", "alice-secret").close()

	const attempts = 200
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: waitTime}
	refused := 0
	flood := time.Now()
	for i := range attempts {
		if time.Since(flood) > time.Minute {
			t.Fatalf("%d attempts took a minute: each ran bcrypt", i)
		}
		nc, err := d.Dial("tcp", b.addr)
		if err != nil {
			t.Fatalf("dial from 127.0.0.2: %v", err)
		}
		c := rawOver(t, nc, packet.V5)
		ack := c.connect(rawCreds(packet.V5, uniq("mallory"), "alice", "guess-"+strconv.Itoa(i)))
		if ack.ReasonCode == packet.BadUsernameOrPassword {
			refused++
		} else {
			t.Fatalf("attempt %d: CONNACK %s, want 0x86 as for any wrong password", i, ack.ReasonCode)
		}
		c.close()
	}
	rawLogin(t, b.addr, packet.V5, uniq("alice"), "alice", "alice-secret").close()
	rawLogin(t, b.addr, packet.V5, uniq("bob"), "bob", "bob-secret").close()

	// Checks: alice before the flood, the flood's, bob (alice after the
	// flood is cached).
	checks, backedOff := counterAt(t, metrics, "mqttless_password_checks_total"), counterAt(t, metrics, "mqttless_password_backoff_refusals_total")
	checked := checks - 2
	if checked+backedOff != attempts {
		t.Errorf("%d password checks and %d back-off refusals for %d attempts and 2 logins", checks, backedOff, attempts)
	}
	if checked > 10 {
		t.Errorf("%d of %d wrong passwords from one source ran bcrypt, want at most 10", checked, attempts)
	}
	abuseReport(t, "CPU: password checks (bcrypt)", "-auth-backoff 1s (after 3 failures per username, 10 per source), -auth-backoff-max 1m, -max-password-checks 0 (CPUs), -auth-cache 1m",
		fmt.Sprintf("%d of %d wrong-password CONNECTs from one source ran bcrypt", checked, attempts))
}

// counterAt returns the counter name on the broker's /metrics at addr;
// the test fails when it is not there.
func counterAt(t *testing.T, addr, name string) int {
	t.Helper()
	_, body := httpGet(t, "http://"+addr+"/metrics")
	v, ok := metricValue(body, name)
	if !ok {
		t.Fatalf("no %s in /metrics", name)
	}
	return int(v)
}
