package e2e_test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// runID keeps client ids and topics of one run apart from any other run
// against the same broker.
var runID = func() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}()

var seq atomic.Int64

// uniq returns a client id unique to this run.
func uniq(prefix string) string { return fmt.Sprintf("%s-%s-%d", prefix, runID, seq.Add(1)) }

// topicRoot returns a topic prefix unique to this run, without a trailing /.
func topicRoot(name string) string { return fmt.Sprintf("e2e/%s/%s%d", runID, name, seq.Add(1)) }

// inbox collects values delivered by a client's callbacks, without bound,
// so that a callback never blocks the client.
type inbox[T any] struct {
	mu     sync.Mutex
	items  []T
	notify chan struct{}
}

func newInbox[T any]() *inbox[T] { return &inbox[T]{notify: make(chan struct{}, 1)} }

func (b *inbox[T]) put(v T) {
	b.mu.Lock()
	b.items = append(b.items, v)
	b.mu.Unlock()
	select {
	case b.notify <- struct{}{}:
	default:
	}
}

// next removes and returns the oldest value, waiting up to d for one.
func (b *inbox[T]) next(d time.Duration) (T, bool) {
	deadline := time.After(d)
	for {
		b.mu.Lock()
		if len(b.items) > 0 {
			v := b.items[0]
			b.items = b.items[1:]
			b.mu.Unlock()
			return v, true
		}
		b.mu.Unlock()
		select {
		case <-b.notify:
		case <-deadline:
			var zero T
			return zero, false
		}
	}
}

// take waits up to d for n values and returns those that came, oldest first.
func (b *inbox[T]) take(n int, d time.Duration) []T {
	deadline := time.Now().Add(d)
	var out []T
	for len(out) < n {
		v, ok := b.next(time.Until(deadline))
		if !ok {
			break
		}
		out = append(out, v)
	}
	return out
}

// ---- MQTT 3.1.1: github.com/eclipse/paho.mqtt.golang ----

// v3Client is a Paho 3.1.1 client whose received messages land in msgs.
type v3Client struct {
	t              testing.TB
	c              mqtt.Client
	msgs           *inbox[mqtt.Message]
	lost           chan error
	sessionPresent bool
}

// connectV3 connects a 3.1.1 client as id; opts adjust the options.
func connectV3(t testing.TB, addr, id string, clean bool, opts ...func(*mqtt.ClientOptions)) *v3Client {
	t.Helper()
	c, err := tryConnectV3(t, addr, id, clean, opts...)
	if err != nil {
		t.Fatalf("3.1.1 connect %s: %v", id, err)
	}
	return c
}

// tryConnectV3 is connectV3 returning the error; the error of a refused
// CONNECT is the return code as a *refusedError.
func tryConnectV3(t testing.TB, addr, id string, clean bool, opts ...func(*mqtt.ClientOptions)) (*v3Client, error) {
	t.Helper()
	vc := &v3Client{t: t, msgs: newInbox[mqtt.Message](), lost: make(chan error, 1)}
	o := mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID(id).SetCleanSession(clean).
		SetProtocolVersion(4).SetAutoReconnect(false).SetConnectRetry(false).SetKeepAlive(30 * time.Second).
		SetConnectTimeout(waitTime).SetWriteTimeout(waitTime).SetOrderMatters(true).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { vc.msgs.put(m) }).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			select {
			case vc.lost <- err:
			default:
			}
		})
	for _, f := range opts {
		f(o)
	}
	vc.c = mqtt.NewClient(o)
	tok := vc.c.Connect()
	if !tok.WaitTimeout(2 * waitTime) {
		return nil, fmt.Errorf("no CONNACK within %v", 2*waitTime)
	}
	ct := tok.(*mqtt.ConnectToken)
	if err := tok.Error(); err != nil {
		return nil, &refusedError{code: ct.ReturnCode(), err: err}
	}
	vc.sessionPresent = ct.SessionPresent()
	t.Cleanup(func() {
		if vc.c.IsConnectionOpen() {
			vc.c.Disconnect(0)
		}
	})
	return vc, nil
}

type refusedError struct {
	code byte
	err  error
}

func (e *refusedError) Error() string { return fmt.Sprintf("return code %d: %v", e.code, e.err) }

func (c *v3Client) subscribe(filter string, qos byte) {
	c.t.Helper()
	tok := c.c.Subscribe(filter, qos, nil)
	if !tok.WaitTimeout(waitTime) || tok.Error() != nil {
		c.t.Fatalf("3.1.1 subscribe %q: %v", filter, tok.Error())
	}
	granted := tok.(*mqtt.SubscribeToken).Result()[filter]
	if granted != qos {
		c.t.Fatalf("3.1.1 subscribe %q: granted %d, want %d", filter, granted, qos)
	}
}

func (c *v3Client) publish(topic string, qos byte, retain bool, payload string) {
	c.t.Helper()
	tok := c.c.Publish(topic, qos, retain, payload)
	if !tok.WaitTimeout(waitTime) || tok.Error() != nil {
		c.t.Fatalf("3.1.1 publish %q at QoS %d: timed out or failed: %v", topic, qos, tok.Error())
	}
}

