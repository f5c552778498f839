package session_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// Bad limits stop the handler from starting, with a message naming the
// setting.
func TestLimitsConfig(t *testing.T) {
	cases := []struct {
		cfg  session.Config
		name string
	}{
		{session.Config{MaxTopicLength: -1}, "MaxTopicLength"},
		{session.Config{MaxTopicLength: 65536}, "MaxTopicLength"},
		{session.Config{MaxTopicLevels: -1}, "MaxTopicLevels"},
		{session.Config{MaxSubscriptions: -5}, "MaxSubscriptions"},
		{session.Config{MaxSessions: -1}, "MaxSessions"},
		{session.Config{MaxWillSize: -1}, "MaxWillSize"},
		{session.Config{MaxQueuedBytes: -1}, "MaxQueuedBytes"},
	}
	for _, tc := range cases {
		_, err := session.New(nil, tc.cfg, nil)
		if !errors.Is(err, session.ErrConfig) || !strings.Contains(fmtErr(err), tc.name) {
			t.Errorf("New(%+v): %v, want ErrConfig naming %s", tc.cfg, err, tc.name)
		}
	}
	h, err := session.New(nil, session.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := h.Config()
	if cfg.MaxTopicLength != 65535 || cfg.MaxTopicLevels != session.DefaultMaxTopicLevels ||
		cfg.MaxSubscriptions != session.DefaultMaxSubscriptions || cfg.MaxInflight != session.DefaultMaxInflight {
		t.Errorf("defaults %+v", cfg)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Topic length and levels (Config.MaxTopicLength, MaxTopicLevels): a
// filter past them fails alone in the SUBACK, 0x8F at 5.0 and 0x80 at
// 3.1.1 (section 3.9.3); a topic name past them closes the connection,
// with DISCONNECT 0x90 at 5.0 (section 4.13) [MQTT-4.13.1-1].
func TestTopicLimits(t *testing.T) {
	cfg := session.Config{MaxTopicLength: 16, MaxTopicLevels: 3}
	long := strings.Repeat("x", 17)
	t.Run("filters", func(t *testing.T) {
		for _, v := range versions() {
			e := newEnv(t, cfg)
			c, _, _ := e.connect(v, "c")
			ack := one[*packet.Suback](t, c.out(c.send(subscribe(v, 1,
				sub("a/b/c", 1), sub("a/b/c/d", 1), sub(long, 1), sub("$share/g/a/b/c", 1), sub("a/b/c/#", 0)))))
			bad := packet.TopicFilterInvalid
			if v < v5 {
				bad = packet.UnspecifiedError
			}
			want := []packet.ReasonCode{1, bad, bad, 1, bad}
			if !reflect.DeepEqual(ack.ReasonCodes, want) {
				t.Errorf("%s: SUBACK %v, want %v (3.9.3)", v, ack.ReasonCodes, want)
			}
		}
	})
	names := []struct{ name, topic string }{{"too long", long}, {"too many levels", "a/b/c/d"}}
	for _, n := range names {
		for _, v := range versions() {
			t.Run("name "+n.name+"/"+v.String(), func(t *testing.T) {
				e := newEnv(t, cfg)
				s, _, _ := e.connect(v5, "s")
				s.sub(sub("#", 0))
				c, _, _ := e.connect(v, "c")
				r := c.send(publish(v, n.topic, "x", qos(1, 1)))
				wantDisconnect(t, c, r, packet.TopicNameInvalid)
				if len(s.recv(r)) != 0 {
					t.Errorf("message past the limits delivered")
				}
			})
		}
	}
	t.Run("names within the limits", func(t *testing.T) {
		e := newEnv(t, cfg)
		c, _, _ := e.connect(v5, "c")
		ack := one[*packet.Puback](t, c.out(c.send(publish(v5, "a/b/c", "x", qos(1, 1)))))
		if ack.ReasonCode.IsError() {
			t.Errorf("got %s", describe(ack))
		}
	})
	// A will topic past the limits refuses the CONNECT: 0x90 at 5.0; at
	// 3.1.1, as any invalid will topic, a close without CONNACK
	// (3.1.1: [MQTT-3.1.4-1]).
	for _, v := range versions() {
		t.Run("will topic/"+v.String(), func(t *testing.T) {
			e := newEnv(t, cfg)
			c := e.open(v)
			r := c.send(connect(v, "c", will("a/b/c/d", "x", 0, false, 0)))
			if !r.Close || r.State != nil {
				t.Fatalf("CONNECT accepted: close %v", r.Close)
			}
			ps := c.out(r)
			if v < v5 {
				wantTypes(t, ps)
				return
			}
			if ack := one[*packet.Connack](t, ps); ack.ReasonCode != packet.TopicNameInvalid {
				t.Errorf("got %s, want CONNACK 0x90", describe(ack))
			}
		})
	}
}

// Subscriptions per session (Config.MaxSubscriptions): the filters of a
// SUBSCRIBE that would add past the limit fail alone, 0x97 Quota exceeded
// at 5.0 and 0x80 at 3.1.1 (section 3.9.3), and are not stored; replacing
// a subscription does not count.
func TestMaxSubscriptions(t *testing.T) {
	for _, v := range versions() {
		t.Run(v.String(), func(t *testing.T) {
			e := newEnv(t, session.Config{MaxSubscriptions: 3})
			c, _, _ := e.connect(v, "c")
			c.sub(sub("a", 0), sub("b", 0))
			quota := packet.QuotaExceeded
			if v < v5 {
				quota = packet.UnspecifiedError
			}
			ack := one[*packet.Suback](t, c.out(c.send(subscribe(v, 2,
				sub("a", 1), sub("c", 1), sub("c", 2), sub("d", 1), sub("bad/#/x", 1), sub("e", 0)))))
			want := []packet.ReasonCode{1, 1, 2, quota, packet.TopicFilterInvalid, quota}
			if v < v5 {
				want[4] = packet.UnspecifiedError
			}
			if !reflect.DeepEqual(ack.ReasonCodes, want) {
				t.Fatalf("SUBACK %v, want %v (3.9.3)", ack.ReasonCodes, want)
			}
			stored, _ := e.store.Subscriptions(t.Context(), "c")
			var filters []string
			for _, s := range stored {
				filters = append(filters, s.Filter)
			}
			if len(stored) != 3 {
				t.Fatalf("stored %v, want a, b, c", filters)
			}
			// Room made by UNSUBSCRIBE is used again.
			c.send(unsubscribe(v, 3, "b"))
			c.sub(sub("e", 1))
			ack = one[*packet.Suback](t, c.out(c.send(subscribe(v, 4, sub("f", 0)))))
			if ack.ReasonCodes[0] != quota {
				t.Fatalf("SUBACK %v, want %v", ack.ReasonCodes, quota)
			}
		})
	}
}

// Config.MaxInflight caps the window of 5.0 clients too: the server sends
// no more than the lower of the client's Receive Maximum [MQTT-3.3.4-9]
// and MaxInflight unacknowledged.
func TestMaxInflight(t *testing.T) {
	cases := []struct {
		name   string
		v      packet.Version
		opts   []connectOpt
		window int
	}{
		{name: "5.0 Receive Maximum above MaxInflight", v: v5, opts: []connectOpt{receiveMax(10)}, window: 3},
		{name: "5.0 no Receive Maximum", v: v5, window: 3},
		{name: "5.0 Receive Maximum below MaxInflight", v: v5, opts: []connectOpt{receiveMax(2)}, window: 2},
		{name: "3.1.1", v: v311, window: 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, session.Config{MaxInflight: 3})
			s, _, _ := e.connectOn("proxy-S", tc.v, "s", tc.opts...)
			if int(s.state.ReceiveMax) != tc.window {
				t.Errorf("state window %d, want %d", s.state.ReceiveMax, tc.window)
			}
			s.sub(sub("t", 1))
			pub, _, _ := e.connect(v5, "pub")
			var got []*packet.Publish
			for i := range 6 {
				got = append(got, publishes(s.recv(pub.send(publish(v5, "t", "m", qos(1, uint16(i+1))))))...)
			}
			if len(got) != tc.window {
				t.Fatalf("%d messages in flight, want %d [MQTT-3.3.4-9]", len(got), tc.window)
			}
			// An acknowledgement lets one more go.
			next := publishes(s.out(s.send(puback(tc.v, got[0].PacketID))))
			if len(next) != 1 {
				t.Fatalf("PUBACK released %d messages, want 1", len(next))
			}
		})
	}
}
