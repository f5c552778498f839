// Package memstore is an in-memory session.Store for tests and for brokers
// that need no persistence. Everything is lost when the process ends.
package memstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/mqttless/mqttless/core/auth"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/core/topic"
)

var _ session.Store = (*Store)(nil)

// Store is an in-memory session.Store. mu guards every field; each method
// holds it for its whole run, which makes each method atomic. Values go in
// and come out as deep copies, so neither side can change the other's.
type Store struct {
	mu       sync.Mutex
	sessions map[string]*record
	subs     *topic.Index[session.Subscription] // keyed by client id
	retained map[string]*session.Message
	// identities counts the sessions by Session.Identity
	// (sessionquota.go); it changes with sessions.
	identities map[string]int
	// queuedBytes is the Message.Size of the queued messages of every
	// session (session.StoreBytesCounter), changed with them.
	queuedBytes int64
	// retainedBytes is the sum of the retained messages' Message.Size.
	retainedBytes int64
	// retainedBy is what the retained messages hold by Message.Identity.
	retainedBy map[string]retainedUse
	users      authData                 // users and access rules (auth.go), under their own lock
	leases     map[string]session.Lease // by proxy (leases.go)
	// streams are delivery v2's sub-streams (streams.go); the entry at
	// offset o is at index o-1.
	streams map[session.StreamID][]session.Message
	// pidMax bounds the packet identifiers Dispatch assigns (1..pidMax;
	// 65535 when 0): session.PacketIDLimiter.
	pidMax uint16
}

var _ session.PacketIDLimiter = (*Store)(nil)

// LimitPacketIDs implements session.PacketIDLimiter.
func (st *Store) LimitPacketIDs(max uint16) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.pidMax = max
}

// record is one session with everything it holds.
type record struct {
	s       session.Session
	subs    map[string]session.Subscription // by filter
	out     []*session.Outbound             // queued and in flight, by Seq
	nextSeq uint64
	nextPID uint16
	inbound map[uint16]*session.Inbound
	pos     session.Positions // delivery v2 (streams.go), of filters in subs only
}

// New returns an empty Store.
func New() *Store {
	return &Store{
		sessions:   map[string]*record{},
		subs:       topic.NewIndex[session.Subscription](),
		retained:   map[string]*session.Message{},
		identities: map[string]int{},
		retainedBy: map[string]retainedUse{},
		users:      authData{users: map[string]*auth.User{}, rules: map[string]auth.Rule{}},
	}
}

// Connect implements session.Store, as ConnectWithin with no limits.
func (st *Store) Connect(ctx context.Context, s *session.Session, clean bool, now int64) (*session.Session, error) {
	return st.ConnectWithin(ctx, s, clean, now, session.SessionLimits{})
}

// clear removes what a session holds, keeping the record.
func (st *Store) clear(rec *record) {
	for f := range rec.subs {
		st.subs.Remove(f, rec.s.ClientID)
	}
	rec.subs = map[string]session.Subscription{}
	rec.pos = nil
	st.queuedBytes -= queuedSize(rec.out)
	rec.out = nil
	rec.inbound = map[uint16]*session.Inbound{}
}

func (st *Store) drop(rec *record) {
	st.clear(rec)
	delete(st.sessions, rec.s.ClientID)
	st.countIdentity(rec.s.Identity, -1)
}

// Session implements session.Store.
func (st *Store) Session(_ context.Context, clientID string) (*session.Session, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	rec := st.sessions[clientID]
	if rec == nil {
		return nil, fmt.Errorf("memstore: session %q: %w", clientID, session.ErrNotFound)
	}
	return cloneSession(rec.s), nil
}

// Sessions implements session.Store.
func (st *Store) Sessions(_ context.Context, ids []string) (map[string]*session.Session, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make(map[string]*session.Session, len(ids))
	for _, id := range ids {
		if rec := st.sessions[id]; rec != nil {
			c := rec.s // without its will (session.Store)
			c.Will = nil
			out[id] = cloneSession(c)
		}
	}
	return out, nil
}

// owned returns the record of clientID if conn owns it. The empty conn
// owns no session: an offline session has no owner.
func (st *Store) owned(clientID, conn string) (*record, error) {
	rec := st.sessions[clientID]
	if rec == nil || conn == "" || rec.s.Conn != conn {
		return nil, fmt.Errorf("memstore: session %q, connection %q: %w", clientID, conn, session.ErrFenced)
	}
	return rec, nil
}