// expectMsg waits for the next message and checks its topic and payload.
func (c *v3Client) expectMsg(topic, payload string) mqtt.Message {
	c.t.Helper()
	m, ok := c.msgs.next(waitTime)
	if !ok {
		c.t.Fatalf("no message within %v, want %q %q", waitTime, topic, payload)
	}
	if m.Topic() != topic || string(m.Payload()) != payload {
		c.t.Fatalf("got message %q %q, want %q %q", m.Topic(), m.Payload(), topic, payload)
	}
	return m
}

// expectNone fails if a message arrives within d.
func (c *v3Client) expectNone(d time.Duration) {
	c.t.Helper()
	if m, ok := c.msgs.next(d); ok {
		c.t.Fatalf("got message %q %q, want none", m.Topic(), m.Payload())
	}
}

func (c *v3Client) disconnect() { c.c.Disconnect(50) }

// ---- MQTT 5.0: github.com/eclipse/paho.golang ----

// v5Client is a Paho 5.0 client whose received messages land in msgs and
// the server's DISCONNECT in disc.
type v5Client struct {
	t    testing.TB
	c    *paho.Client
	ack  *paho.Connack
	msgs *inbox[*paho.Publish]
	disc chan *paho.Disconnect
}

// v5Connect returns a CONNECT as id with keep alive 30 s; clean false asks
// for a session expiry of 300 s.
func v5Connect(id string, clean bool) *paho.Connect {
	cp := &paho.Connect{ClientID: id, CleanStart: clean, KeepAlive: 30}
	if !clean {
		exp := uint32(300)
		cp.Properties = &paho.ConnectProperties{SessionExpiryInterval: &exp}
	}
	return cp
}

// connectV5 connects a 5.0 client with CONNECT cp; cfgs adjust the client.
func connectV5(t testing.TB, addr string, cp *paho.Connect, cfgs ...func(*paho.ClientConfig)) *v5Client {
	t.Helper()
	c, err := tryConnectV5(t, addr, cp, cfgs...)
	if err != nil {
		t.Fatalf("5.0 connect %q: %v", cp.ClientID, err)
	}
	return c
}

// tryConnectV5 is connectV5 returning the error (and the CONNACK, if any).
func tryConnectV5(t testing.TB, addr string, cp *paho.Connect, cfgs ...func(*paho.ClientConfig)) (*v5Client, error) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, waitTime)
	if err != nil {
		return nil, err
	}
	return connectV5Over(t, nc, cp, cfgs...)
}

// connectV5Over connects a 5.0 Paho client over nc, an open connection
// (TCP, TLS or WebSockets), and closes nc when the CONNECT fails.
func connectV5Over(t testing.TB, nc net.Conn, cp *paho.Connect, cfgs ...func(*paho.ClientConfig)) (*v5Client, error) {
	t.Helper()
	vc := &v5Client{t: t, msgs: newInbox[*paho.Publish](), disc: make(chan *paho.Disconnect, 1)}
	cfg := paho.ClientConfig{
		Conn: nc,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(pr paho.PublishReceived) (bool, error) { vc.msgs.put(pr.Packet); return true, nil },
		},
		OnServerDisconnect: func(d *paho.Disconnect) {
			select {
			case vc.disc <- d:
			default:
			}
		},
		OnClientError: func(error) {},
		PacketTimeout: waitTime,
	}
	for _, f := range cfgs {
		f(&cfg)
	}
	vc.c = paho.NewClient(cfg)
	var err error
	vc.ack, err = vc.c.Connect(ctx(t, 2*waitTime), cp)
	if err != nil {
		nc.Close()
		return vc, err
	}
	t.Cleanup(func() {
		select {
		case <-vc.c.Done():
		default:
			_ = vc.c.Disconnect(&paho.Disconnect{ReasonCode: 0})
		}
	})
	return vc, nil
}

func (c *v5Client) subscribe(subs ...paho.SubscribeOptions) *paho.Suback {
	c.t.Helper()
	return c.subscribeWith(&paho.Subscribe{Subscriptions: subs})
}

func (c *v5Client) subscribeWith(s *paho.Subscribe) *paho.Suback {
	c.t.Helper()
	sa, err := c.c.Subscribe(ctx(c.t, waitTime), s)
	if err != nil {
		c.t.Fatalf("5.0 subscribe %+v: %v", s.Subscriptions, err)
	}
	for i, sub := range s.Subscriptions {
		if sa.Reasons[i] != sub.QoS {
			c.t.Fatalf("5.0 subscribe %q: reason code 0x%02X, want QoS %d granted", sub.Topic, sa.Reasons[i], sub.QoS)
		}
	}
	return sa
}

