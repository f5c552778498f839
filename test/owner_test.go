package e2e_test

// A client id belongs to its user (issue 14): a session belongs to the
// identity that created it, client ids can be held to a pattern per
// user, rules that name a client id apply only to ids bound to their
// user, and removing a user or a rule stops what it allowed.

import (
	"strings"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
)

// ownerBroker starts a broker, anonymous clients allowed, with users
// alice, bob, pub and watcher (password NAME-pw) and these rules:
//
//	-user alice   -access both      -filter devices/%u/#
//	-user bob     -access both      -filter devices/%u/#
//	-user pub     -access publish   -filter devices/#
//	              -access publish   -filter wills/%u
//	-user watcher -access subscribe -filter wills/#
//
// patterns are "user=PATTERN" client-id patterns set with users set;
// flags are added to the broker's.
func ownerBroker(t *testing.T, patterns []string, flags ...string) (*broker, string) {
	t.Helper()
	dir := authDataDir(t)
	for _, u := range []string{"alice", "bob", "pub", "watcher"} {
		addUser(t, dir, u, u+"-pw")
	}
	for _, p := range patterns {
		user, pattern, _ := strings.Cut(p, "=")
		admin(t, dir, "", "users", "set", user, "-client-ids", pattern)
		if list := admin(t, dir, "", "users", "list"); !strings.Contains(list, " "+pattern+"\n") {
			t.Fatalf("users list does not show %s's pattern %s:\n%s", user, pattern, list)
		}
	}
	addRule(t, dir, "-user", "alice", "-access", "both", "-filter", "devices/%u/#")
	addRule(t, dir, "-user", "bob", "-access", "both", "-filter", "devices/%u/#")
	addRule(t, dir, "-user", "pub", "-access", "publish", "-filter", "devices/#")
	addRule(t, dir, "-access", "publish", "-filter", "wills/%u")
	addRule(t, dir, "-user", "watcher", "-access", "subscribe", "-filter", "wills/#")
	flags = append([]string{"-allow-anonymous=true", "-auth-cache", authCache}, flags...)
	return startBroker(t, withDataDir(dir), withFlags(flags...)), dir
}

// aliceConnect is alice's persistent CONNECT as id, with a will on
// wills/alice when will is set.
func aliceConnect(v packet.Version, id string, will bool) *packet.Connect {
	p := connectPacket(v, id, false)
	p.UsernameFlag, p.Username = true, "alice"
	p.PasswordFlag, p.Password = true, []byte("alice-pw")
	if will {
		p.Will = &packet.Will{Topic: "wills/alice", Payload: []byte("alice is gone"), QoS: 0}
	}
	return p
}

// intruderConnects are CONNECTs of other identities for client id id:
// bob resuming, bob with Clean Start and a will of his own, and an
// anonymous client resuming.
func intruderConnects(v packet.Version, id string) map[string]*packet.Connect {
	bob := rawCreds(v, id, "bob", "bob-pw")
	bob.CleanStart = false
	if v == packet.V5 {
		bob.Properties.SessionExpiry = 300
		bob.Properties.Set(packet.PropSessionExpiry)
	}
	bobClean := rawCreds(v, id, "bob", "bob-pw")
	bobClean.Will = &packet.Will{Topic: "wills/bob", Payload: []byte("bob")}
	return map[string]*packet.Connect{
		"bob resuming":         bob,
		"bob with clean start": bobClean,
		"anonymous, resuming":  connectPacket(v, id, false),
		"anonymous, clean":     connectPacket(v, id, true),
	}
}

// refuseIntruders sends each of intruderConnects and checks that it is
// refused with return code 5 (0x87 at 5.0), without a session, and
// closed [MQTT-3.1.4-2].
func refuseIntruders(t *testing.T, addr string, v packet.Version, id string) {
	t.Helper()
	for name, p := range intruderConnects(v, id) {
		c := dialRaw(t, addr, v)
		ack := c.connect(p)
		if ack.ReasonCode != packet.NotAuthorized || ack.SessionPresent {
			t.Fatalf("%s with alice's client id: CONNACK %s present %v, want not authorized (5 / 0x87) without a session",
				name, ack.ReasonCode, ack.SessionPresent)
		}
		c.expectClose(waitTime)
	}
}

// aliceOnline sets the scene of the intruder tests: a watcher of the wills
// topics, and alice connected as id (with a will) and subscribed at QoS 1
// to a topic of her own, which it returns.
func aliceOnline(t *testing.T, addr string, v packet.Version, id string) (topic string, watcher, alice *rawClient) {
	t.Helper()
	topic = "devices/alice/" + strings.ReplaceAll(uniq("t"), "-", "")
	watcher = rawLogin(t, addr, v, uniq("watcher"), "watcher", "watcher-pw")
	watcher.subscribe(1, packet.Subscription{Filter: "wills/#", QoS: 0})
	alice = dialRaw(t, addr, v)
	alice.mustConnect(aliceConnect(v, id, true))
	alice.subscribe(1, packet.Subscription{Filter: topic, QoS: 1})
	return topic, watcher, alice
}

