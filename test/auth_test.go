package e2e_test

// Authentication and authorization through the real broker: users and
// access rules set up with the admin CLI (cmd/mqttless-admin) in the
// broker's own store, clients refused or served as the rules say.
//
// With the embedded store the broker holds the store's file lock; the
// admin CLI then goes through the broker's admin socket (readme_test.go
// does), while these tests add users and rules before the broker starts
// and change them with the broker stopped. On DynamoDB (MQTTLESS_E2E_STORE
// =dynamo, and the serverless stack) the admin CLI works on the broker's
// table while it runs, and the broker sees the change within -auth-cache.

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/mqttless/mqttless/core/packet"
)

// authCache is the -auth-cache of the tests' brokers: short, so that a
// change to users or rules shows quickly.
const authCache = "100ms"

// TestAuthPassword runs a broker with -allow-anonymous=false and one user:
// the right password connects; a wrong password and an unknown user are
// refused with return code 4 (3.1.1) or 0x86 Bad User Name or Password
// (5.0); a client without a username is refused with 5 or 0x87 Not
// authorized.
func TestAuthPassword(t *testing.T) {
	t.Parallel()
	dir := authDataDir(t)
	addUser(t, dir, "alice", "alice-secret")
	b := startBroker(t, withDataDir(dir), withFlags("-allow-anonymous=false", "-auth-cache", authCache))

	t.Run("paho-3.1.1", func(t *testing.T) {
		root := topicRoot("auth")
		c := connectV3(t, b.addr, uniq("auth-ok"), true, withCreds("alice", "alice-secret"))
		c.subscribe(root, 1)
		c.publish(root, 1, false, "hi")
		c.expectMsg(root, "hi")

		for _, tc := range []struct {
			name, user, password string
			code                 byte
		}{
			{"wrong password", "alice", "wrong", 4},
			{"empty password", "alice", "", 4},
			{"unknown user", "mallory", "alice-secret", 4},
			{"anonymous", "", "", 5},
		} {
			var opts []func(*mqtt.ClientOptions)
			if tc.user != "" {
				opts = append(opts, withCreds(tc.user, tc.password))
			}
			_, err := tryConnectV3(t, b.addr, uniq("auth-bad"), true, opts...)
			var re *refusedError
			if !errors.As(err, &re) || re.code != tc.code {
				t.Errorf("%s: connect returned %v, want return code %d", tc.name, err, tc.code)
			}
		}
	})

	t.Run("paho-5.0", func(t *testing.T) {
		root := topicRoot("auth")
		c := connectV5(t, b.addr, v5Creds(uniq("auth-ok"), "alice", "alice-secret"))
		c.sub(root, 1)
		c.pub(root, 1, false, "hi")
		c.expectMsg(root, "hi")

		for _, tc := range []struct {
			name, user, password string
			code                 packet.ReasonCode
		}{
			{"wrong password", "alice", "wrong", packet.BadUsernameOrPassword},
			{"unknown user", "mallory", "alice-secret", packet.BadUsernameOrPassword},
			{"anonymous", "", "", packet.NotAuthorized},
		} {
			vc, err := tryConnectV5(t, b.addr, v5Creds(uniq("auth-bad"), tc.user, tc.password))
			if err == nil {
				t.Errorf("%s: connected, want CONNACK 0x%02X", tc.name, byte(tc.code))
				continue
			}
			if vc == nil || vc.ack == nil || packet.ReasonCode(vc.ack.ReasonCode) != tc.code {
				t.Errorf("%s: connect returned %v (CONNACK %+v), want CONNACK 0x%02X", tc.name, err, ackOf(vc), byte(tc.code))
			}
		}
	})

	// The raw client checks what Paho hides: a refused client gets its
	// CONNACK and then the connection is closed.
	inTurn(t, func(t *testing.T, v packet.Version) {
		c := dialRaw(t, b.addr, v)
		ack := c.connect(rawCreds(v, uniq("auth-raw"), "alice", "nope"))
		if ack.ReasonCode != packet.BadUsernameOrPassword || ack.SessionPresent {
			t.Fatalf("CONNACK %s present %v, want bad user name or password without a session", ack.ReasonCode, ack.SessionPresent)
		}
		c.expectClose(waitTime)
	})
}

