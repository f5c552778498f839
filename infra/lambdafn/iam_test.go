package lambdafn_test

import (
	"context"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"
	"gopkg.in/yaml.v3"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/delivery"
	"github.com/mqttless/mqttless/infra/dynamo"
	"github.com/mqttless/mqttless/infra/invocation"
	"github.com/mqttless/mqttless/infra/lambdafn"
)

// recorder collects the IAM actions one function's DynamoDB calls need:
// "dynamodb:<Action>" on the table, or "dynamodb:Query@index" for a query
// of a secondary index. TransactWriteItems is authorized per item, as the
// item's own action. mu guards seen.
type recorder struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (r *recorder) add(actions ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range actions {
		r.seen[a] = true
	}
}

func (r *recorder) actions() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for a := range r.seen {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// client returns a copy of db whose calls r records.
func (r *recorder) client() *dynamodb.Client {
	mw := middleware.InitializeMiddlewareFunc("recordActions", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		op := awsmiddleware.GetOperationName(ctx)
		switch p := in.Parameters.(type) {
		case *dynamodb.TransactWriteItemsInput:
			for _, it := range p.TransactItems {
				switch {
				case it.Put != nil:
					r.add("dynamodb:PutItem")
				case it.Update != nil:
					r.add("dynamodb:UpdateItem")
				case it.Delete != nil:
					r.add("dynamodb:DeleteItem")
				case it.ConditionCheck != nil:
					r.add("dynamodb:ConditionCheckItem")
				}
			}
		case *dynamodb.QueryInput:
			if p.IndexName != nil {
				r.add("dynamodb:Query@index")
			} else {
				r.add("dynamodb:Query")
			}
		default:
			r.add("dynamodb:" + op)
		}
		return next.HandleInitialize(ctx, in)
	})
	return dynamodb.New(db.Options(), func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
			return s.Initialize.Add(mw, middleware.After)
		})
	})
}

// functionResources maps each group to its resource in template.yaml.
var functionResources = map[invocation.Group]string{
	invocation.GroupConnect:   "ConnectFunction",
	invocation.GroupPublish:   "PublishFunction",
	invocation.GroupSubscribe: "SubscribeFunction",
	invocation.GroupSession:   "SessionFunction",
}

