package session_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/memstore"
)

// The harness plays the connection proxy: it opens connections, sends the
// handler events built from packets encoded with core/packet, feeds each
// Reply.State back into the next Event, and decodes what comes back.

const (
	v31  = packet.V31
	v311 = packet.V311
	v5   = packet.V5
)

// clock is a fake clock for session.WithClock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is one broker under test: a memstore, a fake clock and a handler.
type env struct {
	t     *testing.T
	store *memstore.Store
	clock *clock
	cfg   session.Config
	h     *session.Handler
	// fresh makes every call use a new Handler over the same store, and
	// round-trips the connection state through JSON as a proxy that keeps
	// it between Lambda invocations would.
	fresh bool
	// opts are handler options added to the clock (WithAuth).
	opts []session.Option
	// log is the handlers' logger; nil discards.
	log   *slog.Logger
	conns map[string]*conn // by conn id
	next  int
}

func newEnv(t *testing.T, cfg session.Config) *env {
	t.Helper()
	e := &env{t: t, store: memstore.New(), clock: newClock(), cfg: cfg, conns: map[string]*conn{}}
	e.h = e.newHandler()
	return e
}

func (e *env) newHandler() *session.Handler {
	e.t.Helper()
	h, err := session.New(e.store, e.cfg, e.log, append([]session.Option{session.WithClock(e.clock.Now)}, e.opts...)...)
	if err != nil {
		e.t.Fatalf("session.New: %v", err)
	}
	return h
}

func (e *env) handler() *session.Handler {
	if e.fresh {
		return e.newHandler()
	}
	return e.h
}

// conn is one client connection as the proxy holds it.
type conn struct {
	e      *env
	v      packet.Version // the version frames to and from it are coded at
	proxy  string
	id     string
	state  *session.ConnState
	closed bool
}

// open opens a connection held by proxy "proxy-1".
func (e *env) open(v packet.Version) *conn { return e.openOn("proxy-1", v) }

// openOn opens a connection held by the given proxy.
func (e *env) openOn(proxy string, v packet.Version) *conn {
	e.next++
	c := &conn{e: e, v: v, proxy: proxy, id: fmt.Sprintf("conn-%d", e.next)}
	e.conns[c.id] = c
	return c
}

// handle runs one event through the handler and checks the invariants
// every reply must keep.
func (c *conn) handle(ev *session.Event) (*session.Reply, error) {
	t := c.e.t
	t.Helper()
	ev.Proxy, ev.Conn = c.proxy, c.id
	ev.State = c.state
	if c.e.fresh && ev.State != nil {
		ev.State = roundTrip(t, ev.State)
	}
	var before *session.ConnState
	if ev.State != nil {
		before = roundTrip(t, ev.State)
	}
	r, err := c.e.handler().Handle(context.Background(), ev)
	if r == nil {
		t.Fatalf("Handle returned a nil reply (err %v)", err)
	}
	if before != nil && !reflect.DeepEqual(before, roundTrip(t, ev.State)) {
		t.Errorf("Handle modified the event's connection state:\nbefore %+v\nafter  %+v", before, ev.State)
	}
	if r.State != nil {
		c.state = r.State
		c.v = r.State.Version
	}
	c.e.checkReply(c, r)
	if r.Close {
		c.closed = true
	}
	return r, err
}

// send sends frames from the client and fails the test on a handler error.
func (c *conn) send(frames ...[]byte) *session.Reply {
	c.e.t.Helper()
	r, err := c.handle(&session.Event{Kind: session.KindPackets, Packets: frames})
	if err != nil {
		c.e.t.Fatalf("Handle(%s): %v", c.id, err)
	}
	return r
}

// lost reports the end of the connection.
func (c *conn) lost() *session.Reply {
	c.e.t.Helper()
	r, err := c.handle(&session.Event{Kind: session.KindLost})
	if err != nil {
		c.e.t.Fatalf("Handle(%s lost): %v", c.id, err)
	}
	c.closed = true
	return r
}

// tick runs Handler.Tick and checks its reply.
func (e *env) tick() *session.Reply {
	e.t.Helper()
	r, _, err := e.handler().Tick(context.Background(), 100)
	if err != nil {
		e.t.Fatalf("Tick: %v", err)
	}
	e.checkReply(nil, r)
	return r
}