// SetOffline implements session.Store.
func (st *Store) SetOffline(_ context.Context, clientID, conn string, o session.Offline) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	rec, err := st.owned(clientID, conn)
	if err != nil {
		return err
	}
	rec.s.Proxy, rec.s.Conn = "", ""
	rec.s.ExpiresAt, rec.s.ExpiryInterval = o.ExpiresAt, o.ExpiryInterval
	rec.s.Will, rec.s.WillAt = cloneWill(o.Will), o.WillAt
	return nil
}

// DeleteSession implements session.Store.
func (st *Store) DeleteSession(_ context.Context, clientID, conn string) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	rec := st.sessions[clientID]
	if rec == nil {
		return fmt.Errorf("memstore: session %q: %w", clientID, session.ErrNotFound)
	}
	if rec.s.Conn != conn {
		return fmt.Errorf("memstore: session %q, connection %q: %w", clientID, conn, session.ErrFenced)
	}
	st.drop(rec)
	return nil
}

// Due implements session.Store.
func (st *Store) Due(_ context.Context, now int64, limit int) ([]*session.Session, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []*session.Session
	for _, rec := range st.sessions {
		if len(out) >= limit {
			break
		}
		s := &rec.s
		if s.Online() {
			continue
		}
		if (s.WillAt != 0 && s.WillAt <= now) || (s.ExpiresAt != 0 && s.ExpiresAt <= now) {
			out = append(out, cloneSession(*s))
		}
	}
	return out, nil
}

// Owned implements session.Store.
func (st *Store) Owned(_ context.Context, proxy string, limit int) ([]*session.Session, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []*session.Session
	for _, rec := range st.sessions {
		if len(out) >= limit {
			break
		}
		if rec.s.Online() && rec.s.Proxy == proxy {
			out = append(out, cloneSession(rec.s))
		}
	}
	return out, nil
}

// ClearWill implements session.Store.
func (st *Store) ClearWill(_ context.Context, clientID string, willAt int64) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	rec := st.sessions[clientID]
	if rec == nil || rec.s.Online() || rec.s.Will == nil || rec.s.WillAt != willAt {
		return fmt.Errorf("memstore: pending will of %q: %w", clientID, session.ErrNotFound)
	}
	rec.s.Will, rec.s.WillAt = nil, 0
	return nil
}

// Subscribe implements session.Store.
func (st *Store) Subscribe(_ context.Context, clientID, conn string, subs []session.Subscription) ([]bool, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	rec, err := st.owned(clientID, conn)
	if err != nil {
		return nil, err
	}
	existed := make([]bool, len(subs))
	for i, s := range subs {
		_, existed[i] = rec.subs[s.Filter]
		rec.subs[s.Filter] = s
		st.subs.Add(s.Filter, clientID, s)
	}
	return existed, nil
}

// Unsubscribe implements session.Store.
func (st *Store) Unsubscribe(_ context.Context, clientID, conn string, filters []string) ([]bool, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	rec, err := st.owned(clientID, conn)
	if err != nil {
		return nil, err
	}
	existed := make([]bool, len(filters))
	for i, f := range filters {
		if _, existed[i] = rec.subs[f]; existed[i] {
			delete(rec.subs, f)
			dropPositions(rec, f)
			st.subs.Remove(f, clientID)
		}
	}
	return existed, nil
}

// Subscriptions implements session.Store.
func (st *Store) Subscriptions(_ context.Context, clientID string) ([]session.Subscription, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	rec := st.sessions[clientID]
	if rec == nil {
		return nil, nil
	}
	out := make([]session.Subscription, 0, len(rec.subs))
	for _, s := range rec.subs {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b session.Subscription) int { return strings.Compare(a.Filter, b.Filter) })
	return out, nil
}

// Match implements session.Store.
func (st *Store) Match(_ context.Context, name string) ([]session.Subscription, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []session.Subscription
	st.subs.Match(name, func(e *topic.Entry[session.Subscription]) bool {
		out = append(out, e.Value)
		return true
	})
	return out, nil
}

// Receiving implements session.Store.
func (st *Store) Receiving(_ context.Context, clientID string) (int, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if rec := st.sessions[clientID]; rec != nil {
		return len(rec.inbound), nil
	}
	return 0, nil
}