// TestAuthAnonymousByDefault runs a broker with a user and the default
// -allow-anonymous: a client without a username connects and is served,
// while a client that names the user must still give the right password.
func TestAuthAnonymousByDefault(t *testing.T) {
	t.Parallel()
	dir := authDataDir(t)
	addUser(t, dir, "carol", "carol-secret")
	b := startBroker(t, withDataDir(dir), withFlags("-auth-cache", authCache))
	inTurn(t, func(t *testing.T, v packet.Version) {
		level := byte(v)
		root := topicRoot("anon")
		c := connectAs(t, level, b.addr, uniq("anon"), true)
		c.sub(root, 1)
		c.pub(root, 1, false, "anonymous")
		expectMsg(t, c, root, "anonymous")

		raw := dialRaw(t, b.addr, v)
		if ack := raw.connect(rawCreds(v, uniq("anon-bad"), "carol", "wrong")); ack.ReasonCode != packet.BadUsernameOrPassword {
			t.Fatalf("CONNACK %s for a wrong password with anonymous access on, want bad user name or password", ack.ReasonCode)
		}
		rawLogin(t, b.addr, v, uniq("anon-ok"), "carol", "carol-secret")
	})
}

// TestAuthUserRemoved removes a user with the admin CLI: the user can no
// longer connect (within -auth-cache on DynamoDB, where the broker keeps
// running; after a restart with the embedded store, which the broker
// locks), while the other user still can. users list shows who is left.
func TestAuthUserRemoved(t *testing.T) {
	t.Parallel()
	dir := authDataDir(t)
	addUser(t, dir, "dave", "dave-secret")
	addUser(t, dir, "erin", "erin-secret")
	b := startBroker(t, withDataDir(dir), withFlags("-allow-anonymous=false", "-auth-cache", authCache))
	for _, v := range bothVersions {
		rawLogin(t, b.addr, v, uniq("rm-before"), "dave", "dave-secret").disconnect(packet.Success)
	}

	checkList := func() {
		t.Helper()
		list := admin(t, dir, "", "users", "list")
		if strings.Contains(list, "dave") || !strings.Contains(list, "erin") {
			t.Errorf("users list after removing dave:\n%s\nwant erin and not dave", list)
		}
	}
	if onDynamo() {
		admin(t, dir, "", "users", "remove", "dave")
		checkList()
	} else {
		if err := b.stop(); err != nil {
			t.Fatalf("stopping the broker to change its store: %v", err)
		}
		admin(t, dir, "", "users", "remove", "dave")
		checkList()
		b = b.restart(t)
	}

	for _, v := range bothVersions {
		var last packet.ReasonCode
		refused := waitFor(waitTime, func() bool {
			c := dialRaw(t, b.addr, v)
			ack := c.connect(rawCreds(v, uniq("rm-after"), "dave", "dave-secret"))
			last = ack.ReasonCode
			c.close()
			return ack.ReasonCode == packet.BadUsernameOrPassword
		})
		if !refused {
			t.Errorf("%s: the removed user still gets CONNACK %s %v after the removal (-auth-cache %s), want bad user name or password",
				v, last, waitTime, authCache)
		}
		rawLogin(t, b.addr, v, uniq("rm-other"), "erin", "erin-secret")
	}
}

// aclBroker starts a broker whose store has users alice, bob and watcher
// and these rules:
//
//	-user alice   -access both      -filter devices/%u/#
//	              -access subscribe -filter public/#
//	-user watcher -access subscribe -filter devices/#
//	              -access both      -filter clients/%c/#
//	-user alice   -access both      -filter devices/alice/secret/# -deny
//	-client sensor-1 -access publish -filter telemetry/%c
//	-user watcher -access subscribe -filter telemetry/#
//
// and a user sensor-1 whose client-id pattern is %u, which binds the
// client id sensor-1 to it.
func aclBroker(t *testing.T, extra ...string) (*broker, string) {
	t.Helper()
	dir := authDataDir(t)
	for _, u := range []string{"alice", "bob", "watcher"} {
		addUser(t, dir, u, u+"-pw")
	}
	admin(t, dir, "sensor-1-pw\n", "users", "add", "sensor-1", "-client-ids", "%u", "-cost", "4")
	addRule(t, dir, "-user", "alice", "-access", "both", "-filter", "devices/%u/#")
	addRule(t, dir, "-access", "subscribe", "-filter", "public/#")
	addRule(t, dir, "-user", "watcher", "-access", "subscribe", "-filter", "devices/#")
	addRule(t, dir, "-access", "both", "-filter", "clients/%c/#")
	addRule(t, dir, "-user", "alice", "-access", "both", "-filter", "devices/alice/secret/#", "-deny")
	addRule(t, dir, "-client", "sensor-1", "-access", "publish", "-filter", "telemetry/%c")
	addRule(t, dir, "-user", "watcher", "-access", "subscribe", "-filter", "telemetry/#")
	if list := admin(t, dir, "", "acl", "list"); strings.Count(list, "\n") < 8 {
		t.Fatalf("acl list shows fewer than the 7 rules added:\n%s", list)
	}
	flags := append([]string{"-auth-cache", authCache}, extra...)
	return startBroker(t, withDataDir(dir), withFlags(flags...)), dir
}