func roundTrip(t *testing.T, st *session.ConnState) *session.ConnState {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatalf("marshal state: %v", err)
	}
	var out session.ConnState
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("unmarshal state: %v", err)
	}
	return &out
}

// checkReply checks that every frame of r decodes at its connection's
// version, that deliveries go to other, known connections, and that a
// CONNACK comes before anything else [MQTT-3.2.0-1].
func (e *env) checkReply(from *conn, r *session.Reply) {
	e.t.Helper()
	if from != nil {
		ps := decodeAll(e.t, from.v, r.Packets)
		for i, p := range ps {
			if p.Type() == packet.CONNACK && i != 0 {
				e.t.Errorf("CONNACK is packet %d of the reply, not the first [MQTT-3.2.0-1]", i)
			}
		}
	}
	seen := map[string]bool{}
	for _, d := range r.Deliveries {
		if from != nil && d.Conn == from.id {
			e.t.Errorf("delivery addressed to the event's own connection %s", d.Conn)
		}
		key := d.Proxy + "/" + d.Conn
		if seen[key] {
			e.t.Errorf("two deliveries for %s", key)
		}
		seen[key] = true
		to := e.conns[d.Conn]
		if to == nil {
			e.t.Errorf("delivery to unknown connection %s", key)
			continue
		}
		if to.proxy != d.Proxy {
			e.t.Errorf("delivery to %s addressed to proxy %s, want %s", d.Conn, d.Proxy, to.proxy)
		}
		if to.closed {
			e.t.Errorf("delivery to closed connection %s", key)
		}
		decodeAll(e.t, to.v, d.Packets)
	}
}

// out decodes the frames a reply writes to c itself.
func (c *conn) out(r *session.Reply) []packet.Packet {
	c.e.t.Helper()
	return decodeAll(c.e.t, c.v, r.Packets)
}

// in decodes the frames a reply delivers to c, another connection, and
// reports whether it asks the proxy to close c.
func (c *conn) in(r *session.Reply) ([]packet.Packet, bool) {
	c.e.t.Helper()
	for _, d := range r.Deliveries {
		if d.Conn == c.id {
			return decodeAll(c.e.t, c.v, d.Packets), d.Close
		}
	}
	return nil, false
}

// recv is in without the close flag.
func (c *conn) recv(r *session.Reply) []packet.Packet {
	c.e.t.Helper()
	ps, _ := c.in(r)
	return ps
}

func decodeAll(t *testing.T, v packet.Version, frames [][]byte) []packet.Packet {
	t.Helper()
	out := make([]packet.Packet, 0, len(frames))
	for _, f := range frames {
		p, err := packet.Decode(f, v)
		if err != nil {
			t.Fatalf("reply frame % X does not decode at %s: %v", f, v, err)
		}
		out = append(out, p)
	}
	return out
}

// as returns p as a T, failing the test when it is something else.
func as[T packet.Packet](t *testing.T, p packet.Packet) T {
	t.Helper()
	q, ok := p.(T)
	if !ok {
		var want T
		t.Fatalf("got %s, want %T", describe(p), want)
	}
	return q
}

// one returns the only packet of ps as a T.
func one[T packet.Packet](t *testing.T, ps []packet.Packet) T {
	t.Helper()
	if len(ps) != 1 {
		var want T
		t.Fatalf("got %d packets %s, want one %T", len(ps), describeAll(ps), want)
	}
	return as[T](t, ps[0])
}

// ofType returns the packets of ps that are T, in order.
func ofType[T packet.Packet](ps []packet.Packet) []T {
	var out []T
	for _, p := range ps {
		if q, ok := p.(T); ok {
			out = append(out, q)
		}
	}
	return out
}

func types(ps []packet.Packet) []packet.Type {
	out := make([]packet.Type, len(ps))
	for i, p := range ps {
		out[i] = p.Type()
	}
	return out
}

// wantTypes checks the sequence of packet types.
func wantTypes(t *testing.T, ps []packet.Packet, want ...packet.Type) {
	t.Helper()
	if !reflect.DeepEqual(types(ps), want) && !(len(ps) == 0 && len(want) == 0) {
		t.Fatalf("got %s, want types %v", describeAll(ps), want)
	}
}