// Enqueue implements session.Store.
func (st *Store) Enqueue(_ context.Context, clientID string, msgs []*session.Outbound, limit session.QueueLimit, conn string, window int) (int, []*session.Outbound, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	rec := st.sessions[clientID]
	if rec == nil {
		return 0, nil, fmt.Errorf("memstore: session %q: %w", clientID, session.ErrNotFound)
	}
	queued, size := 0, 0
	for _, o := range rec.out {
		if o.State == session.Queued {
			queued++
			size += o.Message.Size()
		}
	}
	accepted := 0
	for _, m := range msgs {
		if !limit.Takes(queued, size, st.queuedBytes) {
			break
		}
		size += m.Message.Size()
		st.queuedBytes += int64(m.Message.Size())
		o := cloneOutbound(m)
		rec.nextSeq++
		o.Seq, o.State, o.PacketID = rec.nextSeq, session.Queued, 0
		rec.out = append(rec.out, o)
		queued++
		accepted++
	}
	if window <= 0 {
		return accepted, nil, nil
	}
	if err := fenced(rec, clientID, conn); err != nil {
		return accepted, nil, err
	}
	return accepted, st.dispatch(rec, window), nil
}

// fenced returns ErrFenced when conn is not empty and not the connection
// of rec (session.Store.Dispatch, Receive, Acknowledge).
func fenced(rec *record, clientID, conn string) error {
	if conn != "" && rec.s.Conn != conn {
		return fmt.Errorf("memstore: session %q, connection %q: %w", clientID, conn, session.ErrFenced)
	}
	return nil
}

// QueuedStoreBytes implements session.StoreBytesCounter.
func (st *Store) QueuedStoreBytes(context.Context) (int64, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.queuedBytes, nil
}

// queuedSize returns the Message.Size of the queued messages of out.
func queuedSize(out []*session.Outbound) int64 {
	var n int64
	for _, o := range out {
		if o.State == session.Queued {
			n += int64(o.Message.Size())
		}
	}
	return n
}

// dispatch is rec.dispatch, counting what leaves the queue out of
// st.queuedBytes. st.mu must be held.
func (st *Store) dispatch(rec *record, window int) []*session.Outbound {
	before := queuedSize(rec.out)
	pidMax := st.pidMax
	if pidMax == 0 {
		pidMax = 65535
	}
	sent := rec.dispatch(min(window, int(pidMax)), pidMax)
	st.queuedBytes -= before - queuedSize(rec.out)
	return sent
}

// Dispatch implements session.Store.
func (st *Store) Dispatch(_ context.Context, clientID, conn string, window int) ([]*session.Outbound, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	rec := st.sessions[clientID]
	if rec == nil {
		return nil, nil
	}
	if err := fenced(rec, clientID, conn); err != nil {
		return nil, err
	}
	return st.dispatch(rec, window), nil
}

func (rec *record) dispatch(window int, pidMax uint16) []*session.Outbound {
	// There are only 65535 packet identifiers: allocPID would never return
	// with all of them in flight.
	window = min(window, 65535)
	inflight := 0
	used := map[uint16]bool{}
	var after uint64 // the latest Seq in flight (Outbound.After)
	for _, o := range rec.out {
		if o.State != session.Queued {
			inflight++
			used[o.PacketID] = true
			after = max(after, o.Seq)
		}
	}
	var sent []*session.Outbound
	kept := rec.out[:0]
	stopped := false
	for _, o := range rec.out {
		switch {
		case o.State != session.Queued || stopped:
			kept = append(kept, o)
		case o.QoS == 0:
			sent = append(sent, o) // QoS 0 leaves the queue when sent
		case inflight < window:
			o.PacketID = rec.allocPID(used, pidMax)
			o.State = session.Sent
			inflight++
			c := cloneOutbound(o)
			c.After, after = after, o.Seq
			sent = append(sent, c)
			kept = append(kept, o)
		default:
			stopped = true // keep order: nothing overtakes a waiting message
			kept = append(kept, o)
		}
	}
	clear(rec.out[len(kept):])
	rec.out = kept
	return sent
}

// allocPID returns the next packet identifier up to pidMax not in used
// and marks it; fewer than pidMax are in used (dispatch's window).
func (rec *record) allocPID(used map[uint16]bool, pidMax uint16) uint16 {
	for {
		rec.nextPID++
		if rec.nextPID == 0 || rec.nextPID > pidMax {
			rec.nextPID = 1
		}
		if !used[rec.nextPID] {
			used[rec.nextPID] = true
			return rec.nextPID
		}
	}
}

// Inflight implements session.Store.
func (st *Store) Inflight(_ context.Context, clientID string) ([]*session.Outbound, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	rec := st.sessions[clientID]
	if rec == nil {
		return nil, nil
	}
	var out []*session.Outbound
	for _, o := range rec.out {
		if o.State != session.Queued {
			out = append(out, cloneOutbound(o))
		}
	}
	return out, nil
}