// TestACL checks the rules of aclBroker at both versions with raw clients:
// alice publishes and subscribes under devices/alice/; her SUBSCRIBE to
// devices/bob/# gets 0x80 (3.1.1) or 0x87 (5.0) while the other filters of
// the same SUBSCRIBE are granted; her PUBLISH to devices/bob/... is not
// delivered to an allowed subscriber of devices/..., and is acknowledged
// with PUBACK at 3.1.1 and with reason 0x87 at 5.0; -client and %c rules
// serve only client ids bound to their user (aclClientID); a deny rule
// beats an allow rule; and an anonymous client, which no rule allows to
// publish, is refused.
func TestACL(t *testing.T) {
	t.Parallel()
	b, _ := aclBroker(t)
	t.Run("users", func(t *testing.T) { aclUsers(t, b) })
	t.Run("client id", func(t *testing.T) { aclClientID(t, b) })
	t.Run("anonymous", func(t *testing.T) { aclAnonymous(t, b) })
}

// aclUsers is TestACL for alice, bob and watcher.
func aclUsers(t *testing.T, b *broker) {
	inTurn(t, func(t *testing.T, v packet.Version) {
		r := strings.ReplaceAll(uniq("r"), "-", "")
		denied := refusedCode(v, packet.NotAuthorized)
		// pubDenied is what a denied QoS 1 PUBLISH gets in its PUBACK.
		pubDenied := packet.Success
		if v == packet.V5 {
			pubDenied = packet.NotAuthorized
		}

		watcher := rawLogin(t, b.addr, v, uniq("watcher"), "watcher", "watcher-pw")
		// The versions run in turn, so the watcher of one sees nothing of
		// the other's messages.
		watcher.subscribe(1, packet.Subscription{Filter: "devices/#", QoS: 1})

		aliceSub := rawLogin(t, b.addr, v, uniq("alice-sub"), "alice", "alice-pw")
		ack := aliceSub.suback(1,
			packet.Subscription{Filter: "devices/bob/#", QoS: 1},
			packet.Subscription{Filter: "devices/alice/" + r + "/#", QoS: 1},
			packet.Subscription{Filter: "public/" + r, QoS: 0},
			packet.Subscription{Filter: "devices/alice/secret/" + r, QoS: 1})
		want := []packet.ReasonCode{denied, packet.GrantedQoS1, packet.Success, denied}
		for i, rc := range ack.ReasonCodes {
			if rc != want[i] {
				t.Errorf("SUBACK code %d (%s): %s, want %s", i, []string{"devices/bob/# (not hers)", "devices/alice/... (hers)", "public/... (anyone's)", "devices/alice/secret/... (denied)"}[i], rc, want[i])
			}
		}

		alice := rawLogin(t, b.addr, v, uniq("alice-pub"), "alice", "alice-pw")
		if rc := alice.publish(&packet.Publish{Topic: "devices/bob/" + r + "/x", QoS: 1, PacketID: 1, Payload: []byte("to bob")}); rc != pubDenied {
			t.Errorf("PUBACK %s for alice's PUBLISH to devices/bob/..., want %s", rc, pubDenied)
		}
		if rc := alice.publish(&packet.Publish{Topic: "devices/alice/secret/" + r, QoS: 1, PacketID: 2, Payload: []byte("secret")}); rc != pubDenied {
			t.Errorf("PUBACK %s for alice's PUBLISH under the deny rule, want %s", rc, pubDenied)
		}
		alice.send(&packet.Publish{Topic: "devices/bob/" + r + "/y", QoS: 0, Payload: []byte("to bob at QoS 0")})
		if rc := alice.publish(&packet.Publish{Topic: "devices/alice/" + r + "/t", QoS: 1, PacketID: 3, Payload: []byte("hers")}); rc != packet.Success {
			t.Errorf("PUBACK %s for alice's PUBLISH to devices/alice/..., want success", rc)
		}
		// The denied messages would have come first: the watcher's next
		// message is the allowed one, and the same for alice's subscriber.
		watcher.ack(watcher.expectPublish("devices/alice/"+r+"/t", "hers"))
		aliceSub.ack(aliceSub.expectPublish("devices/alice/"+r+"/t", "hers"))
		watcher.expectNone(quietTime)
		aliceSub.expectNone(quietTime)

		// bob has no rule for devices/: his SUBSCRIBE and PUBLISH there are
		// refused, and the one to public/ only reads.
		bob := rawLogin(t, b.addr, v, uniq("bob"), "bob", "bob-pw")
		if ack := bob.suback(1, packet.Subscription{Filter: "devices/bob/#", QoS: 1}); ack.ReasonCodes[0] != denied {
			t.Errorf("SUBACK %s for bob's devices/bob/#, want %s", ack.ReasonCodes[0], denied)
		}
		if rc := bob.publish(&packet.Publish{Topic: "devices/bob/" + r + "/z", QoS: 1, PacketID: 1, Payload: []byte("bob's")}); rc != pubDenied {
			t.Errorf("PUBACK %s for bob's PUBLISH to devices/bob/..., want %s", rc, pubDenied)
		}
		if rc := bob.publish(&packet.Publish{Topic: "public/" + r, QoS: 1, PacketID: 2, Payload: []byte("public")}); rc != pubDenied {
			t.Errorf("PUBACK %s for a PUBLISH to public/ (subscribe only), want %s", rc, pubDenied)
		}
		watcher.expectNone(quietTime)
		aliceSub.expectNone(quietTime)
		alice.ping()
		bob.ping()
	})
}

