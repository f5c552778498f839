// Package storetest is the contract suite every session.Store runs: Run
// checks an implementation against the behaviour the Store interface
// documents, so that the handlers can rely on any adapter alike.
//
// Every test asks open for a fresh store and runs in parallel with the
// others. The tests name their client identifiers and topics after the test
// plus a random suffix and look only at what they created, so a store
// backed by a shared server (a DynamoDB table, say) can run them side by
// side: results of the global queries (Match, Retained and Due) are filtered
// by that prefix, Due tests use timestamps in 2001 so that the realistic
// timestamps of the other tests never fall due, and the sessions and
// retained messages a test created are deleted when it ends.
//
// # Readings of the contract
//
// Where the Store documentation leaves room, the suite holds stores to
// these readings:
//
//   - The empty connection owns no session: Subscribe, Unsubscribe and
//     SetOffline with conn "" are ErrFenced, offline session or not.
//     Dispatch (and Enqueue's dispatch), Acknowledge, Release, Complete,
//     Receive, MarkFannedOut and Forget with conn "" are not fenced.
//   - Acknowledge, Release and Complete from a connection that no longer
//     holds the session (taken over, kept or started afresh, or gone
//     offline) are ErrFenced whether or not a message uses the packet
//     identifier, and change nothing: after a Clean Start, the old
//     connection's acknowledgement of packet id N leaves the new session's
//     message in flight under N.
//   - A fenced write (DeleteSession included) to a session that does not
//     exist may return ErrFenced or ErrNotFound, and creates nothing.
//   - Enqueue and Receive on a session that does not exist are ErrNotFound
//     and create nothing; Acknowledge, Release, Complete, MarkFannedOut and
//     Forget are ErrNotFound; Subscriptions finds nothing; Dispatch and
//     Inflight find nothing (nil or ErrNotFound).
//   - An offline session has expired when ExpiresAt != 0 && ExpiresAt <=
//     now; a pending will is due when WillAt <= now.
//   - Connect stores s as given except that ExpiresAt and WillAt are 0: an
//     online session neither expires nor has a pending will. Identity and
//     Bound are kept as given.
//   - A session belongs to its Identity. Connect from another identity of
//     a session that is online (even with Session Expiry Interval 0), or
//     offline and not expired, is ErrNotOwner and changes nothing: not the
//     session, its connection, will, subscriptions, messages nor receive
//     state, whatever clean says. Under concurrent Connects from two
//     identities, the loser is refused as if it came second.
//   - An offline expired session of another identity is taken over and
//     cleared, as an expired session of the same identity is. So is a
//     session of the identity "anonymous", by any identity.
//   - A session with Identity "" (stored by an older version) is taken
//     over by any identity and always cleared, clean or not: nobody may
//     resume it, since nobody can tell whose it was (see
//     session.Session.MayConnect).
//   - Release of a message already Released succeeds and changes nothing (a
//     repeated PUBREC).
//   - Queued QoS 0 messages count towards maxQueued, and do not overtake a
//     QoS 1 or 2 message waiting for room in the window.
//   - The store assigns Seq, State and PacketID, ignoring the caller's.
//   - Values are copied deeply both ways: changing a Session, Will,
//     Outbound, Message or Inbound passed in or returned, down to payload
//     bytes, subscription identifiers and properties, never changes what
//     the store holds.
//   - The order of Subscriptions and Due results is not part of the
//     contract; RetainedPage's order is the store's own, so a scan's pages
//     are checked as a whole (every message once, each page within its
//     count and bytes), not their order.
//   - SetRetained's limits are checked against what the store holds,
//     which in a shared store includes other tests' messages: the suite
//     uses limits that any store holding this test's messages is past
//     (Count 1, Bytes 1) or far from.
//   - QueueLimit.Bytes 0 bounds nothing; the bytes of a queue are those of
//     the messages in it, so Dispatch frees them and a clean Connect
//     empties them.
//   - Sessions (and MatchSessions) return no will; Session and Connect's
//     previous session do.
//   - ConnectWithin (session.SessionQuota), where a store has it, counts
//     every session it holds, online, offline or ended, until
//     DeleteSession; a Connect that replaces a session in place keeps the
//     count, and one that takes over another identity's session moves it
//     to the new identity. Its total limit is checked against what the
//     store holds, which in a shared store includes other tests' sessions
//     (see SetRetained's limits).
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// Run runs the contract suite against the stores open returns. open is
// called once per test, from that test's goroutine, and should return an
// empty store (or one shared with other tests, see the package comment) and
// register its cleanup with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) session.Store, opts ...Option) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					e := setup(t, open)
					e.opts = &o
					tc.fn(e)
				})
			}
		})
	}
}