func describe(p packet.Packet) string {
	switch p := p.(type) {
	case *packet.Publish:
		return fmt.Sprintf("PUBLISH(%q q%d id%d r%v dup%v %q)", p.Topic, p.QoS, p.PacketID, p.Retain, p.Dup, p.Payload)
	case *packet.Connack:
		return fmt.Sprintf("CONNACK(0x%02X sp=%v)", byte(p.ReasonCode), p.SessionPresent)
	case *packet.Disconnect:
		return fmt.Sprintf("DISCONNECT(0x%02X)", byte(p.ReasonCode))
	case *packet.Puback:
		return fmt.Sprintf("PUBACK(%d 0x%02X)", p.PacketID, byte(p.ReasonCode))
	case *packet.Pubrec:
		return fmt.Sprintf("PUBREC(%d 0x%02X)", p.PacketID, byte(p.ReasonCode))
	case *packet.Pubrel:
		return fmt.Sprintf("PUBREL(%d 0x%02X)", p.PacketID, byte(p.ReasonCode))
	case *packet.Pubcomp:
		return fmt.Sprintf("PUBCOMP(%d 0x%02X)", p.PacketID, byte(p.ReasonCode))
	case *packet.Suback:
		return fmt.Sprintf("SUBACK(%d %v)", p.PacketID, p.ReasonCodes)
	case *packet.Unsuback:
		return fmt.Sprintf("UNSUBACK(%d %v)", p.PacketID, p.ReasonCodes)
	case nil:
		return "nothing"
	}
	return p.Type().String()
}

func describeAll(ps []packet.Packet) string {
	s := "["
	for i, p := range ps {
		if i > 0 {
			s += " "
		}
		s += describe(p)
	}
	return s + "]"
}

// ---- frames ----

func encode(t testing.TB, p packet.Packet, v packet.Version) []byte {
	t.Helper()
	b, err := p.Append(nil, v)
	if err != nil {
		t.Fatalf("encode %s at %s: %v", p.Type(), v, err)
	}
	return b
}

// mustEncode is encode for frame builders, which have no *testing.T; the
// frames they build are valid by construction.
func mustEncode(p packet.Packet, v packet.Version) []byte {
	b, err := p.Append(nil, v)
	if err != nil {
		panic(fmt.Sprintf("encode %s at %s: %v", p.Type(), v, err))
	}
	return b
}

// connectOpt adjusts a CONNECT.
type connectOpt func(*packet.Connect)

// connect builds a CONNECT: clean start, keep alive 60, no will.
func connect(v packet.Version, clientID string, opts ...connectOpt) []byte {
	return mustEncode(connectPacket(v, clientID, opts...), v)
}

func connectPacket(v packet.Version, clientID string, opts ...connectOpt) *packet.Connect {
	p := &packet.Connect{ClientID: clientID, CleanStart: true, KeepAlive: 60}
	for _, o := range opts {
		o(p)
	}
	return p
}

// resume clears Clean Start (Clean Session).
func resume() connectOpt { return func(p *packet.Connect) { p.CleanStart = false } }

// expiry sets the 5.0 Session Expiry Interval.
func expiry(s uint32) connectOpt {
	return func(p *packet.Connect) {
		p.Properties.SessionExpiry = s
		p.Properties.Set(packet.PropSessionExpiry)
	}
}

// persistent is a session that survives its connection: Clean Start 0 and,
// at 5.0, a Session Expiry Interval of one hour.
func persistent() connectOpt {
	return func(p *packet.Connect) {
		p.CleanStart = false
		p.Properties.SessionExpiry = 3600
		p.Properties.Set(packet.PropSessionExpiry)
	}
}

func keepAlive(k uint16) connectOpt { return func(p *packet.Connect) { p.KeepAlive = k } }

func receiveMax(n uint16) connectOpt {
	return func(p *packet.Connect) {
		p.Properties.ReceiveMaximum = n
		p.Properties.Set(packet.PropReceiveMaximum)
	}
}