// find returns the index of the in-flight message with packetID at qos in
// one of the given states, or -1.
func (rec *record) find(packetID uint16, qos byte, states ...session.OutState) int {
	for i, o := range rec.out {
		if o.State != session.Queued && o.PacketID == packetID && o.QoS == qos && slices.Contains(states, o.State) {
			return i
		}
	}
	return -1
}

// Acknowledge implements session.Store.
func (st *Store) Acknowledge(_ context.Context, clientID, conn string, packetID uint16) error {
	return st.remove(clientID, conn, packetID, 1, session.Sent)
}

// Complete implements session.Store.
func (st *Store) Complete(_ context.Context, clientID, conn string, packetID uint16) error {
	return st.remove(clientID, conn, packetID, 2, session.Released)
}

func (st *Store) remove(clientID, conn string, packetID uint16, qos byte, state session.OutState) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	rec := st.sessions[clientID]
	i := -1
	if rec != nil {
		if err := fenced(rec, clientID, conn); err != nil {
			return err
		}
		i = rec.find(packetID, qos, state)
	}
	if i < 0 {
		return fmt.Errorf("memstore: %q packet %d: %w", clientID, packetID, session.ErrNotFound)
	}
	rec.out = slices.Delete(rec.out, i, i+1)
	return nil
}

// Release implements session.Store.
func (st *Store) Release(_ context.Context, clientID, conn string, packetID uint16) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	rec := st.sessions[clientID]
	i := -1
	if rec != nil {
		if err := fenced(rec, clientID, conn); err != nil {
			return err
		}
		i = rec.find(packetID, 2, session.Sent, session.Released)
	}
	if i < 0 {
		return fmt.Errorf("memstore: %q packet %d: %w", clientID, packetID, session.ErrNotFound)
	}
	rec.out[i].State = session.Released
	return nil
}

// Receive implements session.Store.
func (st *Store) Receive(_ context.Context, clientID, conn string, in *session.Inbound) (*session.Inbound, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	rec := st.sessions[clientID]
	if rec == nil {
		return nil, fmt.Errorf("memstore: session %q: %w", clientID, session.ErrNotFound)
	}
	if err := fenced(rec, clientID, conn); err != nil {
		return nil, err
	}
	if old := rec.inbound[in.PacketID]; old != nil {
		return cloneInbound(old), nil
	}
	rec.inbound[in.PacketID] = cloneInbound(in)
	return nil, nil
}

// MarkFannedOut implements session.Store.
func (st *Store) MarkFannedOut(_ context.Context, clientID, conn string, packetID uint16) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	rec := st.sessions[clientID]
	if rec != nil {
		if err := fenced(rec, clientID, conn); err != nil {
			return err
		}
	}
	if rec == nil || rec.inbound[packetID] == nil {
		return fmt.Errorf("memstore: %q inbound packet %d: %w", clientID, packetID, session.ErrNotFound)
	}
	rec.inbound[packetID].Routed = true
	return nil
}

// Forget implements session.Store.
func (st *Store) Forget(_ context.Context, clientID, conn string, packetID uint16) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	rec := st.sessions[clientID]
	if rec != nil {
		if err := fenced(rec, clientID, conn); err != nil {
			return err
		}
	}
	if rec == nil || rec.inbound[packetID] == nil {
		return fmt.Errorf("memstore: %q inbound packet %d: %w", clientID, packetID, session.ErrNotFound)
	}
	delete(rec.inbound, packetID)
	return nil
}

// cloneMessage returns a copy of m that shares no memory with it.
func cloneMessage(m session.Message) session.Message {
	m.Payload = slices.Clone(m.Payload)
	m.Props.CorrelationData = slices.Clone(m.Props.CorrelationData)
	m.Props.User = slices.Clone(m.Props.User)
	return m
}

// cloneWill returns a copy of w that shares no memory with it, or nil.
func cloneWill(w *session.Will) *session.Will {
	if w == nil {
		return nil
	}
	c := *w
	c.Message = cloneMessage(c.Message)
	return &c
}

// cloneSession returns a copy of s that shares no memory with it.
func cloneSession(s session.Session) *session.Session {
	s.Will = cloneWill(s.Will)
	return &s
}

// cloneOutbound returns a copy of o that shares no memory with it.
func cloneOutbound(o *session.Outbound) *session.Outbound {
	c := *o
	c.SubIDs = slices.Clone(c.SubIDs)
	c.Message = cloneMessage(c.Message)
	return &c
}

// cloneInbound returns a copy of in that shares no memory with it.
func cloneInbound(in *session.Inbound) *session.Inbound {
	c := *in
	c.Message = cloneMessage(c.Message)
	return &c
}
