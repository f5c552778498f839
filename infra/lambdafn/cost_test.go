package lambdafn_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/delivery"
	"github.com/mqttless/mqttless/infra/dynamo"
	"github.com/mqttless/mqttless/infra/invocation"
	"github.com/mqttless/mqttless/infra/lambdafn"
	"github.com/mqttless/mqttless/infra/lambdainvoke"
)

// AWS list prices (us-east-1, on-demand, as published in 2026) that the
// cost benchmark turns its counts into.
const (
	// Lambda: $0.20 per million requests; $0.0000133334 per GB-second
	// on arm64 (the first pricing tier).
	priceLambdaRequest  = 0.20 / 1e6
	priceLambdaGBSecond = 0.0000133334
	// DynamoDB on-demand: $0.125 per million read request units and
	// $0.625 per million write request units.
	priceDynamoRead  = 0.125 / 1e6
	priceDynamoWrite = 0.625 / 1e6
	// AWS IoT Core: $1.00 per million messages (the first billion a
	// month), metered in 5 KB steps. A PUBLISH received from a device and
	// each PUBLISH sent to a subscriber are one message each, and so is a
	// PUBACK received from a device.
	priceIoTMessage = 1.00 / 1e6
)

// The model of a function's billed duration: the functions are configured
// with functionMemoryMB (template.yaml), each spends baseMs plus ddbMs per
// DynamoDB call (made one after another) and postMs per delivery request
// to a proxy (made concurrently: counted once per invocation that makes
// any).
const (
	functionMemoryMB = 128
	baseMs           = 2.0
	ddbMs            = 6.0
	postMs           = 4.0
)

// TestServerlessCost counts what the serverless path spends per message:
// Lambda invocations, made by the real lambdainvoke.Invoker into the real
// functions (lambdafn) over the DynamoDB store, and DynamoDB capacity (the
// store's estimate by DynamoDB's published rules). It prints dollars per
// million messages beside AWS IoT Core's price. It runs with
// MQTTLESS_LAMBDA_COST=1 (make bench-lambda) against moto or
// AWS_ENDPOINT_URL.
func TestServerlessCost(t *testing.T) {
	if os.Getenv("MQTTLESS_LAMBDA_COST") == "" {
		t.Skip("the serverless cost benchmark runs with MQTTLESS_LAMBDA_COST=1 (make bench-lambda)")
	}
	skipWithoutTable(t)
	msgs := 1000
	if v := os.Getenv("MQTTLESS_LAMBDA_COST_MESSAGES"); v != "" {
		msgs, _ = strconv.Atoi(v)
	}
	var rows []string
	for _, sc := range []struct {
		qos   byte
		subs  int
		batch int // PUBLISH frames per invocation, as a busy publisher's proxy batches them
		// acksTogether: the subscribers acknowledge at once, and the
		// proxy, at one session invocation in flight, batches their
		// PUBACKs across connections.
		acksTogether bool
		// v2: delivery v2 (-delivery v2): the proxy's window takes the
		// PUBACKs and saves positions every saveEvery of them.
		v2 bool
	}{
		{0, 1, 1, false, false}, {1, 1, 1, false, false}, {0, 100, 1, false, false}, {1, 100, 1, false, false}, {1, 100, 1, true, false},
		{0, 1, 10, false, false}, {1, 1, 10, false, false},
		// The fan-out of make cost's fleet C: one topic, 1,000 subscribers.
		{0, 1000, 1, false, false},
		// Delivery v2 (issue 16).
		{1, 1, 1, false, true}, {1, 100, 1, false, true}, {1, 1, 10, false, true},
	} {
		if only := os.Getenv("MQTTLESS_LAMBDA_COST_DELIVERY"); only != "" && only != map[bool]string{false: "v1", true: "v2"}[sc.v2] {
			continue
		}
		n := msgs
		if sc.subs > 1 {
			n = max(10, msgs/10) // per 1,000 figures are scaled from fewer messages
		}
		r := runCost(t, sc.qos, sc.subs, sc.batch, n, sc.acksTogether, sc.v2)
		rows = append(rows, r.row(sc.qos, sc.subs, sc.batch, n, sc.acksTogether, sc.v2))
	}
	fmt.Printf("\nServerless cost per 1,000 published messages (payload 100 B, MQTT 5.0, %d MB arm64 functions; duration modelled as %.0f ms + %.0f ms per DynamoDB call + %.0f ms when posting deliveries):\n\n", functionMemoryMB, baseMs, ddbMs, postMs)
	fmt.Println("| QoS | subscribers | PUBLISH per invocation | PUBACKs | delivery | invocations | RRU | WRU | GB-s | $ per million messages | AWS IoT Core $ per million | ratio |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range rows {
		fmt.Println(r)
	}
}

