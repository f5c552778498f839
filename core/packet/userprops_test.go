package packet_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/mqttless/mqttless/core/packet"
)

func userProps(n, valueLen int) []packet.UserProperty {
	ups := make([]packet.UserProperty, n)
	for i := range ups {
		ups[i] = packet.UserProperty{Key: "k", Value: strings.Repeat("v", valueLen)}
	}
	return ups
}

// TestUserPropertyLimits: a packet may carry MaxUserProperties user
// properties holding MaxUserPropertyBytes; one more property, or one more
// byte, and it fails to decode with ErrUserProperties (0x97), counted over
// all of the packet's property lists (a CONNECT's and its will's).
func TestUserPropertyLimits(t *testing.T) {
	decodeConnect := func(t *testing.T, p *packet.Connect) error {
		t.Helper()
		b, err := p.Append(nil, packet.V5)
		if err != nil {
			t.Fatal(err)
		}
		return new(packet.Connect).Decode(b, 0)
	}
	atLimit := packet.MaxUserPropertyBytes/packet.MaxUserProperties - 1 // name "k" + value
	cases := []struct {
		name  string
		conn  *packet.Connect
		wantE bool
	}{
		{"at the count limit", &packet.Connect{Version: packet.V5, ClientID: "c",
			Properties: packet.Properties{User: userProps(packet.MaxUserProperties, 0)}}, false},
		{"one over the count", &packet.Connect{Version: packet.V5, ClientID: "c",
			Properties: packet.Properties{User: userProps(packet.MaxUserProperties+1, 0)}}, true},
		{"at the byte limit", &packet.Connect{Version: packet.V5, ClientID: "c",
			Properties: packet.Properties{User: userProps(packet.MaxUserProperties, atLimit)}}, false},
		{"one byte over", &packet.Connect{Version: packet.V5, ClientID: "c",
			Properties: packet.Properties{User: append(userProps(packet.MaxUserProperties-1, atLimit),
				packet.UserProperty{Key: "k", Value: strings.Repeat("v", atLimit+1)})}}, true},
		{"split between CONNECT and will, over", &packet.Connect{Version: packet.V5, ClientID: "c",
			Properties: packet.Properties{User: userProps(packet.MaxUserProperties/2+1, 0)},
			Will:       &packet.Will{Topic: "w", Properties: packet.Properties{User: userProps(packet.MaxUserProperties/2, 0)}}}, true},
		{"split between CONNECT and will, at", &packet.Connect{Version: packet.V5, ClientID: "c",
			Properties: packet.Properties{User: userProps(packet.MaxUserProperties/2, 0)},
			Will:       &packet.Will{Topic: "w", Properties: packet.Properties{User: userProps(packet.MaxUserProperties/2, 0)}}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := decodeConnect(t, c.conn)
			switch {
			case !c.wantE && err != nil:
				t.Fatalf("decode: %v, want success", err)
			case c.wantE && !errors.Is(err, packet.ErrUserProperties):
				t.Fatalf("decode: %v, want ErrUserProperties", err)
			case c.wantE && packet.ReasonCodeOf(err) != packet.QuotaExceeded:
				t.Fatalf("ReasonCodeOf(%v) = %v, want 0x97", err, packet.ReasonCodeOf(err))
			}
		})
	}

	// The same holds for the other packets, such as PUBLISH.
	pub := &packet.Publish{Topic: "t", Properties: packet.Properties{User: userProps(packet.MaxUserProperties+1, 0)}}
	b, err := pub.Append(nil, packet.V5)
	if err != nil {
		t.Fatal(err)
	}
	if err := new(packet.Publish).Decode(b, packet.V5); !errors.Is(err, packet.ErrUserProperties) {
		t.Errorf("PUBLISH with %d user properties: %v, want ErrUserProperties", packet.MaxUserProperties+1, err)
	}
}

