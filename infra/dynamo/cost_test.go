package dynamo_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/dynamo"
)

// TestCost drives the real session.Handler over the DynamoDB store and
// prints the capacity each MQTT operation consumes: as the endpoint
// reports it (ReturnConsumedCapacity TOTAL) and as estimated from item
// sizes (see dynamo.Capacity). It runs with MQTTLESS_DYNAMO_COST=1 (make
// bench-dynamo); MQTTLESS_DYNAMO_COST_SUBS sets the size of the
// subscription table of the last row (default 100000).
func TestCost(t *testing.T) {
	skipWithoutTable(t)
	if os.Getenv("MQTTLESS_DYNAMO_COST") == "" {
		t.Skip("the cost benchmark runs with MQTTLESS_DYNAMO_COST=1 (make bench-dynamo)")
	}
	ctx := context.Background()
	st := dynamo.New(db, table)
	h, err := session.New(st, session.Config{MaxPacketSize: dynamo.MaxPacketSize}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	run := "cost" + hex.EncodeToString(b[:])
	n := 0
	byConn := map[string]*costClient{}
	newClient := func() *costClient {
		n++
		c := &costClient{t: t, h: h, conns: byConn, id: fmt.Sprintf("%s-c%d", run, n)}
		return c
	}
	var rows []string
	measureOn := func(st *dynamo.Store, name string, fn func()) {
		before := st.Consumed()
		fn()
		d := st.Consumed().Sub(before)
		rows = append(rows, fmt.Sprintf("| %s | %g | %g | %g | %g | %d |", name, d.EstRead, d.EstWrite, d.Read, d.Write, d.Calls))
	}
	measure := func(name string, fn func()) { measureOn(st, name, fn) }
	// A second function instance: its own caches, the same table.
	st2 := dynamo.New(db, table)
	h2, err := session.New(st2, session.Config{MaxPacketSize: dynamo.MaxPacketSize}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte(strings.Repeat("x", 100))

	// CONNECT.
	c := newClient()
	measure("CONNECT, clean start (new session)", func() { c.connect(true) })
	p := newClient()
	p.connect(false)
	p.subscribe(run+"/p/+", 1)
	p.lost()
	measure("CONNECT, persistent (resuming a session with 1 subscription)", func() { p.connect(false) })

	// SUBSCRIBE.
	s := newClient()
	s.connect(true)
	measure("SUBSCRIBE, 1 filter of 3 levels (new)", func() { s.subscribe(run+"/one/+", 1) })

	// PUBLISH to 1 and to 100 subscribers.
	for _, subs := range []int{1, 100} {
		filter := fmt.Sprintf("%s/fan%d/+", run, subs)
		var clients []*costClient
		for range subs {
			sc := newClient()
			sc.connect(true)
			sc.subscribe(filter, 1)
			clients = append(clients, sc)
		}
		name := fmt.Sprintf("%s/fan%d/x", run, subs)
		measure(fmt.Sprintf("PUBLISH QoS 0, %d matching subscriber(s), first on its topic", subs), func() { c.publish(name, 0, payload) })
		measure(fmt.Sprintf("PUBLISH QoS 0, %d matching subscriber(s), again (match cache warm)", subs), func() { c.publish(name, 0, payload) })
		c2 := newClient()
		c2.h = h2
		c2.connect(true)
		measureOn(st2, fmt.Sprintf("PUBLISH QoS 0, %d matching subscriber(s), first on its topic in another instance (the shared match)", subs), func() { c2.publish(name, 0, payload) })
		measure(fmt.Sprintf("PUBLISH QoS 1, %d matching subscriber(s), match cache warm", subs), func() { c.publish(name, 1, payload) })
		measure(fmt.Sprintf("PUBACK from each of the %d subscriber(s), total", subs), func() {
			for _, sc := range clients {
				sc.ackAll()
			}
		})
	}

	// PUBLISH with no subscriber, in a table holding many subscriptions.
	nsubs := 100_000
	if v := os.Getenv("MQTTLESS_DYNAMO_COST_SUBS"); v != "" {
		fmt.Sscan(v, &nsubs)
	}
	start := time.Now()
	if err := st.SeedSubscriptions(ctx, run+"/dev", nsubs); err != nil {
		t.Fatal(err)
	}
	t.Logf("seeded %d subscriptions in %v", nsubs, time.Since(start).Round(time.Second))
	measure(fmt.Sprintf("PUBLISH QoS 1, no subscriber, %d subscriptions under the topic's first level", nsubs), func() {
		c.publish(run+"/dev/none/status", 1, payload)
	})
	measure(fmt.Sprintf("PUBLISH QoS 1, no subscriber, unrelated first level (%d subscriptions in the table)", nsubs), func() {
		c.publish(run+"-other/x/y", 1, payload)
	})

	fmt.Printf("\nCapacity per operation (payload 100 bytes, MQTT 5.0), %d calls in all:\n\n", st.Consumed().Calls)
	fmt.Println("| operation | RCU (est.) | WCU (est.) | RCU (reported) | WCU (reported) | API calls |")
	fmt.Println("| --- | --- | --- | --- | --- | --- |")
	for _, r := range rows {
		fmt.Println(r)
	}
}

// costClient is one connection driven through the handler.
type costClient struct {
	t     *testing.T
	h     *session.Handler
	id    string
	conn  string
	conns map[string]*costClient // every client by connection
	state *session.ConnState
	next  uint16
	sent  []uint16 // packet ids of QoS 1 messages delivered to it
}

func (c *costClient) handle(ev *session.Event) *session.Reply {
	c.t.Helper()
	ev.Proxy, ev.Conn, ev.State = "cost-proxy", c.conn, c.state
	r, err := c.h.Handle(context.Background(), ev)
	if err != nil {
		c.t.Fatalf("%s: %v", c.id, err)
	}
	if r.State != nil {
		c.state = r.State
	}
	return r
}

func (c *costClient) send(ps ...packet.Packet) *session.Reply {
	c.t.Helper()
	var frames [][]byte
	for _, p := range ps {
		f, err := p.Append(nil, packet.V5)
		if err != nil {
			c.t.Fatal(err)
		}
		frames = append(frames, f)
	}
	return c.handle(&session.Event{Kind: session.KindPackets, Packets: frames})
}

func (c *costClient) connect(clean bool) {
	c.t.Helper()
	delete(c.conns, c.conn)
	c.conn = fmt.Sprintf("%s-%d", c.id, time.Now().UnixNano())
	c.conns[c.conn] = c
	c.state = nil
	p := &packet.Connect{ClientID: c.id, CleanStart: clean, KeepAlive: 60}
	if !clean {
		p.Properties.SessionExpiry = 3600
		p.Properties.Set(packet.PropSessionExpiry)
	}
	c.send(p)
}

func (c *costClient) lost() {
	c.t.Helper()
	c.handle(&session.Event{Kind: session.KindLost})
}

func (c *costClient) subscribe(filter string, qos byte) {
	c.t.Helper()
	c.next++
	c.send(&packet.Subscribe{PacketID: c.next, Subscriptions: []packet.Subscription{{Filter: filter, QoS: qos}}})
}

func (c *costClient) publish(name string, qos byte, payload []byte) {
	c.t.Helper()
	p := &packet.Publish{QoS: qos, Topic: name, Payload: payload}
	if qos > 0 {
		c.next++
		p.PacketID = c.next
	}
	r := c.send(p)
	for _, d := range r.Deliveries {
		to := c.conns[d.Conn]
		for _, f := range d.Packets {
			if pub, err := packet.Decode(f, packet.V5); err == nil {
				if pub, ok := pub.(*packet.Publish); ok && pub.QoS == 1 && to != nil {
					to.sent = append(to.sent, pub.PacketID)
				}
			}
		}
	}
}

// ackAll acknowledges the QoS 1 messages in flight to c.
func (c *costClient) ackAll() {
	c.t.Helper()
	for _, pid := range c.sent {
		c.send(&packet.Puback{PacketID: pid})
	}
	c.sent = nil
}