// aclClientID checks that -client rules and %c apply only to a client id
// bound to its user. The rule clients/%c/# serves alice under
// clients/alice/ when she connects as "alice" (her username), and neither
// an anonymous client nor alice under another client id. The rule
// -client sensor-1 telemetry/%c serves the user sensor-1 (pattern %u), and
// not bob connecting as sensor-1.
func aclClientID(t *testing.T, b *broker) {
	inTurn(t, func(t *testing.T, v packet.Version) {
		denied := refusedCode(v, packet.NotAuthorized)
		pubDenied := packet.Success
		if v == packet.V5 {
			pubDenied = packet.NotAuthorized
		}
		r := strings.ReplaceAll(uniq("r"), "-", "")

		anonID := uniq("acl-anon")
		anon, _ := rawConnect(t, b.addr, v, anonID, true)
		if ack := anon.suback(1, packet.Subscription{Filter: "clients/" + anonID + "/#", QoS: 1}); ack.ReasonCodes[0] != denied {
			t.Errorf("SUBACK %s for an anonymous client's clients/<its id>/#, want %s: its id is bound to no one", ack.ReasonCodes[0], denied)
		}
		other := rawLogin(t, b.addr, v, uniq("acl-alice"), "alice", "alice-pw")
		if ack := other.suback(1, packet.Subscription{Filter: "clients/alice/#", QoS: 1}); ack.ReasonCodes[0] != denied {
			t.Errorf("SUBACK %s for alice's clients/alice/# under another client id, want %s", ack.ReasonCodes[0], denied)
		}
		alice := rawLogin(t, b.addr, v, "alice", "alice", "alice-pw")
		alice.subscribe(1, packet.Subscription{Filter: "clients/alice/#", QoS: 1})
		if rc := alice.publish(&packet.Publish{Topic: "clients/alice/" + r, QoS: 1, PacketID: 1, Payload: []byte("own")}); rc != packet.Success {
			t.Errorf("PUBACK %s for alice's PUBLISH to clients/alice/..., want success", rc)
		}
		alice.ack(alice.expectPublish("clients/alice/"+r, "own"))

		watcher := rawLogin(t, b.addr, v, uniq("watcher"), "watcher", "watcher-pw")
		watcher.subscribe(1, packet.Subscription{Filter: "telemetry/#", QoS: 1})
		bob := rawLogin(t, b.addr, v, "sensor-1", "bob", "bob-pw")
		if rc := bob.publish(&packet.Publish{Topic: "telemetry/sensor-1", QoS: 1, PacketID: 1, Payload: []byte("forged")}); rc != pubDenied {
			t.Errorf("PUBACK %s for bob's PUBLISH as sensor-1, want %s: bob does not inherit the client's rules", rc, pubDenied)
		}
		bob.disconnect(packet.Success)
		sensor := rawLogin(t, b.addr, v, "sensor-1", "sensor-1", "sensor-1-pw")
		if rc := sensor.publish(&packet.Publish{Topic: "telemetry/sensor-1", QoS: 1, PacketID: 1, Payload: []byte("real")}); rc != packet.Success {
			t.Errorf("PUBACK %s for the user sensor-1's PUBLISH, want success", rc)
		}
		watcher.ack(watcher.expectPublish("telemetry/sensor-1", "real"))
		watcher.expectNone(quietTime)
		sensor.disconnect(packet.Success)
		alice.disconnect(packet.Success)
	})
}