// costResult is what one scenario spent.
type costResult struct {
	invocations int
	rru, wru    float64
	gbSeconds   float64
}

func (r costResult) row(qos byte, subs, batch, n int, acksTogether, v2 bool) string {
	per := 1000.0 / float64(n)
	usd := (float64(r.invocations)*priceLambdaRequest + r.gbSeconds*priceLambdaGBSecond +
		r.rru*priceDynamoRead + r.wru*priceDynamoWrite) / float64(n) * 1e6
	iotMsgs := 1 + subs
	if qos == 1 {
		iotMsgs += subs // each subscriber's PUBACK
	}
	iot := float64(iotMsgs) * priceIoTMessage * 1e6
	pubacks := ""
	if qos > 0 {
		pubacks = "one per invocation"
		if acksTogether {
			pubacks = "batched across connections"
		}
	}
	delivery := "v1"
	if v2 {
		delivery = fmt.Sprintf("v2 (positions saved every %d PUBACKs)", saveEvery)
	}
	return fmt.Sprintf("| %d | %d | %d | %s | %s | %.0f | %.0f | %.0f | %.3f | %.3f | %.2f | %.2f |",
		qos, subs, batch, pubacks, delivery, float64(r.invocations)*per, r.rru*per, r.wru*per, r.gbSeconds*per, usd, iot, usd/iot)
}

// meter is a fake Lambda API that runs the functions in-process, as Lambda
// would (the event and reply go through JSON), and meters each invocation.
type meter struct {
	t     *testing.T
	st    *dynamo.Store
	fns   map[string]*lambdafn.Function
	posts *postCounter

	mu  sync.Mutex // one invocation at a time, so that each is metered alone
	res costResult
}

func (m *meter) Invoke(ctx context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	var b invocation.Batch
	if err := json.Unmarshal(in.Payload, &b); err != nil {
		return nil, err
	}
	fn := m.fns[aws.ToString(in.FunctionName)]
	m.mu.Lock()
	defer m.mu.Unlock()
	before, postsBefore := m.st.Consumed(), m.posts.n()
	reply, err := fn.Invoke(ctx, in.Payload)
	if err != nil {
		return &lambda.InvokeOutput{FunctionError: aws.String("Unhandled"), Payload: []byte(strconv.Quote(err.Error()))}, nil
	}
	used := m.st.Consumed().Sub(before)
	// The events of a batch are handled up to 16 at once.
	parallel := float64(min(max(len(b.Events), 1), 16))
	ms := baseMs + ddbMs*math.Ceil(float64(used.Calls)/parallel)
	if m.posts.n() > postsBefore {
		ms += postMs
	}
	m.res.invocations++
	m.res.rru += used.EstRead
	m.res.wru += used.EstWrite
	m.res.gbSeconds += math.Ceil(ms) / 1000 * functionMemoryMB / 1024
	out, err := json.Marshal(reply)
	return &lambda.InvokeOutput{Payload: out}, err
}

// postCounter is the delivery Forwarder of the benchmark: it counts the
// requests a function would post to proxies and hands the frames to the
// simulated connections.
type postCounter struct {
	mu    sync.Mutex
	posts int
	conns map[string]*simConn
}

func (p *postCounter) n() int { p.mu.Lock(); defer p.mu.Unlock(); return p.posts }

func (p *postCounter) Forward(_ context.Context, _ string, ds []session.Delivery) ([]string, error) {
	p.mu.Lock()
	p.posts++
	p.mu.Unlock()
	for _, d := range ds {
		p.conns[d.Conn].receive(d.Packets)
		p.conns[d.Conn].offer(d.Streams)
	}
	return nil, nil
}