// Option tells Run what a store's own tests can do to it beyond the Store
// interface, to shorten a test whose calls cost a server round trip each.
type Option func(*options)

type options struct {
	pidsFrom func(ctx context.Context, st session.Store, clientID string, pid uint16) error
}

// WithPacketIDsFrom gives Run a way to make the next message a session's
// queue dispatches get packet identifier pid (unless a message in flight
// holds it): from, which changes the session's queue numbering as the
// store keeps it. PacketIDWraparound then starts near 65535 and crosses
// the wrap in a few hundred messages rather than 70,000, each an
// Enqueue's and an Acknowledge's round trip to the store's server.
func WithPacketIDsFrom(from func(ctx context.Context, st session.Store, clientID string, pid uint16) error) Option {
	return func(o *options) { o.pidsFrom = from }
}

// test is one contract test.
type test struct {
	name string
	fn   func(e *env)
}

// groups are the contract tests by subject.
var groups = []struct {
	name  string
	tests []test
}{
	{"Connect", connectTests},
	{"Ownership", ownershipTests},
	{"Fencing", fencingTests},
	{"Offline", offlineTests},
	{"Subscriptions", subscriptionTests},
	{"Retained", retainedTests},
	{"RetainedIdentity", retainedIdentityTests},
	{"Outbound", outboundTests},
	{"DispatchFence", dispatchFenceTests},
	{"AckFence", ackFenceTests},
	{"Inbound", inboundTests},
	{"Concurrency", concurrencyTests},
	{"Copies", copyTests},
	{"Limits", limitTests},
	{"SessionQuota", sessionQuotaTests},
	{"StoreBytes", storeBytesTests},
	{"Leases", leaseTests},
	{"Streams", streamTests},
}

// env is one test's fixture: its store, and the unique prefix id of its
// client identifiers and topics. It embeds the test's T.
type env struct {
	*testing.T
	opts *options
	st   session.Store
	ctx  context.Context
	id   string
	now  int64 // a realistic current time, Unix ms
	tr   *tracker
}

// tracker records what a test created, to delete it at the end.
type tracker struct {
	mu       sync.Mutex
	clients  map[string]bool // client ids
	retained map[string]bool // retained topics
}

// setup marks t parallel, opens its store and registers the cleanup of what
// the test creates.
func setup(t *testing.T, open func(t *testing.T) session.Store) *env {
	t.Parallel()
	e := &env{
		T: t, st: open(t), ctx: t.Context(), id: uniqueID(t), now: time.Now().UnixMilli(),
		tr: &tracker{clients: map[string]bool{}, retained: map[string]bool{}},
	}
	// Registered after open's cleanups, so it runs before them.
	t.Cleanup(e.cleanup)
	return e
}

// run runs fn as a parallel subtest on the same store, with its own prefix.
func (e *env) run(name string, fn func(e *env)) {
	e.Run(name, func(t *testing.T) {
		t.Parallel()
		c := *e
		c.T, c.ctx, c.id = t, t.Context(), uniqueID(t)
		fn(&c)
	})
}

// uniqueID returns the test's name, reduced to characters that are safe in
// client ids and topic levels, with a random suffix.
func uniqueID(t *testing.T) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, t.Name())
	return name + "-" + hex.EncodeToString(b[:])
}

// cleanup deletes the sessions and retained messages the test created, for
// stores shared between tests. It uses a fresh context: the test's is
// canceled by now.
func (e *env) cleanup() {
	ctx := context.Background()
	e.tr.mu.Lock()
	defer e.tr.mu.Unlock()
	for id := range e.tr.clients {
		if s, err := e.st.Session(ctx, id); err == nil {
			_ = e.st.DeleteSession(ctx, id, s.Conn)
		}
	}
	for name := range e.tr.retained {
		_ = e.st.SetRetained(ctx, &session.Message{Topic: name}, session.RetainedLimits{})
	}
}

// client returns the client id name of this test.
func (e *env) client(name string) string {
	id := e.id + "-" + name
	e.tr.mu.Lock()
	e.tr.clients[id] = true
	e.tr.mu.Unlock()
	return id
}