// TestOwnerIntruderRefused: bob with alice's client id is refused and
// alice keeps her session and messages. While alice is connected, bob
// (resuming, or with Clean Start) and an anonymous client connecting with
// her client id get return code 5 (0x87 at 5.0): her connection stays
// open and keeps receiving, her will is not published. While she is
// offline the same CONNECTs are refused, and alice then resumes her
// session (Session Present 1) and gets the message queued for her.
func TestOwnerIntruderRefused(t *testing.T) {
	t.Parallel()
	b, _ := ownerBroker(t, nil)
	inTurn(t, func(t *testing.T, v packet.Version) {
		id := uniq("alice-phone")
		topic, watcher, alice := aliceOnline(t, b.addr, v, id)
		pub := rawLogin(t, b.addr, v, uniq("pub"), "pub", "pub-pw")

		refuseIntruders(t, b.addr, v, id)
		alice.ping()
		if rc := pub.publish(&packet.Publish{Topic: topic, QoS: 1, PacketID: 1, Payload: []byte("live")}); rc != packet.Success {
			t.Fatalf("PUBACK %s for pub's message", rc)
		}
		alice.ack(alice.expectPublish(topic, "live"))
		watcher.expectNone(quietTime)

		alice.disconnect(packet.Success)
		if rc := pub.publish(&packet.Publish{Topic: topic, QoS: 1, PacketID: 2, Payload: []byte("queued")}); rc != packet.Success {
			t.Fatalf("PUBACK %s for pub's message", rc)
		}
		refuseIntruders(t, b.addr, v, id)
		back := dialRaw(t, b.addr, v)
		if ack := back.mustConnect(aliceConnect(v, id, false)); !ack.SessionPresent {
			t.Fatal("alice's session is gone after the refused CONNECTs (Session Present 0)")
		}
		back.ack(back.expectPublish(topic, "queued"))
		back.expectNone(quietTime)
		watcher.expectNone(quietTime)
	})
}

// TestOwnerCleanStartIntruder: clean start from another identity erases
// nothing and publishes no will. bob's CONNECT with alice's client id and
// Clean Start is refused; alice is not disconnected (no 0x8E Session taken
// over) and her will is not published; when her connection then drops
// her own will is published, and she resumes her subscription.
func TestOwnerCleanStartIntruder(t *testing.T) {
	t.Parallel()
	b, _ := ownerBroker(t, nil)
	inTurn(t, func(t *testing.T, v packet.Version) {
		id := uniq("alice-tablet")
		topic, watcher, alice := aliceOnline(t, b.addr, v, id)

		c := dialRaw(t, b.addr, v)
		ack := c.connect(rawCreds(v, id, "bob", "bob-pw"))
		if ack.ReasonCode != packet.NotAuthorized {
			t.Fatalf("bob's clean CONNECT with alice's id: CONNACK %s, want not authorized", ack.ReasonCode)
		}
		c.expectClose(waitTime)
		alice.expectNone(quietTime) // no DISCONNECT 0x8E, no close
		watcher.expectNone(quietTime)

		alice.close() // her connection drops: her own will is due
		watcher.expectPublish("wills/alice", "alice is gone")
		back := dialRaw(t, b.addr, v)
		if ack := back.mustConnect(aliceConnect(v, id, false)); !ack.SessionPresent {
			t.Fatal("alice's session was erased (Session Present 0)")
		}
		pub := rawLogin(t, b.addr, v, uniq("pub"), "pub", "pub-pw")
		pub.publish(&packet.Publish{Topic: topic, QoS: 1, PacketID: 1, Payload: []byte("still subscribed")})
		back.ack(back.expectPublish(topic, "still subscribed"))
	})
}

// TestOwnerAnonymousCannotTakeNamed: an anonymous client cannot take a
// named user's session, while anonymous clients share one identity and
// resume each other's sessions (README, -allow-anonymous).
func TestOwnerAnonymousCannotTakeNamed(t *testing.T) {
	t.Parallel()
	b, _ := ownerBroker(t, nil)
	inTurn(t, func(t *testing.T, v packet.Version) {
		named := uniq("named")
		alice := dialRaw(t, b.addr, v)
		alice.mustConnect(aliceConnect(v, named, false))
		alice.disconnect(packet.Success)
		c := dialRaw(t, b.addr, v)
		if ack := c.connect(connectPacket(v, named, false)); ack.ReasonCode != packet.NotAuthorized {
			t.Fatalf("anonymous CONNECT with alice's client id: CONNACK %s, want not authorized", ack.ReasonCode)
		}

		shared := uniq("anon")
		a, _ := rawConnect(t, b.addr, v, shared, false)
		a.disconnect(packet.Success)
		if _, ack := rawConnect(t, b.addr, v, shared, false); !ack.SessionPresent {
			t.Fatal("an anonymous client did not resume the anonymous session of its client id")
		}
	})
}