// simConn is one client connection through the Lambda invoker.
type simConn struct {
	t     *testing.T
	inv   *lambdainvoke.Invoker
	proxy string
	conn  string
	peers map[string]*simConn // every connection, by id
	state *session.ConnState
	mu    sync.Mutex
	acks  []uint16 // QoS 1 packet ids received and not yet acknowledged
	got   int
	// win is the connection's delivery v2 window, as the proxy runs it
	// (infra/proxy/window.go); unsaved counts the acknowledgements it
	// took since its positions were last saved.
	win     *session.Window
	unsaved int
}

// saveEvery is how many acknowledgements a v2 window takes before the
// proxy saves its positions (infra/proxy's saveEveryAcks).
const saveEvery = 20

// stream applies a reply's delivery v2 work as the proxy does, and takes
// the PUBLISH frames its window hands out.
func (c *simConn) stream(w *session.StreamWork) {
	if w == nil {
		return
	}
	if w.Window != nil {
		c.win = session.NewWindow(w.Window.Plan, w.Window.Max, w.Window.Hold)
	}
	if c.win == nil {
		return
	}
	for _, id := range w.Unfollows {
		c.win.Unfollow(id)
	}
	for _, f := range w.Follows {
		c.win.Follow(f.Stream, f.Sub, f.Position, f.DupTo)
		c.take(c.win.Offer(f.Stream, f.Entries, time.Now()))
	}
	c.offer(w.Entries)
}

// offer gives delivered entries to the window.
func (c *simConn) offer(ds []session.StreamDelivery) {
	if c.win == nil {
		return
	}
	for _, d := range ds {
		c.take(c.win.Offer(d.Stream, d.Entries, time.Now()))
		c.take(c.win.Skip(d.Stream, d.Skips, time.Now()))
	}
}

// take counts what the window hands out as received.
func (c *simConn) take(sends []session.Send) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range sends {
		if s.Out == nil {
			continue
		}
		c.got++
		if s.Out.QoS == 1 {
			c.acks = append(c.acks, s.Out.PacketID)
		}
	}
}

// ackWindow takes the connection's PUBACKs in its window, as the proxy
// does without a handler call, and saves the positions every saveEvery
// of them with a KindPositions event.
func (c *simConn) ackWindow() {
	c.mu.Lock()
	ids := c.acks
	c.acks = nil
	c.mu.Unlock()
	for _, id := range ids {
		sends, err := c.win.Acked(id, time.Now())
		if err != nil {
			c.t.Fatalf("%s: PUBACK %d: %v", c.conn, id, err)
		}
		c.take(sends)
		if c.unsaved++; c.unsaved >= saveEvery {
			c.savePositions()
		}
	}
}

// savePositions sends the window's positions to the session function.
func (c *simConn) savePositions() {
	pos, _ := c.win.Positions()
	r, err := c.inv.Invoke(context.Background(), &session.Event{Kind: session.KindPositions, Proxy: c.proxy, Conn: c.conn,
		State: c.state, Positions: session.PositionList(pos)})
	if err != nil || r.Stream == nil || !r.Stream.Saved {
		c.t.Fatalf("%s: positions not saved: %v", c.conn, err)
	}
	c.win.Saved()
	c.unsaved = 0
}

func (c *simConn) receive(frames [][]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range frames {
		if p, err := packet.Decode(f, packet.V5); err == nil {
			if pub, ok := p.(*packet.Publish); ok {
				c.got++
				if pub.QoS == 1 {
					c.acks = append(c.acks, pub.PacketID)
				}
			}
		}
	}
}

func (c *simConn) send(ps ...packet.Packet) {
	c.t.Helper()
	var frames [][]byte
	for _, p := range ps {
		f, err := p.Append(nil, packet.V5)
		if err != nil {
			c.t.Fatal(err)
		}
		frames = append(frames, f)
	}
	r, err := c.inv.Invoke(context.Background(), &session.Event{Kind: session.KindPackets, Proxy: c.proxy, Conn: c.conn, State: c.state, Packets: frames})
	if err != nil {
		c.t.Fatalf("%s: %v", c.conn, err)
	}
	if r.State != nil {
		c.state = r.State
	}
	c.receive(r.Packets)
	c.stream(r.Stream)
	for _, d := range r.Deliveries { // for the calling proxy, which writes them itself
		c.peers[d.Conn].receive(d.Packets)
		c.peers[d.Conn].offer(d.Streams)
	}
}

