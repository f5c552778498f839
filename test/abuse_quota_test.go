package e2e_test

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
)

// The abuse tests of the per-identity and concurrent quotas (issue 14,
// High 3 and 5): one user's retained messages stop at -max-user-retained
// and -max-user-retained-bytes, and CONNECTs that arrive together create
// no more sessions than -max-sessions.

// TestAbuseSessMaxSessionsConcurrent: 60 CONNECTs that would each create a
// session, sent at once, leave exactly -max-sessions sessions: the store
// checks the count and writes the session in one atomic step, so no
// CONNECT passes the limit by racing another. The others get 0x97.
func TestAbuseSessMaxSessionsConcurrent(t *testing.T) {
	needOwnBroker(t)
	const max, tries = 20, 60
	b := startBroker(t, withFlags(hostileFlags("-max-sessions", strconv.Itoa(max))...))
	codes := make([]packet.ReasonCode, tries)
	errs := make([]error, tries)
	var wg sync.WaitGroup
	for i := range tries {
		wg.Go(func() {
			codes[i], errs[i] = connectCode(b.addr, fmt.Sprintf("race-%d", i))
		})
	}
	wg.Wait()
	accepted, refused := 0, 0
	for i, rc := range codes {
		switch {
		case errs[i] != nil:
			t.Fatalf("CONNECT %d: %v", i, errs[i])
		case rc == packet.Success:
			accepted++
		case rc == packet.QuotaExceeded:
			refused++
		default:
			t.Fatalf("CONNECT %d: CONNACK %s", i, rcName(rc))
		}
	}
	if accepted != max || refused != tries-max {
		t.Fatalf("%d concurrent CONNECTs with -max-sessions %d: %d accepted, %d refused 0x97", tries, max, accepted, refused)
	}
	// The sessions stored are the ones accepted: another new one is
	// refused, an accepted one comes back.
	if rc, err := connectCode(b.addr, "race-one-more"); err != nil || rc != packet.QuotaExceeded {
		t.Fatalf("a new session after the race: %s, %v", rcName(rc), err)
	}
	abuseReport(t, "sessions, concurrent CONNECTs", fmt.Sprintf("-max-sessions %d", max),
		fmt.Sprintf("%d CONNECTs at once, each for a new session: %d sessions, %d refused (0x97); the count and the write are one store step (before: 60 of 60 accepted)", tries, accepted, refused))
}

// connectCode connects as id at 5.0 with a session that outlives the
// connection (expiry 300 s), then disconnects, and returns the CONNACK's
// reason code.
func connectCode(addr, id string) (packet.ReasonCode, error) {
	c, err := dialH(addr, packet.V5, 0)
	if err != nil {
		return 0, err
	}
	defer c.close()
	p := &packet.Connect{Version: packet.V5, ClientID: id}
	p.Properties.SessionExpiry = 300
	p.Properties.Set(packet.PropSessionExpiry)
	if err := c.send(p); err != nil {
		return 0, err
	}
	r, err := c.read(6 * waitTime) // the machine is busy with the others
	if err != nil {
		return 0, fmt.Errorf("waiting for CONNACK: %w", err)
	}
	ack, ok := r.(*packet.Connack)
	if !ok {
		return 0, fmt.Errorf("got %s, want CONNACK", r.Type())
	}
	if ack.ReasonCode == packet.Success {
		err = c.send(&packet.Disconnect{})
	}
	return ack.ReasonCode, err
}

// TestAbuseRetainedUserQuota: with -max-user-retained 5 and
// -max-user-retained-bytes 8192, alice's 6th retained message is refused
// (PUBACK 0x97, as past -max-retained) while bob's are not; replacing her
// own message passes at her limit, and clearing one frees her a place;
// bob's third message, past his bytes, is refused; a subscriber gets
// exactly the messages retained.
func TestAbuseRetainedUserQuota(t *testing.T) {
	t.Parallel()
	const maxN, maxBytes = 5, 8192
	dir := authDataDir(t)
	addUser(t, dir, "alice", "alice-pw")
	addUser(t, dir, "bob", "bob-pw")
	b := startBroker(t, withDataDir(dir), withFlags("-allow-anonymous=false",
		"-max-user-retained", strconv.Itoa(maxN), "-max-user-retained-bytes", strconv.Itoa(maxBytes)))
	alice := rawLogin(t, b.addr, packet.V5, uniq("alice"), "alice", "alice-pw")
	bob := rawLogin(t, b.addr, packet.V5, uniq("bob"), "bob", "bob-pw")
	id := uint16(0)
	publish := func(c *rawClient, topic string, size int) packet.ReasonCode {
		t.Helper()
		id++
		return c.publish(&packet.Publish{Topic: topic, QoS: 1, Retain: true, PacketID: id, Payload: bytes.Repeat([]byte("x"), size)})
	}
	refused := func(rc packet.ReasonCode) bool { return rc == packet.QuotaExceeded }
	for i := range maxN + 1 {
		if rc := publish(alice, fmt.Sprintf("uq/a/%d", i), 100); refused(rc) != (i == maxN) {
			t.Fatalf("alice's retained message %d: PUBACK %s", i+1, rcName(rc))
		}
	}
	if rc := publish(alice, "uq/a/0", 100); refused(rc) {
		t.Fatalf("alice replacing her own retained message at her limit: %s", rcName(rc))
	}
	alice.publish(&packet.Publish{Topic: "uq/a/1", Retain: true}) // clears it
	if rc := publish(alice, "uq/a/9", 100); refused(rc) {
		t.Fatalf("alice's retained message after clearing one: %s", rcName(rc))
	}
	// Bytes: two of 4,000 bytes fit in bob's 8,192, a third does not.
	for i, want := range []bool{false, false, true} {
		if rc := publish(bob, fmt.Sprintf("uq/b/%d", i), 4000); refused(rc) != want {
			t.Fatalf("bob's retained message %d of 4000 bytes: PUBACK %s, want refused %v", i+1, rcName(rc), want)
		}
	}
	sub := rawLogin(t, b.addr, packet.V5, uniq("sub"), "bob", "bob-pw")
	sub.subscribe(1, packet.Subscription{Filter: "uq/#", QoS: 0})
	got := map[string]bool{}
	for {
		p, err := sub.next(time.Second)
		if err != nil {
			break
		}
		if pub, ok := p.(*packet.Publish); ok && pub.Retain {
			got[pub.Topic] = true
		}
	}
	want := []string{"uq/a/0", "uq/a/2", "uq/a/3", "uq/a/4", "uq/a/9", "uq/b/0", "uq/b/1"}
	for _, topic := range want {
		if !got[topic] {
			t.Errorf("retained message %s not delivered", topic)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d retained messages delivered, want %d: %v", len(got), len(want), got)
	}
	abuseReport(t, "retained messages of one user", fmt.Sprintf("-max-user-retained %d, -max-user-retained-bytes %d", maxN, maxBytes),
		fmt.Sprintf("alice: %d messages, the next refused (PUBACK 0x97), a place freed by clearing one; bob: 2 of 4,000 bytes, the third refused; %d retained in all", maxN, len(got)))
}
