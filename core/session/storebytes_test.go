package session_test

import (
	"context"
	"strings"
	"testing"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// Config.MaxStoreBytes: once the queues of all sessions hold it, a
// message for offline sessions whose own queues have room is dropped and
// counted; a QoS 1 PUBLISH that reached none of its subscribers for that
// is answered PUBACK 0x97 (a QoS 2 one PUBREC 0x10, which keeps the
// exchange going). With room again, it is queued.
func TestMaxStoreBytes(t *testing.T) {
	e := newEnv(t, session.Config{MaxStoreBytes: 1500, MaxQueuedBytes: 100_000})
	for _, id := range []string{"s1", "s2"} {
		c, _, _ := e.connect(v5, id, persistent())
		c.sub(sub("t", 1))
		c.disconnect()
	}
	pub, _, _ := e.connect(v5, "pub")
	big := strings.Repeat("p", 1000)
	ack := func(pid uint16, q byte) packet.ReasonCode {
		t.Helper()
		ps := pub.out(pub.send(publish(v5, "t", big, qos(q, pid))))
		if len(ps) != 1 {
			t.Fatalf("PUBLISH %d: %s", pid, describeAll(ps))
		}
		switch p := ps[0].(type) {
		case *packet.Puback:
			return p.ReasonCode
		case *packet.Pubrec:
			return p.ReasonCode
		}
		t.Fatalf("PUBLISH %d: %s", pid, describe(ps[0]))
		return 0
	}
	if rc := ack(1, 1); rc != packet.Success { // s1 takes it (0 < 1500), s2 too (1000+ < 1500)
		t.Fatalf("first PUBLISH: PUBACK %s, want success", rc)
	}
	if rc := ack(2, 1); rc != packet.QuotaExceeded {
		t.Fatalf("PUBLISH into a full store: PUBACK %s, want 0x97", rc)
	}
	if rc := ack(3, 2); rc != packet.NoMatchingSubscribers {
		t.Fatalf("QoS 2 PUBLISH into a full store: PUBREC %s, want 0x10", rc)
	}
	if got := e.h.Dropped(); got != 4 {
		t.Fatalf("%d messages dropped, want 4 (2 PUBLISH × 2 sessions)", got)
	}
	if n, err := e.store.QueuedStoreBytes(context.Background()); err != nil || n < 2000 || n > 2200 {
		t.Fatalf("QueuedStoreBytes %d, %v; want the 2 queued copies", n, err)
	}
	// s1 reads its queue: room again.
	s1, _, _ := e.connect(v5, "s1", resume(), persistent())
	s1.disconnect()
	if rc := ack(4, 1); rc != packet.Success {
		t.Fatalf("PUBLISH after s1 read its queue: PUBACK %s, want success", rc)
	}
}