// publish publishes p and returns the response (nil at QoS 0).
func (c *v5Client) publish(p *paho.Publish) *paho.PublishResponse {
	c.t.Helper()
	r, err := c.c.Publish(ctx(c.t, waitTime), p)
	if err != nil {
		c.t.Fatalf("5.0 publish %q at QoS %d: %v", p.Topic, p.QoS, err)
	}
	return r
}

// pub publishes payload to topic at qos.
func (c *v5Client) pub(topic string, qos byte, retain bool, payload string) {
	c.t.Helper()
	c.publish(&paho.Publish{Topic: topic, QoS: qos, Retain: retain, Payload: []byte(payload)})
}

// expectMsg waits for the next message and checks its topic and payload.
func (c *v5Client) expectMsg(topic, payload string) *paho.Publish {
	c.t.Helper()
	m, ok := c.msgs.next(waitTime)
	if !ok {
		c.t.Fatalf("no message within %v, want %q %q", waitTime, topic, payload)
	}
	if m.Topic != topic || string(m.Payload) != payload {
		c.t.Fatalf("got message %q %q, want %q %q", m.Topic, m.Payload, topic, payload)
	}
	return m
}

// expectNone fails if a message arrives within d.
func (c *v5Client) expectNone(d time.Duration) {
	c.t.Helper()
	if m, ok := c.msgs.next(d); ok {
		c.t.Fatalf("got message %q %q, want none", m.Topic, m.Payload)
	}
}

func (c *v5Client) disconnect() { _ = c.c.Disconnect(&paho.Disconnect{ReasonCode: 0}) }

// ---- both versions behind one interface ----

// msg is a received application message, whichever client got it.
type msg struct {
	Topic   string
	Payload string
	QoS     byte
	Retain  bool
}

// testClient is what the tests that run at both versions need of a client.
type testClient interface {
	sub(filter string, qos byte)
	pub(topic string, qos byte, retain bool, payload string)
	recv(d time.Duration) (msg, bool)
	present() bool
	disconnect()
}

// versions are the protocol versions the tests that apply to both run at.
var versions = []struct {
	name string
	v    byte // protocol level
}{{"3.1.1", 4}, {"5.0", 5}}

// forVersions runs f as a parallel subtest at 3.1.1 and at 5.0.
func forVersions(t *testing.T, f func(t *testing.T, level byte)) {
	for _, v := range versions {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			f(t, v.v)
		})
	}
}

// connectAs connects a Paho client at protocol level 4 or 5. A persistent
// (clean false) 5.0 session gets a session expiry of 300 s.
func connectAs(t testing.TB, level byte, addr, id string, clean bool) testClient {
	t.Helper()
	if level == 4 {
		return connectV3(t, addr, id, clean)
	}
	return connectV5(t, addr, v5Connect(id, clean))
}

func (c *v3Client) sub(filter string, qos byte) { c.t.Helper(); c.subscribe(filter, qos) }

func (c *v3Client) pub(topic string, qos byte, retain bool, payload string) {
	c.t.Helper()
	c.publish(topic, qos, retain, payload)
}

func (c *v3Client) recv(d time.Duration) (msg, bool) {
	m, ok := c.msgs.next(d)
	if !ok {
		return msg{}, false
	}
	return msg{Topic: m.Topic(), Payload: string(m.Payload()), QoS: m.Qos(), Retain: m.Retained()}, true
}

func (c *v3Client) present() bool { return c.sessionPresent }

func (c *v5Client) sub(filter string, qos byte) {
	c.t.Helper()
	c.subscribe(paho.SubscribeOptions{Topic: filter, QoS: qos})
}

func (c *v5Client) recv(d time.Duration) (msg, bool) {
	m, ok := c.msgs.next(d)
	if !ok {
		return msg{}, false
	}
	return msg{Topic: m.Topic, Payload: string(m.Payload), QoS: m.QoS, Retain: m.Retain}, true
}

func (c *v5Client) present() bool { return c.ack.SessionPresent }

// expectMsg waits for c's next message and checks its topic and payload.
func expectMsg(t testing.TB, c testClient, topic, payload string) msg {
	t.Helper()
	m, ok := c.recv(waitTime)
	if !ok {
		t.Fatalf("no message within %v, want %q %q", waitTime, topic, payload)
	}
	if m.Topic != topic || m.Payload != payload {
		t.Fatalf("got message %q %q, want %q %q", m.Topic, m.Payload, topic, payload)
	}
	return m
}

// expectNoMsg fails if c receives a message within d.
func expectNoMsg(t testing.TB, c testClient, d time.Duration) {
	t.Helper()
	if m, ok := c.recv(d); ok {
		t.Fatalf("got message %q %q, want none", m.Topic, m.Payload)
	}
}

// recvN waits for n messages and fails if fewer come.
func recvN(t testing.TB, c testClient, n int) []msg {
	t.Helper()
	var out []msg
	deadline := time.Now().Add(waitTime)
	for len(out) < n {
		m, ok := c.recv(time.Until(deadline))
		if !ok {
			t.Fatalf("got %d messages %v, want %d", len(out), out, n)
		}
		out = append(out, m)
	}
	return out
}
