package e2e_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
)

// The abuse tests of sessions (issue 14, High 5 and Medium 1): how many
// sessions one client may create, what their wills and queues may hold,
// and how many QoS 2 messages may wait for their PUBREL.

// pendingWillConnect is a 5.0 CONNECT of a session that lasts an hour
// offline, with a will of the given delay made as large as a CONNECT
// allows: a payload, content type, response topic, correlation data and
// one user property of fill bytes each (a payload has at most 65,535
// bytes, and a packet's user properties at most 64 KiB).
func pendingWillConnect(id string, fill int, delay uint32) *packet.Connect {
	p := connectPacket(packet.V5, id, false)
	p.Properties.SessionExpiry = 3600
	b := bytes.Repeat([]byte{'w'}, fill)
	p.Will = &packet.Will{Topic: "abuse/will/" + id, Payload: b, QoS: 1}
	wp := &p.Will.Properties
	wp.WillDelay, wp.ContentType, wp.ResponseTopic, wp.CorrelationData = delay, string(b), string(b), b
	wp.Set(packet.PropWillDelay).Set(packet.PropContentType).Set(packet.PropResponseTopic).Set(packet.PropCorrelationData)
	wp.User = []packet.UserProperty{{Key: "k", Value: string(b)}}
	return p
}

// TestAbuseSessWills: sessions whose connections dropped, each with a
// pending will of about 290 KiB (a will delay of an hour), must not keep
// the wills in the broker's memory, neither as they are stored nor after a
// restart, when the store is opened with no client connected. Before wills
// were kept apart from the session cache, the cache held every will,
// decoded, from the CONNECT on and again from start-up.
//
// What the broker holds is read as its live heap after a collection (the
// race detector's shadow memory makes the resident size of the race build
// grow with the garbage of the CONNECTs); the resident memory, anonymous
// and of the store's mapped file (the kernel's page cache, reclaimable),
// is reported.
func TestAbuseSessWills(t *testing.T) {
	needOwnBroker(t)
	needEmbeddedStore(t)
	const n, fill = 64, 60000
	const size = 5 * fill // about the will's Message.Size
	total := int64(n) * size
	pprof, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	flags := []string{"-store", "bolt", "-max-will-size", fmt.Sprint(1 << 20), "-pprof", pprof}
	if brokerHasFlag("max-connect-size") { // CONNECTs of 290 KiB
		flags = append(flags, "-max-connect-size", fmt.Sprint(1<<20))
	}
	b := startBroker(t, withFlags(measuredMemory(hostileFlags(flags...)...)...), withDataDir(t.TempDir()))
	before := liveHeap(t, pprof)
	for i := range n {
		c := dialRaw(t, b.addr, packet.V5)
		c.mustConnect(pendingWillConnect(fmt.Sprintf("will-%d", i), fill, 3600))
		c.close()
	}
	time.Sleep(500 * time.Millisecond) // the broker sees every connection end
	held := liveHeap(t, pprof)
	heldAnon, heldFile := rssParts(t, b)
	b = b.restart(t)
	restarted := liveHeap(t, pprof)
	restartedAnon, restartedFile := rssParts(t, b)
	t.Logf("live heap %s before, %s with %d pending wills of %s (%s), %s after a restart; RSS anon (file) %s (%s), after a restart %s (%s)",
		mib(before), mib(held), n, mib(size), mib(total), mib(restarted), mib(heldAnon), mib(heldFile), mib(restartedAnon), mib(restartedFile))
	abuseReport(t, "pending wills (sessions × will size)", "-max-will-size 1 MiB (default 64 KiB), -max-sessions",
		fmt.Sprintf("%d wills of %s (%s): live heap +%s; after a restart %s", n, mib(size), mib(total),
			mib(held-before), mib(restarted)))
	if held-before > total/4 {
		t.Errorf("live heap grew by %s with %s of pending wills: the wills are held in memory", mib(held-before), mib(total))
	}
	if restarted > before+total/4 {
		t.Errorf("live heap %s after a restart with no client, %s before any session: the wills were loaded at start-up",
			mib(restarted), mib(before))
	}
	// The wills are still there, read when needed: a client that takes
	// over a session with clean start gets its will published.
	sub := dialRaw(t, b.addr, packet.V5)
	sub.mustConnect(connectPacket(packet.V5, "will-watcher", true))
	sub.subscribe(1, packet.Subscription{Filter: "abuse/will/will-0", QoS: 1})
	c := dialRaw(t, b.addr, packet.V5)
	c.mustConnect(connectPacket(packet.V5, "will-0", true))
	if p := expect[*packet.Publish](t, sub); len(p.Payload) != fill || len(p.Properties.CorrelationData) != fill {
		t.Fatalf("will of %d bytes with %d of correlation data, want %d and %d", len(p.Payload), len(p.Properties.CorrelationData), fill, fill)
	}
}