// Each function's IAM policy in template.yaml grants every DynamoDB action
// its handlers call, on the table or on its indexes, so that no event fails
// with AccessDenied in the cloud; and grants nothing its handlers never
// call (least privilege). The actions are recorded from the DynamoDB calls
// of a scenario that goes through every kind of event, each function on
// its own recording client.
func TestFunctionPolicies(t *testing.T) {
	skipWithoutTable(t)
	granted := templatePolicies(t)
	rec := map[invocation.Group]*recorder{}
	fns := map[invocation.Group]*lambdafn.Function{}
	for _, g := range invocation.Groups {
		rec[g] = &recorder{seen: map[string]bool{}}
		h, err := session.New(dynamo.New(rec[g].client(), table), session.Config{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		fns[g] = lambdafn.NewFunction(g, delivery.NewRelay(h, nil, nil), nil)
	}
	runScenario(t, fns)
	for _, g := range invocation.Groups {
		used := rec[g].actions()
		got := granted[functionResources[g]]
		t.Logf("%s function calls %v", g, used)
		for _, a := range used {
			if !slices.Contains(got, a) {
				t.Errorf("%s: the function calls %s, which its policy does not grant (AccessDenied in the cloud)", functionResources[g], a)
			}
		}
		for _, a := range got {
			if !slices.Contains(used, a) {
				t.Errorf("%s: the policy grants %s, which the function never called", functionResources[g], a)
			}
		}
	}
}

// runScenario drives every kind of event through the functions: CONNECTs
// (clean, persistent, with a will, a takeover), SUBSCRIBE and UNSUBSCRIBE,
// PUBLISH at each QoS and retained, each acknowledgement, DISCONNECT, lost
// connections, ticks (a due will, an expired session), a proxy's recovery
// and $SYS statistics.
func runScenario(t *testing.T, fns map[invocation.Group]*lambdafn.Function) {
	ctx := context.Background()
	id := func(s string) string { return table + "-" + s }
	conns := 0
	type conn struct {
		name string
		st   *session.ConnState
		got  [][]byte
	}
	send := func(c *conn, ps ...packet.Packet) {
		t.Helper()
		for _, p := range ps {
			b, err := p.Append(nil, packet.V5)
			if err != nil {
				t.Fatal(err)
			}
			ev := &session.Event{Kind: session.KindPackets, Proxy: "iam-proxy", Conn: c.name, State: c.st, Packets: [][]byte{b}}
			r, err := fns[invocation.GroupOf(b)].Handle(ctx, ev)
			if err != nil {
				t.Fatalf("%T: %v", p, err)
			}
			if r.State != nil {
				c.st = r.State
			}
			c.got = append(c.got, r.Packets...)
			for _, d := range r.Deliveries {
				c.got = append(c.got, d.Packets...)
			}
		}
	}
	event := func(kind session.Kind, c *conn) {
		t.Helper()
		ev := &session.Event{Kind: kind, Proxy: "iam-proxy"}
		if c != nil {
			ev.Conn, ev.State = c.name, c.st
		}
		if kind == session.KindSys {
			ev.Sys = []session.SysValue{{Topic: "$SYS/broker/" + id("uptime"), Value: "1"}}
		}
		if _, err := fns[invocation.GroupSession].Handle(ctx, ev); err != nil {
			t.Fatalf("%s event: %v", kind, err)
		}
	}
	open := func(clientID string, clean bool, expiry uint32, will *packet.Will) *conn {
		t.Helper()
		conns++
		c := &conn{name: id("conn") + string(rune('a'+conns))}
		p := &packet.Connect{Version: packet.V5, ClientID: id(clientID), CleanStart: clean, KeepAlive: 60, Will: will}
		p.Properties.SessionExpiry = expiry
		p.Properties.Set(packet.PropSessionExpiry)
		send(c, p)
		return c
	}
	willTopic := id("will")
	newWill := func(delay uint32) *packet.Will {
		w := &packet.Will{Topic: willTopic, Payload: []byte("gone"), QoS: 1}
		w.Properties.WillDelay = delay
		w.Properties.Set(packet.PropWillDelay)
		return w
	}
	ackAll := func(c *conn) {
		t.Helper()
		got := c.got
		c.got = nil
		for _, b := range got {
			var p packet.Publish
			if b[0]>>4 != byte(packet.PUBLISH) || p.Decode(b, packet.V5) != nil {
				continue
			}
			switch p.QoS {
			case 1:
				send(c, &packet.Puback{PacketID: p.PacketID})
			case 2:
				send(c, &packet.Pubrec{PacketID: p.PacketID})
				send(c, &packet.Pubcomp{PacketID: p.PacketID})
			}
		}
	}

	// w is a persistent subscriber, offline most of the time, so that
	// messages and wills are queued for it.
	w := open("w", true, 3600, nil)
	send(w, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{
		{Filter: willTopic, QoS: 1}, {Filter: id("t") + "/#", QoS: 2}}})
	send(w, &packet.Disconnect{})
	event(session.KindLost, w)

	pubA := open("pubA", true, 3600, newWill(0))
	pubB := open("pubB", true, 3600, newWill(1))
	sub := open("sub", true, 0, nil)
	send(sub, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{
		{Filter: id("t") + "/#", QoS: 2}, {Filter: id("r") + "/+", QoS: 1}}})
	send(pubA, &packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: id("a"), QoS: 1}}})
	send(pubA, &packet.Publish{Topic: id("r") + "/1", QoS: 1, PacketID: 1, Retain: true, Payload: []byte("kept")})
	send(pubA, &packet.Publish{Topic: id("t") + "/0", Payload: []byte("q0")})
	send(pubA, &packet.Publish{Topic: id("t") + "/1", QoS: 1, PacketID: 2, Payload: []byte("q1")})
	send(pubA, &packet.Publish{Topic: id("t") + "/2", QoS: 2, PacketID: 3, Payload: []byte("q2")})
	send(pubA, &packet.Pubrel{PacketID: 3})
	ackAll(sub)
	// Subscribing again sends the retained message.
	send(sub, &packet.Subscribe{PacketID: 2, Subscriptions: []packet.Subscription{{Filter: id("r") + "/+", QoS: 1}}})
	ackAll(sub)
	send(sub, &packet.Unsubscribe{PacketID: 3, Filters: []string{id("t") + "/#"}})
	// w comes back for what was queued, acknowledges it and leaves.
	old := w
	w = open("w", false, 3600, nil)
	event(session.KindLost, old)
	ackAll(w)
	send(w, &packet.Disconnect{})
	event(session.KindLost, w)
	// A takeover publishes pubA's will (no delay) to w, offline; then a
	// clean start clears pubA's session and subscription.
	old = pubA
	pubA = open("pubA", false, 3600, newWill(0))
	event(session.KindLost, old)
	old = pubA
	pubA = open("pubA", true, 3600, newWill(0))
	event(session.KindLost, old)
	// pubA's connection is lost: its will goes out at once. pubB's waits
	// for its delay, then a tick publishes it, and its session expires.
	event(session.KindLost, pubA)
	bye := &packet.Disconnect{ReasonCode: packet.DisconnectWithWill}
	bye.Properties.SessionExpiry = 1
	bye.Properties.Set(packet.PropSessionExpiry)
	send(pubB, bye)
	event(session.KindLost, pubB)
	// sub's session (expiry 0) ends with its connection.
	send(sub, &packet.Disconnect{})
	event(session.KindLost, sub)
	// A session left online by a crashed proxy.
	open("crashed", false, 3600, nil)
	time.Sleep(1100 * time.Millisecond)
	event(session.KindTick, nil)
	event(session.KindRecover, nil)
	event(session.KindSys, nil)
}