func maxPacket(n uint32) connectOpt {
	return func(p *packet.Connect) {
		p.Properties.MaximumPacketSize = n
		p.Properties.Set(packet.PropMaximumPacketSize)
	}
}

func connProps(f func(*packet.Properties)) connectOpt {
	return func(p *packet.Connect) { f(&p.Properties) }
}

// will sets a will message; delay is the 5.0 Will Delay Interval.
func will(topic, payload string, qos byte, retain bool, delay uint32) connectOpt {
	return func(p *packet.Connect) {
		p.Will = &packet.Will{Topic: topic, Payload: []byte(payload), QoS: qos, Retain: retain}
		if delay != 0 {
			p.Will.Properties.WillDelay = delay
			p.Will.Properties.Set(packet.PropWillDelay)
		}
	}
}

func willProps(f func(*packet.Properties)) connectOpt {
	return func(p *packet.Connect) { f(&p.Will.Properties) }
}

// pubOpt adjusts a PUBLISH.
type pubOpt func(*packet.Publish)

// publish builds a PUBLISH, QoS 0 unless an option says otherwise.
func publish(v packet.Version, topic, payload string, opts ...pubOpt) []byte {
	p := &packet.Publish{Topic: topic, Payload: []byte(payload)}
	for _, o := range opts {
		o(p)
	}
	return mustEncode(p, v)
}

func qos(q byte, id uint16) pubOpt {
	return func(p *packet.Publish) { p.QoS, p.PacketID = q, id }
}

func retained() pubOpt { return func(p *packet.Publish) { p.Retain = true } }
func dup() pubOpt      { return func(p *packet.Publish) { p.Dup = true } }

func pubProps(f func(*packet.Properties)) pubOpt {
	return func(p *packet.Publish) { f(&p.Properties) }
}

func msgExpiry(s uint32) pubOpt {
	return pubProps(func(p *packet.Properties) {
		p.MessageExpiry = s
		p.Set(packet.PropMessageExpiry)
	})
}

func alias(a uint16) pubOpt {
	return pubProps(func(p *packet.Properties) {
		p.TopicAlias = a
		p.Set(packet.PropTopicAlias)
	})
}

// sub is a subscription with options.
func sub(filter string, q byte, opts ...func(*packet.Subscription)) packet.Subscription {
	s := packet.Subscription{Filter: filter, QoS: q}
	for _, o := range opts {
		o(&s)
	}
	return s
}

func noLocal(s *packet.Subscription) { s.NoLocal = true }
func rap(s *packet.Subscription)     { s.RetainAsPublished = true }
func rh(n byte) func(*packet.Subscription) {
	return func(s *packet.Subscription) { s.RetainHandling = n }
}

func subscribe(v packet.Version, id uint16, subs ...packet.Subscription) []byte {
	return mustEncode(&packet.Subscribe{PacketID: id, Subscriptions: subs}, v)
}

// subscribeID is a 5.0 SUBSCRIBE carrying Subscription Identifier subID.
func subscribeID(id uint16, subID uint32, subs ...packet.Subscription) []byte {
	p := &packet.Subscribe{PacketID: id, Subscriptions: subs}
	p.Properties.SubscriptionIDs = []uint32{subID}
	return mustEncode(p, v5)
}

func unsubscribe(v packet.Version, id uint16, filters ...string) []byte {
	return mustEncode(&packet.Unsubscribe{PacketID: id, Filters: filters}, v)
}

func puback(v packet.Version, id uint16) []byte {
	return mustEncode(&packet.Puback{PacketID: id}, v)
}

func pubrec(v packet.Version, id uint16, rc ...packet.ReasonCode) []byte {
	p := &packet.Pubrec{PacketID: id}
	if len(rc) > 0 {
		p.ReasonCode = rc[0]
	}
	return mustEncode(p, v)
}

func pubrel(v packet.Version, id uint16) []byte {
	return mustEncode(&packet.Pubrel{PacketID: id}, v)
}

func pubcomp(v packet.Version, id uint16) []byte {
	return mustEncode(&packet.Pubcomp{PacketID: id}, v)
}

func disconnect(v packet.Version, rc packet.ReasonCode, opts ...func(*packet.Properties)) []byte {
	p := &packet.Disconnect{ReasonCode: rc}
	for _, o := range opts {
		o(&p.Properties)
	}
	return mustEncode(p, v)
}

