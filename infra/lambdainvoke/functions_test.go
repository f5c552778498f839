package lambdainvoke_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/lambdainvoke"
)

func TestParseFunctions(t *testing.T) {
	type T = lambdainvoke.Target
	defaults := map[lambdainvoke.Group][]T{
		lambdainvoke.GroupConnect:   {{Name: "mqttless-connect"}},
		lambdainvoke.GroupPublish:   {{Name: "mqttless-publish"}},
		lambdainvoke.GroupSubscribe: {{Name: "mqttless-subscribe"}},
		lambdainvoke.GroupSession:   {{Name: "mqttless-session"}},
	}
	good := []struct {
		name string
		spec string
		want map[lambdainvoke.Group][]T
	}{
		{name: "the default", spec: lambdainvoke.DefaultFunctions, want: defaults},
		{name: "spaces and empty entries", spec: " connect=mqttless-connect , publish=mqttless-publish,,subscribe=mqttless-subscribe,session=mqttless-session, ", want: defaults},
		{name: "any order", spec: "session=mqttless-session,subscribe=mqttless-subscribe,publish=mqttless-publish,connect=mqttless-connect", want: defaults},
		{name: "endpoints and pools",
			spec: "connect=function@http://127.0.0.1:9001,connect=function@http://127.0.0.1:9002,publish=pub@https://lambda.example:443,subscribe=sub,session=ses,session=ses2",
			want: map[lambdainvoke.Group][]T{
				lambdainvoke.GroupConnect:   {{Name: "function", Endpoint: "http://127.0.0.1:9001"}, {Name: "function", Endpoint: "http://127.0.0.1:9002"}},
				lambdainvoke.GroupPublish:   {{Name: "pub", Endpoint: "https://lambda.example:443"}},
				lambdainvoke.GroupSubscribe: {{Name: "sub"}},
				lambdainvoke.GroupSession:   {{Name: "ses"}, {Name: "ses2"}},
			}},
		{name: "function ARN", spec: "connect=arn:aws:lambda:eu-west-1:123456789012:function:c,publish=p,subscribe=s,session=x",
			want: map[lambdainvoke.Group][]T{
				lambdainvoke.GroupConnect:   {{Name: "arn:aws:lambda:eu-west-1:123456789012:function:c"}},
				lambdainvoke.GroupPublish:   {{Name: "p"}},
				lambdainvoke.GroupSubscribe: {{Name: "s"}},
				lambdainvoke.GroupSession:   {{Name: "x"}},
			}},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			got, err := lambdainvoke.ParseFunctions(tc.spec)
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
			got, err := lambdainvoke.ParseFunctions(tc.spec)
			if !errors.Is(err, lambdainvoke.ErrFunctions) {
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
	want := map[packet.Type]lambdainvoke.Group{
		packet.CONNECT:     lambdainvoke.GroupConnect,
		packet.CONNACK:     lambdainvoke.GroupSession,
		packet.PUBLISH:     lambdainvoke.GroupPublish,
		packet.PUBACK:      lambdainvoke.GroupSession,
		packet.PUBREC:      lambdainvoke.GroupSession,
		packet.PUBREL:      lambdainvoke.GroupSession,
		packet.PUBCOMP:     lambdainvoke.GroupSession,
		packet.SUBSCRIBE:   lambdainvoke.GroupSubscribe,
		packet.SUBACK:      lambdainvoke.GroupSession,
		packet.UNSUBSCRIBE: lambdainvoke.GroupSession,
		packet.UNSUBACK:    lambdainvoke.GroupSession,
		packet.PINGREQ:     lambdainvoke.GroupSession,
		packet.PINGRESP:    lambdainvoke.GroupSession,
		packet.DISCONNECT:  lambdainvoke.GroupSession,
		packet.AUTH:        lambdainvoke.GroupSession,
		0:                  lambdainvoke.GroupSession, // reserved: the session function refuses it
	}
	for pt, g := range want {
		for _, flags := range []byte{0x0, 0x2, 0xF} {
			if got := lambdainvoke.GroupOf(frameOf(pt, flags)); got != g {
				t.Errorf("GroupOf(%s with flags %X) = %s, want %s", pt, flags, got, g)
			}
		}
	}
	if got := lambdainvoke.GroupOf(nil); got != lambdainvoke.GroupSession {
		t.Errorf("GroupOf(empty frame) = %s, want session", got)
	}
	// Real frames, PUBLISH at every QoS with DUP and RETAIN.
	real := []struct {
		p    packet.Packet
		want lambdainvoke.Group
	}{
		{&packet.Connect{ClientID: "c", CleanStart: true}, lambdainvoke.GroupConnect},
		{&packet.Publish{Topic: "t", Payload: []byte("x")}, lambdainvoke.GroupPublish},
		{&packet.Publish{Topic: "t", QoS: 1, PacketID: 1, Retain: true}, lambdainvoke.GroupPublish},
		{&packet.Publish{Topic: "t", QoS: 2, PacketID: 2, Dup: true, Retain: true}, lambdainvoke.GroupPublish},
		{&packet.Subscribe{PacketID: 3, Subscriptions: []packet.Subscription{{Filter: "a/#", QoS: 1}}}, lambdainvoke.GroupSubscribe},
		{&packet.Unsubscribe{PacketID: 4, Filters: []string{"a/#"}}, lambdainvoke.GroupSession},
		{&packet.Puback{PacketID: 5}, lambdainvoke.GroupSession},
		{&packet.Disconnect{}, lambdainvoke.GroupSession},
	}
	for _, tc := range real {
		for _, v := range []packet.Version{packet.V311, packet.V5} {
			if got := lambdainvoke.GroupOf(encode(t, tc.p, v)); got != tc.want {
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
		want []lambdainvoke.Group // the groups that accept it
	}{
		{"CONNECT", packets(conn), []lambdainvoke.Group{lambdainvoke.GroupConnect}},
		{"PUBLISH run", packets(pub, pub, pub), []lambdainvoke.Group{lambdainvoke.GroupPublish}},
		{"SUBSCRIBE", packets(sub), []lambdainvoke.Group{lambdainvoke.GroupSubscribe}},
		{"acks, UNSUBSCRIBE and DISCONNECT", packets(ack, unsub, ack, disc), []lambdainvoke.Group{lambdainvoke.GroupSession}},
		{"PUBLISH then SUBSCRIBE", packets(pub, sub), nil},
		{"PUBACK then PUBLISH", packets(ack, pub), nil},
		{"CONNECT then PUBLISH", packets(conn, pub), nil},
		{"lost", &session.Event{Kind: session.KindLost}, []lambdainvoke.Group{lambdainvoke.GroupSession}},
		{"lost with frames", &session.Event{Kind: session.KindLost, Packets: [][]byte{pub}}, []lambdainvoke.Group{lambdainvoke.GroupSession}},
		{"tick", &session.Event{Kind: session.KindTick}, []lambdainvoke.Group{lambdainvoke.GroupSession}},
		{"recover", &session.Event{Kind: session.KindRecover, Proxy: "p"}, []lambdainvoke.Group{lambdainvoke.GroupSession}},
		{"unknown kind", &session.Event{Kind: "bogus"}, []lambdainvoke.Group{lambdainvoke.GroupSession}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, g := range lambdainvoke.Groups {
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