// mine reports whether clientID belongs to this test.
func (e *env) mine(clientID string) bool { return strings.HasPrefix(clientID, e.id+"-") }

// topic returns a topic name or filter under this test's prefix.
func (e *env) topic(levels ...string) string {
	return strings.Join(append([]string{e.id}, levels...), "/")
}

// must fails the test when err is not nil.
func (e *env) must(err error, what string) {
	e.Helper()
	if err != nil {
		e.Fatalf("%s: %v", what, err)
	}
}

// wantErr fails the test unless errors.Is(err, target).
func (e *env) wantErr(err, target error, what string) {
	e.Helper()
	if !errors.Is(err, target) {
		e.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}

// owner is the identity of the sessions newSession returns.
const owner = "user:alice"

// newSession returns the session a connection conn of clientID presents,
// as the identity owner.
func newSession(clientID, conn string) *session.Session {
	return &session.Session{
		ClientID: clientID, Identity: owner, Proxy: "proxy-" + conn, Conn: conn, Version: packet.V5,
		ExpiryInterval: 3600, ReceiveMax: 10, MaxPacketSize: 1 << 20,
	}
}

// will returns a will message on topic name.
func will(name, payload string, delay uint32) *session.Will {
	return &session.Will{Delay: delay, Message: session.Message{
		Topic: name, Payload: []byte(payload), QoS: 1, Retain: true, Publisher: "w",
		Props: session.Props{ContentType: "text/plain", User: []packet.UserProperty{{Key: "k", Value: "v"}}},
	}}
}

// connectSession calls Connect with s at e.now.
func (e *env) connectSession(s *session.Session, clean bool) *session.Session {
	e.Helper()
	prev, err := e.st.Connect(e.ctx, s, clean, e.now)
	e.must(err, "Connect "+s.ClientID+" "+s.Conn)
	return prev
}

// connect connects clientID on conn, without a will, and returns the
// previous session.
func (e *env) connect(clientID, conn string, clean bool) *session.Session {
	e.Helper()
	return e.connectSession(newSession(clientID, conn), clean)
}

// session returns the session of clientID, which must exist.
func (e *env) session(clientID string) *session.Session {
	e.Helper()
	s, err := e.st.Session(e.ctx, clientID)
	e.must(err, "Session "+clientID)
	return s
}

// offline sets clientID offline from conn.
func (e *env) offline(clientID, conn string, o session.Offline) {
	e.Helper()
	e.must(e.st.SetOffline(e.ctx, clientID, conn, o), "SetOffline "+clientID)
}

// sub returns a QoS 1 subscription of clientID to filter.
func sub(clientID, filter string) session.Subscription {
	return session.Subscription{ClientID: clientID, Filter: filter, QoS: 1}
}

// subscribe subscribes clientID to filters at QoS 1 from conn.
func (e *env) subscribe(clientID, conn string, filters ...string) []bool {
	e.Helper()
	subs := make([]session.Subscription, len(filters))
	for i, f := range filters {
		subs[i] = sub(clientID, f)
	}
	existed, err := e.st.Subscribe(e.ctx, clientID, conn, subs)
	e.must(err, "Subscribe "+clientID)
	if len(existed) != len(subs) {
		e.Fatalf("Subscribe %s: %d existed flags for %d subscriptions", clientID, len(existed), len(subs))
	}
	return existed
}

// filters returns the sorted filters clientID is subscribed to.
func (e *env) filters(clientID string) []string {
	e.Helper()
	subs, err := e.st.Subscriptions(e.ctx, clientID)
	e.must(err, "Subscriptions "+clientID)
	var out []string
	for _, s := range subs {
		out = append(out, s.Filter)
	}
	slices.Sort(out)
	return out
}

// match returns "clientID filter" for each subscription of this test
// matching name, sorted.
func (e *env) match(name string) []string {
	e.Helper()
	subs, err := e.st.Match(e.ctx, name)
	e.must(err, "Match "+name)
	var out []string
	for _, s := range subs {
		if e.mine(s.ClientID) {
			out = append(out, s.ClientID+" "+s.Filter)
		}
	}
	slices.Sort(out)
	return out
}

// out returns an outbound message at qos with payload.
func out(qos byte, payload string) *session.Outbound {
	return &session.Outbound{QoS: qos, SubIDs: []uint32{1, 2}, Message: session.Message{
		Topic: "t/" + payload, Payload: []byte(payload), QoS: qos, Publisher: "p",
	}}
}

// outs returns QoS qos messages with payloads.
func outs(qos byte, payloads ...string) []*session.Outbound {
	o := make([]*session.Outbound, len(payloads))
	for i, p := range payloads {
		o[i] = out(qos, p)
	}
	return o
}

// enqueue enqueues msgs for clientID and returns Enqueue's results.
func (e *env) enqueue(clientID string, maxQueued, window int, msgs ...*session.Outbound) (int, []*session.Outbound) {
	e.Helper()
	n, d, err := e.st.Enqueue(e.ctx, clientID, msgs, session.QueueLimit{Messages: maxQueued}, "", window)
	e.must(err, "Enqueue "+clientID)
	e.checkDispatched(d)
	return n, d
}

// dispatch dispatches for clientID with window.
func (e *env) dispatch(clientID string, window int) []*session.Outbound {
	e.Helper()
	d, err := e.st.Dispatch(e.ctx, clientID, "", window)
	e.must(err, "Dispatch "+clientID)
	e.checkDispatched(d)
	return d
}

// checkDispatched checks what Dispatch handed out: QoS 1 and 2 messages are
// Sent under distinct non-zero packet ids, in increasing Seq order, each
// After the one before it in the same call (Outbound.After). It then clears
// After, which Inflight does not return, so that tests compare the rest.
func (e *env) checkDispatched(d []*session.Outbound) {
	e.Helper()
	ids := map[uint16]bool{}
	var prev *session.Outbound // the last QoS 1 or 2 message of d so far
	for i, o := range d {
		if i > 0 && o.Seq <= d[i-1].Seq {
			e.Fatalf("dispatched out of order: seq %d after %d", o.Seq, d[i-1].Seq)
		}
		if o.QoS == 0 {
			if o.After != 0 {
				e.Fatalf("dispatched QoS 0 %q with After %d, want 0", o.Message.Payload, o.After)
			}
			continue
		}
		if prev != nil && o.After != prev.Seq {
			e.Fatalf("dispatched %q with After %d, want %d, the Seq of %q before it", o.Message.Payload, o.After, prev.Seq, prev.Message.Payload)
		}
		if o.After >= o.Seq {
			e.Fatalf("dispatched %q (seq %d) After %d", o.Message.Payload, o.Seq, o.After)
		}
		prev = o
		defer func() { o.After = 0 }()
		if o.State != session.Sent {
			e.Fatalf("dispatched %q in state %d, want Sent", o.Message.Payload, o.State)
		}
		if o.PacketID == 0 || ids[o.PacketID] {
			e.Fatalf("dispatched %q under packet id %d (zero or repeated in %v)", o.Message.Payload, o.PacketID, ids)
		}
		ids[o.PacketID] = true
	}
}

// inflight returns the in-flight messages of clientID.
func (e *env) inflight(clientID string) []*session.Outbound {
	e.Helper()
	f, err := e.st.Inflight(e.ctx, clientID)
	e.must(err, "Inflight "+clientID)
	return f
}

// payloads returns the payloads of os as strings.
func payloads(os []*session.Outbound) []string {
	out := []string{}
	for _, o := range os {
		out = append(out, string(o.Message.Payload))
	}
	return out
}

// states returns "payload:state" of each of os.
func states(os []*session.Outbound) []string {
	out := []string{}
	for _, o := range os {
		out = append(out, fmt.Sprintf("%s:%d", o.Message.Payload, o.State))
	}
	return out
}

// eq fails the test when got and want differ (reflect.DeepEqual).
func (e *env) eq(what string, got, want any) {
	e.Helper()
	if !reflect.DeepEqual(got, want) {
		e.Fatalf("%s:\n got  %s\n want %s", what, show(got), show(want))
	}
}

// show formats v for a failure message, following pointers.
func show(v any) string {
	switch v := v.(type) {
	case *session.Session:
		if v != nil {
			return fmt.Sprintf("&%+v (will %s)", *v, show(v.Will))
		}
	case *session.Will:
		if v != nil {
			return fmt.Sprintf("&%+v", *v)
		}
	case []*session.Outbound:
		var b strings.Builder
		for _, o := range v {
			fmt.Fprintf(&b, "%+v ", *o)
		}
		return "[" + b.String() + "]"
	case *session.Inbound:
		if v != nil {
			return fmt.Sprintf("&%+v", *v)
		}
	}
	return fmt.Sprintf("%+v", v)
}

// retain stores a retained message on name with payload.
func (e *env) retain(name, payload string) *session.Message {
	e.Helper()
	e.tr.mu.Lock()
	e.tr.retained[name] = true
	e.tr.mu.Unlock()
	m := e.retainedMsg(name, payload)
	e.must(e.st.SetRetained(e.ctx, m, session.RetainedLimits{}), "SetRetained "+name)
	return m
}

// retainedMsg returns a retained message on name with payload.
func (e *env) retainedMsg(name, payload string) *session.Message {
	return &session.Message{
		Topic: name, Payload: []byte(payload), QoS: 1, Retain: true, Publisher: "p",
		ExpiresAt: e.now + 3600_000, Props: session.Props{
			ContentType: "text/plain", CorrelationData: []byte("cd"),
			User: []packet.UserProperty{{Key: "k", Value: payload}},
		},
	}
}

// inboundPID is the packet id of the QoS 2 receive state populate records.
const inboundPID = 7

// populate gives the session of clientID, owned by conn, what a session
// holds: subscriptions to topic a and b, a released QoS 2 message in
// flight, two queued QoS 1 messages ("y" and "z") and the receive state of
// packet id inboundPID. It returns the in-flight message's packet id.
func (e *env) populate(clientID, conn string) uint16 {
	e.Helper()
	e.subscribe(clientID, conn, e.topic("a"), e.topic("b"))
	_, d := e.enqueue(clientID, 100, 1, out(2, "x"), out(1, "y"), out(1, "z"))
	e.eq("dispatched", payloads(d), []string{"x"})
	e.must(e.st.Release(e.ctx, clientID, conn, d[0].PacketID), "Release")
	in := &session.Inbound{PacketID: inboundPID, Message: session.Message{Topic: e.topic("in"), Payload: []byte("in"), QoS: 2}}
	existing, err := e.st.Receive(e.ctx, clientID, "", in)
	e.must(err, "Receive")
	if existing != nil {
		e.Fatalf("Receive on a fresh session: existing = %s", show(existing))
	}
	return d[0].PacketID
}

// What checkContents expects of what populate stored.
const (
	kept    = iota // all there
	cleared        // gone, the session exists
	deleted        // gone with the session
)

// checkContents checks that what populate stored for clientID is kept,
// cleared or deleted. It dispatches, so it comes last.
func (e *env) checkContents(clientID string, want int, pid uint16) {
	e.Helper()
	a, b := e.topic("a"), e.topic("b")
	if want == kept {
		e.eq("subscriptions", e.filters(clientID), []string{a, b})
		e.eq("match", e.match(a), []string{clientID + " " + a})
		f := e.inflight(clientID)
		e.eq("in flight", states(f), []string{"x:2"})
		if f[0].PacketID != pid {
			e.Fatalf("in-flight packet id %d, want %d", f[0].PacketID, pid)
		}
		in, err := e.st.Receive(e.ctx, clientID, "", &session.Inbound{PacketID: inboundPID})
		e.must(err, "Receive")
		if in == nil || string(in.Message.Payload) != "in" {
			e.Fatalf("receive state: %s, want the recorded one", show(in))
		}
		e.eq("queued", payloads(e.dispatch(clientID, 10)), []string{"y", "z"})
		return
	}
	e.eq("subscriptions", e.filters(clientID), []string(nil))
	e.eq("match", e.match(a), []string(nil))
	e.eq("in flight", states(e.inflight(clientID)), []string{})
	e.eq("queued", payloads(e.dispatch(clientID, 10)), []string{})
	for _, op := range []func(context.Context, string, string, uint16) error{e.st.Acknowledge, e.st.Release, e.st.Complete} {
		e.wantErr(op(e.ctx, clientID, "", pid), session.ErrNotFound, "ack of the old in-flight message")
	}
	in, err := e.st.Receive(e.ctx, clientID, "", &session.Inbound{PacketID: inboundPID})
	if want == deleted {
		e.wantErr(err, session.ErrNotFound, "Receive on a deleted session")
		return
	}
	e.must(err, "Receive")
	if in != nil {
		e.Fatalf("receive state survived: %s", show(in))
	}
}