// aclAnonymous checks deny by default once rules exist: an
// anonymous client of aclBroker may subscribe to public/# (a rule for
// anyone) but not to devices/#, and its PUBLISH to public/ (which no rule
// allows) reaches no one, answered with 0x87 at 5.0.
func aclAnonymous(t *testing.T, b *broker) {
	inTurn(t, func(t *testing.T, v packet.Version) {
		r := strings.ReplaceAll(uniq("r"), "-", "")
		anon, _ := rawConnect(t, b.addr, v, uniq("anon"), true)
		ack := anon.suback(1,
			packet.Subscription{Filter: "public/" + r, QoS: 1},
			packet.Subscription{Filter: "devices/#", QoS: 1},
			packet.Subscription{Filter: "#", QoS: 0})
		denied := refusedCode(v, packet.NotAuthorized)
		if want := []packet.ReasonCode{packet.GrantedQoS1, denied, denied}; fmt.Sprint(ack.ReasonCodes) != fmt.Sprint(want) {
			t.Fatalf("SUBACK %v for [public/..., devices/#, #], want %v", ack.ReasonCodes, want)
		}
		pubDenied := packet.Success
		if v == packet.V5 {
			pubDenied = packet.NotAuthorized
		}
		if rc := anon.publish(&packet.Publish{Topic: "public/" + r, QoS: 1, PacketID: 1, Payload: []byte("x")}); rc != pubDenied {
			t.Errorf("PUBACK %s for an anonymous PUBLISH no rule allows, want %s", rc, pubDenied)
		}
		anon.expectNone(quietTime)
	})
}

// TestACLSysPublishRefused publishes to $SYS/... on the shared broker,
// which has no rules: the broker's own statistics cannot be forged, so the
// message reaches no subscriber of it and is not retained, and at 5.0 the
// QoS 1 PUBACK carries an error reason code. The connection stays usable.
func TestACLSysPublishRefused(t *testing.T) {
	t.Parallel()
	b := sharedBroker(t)
	inTurn(t, func(t *testing.T, v packet.Version) {
		topic := "$SYS/" + strings.ReplaceAll(topicRoot("forged"), "e2e/", "e2e-")
		sub, _ := rawConnect(t, b.addr, v, uniq("sys-sub"), true)
		sub.subscribe(1, packet.Subscription{Filter: topic, QoS: 1})
		pub, _ := rawConnect(t, b.addr, v, uniq("sys-pub"), true)
		rc := pub.publish(&packet.Publish{Topic: topic, QoS: 1, PacketID: 1, Retain: true, Payload: []byte("forged")})
		if v == packet.V5 && !rc.IsError() {
			t.Errorf("PUBACK %s for a PUBLISH to %s, want an error such as 0x87 Not authorized", rc, topic)
		}
		pub.send(&packet.Publish{Topic: topic, QoS: 0, Payload: []byte("forged at QoS 0")})
		sub.expectNone(quietTime)
		pub.ping()
		late, _ := rawConnect(t, b.addr, v, uniq("sys-late"), true)
		late.subscribe(1, packet.Subscription{Filter: topic, QoS: 1})
		late.expectNone(quietTime)
	})
}

// ackOf returns a client's CONNACK for messages, or nil.
func ackOf(c *v5Client) any {
	if c == nil || c.ack == nil {
		return nil
	}
	return c.ack
}