// TestClientIDPatternRefused: with the broker's client-id pattern %u-*
// (-client-ids), alice connecting as bob-phone is refused with return
// code 2 (0x85 Client Identifier not valid at 5.0) [MQTT-3.1.3-8] (3.1.1:
// [MQTT-3.1.3-9]), as alice-<anything> is accepted; bob, whose own pattern
// is %u (users set bob -client-ids %u), may use only "bob"; an anonymous
// client, which %u never matches, is refused.
func TestClientIDPatternRefused(t *testing.T) {
	t.Parallel()
	b, _ := ownerBroker(t, []string{"bob=%u"}, "-client-ids", "%u-*")
	inTurn(t, func(t *testing.T, v packet.Version) {
		for _, tc := range []struct{ user, id string }{{"alice", "bob-phone"}, {"alice", "alice"}, {"bob", "bob-phone"}} {
			c := dialRaw(t, b.addr, v)
			ack := c.connect(rawCreds(v, tc.id, tc.user, tc.user+"-pw"))
			if ack.ReasonCode != packet.ClientIdentifierNotValid {
				t.Errorf("%s as %q: CONNACK %s, want client identifier not valid (2 / 0x85)", tc.user, tc.id, ack.ReasonCode)
			}
			c.expectClose(waitTime)
		}
		c := dialRaw(t, b.addr, v)
		if ack := c.connect(connectPacket(v, uniq("anon"), true)); ack.ReasonCode != packet.ClientIdentifierNotValid {
			t.Errorf("anonymous client under %%u-*: CONNACK %s, want client identifier not valid", ack.ReasonCode)
		}
		rawLogin(t, b.addr, v, uniq("alice"), "alice", "alice-pw").disconnect(packet.Success)
		rawLogin(t, b.addr, v, "bob", "bob", "bob-pw").disconnect(packet.Success)
	})
}

// TestOwnerRevocation: after acl remove of alice's rule, and after users
// remove alice, a connected alice-session stops receiving within
// -auth-cache: the rule's removal stops her messages, the user's removal
// also closes her connection (DISCONNECT 0x87 at 5.0). The admin CLI
// changes the store while the broker runs, which only DynamoDB allows.
func TestOwnerRevocation(t *testing.T) {
	if !onDynamo() {
		t.Skip("needs a store the admin CLI can change while the broker runs (MQTTLESS_E2E_STORE=dynamo); the handler tests cover the embedded store")
	}
	t.Parallel()
	dir := authDataDir(t)
	for _, u := range []string{"alice", "carol", "pub"} {
		addUser(t, dir, u, u+"-pw")
	}
	ruleID := addRule(t, dir, "-user", "alice", "-access", "both", "-filter", "devices/%u/#")
	addRule(t, dir, "-user", "carol", "-access", "subscribe", "-filter", "devices/#")
	addRule(t, dir, "-user", "pub", "-access", "publish", "-filter", "devices/#")
	b := startBroker(t, withDataDir(dir), withFlags("-allow-anonymous=false", "-auth-cache", authCache))
	settle := func() { time.Sleep(5 * 100 * time.Millisecond) } // a few -auth-cache

	v := packet.V5
	topic := "devices/alice/" + strings.ReplaceAll(uniq("t"), "-", "")
	alice := rawLogin(t, b.addr, v, uniq("alice"), "alice", "alice-pw")
	alice.subscribe(1, packet.Subscription{Filter: topic, QoS: 0})
	carol := rawLogin(t, b.addr, v, uniq("carol"), "carol", "carol-pw")
	carol.subscribe(1, packet.Subscription{Filter: topic, QoS: 0})
	pub := rawLogin(t, b.addr, v, uniq("pub"), "pub", "pub-pw")
	send := func(payload string) { pub.send(&packet.Publish{Topic: topic, Payload: []byte(payload)}) }
	send("before")
	alice.expectPublish(topic, "before")
	carol.expectPublish(topic, "before")

	admin(t, dir, "", "acl", "remove", ruleID)
	settle()
	send("rule removed")
	carol.expectPublish(topic, "rule removed")
	alice.expectNone(quietTime)

	admin(t, dir, "", "users", "remove", "alice")
	settle()
	send("user removed")
	carol.expectPublish(topic, "user removed")
	if d := alice.expectClose(waitTime); d == nil || d.ReasonCode != packet.NotAuthorized {
		t.Fatalf("alice's connection closed with %+v, want DISCONNECT 0x87 Not authorized", d)
	}
}