// templatePolicies returns the DynamoDB actions each function resource of
// template.yaml is granted: "dynamodb:<Action>" on the table, and
// "<action>@index" on its indexes.
func templatePolicies(t *testing.T) map[string][]string {
	t.Helper()
	data, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Resources map[string]struct {
			Type       string `yaml:"Type"`
			Properties struct {
				Policies []struct {
					Statement []struct {
						Effect   string    `yaml:"Effect"`
						Action   yaml.Node `yaml:"Action"`
						Resource yaml.Node `yaml:"Resource"`
					} `yaml:"Statement"`
				} `yaml:"Policies"`
			} `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	out := map[string][]string{}
	names := []string{"LeaseFunction"}
	for _, name := range functionResources {
		names = append(names, name)
	}
	for _, name := range names {
		res, ok := doc.Resources[name]
		if !ok || res.Type != "AWS::Serverless::Function" {
			t.Fatalf("template.yaml has no function %s", name)
		}
		for _, p := range res.Properties.Policies {
			for _, s := range p.Statement {
				if s.Effect != "Allow" {
					continue
				}
				index := strings.Contains(nodeText(&s.Resource), "/index/")
				for _, a := range nodeStrings(&s.Action) {
					if !strings.HasPrefix(a, "dynamodb:") {
						continue
					}
					if index {
						a += "@index"
					}
					out[name] = append(out[name], a)
				}
			}
		}
		sort.Strings(out[name])
		out[name] = slices.Compact(out[name])
	}
	return out
}

// nodeStrings returns a scalar's value or a sequence's scalar values.
func nodeStrings(n *yaml.Node) []string {
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}
	}
	var out []string
	for _, c := range n.Content {
		out = append(out, c.Value)
	}
	return out
}

// nodeText returns every scalar under n, joined, to look into intrinsic
// functions such as !Sub.
func nodeText(n *yaml.Node) string {
	s := n.Value
	for _, c := range n.Content {
		s += " " + nodeText(c)
	}
	return s
}

// The lease function (template.yaml's LeaseFunction, the session
// function's code) serves only lease renewals and releases: its policy
// grants what they call, and nothing more.
func TestLeaseFunctionPolicy(t *testing.T) {
	skipWithoutTable(t)
	granted := templatePolicies(t)["LeaseFunction"]
	rec := &recorder{seen: map[string]bool{}}
	h, err := session.New(dynamo.New(rec.client(), table), session.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fn := lambdafn.NewFunction(invocation.GroupSession, delivery.NewRelay(h, nil, nil), nil)
	for _, ms := range []int64{10_000, 1} { // a renewal, then the release
		if _, err := fn.Handle(t.Context(), &session.Event{Kind: session.KindLease, Proxy: "iam-lease-proxy", LeaseMs: ms}); err != nil {
			t.Fatalf("lease event: %v", err)
		}
	}
	used := rec.actions()
	if !slices.Equal(used, granted) {
		t.Errorf("LeaseFunction grants %v; its lease events call %v", granted, used)
	}
}
