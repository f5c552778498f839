package proxy

import (
	"strings"
	"testing"

	"github.com/mqttless/mqttless/core/packet"
)

// aliasConn returns a connection that assigns aliases to a client with
// Topic Alias Maximum aliasMax, under the proxy limits count and bytes.
func aliasConn(t *testing.T, aliasMax uint16, count, bytes int) *conn {
	t.Helper()
	cfg, err := Config{MaxOutboundAliases: count, MaxOutboundAliasBytes: bytes}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	return &conn{srv: &Server{cfg: cfg}, aliasMax: aliasMax}
}

// sendTopic runs a PUBLISH of topic through aliasLocked and returns the
// topic and alias it goes out with.
func sendTopic(t *testing.T, c *conn, topic string) (string, uint16) {
	t.Helper()
	f, err := (&packet.Publish{Topic: topic, Payload: []byte("x")}).Append(nil, packet.V5)
	if err != nil {
		t.Fatal(err)
	}
	var p packet.Publish
	if err := p.Decode(c.aliasLocked(f), packet.V5); err != nil {
		t.Fatal(err)
	}
	return p.Topic, p.Properties.TopicAlias
}

// The aliases follow the client's mappings: a client that applies what it
// receives (section 3.3.2.3.4) always resolves every PUBLISH to the topic
// it was sent for, however the proxy remaps; and the proxy never holds
// more aliases, or bytes of topics, than its limits.
func TestAliasLRUBounded(t *testing.T) {
	const count, bytes = 4, 40
	c := aliasConn(t, 65535, count, bytes)
	client := map[uint16]string{}
	topics := []string{"a", "b", "c", "a", "d", "e", "a", "f", strings.Repeat("x", 30), "a", "b",
		strings.Repeat("y", 41), "g", strings.Repeat("z", 20), "a", "h", "i", "j", "a"}
	for i, topic := range topics {
		got, a := sendTopic(t, c, topic)
		switch {
		case a == 0 && got != topic:
			t.Fatalf("PUBLISH %d: topic %q without alias, want %q", i, got, topic)
		case a > count:
			t.Fatalf("PUBLISH %d: alias %d over the limit of %d", i, a, count)
		case a != 0 && got != "":
			client[a] = got // the client (re)maps the alias [section 3.3.2.3.4]
		}
		if a != 0 && client[a] != topic {
			t.Fatalf("PUBLISH %d of %q: the client resolves alias %d to %q", i, topic, a, client[a])
		}
		l := &c.aliases
		if len(l.byTopic) > count || l.bytes > bytes {
			t.Fatalf("PUBLISH %d: %d aliases holding %d bytes, over %d and %d", i, len(l.byTopic), l.bytes, count, bytes)
		}
		sum := 0
		for tp := range l.byTopic {
			sum += len(tp)
		}
		if sum != l.bytes {
			t.Fatalf("PUBLISH %d: bytes %d, topics hold %d", i, l.bytes, sum)
		}
	}
	// "a" was used throughout: still aliased, sent as the alias alone.
	if got, a := sendTopic(t, c, "a"); got != "" || a == 0 {
		t.Errorf("a recently used topic went out as %q alias %d, want the alias alone", got, a)
	}
	// A topic over the byte limit is never aliased.
	if got, a := sendTopic(t, c, strings.Repeat("y", 41)); a != 0 || got == "" {
		t.Errorf("a topic over MaxOutboundAliasBytes went out with alias %d", a)
	}
}

// The client's Topic Alias Maximum bounds the aliases when it is below
// MaxOutboundAliases [MQTT-3.1.2-26].
func TestAliasClientMaximum(t *testing.T) {
	c := aliasConn(t, 2, 100, 1<<20)
	for _, topic := range []string{"a", "b", "c", "d"} {
		if _, a := sendTopic(t, c, topic); a == 0 || a > 2 {
			t.Fatalf("topic %s: alias %d, want 1 or 2", topic, a)
		}
	}
}
