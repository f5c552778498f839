package session_test

import (
	"testing"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// Config.Packet: a CONNECT or PUBLISH with more user properties than the
// operator's -max-user-properties, or more bytes in them than
// -max-user-property-bytes, is refused with 0x97 (CONNACK, or DISCONNECT
// and a close), where the defaults accept it.
func TestUserPropertyLimitsConfig(t *testing.T) {
	three := func(p *packet.Properties) {
		p.User = []packet.UserProperty{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}, {Key: "c", Value: "3"}}
	}
	for _, lim := range []packet.Limits{{UserProperties: 2}, {UserPropertyBytes: 5}} {
		t.Run("", func(t *testing.T) {
			def := newEnv(t, session.Config{})
			def.connect(v5, "c", connProps(three))
			low := newEnv(t, session.Config{Packet: lim})
			if rc := low.refusedWith(v5, "c", connProps(three)); rc != packet.QuotaExceeded {
				t.Fatalf("CONNECT with 3 user properties under %+v: %s, want 0x97", lim, rc)
			}

			for _, e := range []*env{def, low} {
				c, _, _ := e.connect(v5, "pub")
				r := c.send(publish(v5, "t", "m", qos(1, 1), pubProps(three)))
				ps := c.out(r)
				if e == def {
					if r.Close || len(ps) != 1 || ps[0].Type() != packet.PUBACK {
						t.Fatalf("PUBLISH under the defaults: %s close=%v", describeAll(ps), r.Close)
					}
					continue
				}
				d := one[*packet.Disconnect](t, ps)
				if !r.Close || d.ReasonCode != packet.QuotaExceeded {
					t.Fatalf("PUBLISH with 3 user properties under %+v: %s close=%v, want DISCONNECT 0x97", lim, describe(d), r.Close)
				}
			}
		})
	}
}