// liveHeap returns the broker's live heap after a collection (HeapAlloc),
// from the heap profile its -pprof address serves.
func liveHeap(t testing.TB, pprof string) int64 {
	t.Helper()
	resp, err := http.Get("http://" + pprof + "/debug/pprof/heap?gc=1&debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "# HeapAlloc = "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no HeapAlloc in the heap profile")
	return 0
}

// TestAbuseSessMaxSessions: -max-sessions bounds the sessions one client
// can create; the next CONNECT that would create one is refused, 0x97 at
// 5.0 and return code 3 at 3.1.1, while an existing session may still
// reconnect.
func TestAbuseSessMaxSessions(t *testing.T) {
	needOwnBroker(t)
	const max = 20
	b := startBroker(t, withFlags(hostileFlags("-max-sessions", fmt.Sprint(max))...))
	for i := range max {
		c := dialRaw(t, b.addr, packet.V311)
		c.mustConnect(connectPacket(packet.V311, fmt.Sprintf("s-%d", i), false))
		c.disconnect(packet.Success)
	}
	for _, v := range []packet.Version{packet.V311, packet.V5} {
		c := dialRaw(t, b.addr, v)
		ack := c.connect(connectPacket(v, "one-more-"+v.String(), false))
		want := packet.QuotaExceeded
		if v == packet.V311 {
			want = packet.ServerUnavailable // return code 3
		}
		if ack.ReasonCode != want {
			t.Fatalf("%s: CONNACK %s for session %d, want %s", v, rcName(ack.ReasonCode), max+1, rcName(want))
		}
		c.expectClose(waitTime)
	}
	c := dialRaw(t, b.addr, packet.V311)
	if ack := c.mustConnect(connectPacket(packet.V311, "s-0", false)); !ack.SessionPresent {
		t.Fatalf("an existing session could not come back at the limit")
	}
	abuseReport(t, "sessions", fmt.Sprintf("-max-sessions %d (default 10000)", max),
		fmt.Sprintf("%d sessions; session %d refused (0x97, return code 3 at 3.1.1)", max, max+1))
}

// TestAbuseSessQueueBytes: an offline session's queue stops at
// -max-queued-bytes (plus the message that crosses it), whatever
// -max-queued allows.
func TestAbuseSessQueueBytes(t *testing.T) {
	needOwnBroker(t)
	const limit, size, sent = 256 << 10, 64 << 10, 40
	// -delivery v1: -max-queued-bytes bounds the per-session queues, which
	// under v2 hold only shared subscriptions', QoS 0 and retained
	// messages; a v2 stream's backlog is bounded by -max-queued
	// (TestAbuseDropLogFlood).
	b := startBroker(t, withFlags(hostileFlags("-delivery", "v1", "-max-queued-bytes", fmt.Sprint(limit), "-max-queued", "1000")...))
	s := dialRaw(t, b.addr, packet.V5)
	s.mustConnect(connectPacket(packet.V5, "queue-bytes", false))
	s.subscribe(1, packet.Subscription{Filter: "abuse/queue", QoS: 1})
	s.disconnect(packet.Success)
	pub := dialRaw(t, b.addr, packet.V5)
	pub.mustConnect(connectPacket(packet.V5, "queue-pub", true))
	payload := bytes.Repeat([]byte{'q'}, size)
	for i := range sent {
		pub.publish(&packet.Publish{Topic: "abuse/queue", Payload: payload, QoS: 1, PacketID: uint16(i + 1)})
	}
	s = dialRaw(t, b.addr, packet.V5)
	if ack := s.mustConnect(connectPacket(packet.V5, "queue-bytes", false)); !ack.SessionPresent {
		t.Fatal("session not present")
	}
	got := 0
	for {
		p, err := s.next(time.Second)
		if err != nil {
			break
		}
		if pp, ok := p.(*packet.Publish); ok {
			got++
			s.send(&packet.Puback{PacketID: pp.PacketID})
		}
	}
	want := (limit + size - 1) / size // the message that crosses the bound is taken
	abuseReport(t, "offline queue bytes", fmt.Sprintf("-max-queued-bytes %d KiB (default 4 MiB)", limit>>10),
		fmt.Sprintf("%d of %d messages of %d KiB queued (%d KiB)", got, sent, size>>10, got*size>>10))
	if got > want {
		t.Fatalf("%d messages of %d KiB queued with -max-queued-bytes %d KiB, want at most %d", got, size>>10, limit>>10, want)
	}
	if got == 0 {
		t.Fatal("nothing queued")
	}
}

// TestAbuseSessQoS2 sends QoS 2 messages and never their PUBREL: the
// broker holds at most -receive-max of them for the session, across
// reconnections, and answers one more with DISCONNECT 0x93
// [MQTT-3.3.4-7].
func TestAbuseSessQoS2(t *testing.T) {
	needOwnBroker(t)
	const rmax, size = 10, 64 << 10
	b := startBroker(t, withFlags(hostileFlags("-receive-max", fmt.Sprint(rmax))...))
	payload := bytes.Repeat([]byte{'2'}, size)
	pid := uint16(0)
	held := 0
	for round := range 3 {
		c := dialRaw(t, b.addr, packet.V5)
		c.mustConnect(connectPacket(packet.V5, "qos2-hoarder", false))
		for {
			pid++
			c.send(&packet.Publish{Topic: "abuse/qos2", Payload: payload, QoS: 2, PacketID: pid})
			p, err := c.next(waitTime)
			if err != nil {
				if round == 0 {
					t.Fatalf("PUBLISH %d: %v", pid, err)
				}
				break // closed
			}
			if d, ok := p.(*packet.Disconnect); ok {
				if d.ReasonCode != packet.ReceiveMaximumExceeded {
					t.Fatalf("DISCONNECT %s, want 0x93", rcName(d.ReasonCode))
				}
				break
			}
			if _, ok := p.(*packet.Pubrec); !ok {
				t.Fatalf("got %s, want PUBREC", p.Type())
			}
			held++
			if held > 3*rmax {
				t.Fatalf("%d QoS 2 messages held without PUBREL with -receive-max %d", held, rmax)
			}
		}
		c.close()
	}
	abuseReport(t, "QoS 2 messages awaiting PUBREL", fmt.Sprintf("-receive-max %d (default 100)", rmax),
		fmt.Sprintf("%d of %d KiB after 3 connections (the next gets 0x93)", held, size>>10))
	if held != rmax {
		t.Fatalf("%d QoS 2 messages held without PUBREL over 3 connections, want %d (-receive-max)", held, rmax)
	}
}

// rssParts returns the anonymous and the file-backed parts of the broker's
// resident memory, from /proc/<pid>/status: the memory the broker holds,
// and the pages of its store's memory-mapped file that it touched, which
// are the kernel's page cache and reclaimable.
func rssParts(t testing.TB, b *broker) (anon, file int64) {
	t.Helper()
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", b.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(st), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[2] != "kB" {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "RssAnon:":
			anon = kb << 10
		case "RssFile:":
			file = kb << 10
		}
	}
	return anon, file
}
