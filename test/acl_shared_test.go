package e2e_test

import (
	"strings"
	"testing"

	"github.com/mqttless/mqttless/core/packet"
)

// TestACLSharedSubscription: a deny rule inside a granted shared
// subscription holds for each message (issue 18). The user reader may
// subscribe to feed/# but not receive feed/secret/#; the user other may
// receive all of feed/#. reader's $share/g/feed/# is granted; of the
// messages writer publishes to feed/secret/..., none ever reaches reader,
// whether reader is the group's only member or shares it with other;
// feed/open/... reaches the group.
func TestACLSharedSubscription(t *testing.T) {
	t.Parallel()
	dir := authDataDir(t)
	for _, u := range []string{"reader", "other", "writer"} {
		addUser(t, dir, u, u+"-pw")
	}
	addRule(t, dir, "-user", "writer", "-access", "publish", "-filter", "feed/#")
	addRule(t, dir, "-user", "reader", "-access", "subscribe", "-filter", "feed/#")
	addRule(t, dir, "-user", "reader", "-access", "subscribe", "-filter", "feed/secret/#", "-deny")
	addRule(t, dir, "-user", "other", "-access", "subscribe", "-filter", "feed/#")
	b := startBroker(t, withDataDir(dir), withFlags("-auth-cache", authCache))

	inTurn(t, func(t *testing.T, v packet.Version) {
		r := strings.ReplaceAll(uniq("r"), "-", "")
		group := "$share/" + r + "/feed/#"
		reader := rawLogin(t, b.addr, v, uniq("reader"), "reader", "reader-pw")
		if ack := reader.suback(1, packet.Subscription{Filter: group, QoS: 1}); ack.ReasonCodes[0] != packet.GrantedQoS1 {
			t.Fatalf("SUBACK %s for reader's %s, want granted QoS 1", ack.ReasonCodes[0], group)
		}
		writer := rawLogin(t, b.addr, v, uniq("writer"), "writer", "writer-pw")
		for i, topic := range []string{"feed/secret/" + r, "feed/open/" + r} {
			writer.publish(&packet.Publish{Topic: topic, QoS: 1, PacketID: uint16(i + 1), Payload: []byte(topic)})
		}
		// The secret one would have come first.
		reader.ack(reader.expectPublish("feed/open/"+r, "feed/open/"+r))
		reader.expectNone(quietTime)

		// With other in the group, the secret messages go to other or
		// to nobody, never to reader.
		other := rawLogin(t, b.addr, v, uniq("other"), "other", "other-pw")
		other.subscribe(1, packet.Subscription{Filter: group, QoS: 0})
		const n = 20
		for i := range n {
			writer.send(&packet.Publish{Topic: "feed/secret/" + r, QoS: 0, Payload: []byte{byte(i)}})
		}
		writer.ping()
		reader.expectNone(quietTime)
		for {
			p, err := other.next(quietTime)
			if err != nil {
				break
			}
			if pub, ok := p.(*packet.Publish); !ok || pub.Topic != "feed/secret/"+r {
				t.Fatalf("other got %s %+v", p.Type(), p)
			}
		}
	})
}
