package session_test

import (
	"encoding/json"
	"testing"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// statelessScenario drives a mix of everything through e and returns every
// reply, in order.
func statelessScenario(e *env) []*session.Reply {
	var out []*session.Reply
	rec := func(r *session.Reply) *session.Reply { out = append(out, r); return r }
	send := func(c *conn, frames ...[]byte) *session.Reply { return rec(c.send(frames...)) }
	open := func(proxy string, v packet.Version, frames ...[]byte) *conn {
		c := e.openOn(proxy, v)
		send(c, frames...)
		return c
	}

	s5 := open("proxy-A", v5, connect(v5, "s5", persistent(), receiveMax(2)), subscribeID(1, 7, sub("a/#", 2)), subscribe(v5, 2, sub("b", 1, noLocal)))
	s3 := open("proxy-B", v311, connect(v311, "s3", resume(), will("will/s3", "bye", 1, true, 0)), subscribe(v311, 1, sub("a/+", 1), sub("will/#", 1)))
	p := open("proxy-C", v5, connect(v5, "p", will("will/p", "later", 1, false, 5), persistent()))
	send(p, publish(v5, "a/x", "0", alias(1), qos(1, 1)), publish(v5, "", "1", alias(1), qos(2, 2)), publish(v5, "a/x", "1", qos(2, 2), dup()))
	send(p, pubrel(v5, 2), publish(v5, "a/y", "r", retained(), qos(1, 3)), publish(v5, "b", "nl"))
	send(s5, pubrec(v5, 1), puback(v5, 2))
	send(s3, puback(v311, 1), pubrec(v311, 2))
	rec(s5.lost())
	send(p, publish(v5, "a/z", "q1", qos(1, 4)), publish(v5, "a/z", "q2", qos(2, 5), msgExpiry(100)))
	e.clock.Advance(secs(3))
	s5 = open("proxy-D", v5, connect(v5, "s5", persistent(), receiveMax(2)))
	send(s5, pubcomp(v5, 1), unsubscribe(v5, 3, "b", "nothing"))
	send(s3, pubcomp(v311, 2), pingreq())
	rec(p.lost())
	e.clock.Advance(secs(5))
	rec(e.tick())
	// Takeover of s3, whose will goes to s3's own subscription.
	s3b := open("proxy-E", v311, connect(v311, "s3", resume()))
	s3.closed = true
	rec(s3.lost())
	send(s3b, disconnect(v311, 0))
	rec(s3b.lost())
	late := open("proxy-A", v5, connect(v5, "late"), subscribe(v5, 1, sub("#", 1)))
	send(late, disconnect(v5, packet.DisconnectWithWill))
	e.clock.Advance(secs(7200))
	rec(e.tick())
	return out
}

// The handler keeps nothing between calls: the same events give the same
// replies whether one Handler serves them all or each call gets a new one
// and the connection state goes through JSON in between.
func TestStateless(t *testing.T) {
	run := func(fresh bool) []string {
		e := newEnv(t, session.Config{})
		e.fresh = fresh
		var out []string
		for _, r := range statelessScenario(e) {
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(b))
		}
		return out
	}
	shared, fresh := run(false), run(true)
	if len(shared) != len(fresh) {
		t.Fatalf("%d replies with one handler, %d with fresh ones", len(shared), len(fresh))
	}
	for i := range shared {
		if shared[i] != fresh[i] {
			t.Errorf("reply %d differs:\none handler: %s\nfresh:       %s", i, shared[i], fresh[i])
		}
	}
	// The scenario did something.
	n := 0
	for _, s := range shared {
		n += len(s)
	}
	if n < 2000 {
		t.Errorf("replies too small (%d bytes): the scenario did not run", n)
	}
}

// Event and Reply are the JSON payloads of the Lambda functions: a state
// that goes through JSON works as well as the original.
func TestConnStateJSON(t *testing.T) {
	e := newEnv(t, session.Config{})
	e.fresh = true
	c, _, _ := e.connect(v5, "a", keepAlive(30), receiveMax(5), maxPacket(1000), persistent())
	c.send(publish(v5, "t", "1", alias(3)), publish(v5, "t", "2", qos(2, 1)))
	st := roundTrip(t, c.state)
	if st.ClientID != "a" || st.Version != v5 || st.KeepAlive != 30 || st.ReceiveMax != 5 || st.MaxPacketSize != 1000 ||
		st.SessionExpiry != 3600 || st.Aliases[3] != "t" || st.Pending != 1 || !st.ProblemInfo {
		t.Errorf("state after JSON: %+v", st)
	}
}
