package invocation_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/invocation"
)

func TestParseFunctions(t *testing.T) {
	type T = invocation.Target
	defaults := map[invocation.Group][]T{
		invocation.GroupConnect:   {{Name: "mqttless-connect"}},
		invocation.GroupPublish:   {{Name: "mqttless-publish"}},
		invocation.GroupSubscribe: {{Name: "mqttless-subscribe"}},
		invocation.GroupSession:   {{Name: "mqttless-session"}},
		invocation.GroupLease:     {{Name: "mqttless-lease"}},
	}
	good := []struct {
		name string
		spec string
		want map[invocation.Group][]T
	}{
		{name: "the default", spec: invocation.DefaultFunctions, want: defaults},
		{name: "spaces and empty entries", spec: " connect=mqttless-connect , publish=mqttless-publish,,subscribe=mqttless-subscribe,session=mqttless-session,lease=mqttless-lease, ", want: defaults},
		{name: "any order", spec: "lease=mqttless-lease,session=mqttless-session,subscribe=mqttless-subscribe,publish=mqttless-publish,connect=mqttless-connect", want: defaults},
		{name: "no lease route", spec: "connect=c,publish=p,subscribe=s,session=x",
			want: map[invocation.Group][]T{
				invocation.GroupConnect:   {{Name: "c"}},
				invocation.GroupPublish:   {{Name: "p"}},
				invocation.GroupSubscribe: {{Name: "s"}},
				invocation.GroupSession:   {{Name: "x"}},
			}},
		{name: "endpoints and pools",
			spec: "connect=function@http://127.0.0.1:9001,connect=function@http://127.0.0.1:9002,publish=pub@https://lambda.example:443,subscribe=sub,session=ses,session=ses2",
			want: map[invocation.Group][]T{
				invocation.GroupConnect:   {{Name: "function", Endpoint: "http://127.0.0.1:9001"}, {Name: "function", Endpoint: "http://127.0.0.1:9002"}},
				invocation.GroupPublish:   {{Name: "pub", Endpoint: "https://lambda.example:443"}},
				invocation.GroupSubscribe: {{Name: "sub"}},
				invocation.GroupSession:   {{Name: "ses"}, {Name: "ses2"}},
			}},
		{name: "function ARN", spec: "connect=arn:aws:lambda:eu-west-1:123456789012:function:c,publish=p,subscribe=s,session=x",
			want: map[invocation.Group][]T{
				invocation.GroupConnect:   {{Name: "arn:aws:lambda:eu-west-1:123456789012:function:c"}},
				invocation.GroupPublish:   {{Name: "p"}},
				invocation.GroupSubscribe: {{Name: "s"}},
				invocation.GroupSession:   {{Name: "x"}},
			}},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			got, err := invocation.ParseFunctions(tc.spec)
			if err != nil {
				t.Fatalf("ParseFunctions(%q): %v", tc.spec, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ParseFunctions(%q) = %+v, want %+v", tc.spec, got, tc.want)
			}
		})
	}
	const rest = ",publish=p,subscribe=s,session=x"
	bad := []struct{ name, spec string }{
		{"empty", ""},
		{"only commas", " , ,"},
		{"a group missing", "connect=c,publish=p,subscribe=s"},
		{"unknown group", "connect=c,publish=p,subscribe=s,session=x,unsubscribe=u"},
		{"group in capitals", "CONNECT=c" + rest},
		{"no equals sign", "connect" + rest},
		{"no function", "connect=" + rest},
		{"endpoint without a name", "connect=@http://127.0.0.1:9001" + rest},
		{"endpoint without a scheme", "connect=function@127.0.0.1:9001" + rest},
		{"endpoint with another scheme", "connect=function@ftp://127.0.0.1" + rest},
		{"no group", "=c" + rest},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			got, err := invocation.ParseFunctions(tc.spec)
			if !errors.Is(err, invocation.ErrFunctions) {
				t.Fatalf("ParseFunctions(%q) = %+v, %v; want ErrFunctions", tc.spec, got, err)
			}
			if got != nil {
				t.Errorf("ParseFunctions(%q) returned %+v with its error", tc.spec, got)
			}
		})
	}
}

// frameOf is a minimal frame of type pt with the given fixed header
// flags: GroupOf looks at the type alone.
func frameOf(pt packet.Type, flags byte) []byte { return []byte{byte(pt)<<4 | flags, 0x00} }

func encode(t testing.TB, p packet.Packet, v packet.Version) []byte {
	t.Helper()
	b, err := p.Append(nil, v)
	if err != nil {
		t.Fatalf("encode %s: %v", p.Type(), err)
	}
	return b
}