func sessionExpiry(s uint32) func(*packet.Properties) {
	return func(p *packet.Properties) {
		p.SessionExpiry = s
		p.Set(packet.PropSessionExpiry)
	}
}

// ---- higher-level steps ----

// connect opens a connection and sends a CONNECT that must succeed. It
// returns the connection, its CONNACK and whatever followed the CONNACK.
func (e *env) connect(v packet.Version, clientID string, opts ...connectOpt) (*conn, *packet.Connack, []packet.Packet) {
	e.t.Helper()
	return e.connectOn("proxy-1", v, clientID, opts...)
}

func (e *env) connectOn(proxy string, v packet.Version, clientID string, opts ...connectOpt) (*conn, *packet.Connack, []packet.Packet) {
	e.t.Helper()
	c := e.openOn(proxy, v)
	r := c.send(connect(v, clientID, opts...))
	ps := c.out(r)
	if len(ps) == 0 {
		e.t.Fatalf("CONNECT of %q: no reply", clientID)
	}
	ack := as[*packet.Connack](e.t, ps[0])
	if ack.ReasonCode != packet.Success || r.Close || r.State == nil {
		e.t.Fatalf("CONNECT of %q refused: %s close=%v", clientID, describe(ack), r.Close)
	}
	return c, ack, ps[1:]
}

// sub subscribes c and checks that every filter was granted its QoS.
func (c *conn) sub(subs ...packet.Subscription) []packet.Packet {
	c.e.t.Helper()
	ps := c.out(c.send(subscribe(c.v, 99, subs...)))
	if len(ps) == 0 {
		c.e.t.Fatalf("SUBSCRIBE: no reply")
	}
	ack := as[*packet.Suback](c.e.t, ps[0])
	for i, s := range subs {
		if i >= len(ack.ReasonCodes) || ack.ReasonCodes[i] != packet.ReasonCode(s.QoS) {
			c.e.t.Fatalf("SUBSCRIBE %q: SUBACK %v", s.Filter, ack.ReasonCodes)
		}
	}
	return ps[1:]
}

// disconnect sends a normal DISCONNECT and reports the end of the
// connection, as the proxy does after closing it.
func (c *conn) disconnect() {
	c.e.t.Helper()
	r := c.send(disconnect(c.v, packet.Success))
	if !r.Close {
		c.e.t.Fatalf("DISCONNECT: no close")
	}
	c.lost()
}

// publishes returns the PUBLISH packets of ps.
func publishes(ps []packet.Packet) []*packet.Publish { return ofType[*packet.Publish](ps) }

// payloads returns the payloads of the PUBLISH packets of ps, in order.
func payloads(ps []packet.Packet) []string {
	var out []string
	for _, p := range publishes(ps) {
		out = append(out, string(p.Payload))
	}
	return out
}

func wantPayloads(t *testing.T, ps []packet.Packet, want ...string) {
	t.Helper()
	got := payloads(ps)
	if !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Fatalf("got payloads %q (%s), want %q", got, describeAll(ps), want)
	}
}

// wantDisconnect checks that r closes the connection, with a 5.0
// DISCONNECT carrying rc as its last packet, or at 3.1.1 with no packet.
func wantDisconnect(t *testing.T, c *conn, r *session.Reply, rc packet.ReasonCode) {
	t.Helper()
	if !r.Close {
		t.Fatalf("reply does not close the connection: %s", describeAll(c.out(r)))
	}
	ps := c.out(r)
	if c.v < v5 {
		if len(ps) != 0 {
			t.Fatalf("3.1.1 close sent %s, want nothing", describeAll(ps))
		}
		return
	}
	if len(ps) == 0 {
		t.Fatalf("no DISCONNECT, want 0x%02X", byte(rc))
	}
	d := as[*packet.Disconnect](t, ps[len(ps)-1])
	if d.ReasonCode != rc {
		t.Fatalf("DISCONNECT 0x%02X, want 0x%02X", byte(d.ReasonCode), byte(rc))
	}
}

func versions() []packet.Version { return []packet.Version{v311, v5} }