// BenchmarkDecodeHostileConnect measures what decoding a CONNECT of 1 MiB
// full of empty user properties costs: it is refused after
// MaxUserProperties of them, so the allocations stay small.
func BenchmarkDecodeHostileConnect(b *testing.B) {
	// 1 MiB of empty user properties, 5 bytes each.
	p := &packet.Connect{Version: packet.V5, ClientID: "c",
		Properties: packet.Properties{User: make([]packet.UserProperty, (1<<20)/5)}}
	frame, err := p.Append(nil, packet.V5)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := new(packet.Connect).Decode(frame, 0); !errors.Is(err, packet.ErrUserProperties) {
			b.Fatal(err)
		}
	}
}

// TestUserPropertyLimitsSettable: the operator's lower limits
// (-max-user-properties, -max-user-property-bytes) refuse what the
// defaults accept, with the same error, in every packet type that
// DecodeWith reaches; a higher one accepts what the defaults refuse.
func TestUserPropertyLimitsSettable(t *testing.T) {
	pub := &packet.Publish{Topic: "t", QoS: 1, PacketID: 1, Properties: packet.Properties{User: userProps(3, 10)}}
	b, err := pub.Append(nil, packet.V5)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := packet.DecodeWith(b, packet.V5, packet.Limits{}); err != nil {
		t.Fatalf("default limits: %v", err)
	}
	for _, lim := range []packet.Limits{{UserProperties: 2}, {UserPropertyBytes: 32}} {
		if _, err := packet.DecodeWith(b, packet.V5, lim); !errors.Is(err, packet.ErrUserProperties) {
			t.Errorf("PUBLISH with 3 properties of 11 bytes under %+v: %v, want ErrUserProperties", lim, err)
		}
		if err := new(packet.Publish).DecodeWith(b, packet.V5, lim); !errors.Is(err, packet.ErrUserProperties) {
			t.Errorf("Publish.DecodeWith under %+v: %v, want ErrUserProperties", lim, err)
		}
	}
	at := packet.Limits{UserProperties: 3, UserPropertyBytes: 33}
	if _, err := packet.DecodeWith(b, packet.V5, at); err != nil {
		t.Errorf("at the limits %+v: %v", at, err)
	}

	// Every type with properties takes the limits.
	props := packet.Properties{User: userProps(2, 0)}
	lim := packet.Limits{UserProperties: 1}
	for _, p := range []packet.Packet{
		&packet.Connect{Version: packet.V5, ClientID: "c", Properties: props},
		&packet.Connack{Properties: props},
		&packet.Puback{PacketID: 1, ReasonCode: packet.Success, Properties: props},
		&packet.Pubrec{PacketID: 1, ReasonCode: packet.Success, Properties: props},
		&packet.Pubrel{PacketID: 1, ReasonCode: packet.Success, Properties: props},
		&packet.Pubcomp{PacketID: 1, ReasonCode: packet.Success, Properties: props},
		&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "a"}}, Properties: props},
		&packet.Suback{PacketID: 1, ReasonCodes: []packet.ReasonCode{0}, Properties: props},
		&packet.Unsubscribe{PacketID: 1, Filters: []string{"a"}, Properties: props},
		&packet.Unsuback{PacketID: 1, ReasonCodes: []packet.ReasonCode{0}, Properties: props},
		&packet.Disconnect{Properties: props},
		&packet.Auth{ReasonCode: packet.ContinueAuthentication, Properties: props},
	} {
		b, err := p.Append(nil, packet.V5)
		if err != nil {
			t.Fatalf("%s: %v", p.Type(), err)
		}
		if _, err := packet.DecodeWith(b, packet.V5, packet.Limits{}); err != nil {
			t.Errorf("%s under the defaults: %v", p.Type(), err)
		}
		if _, err := packet.DecodeWith(b, packet.V5, lim); !errors.Is(err, packet.ErrUserProperties) {
			t.Errorf("%s with 2 user properties under %+v: %v, want ErrUserProperties", p.Type(), lim, err)
		}
	}
}