func TestGroupOf(t *testing.T) {
	want := map[packet.Type]invocation.Group{
		packet.CONNECT:     invocation.GroupConnect,
		packet.CONNACK:     invocation.GroupSession,
		packet.PUBLISH:     invocation.GroupPublish,
		packet.PUBACK:      invocation.GroupSession,
		packet.PUBREC:      invocation.GroupSession,
		packet.PUBREL:      invocation.GroupSession,
		packet.PUBCOMP:     invocation.GroupSession,
		packet.SUBSCRIBE:   invocation.GroupSubscribe,
		packet.SUBACK:      invocation.GroupSession,
		packet.UNSUBSCRIBE: invocation.GroupSession,
		packet.UNSUBACK:    invocation.GroupSession,
		packet.PINGREQ:     invocation.GroupSession,
		packet.PINGRESP:    invocation.GroupSession,
		packet.DISCONNECT:  invocation.GroupSession,
		packet.AUTH:        invocation.GroupSession,
		0:                  invocation.GroupSession, // reserved: the session function refuses it
	}
	for pt, g := range want {
		for _, flags := range []byte{0x0, 0x2, 0xF} {
			if got := invocation.GroupOf(frameOf(pt, flags)); got != g {
				t.Errorf("GroupOf(%s with flags %X) = %s, want %s", pt, flags, got, g)
			}
		}
	}
	if got := invocation.GroupOf(nil); got != invocation.GroupSession {
		t.Errorf("GroupOf(empty frame) = %s, want session", got)
	}
	// Real frames, PUBLISH at every QoS with DUP and RETAIN.
	real := []struct {
		p    packet.Packet
		want invocation.Group
	}{
		{&packet.Connect{ClientID: "c", CleanStart: true}, invocation.GroupConnect},
		{&packet.Publish{Topic: "t", Payload: []byte("x")}, invocation.GroupPublish},
		{&packet.Publish{Topic: "t", QoS: 1, PacketID: 1, Retain: true}, invocation.GroupPublish},
		{&packet.Publish{Topic: "t", QoS: 2, PacketID: 2, Dup: true, Retain: true}, invocation.GroupPublish},
		{&packet.Subscribe{PacketID: 3, Subscriptions: []packet.Subscription{{Filter: "a/#", QoS: 1}}}, invocation.GroupSubscribe},
		{&packet.Unsubscribe{PacketID: 4, Filters: []string{"a/#"}}, invocation.GroupSession},
		{&packet.Puback{PacketID: 5}, invocation.GroupSession},
		{&packet.Disconnect{}, invocation.GroupSession},
	}
	for _, tc := range real {
		for _, v := range []packet.Version{packet.V311, packet.V5} {
			if got := invocation.GroupOf(encode(t, tc.p, v)); got != tc.want {
				t.Errorf("GroupOf(%s at %s) = %s, want %s", tc.p.Type(), v, got, tc.want)
			}
		}
	}
}

func TestAccepts(t *testing.T) {
	pub := frameOf(packet.PUBLISH, 0)
	sub := frameOf(packet.SUBSCRIBE, 2)
	conn := frameOf(packet.CONNECT, 0)
	ack := frameOf(packet.PUBACK, 0)
	unsub := frameOf(packet.UNSUBSCRIBE, 2)
	disc := frameOf(packet.DISCONNECT, 0)
	packets := func(frames ...[]byte) *session.Event {
		return &session.Event{Kind: session.KindPackets, Packets: frames}
	}
	cases := []struct {
		name string
		ev   *session.Event
		want []invocation.Group // the groups that accept it
	}{
		{"CONNECT", packets(conn), []invocation.Group{invocation.GroupConnect}},
		{"PUBLISH run", packets(pub, pub, pub), []invocation.Group{invocation.GroupPublish}},
		{"SUBSCRIBE", packets(sub), []invocation.Group{invocation.GroupSubscribe}},
		{"acks, UNSUBSCRIBE and DISCONNECT", packets(ack, unsub, ack, disc), []invocation.Group{invocation.GroupSession}},
		{"PUBLISH then SUBSCRIBE", packets(pub, sub), nil},
		{"PUBACK then PUBLISH", packets(ack, pub), nil},
		{"CONNECT then PUBLISH", packets(conn, pub), nil},
		{"lost", &session.Event{Kind: session.KindLost}, []invocation.Group{invocation.GroupSession}},
		{"lost with frames", &session.Event{Kind: session.KindLost, Packets: [][]byte{pub}}, []invocation.Group{invocation.GroupSession}},
		{"tick", &session.Event{Kind: session.KindTick}, []invocation.Group{invocation.GroupSession}},
		{"sweep", &session.Event{Kind: session.KindSweep}, []invocation.Group{invocation.GroupSession}},
		{"lease", &session.Event{Kind: session.KindLease, Proxy: "p", LeaseMs: 5000}, []invocation.Group{invocation.GroupSession}},
		{"recover", &session.Event{Kind: session.KindRecover, Proxy: "p"}, []invocation.Group{invocation.GroupSession}},
		{"unknown kind", &session.Event{Kind: "bogus"}, []invocation.Group{invocation.GroupSession}},
		{"undelivered", &session.Event{Kind: session.KindUndelivered, Proxy: "p"}, []invocation.Group{invocation.GroupPublish}},
		{"chunk, sent by a function to itself", &session.Event{Kind: session.KindChunk}, invocation.Groups},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, g := range invocation.Groups {
				want := false
				for _, w := range tc.want {
					want = want || w == g
				}
				if got := g.Accepts(tc.ev); got != want {
					t.Errorf("%s.Accepts = %v, want %v", g, got, want)
				}
			}
		})
	}
}