// ackEach acknowledges every QoS 1 message received, one PUBACK per
// invocation, as a subscriber answering each message as it comes does.
func (c *simConn) ackEach() {
	c.mu.Lock()
	ids := c.acks
	c.acks = nil
	c.mu.Unlock()
	for _, id := range ids {
		c.send(&packet.Puback{PacketID: id})
	}
}

// ackAll acknowledges every QoS 1 message received, all in one event.
func (c *simConn) ackAll() {
	c.mu.Lock()
	ids := c.acks
	c.acks = nil
	c.mu.Unlock()
	var ps []packet.Packet
	for _, id := range ids {
		ps = append(ps, &packet.Puback{PacketID: id})
	}
	if len(ps) > 0 {
		c.send(ps...)
	}
}

func runCost(t *testing.T, qos byte, subs, batch, n int, acksTogether, v2 bool) costResult {
	t.Helper()
	st := dynamo.New(db, table)
	cfg := session.Config{MaxPacketSize: dynamo.MaxPacketSize}
	if v2 {
		cfg.Delivery = session.DeliveryV2
	}
	h, err := session.New(st, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	posts := &postCounter{conns: map[string]*simConn{}}
	relay := delivery.NewRelay(h, posts, nil)
	m := &meter{t: t, st: st, posts: posts, fns: map[string]*lambdafn.Function{}}
	fnList := map[invocation.Group][]invocation.Target{}
	for _, g := range invocation.Groups {
		m.fns[string(g)] = lambdafn.NewFunction(g, relay, nil)
		fnList[g] = []invocation.Target{{Name: string(g)}}
	}
	var opts []lambdainvoke.Option
	if acksTogether {
		opts = append(opts, lambdainvoke.WithConcurrency(1))
	}
	inv := lambdainvoke.New(fnList, m, nil, nil, opts...)
	var b [4]byte
	_, _ = rand.Read(b[:])
	run := "cost-" + hex.EncodeToString(b[:])
	newConn := func(proxy, id string, expiry uint32) *simConn {
		c := &simConn{t: t, inv: inv, proxy: proxy, conn: run + "-" + id, peers: posts.conns}
		posts.conns[c.conn] = c
		p := &packet.Connect{ClientID: run + "-" + id, CleanStart: expiry == 0, KeepAlive: 60}
		if expiry > 0 {
			p.Properties.SessionExpiry = expiry
			p.Properties.Set(packet.PropSessionExpiry)
		}
		c.send(p)
		return c
	}
	topic := run + "/devices/d1/telemetry"
	var sc []*simConn
	for i := range subs {
		c := newConn("proxy-b", fmt.Sprintf("s%d", i), 3600)
		c.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: run + "/devices/+/telemetry", QoS: qos}}})
		sc = append(sc, c)
	}
	pub := newConn("proxy-a", "pub", 0)
	m.res = costResult{} // count from here: the steady state
	start := time.Now()
	payload := []byte(strings.Repeat("x", 100))
	var pid uint16
	for sent := 0; sent < n; {
		var ps []packet.Packet
		for ; len(ps) < batch && sent < n; sent++ {
			p := &packet.Publish{Topic: topic, Payload: payload, QoS: qos}
			if qos > 0 {
				pid++
				p.PacketID = pid
			}
			ps = append(ps, p)
		}
		pub.send(ps...)
		if v2 {
			for _, c := range sc {
				c.ackWindow()
			}
			continue
		}
		if !acksTogether {
			for _, c := range sc {
				c.ackEach()
			}
			continue
		}
		var wg sync.WaitGroup
		for _, c := range sc {
			wg.Go(c.ackAll)
		}
		wg.Wait()
	}
	if v2 {
		// The proxy saves what is left within -position-save (1 s) of the
		// first unsaved acknowledgement: once per subscriber here, at the
		// end (so at most every saveEvery, and every n when n is less).
		for _, c := range sc {
			if c.unsaved > 0 {
				c.savePositions()
			}
		}
	}
	for _, c := range sc {
		if c.got != n {
			t.Errorf("QoS %d, %d subscribers: %s received %d of %d messages", qos, subs, c.conn, c.got, n)
		}
	}
	t.Logf("QoS %d, %d subscriber(s), %d per invocation: %d messages took %v", qos, subs, batch, n, time.Since(start).Round(time.Millisecond))
	return m.res
}
