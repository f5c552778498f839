package session

import (
	"context"
	"errors"
)

// Errors a Store returns. Adapters wrap them with context; match them with
// errors.Is.
var (
	// ErrNotFound is a session, message or identifier that does not exist.
	ErrNotFound = errors.New("session: not found")
	// ErrFenced is a write by a connection that no longer owns the session:
	// another connection took it over.
	ErrFenced = errors.New("session: connection no longer owns the session")
	// ErrQuotaExceeded is a write refused because it would take the store
	// past a limit it was given.
	ErrQuotaExceeded = errors.New("session: quota exceeded")
	// ErrNotOwner is a Connect refused because the session belongs to
	// another identity (Session.MayConnect).
	ErrNotOwner = errors.New("session: the session belongs to another identity")
)

// Offline describes a session as its connection ends.
type Offline struct {
	// ExpiresAt is when the session expires (Unix ms), 0 for never.
	ExpiresAt int64
	// ExpiryInterval replaces the session's Session Expiry Interval.
	ExpiryInterval uint32
	// Will is the will still to publish after its delay, or nil.
	Will *Will
	// WillAt is when that will is due (Unix ms).
	WillAt int64
}

// QueueLimit bounds the queued (not in flight) messages of one session.
// Enqueue takes a message while the queue holds fewer than Messages
// messages and, when Bytes > 0, fewer than Bytes bytes (Message.Size
// summed), so the message that crosses Bytes is still taken: the queue
// holds at most Bytes plus one message. The first message refused ends
// the call: none after it is taken, which keeps the queue in order.
type QueueLimit struct {
	Messages int
	Bytes    int
	// StoreBytes, when > 0, bounds in the same way the bytes (Message.Size)
	// of the queued messages of every session of the store together
	// (-max-store-bytes): a message is taken while they are fewer than
	// StoreBytes. Only a StoreBytesCounter, which counts them in the same
	// atomic step as each enqueue and dequeue, is given it.
	StoreBytes int64
}

// Takes reports whether a queue of queued messages holding bytes takes one
// more message, when the queues of the whole store hold storeBytes. It is
// the one rule of QueueLimit; each store applies it inside the atomic step
// that enqueues.
func (l QueueLimit) Takes(queued, bytes int, storeBytes int64) bool {
	return queued < l.Messages &&
		(l.Bytes <= 0 || bytes < l.Bytes) &&
		(l.StoreBytes <= 0 || storeBytes < l.StoreBytes)
}

// StoreBytesCounter is a Store that keeps the count of QueueLimit.StoreBytes:
// the Message.Size of the queued messages of all its sessions, changed in
// the same atomic step as every enqueue, dispatch and session removal. A
// store without it cannot hold -max-store-bytes (DynamoDB: one more write
// on one shared item for every queued message).
type StoreBytesCounter interface {
	// QueuedStoreBytes returns the count.
	QueuedStoreBytes(ctx context.Context) (int64, error)
}

// RetainedLimits bounds the retained messages of a store; a zero field
// is no limit.
type RetainedLimits struct {
	// Count is the most retained messages.
	Count int
	// Bytes is the most bytes of retained messages, by Message.Size.
	Bytes int64
	// IdentityCount and IdentityBytes bound, in the same way, the
	// retained messages recorded with the identity of the message being
	// set (Message.Identity).
	IdentityCount int
	IdentityBytes int64
}

// Store holds every fact that outlives one handler call: sessions,
// subscriptions, retained messages, outbound messages (queued and in
// flight) and the QoS 2 receive state. Each method is atomic on its own, and
// safe for concurrent use by calls on any number of machines. A method
// fenced on conn returns ErrFenced when conn no longer owns the session.
// Times are Unix milliseconds.
type Store interface {
	// Connect makes s (whose Conn and Proxy name the new connection, and
	// Identity who connects) the owner of the session s.ClientID and
	// returns the session it replaced, or nil when there was none. When
	// the old session may not be taken by s.Identity (!MayConnect), it
	// changes nothing and returns an error wrapping ErrNotOwner: the check
	// and the write are one atomic step, so that no other Connect can come
	// between them. When clean is set, or the old session is not Kept for
	// s.Identity by now, its subscriptions, outbound messages and receive
	// state are deleted in the same step; otherwise they are kept. Either
	// way the session's will (and any pending will) becomes s.Will: the
	// caller publishes a will the old session still owed.
	Connect(ctx context.Context, s *Session, clean bool, now int64) (prev *Session, err error)
	// Session returns the session of clientID, or ErrNotFound.
	Session(ctx context.Context, clientID string) (*Session, error)
	// Sessions returns the sessions of the given client ids that exist,
	// without their wills (Will nil): routing, which reads them, needs
	// none, and a will may be large (Config.MaxWillSize), so a store that
	// caches sessions need not hold wills in memory. Session, Connect's
	// previous session and Due return the will.
	Sessions(ctx context.Context, clientIDs []string) (map[string]*Session, error)
	// SetOffline marks the session of clientID offline as described by o,
	// fenced on conn.
	SetOffline(ctx context.Context, clientID, conn string, o Offline) error
	// DeleteSession removes a session with everything it holds. With conn
	// set it is fenced on conn; with conn empty it removes the session only
	// if it is offline.
	DeleteSession(ctx context.Context, clientID, conn string) error
	// Due returns up to limit offline sessions whose pending will is due or
	// that have expired by now.
	Due(ctx context.Context, now int64, limit int) ([]*Session, error)
	// Owned returns up to limit sessions whose owning connection is held by
	// proxy, so that a proxy restarted after a crash can end the
	// connections it lost.
	Owned(ctx context.Context, proxy string, limit int) ([]*Session, error)
	// RenewLease sets the lease of proxy (Lease) to lapse at until,
	// creating it, or making an ended one live again.
	RenewLease(ctx context.Context, proxy string, until int64) error
	// Leases returns every lease the store holds, live, lapsed or ended.
	// A store may forget an ended lease a day after it lapsed.
	Leases(ctx context.Context) ([]Lease, error)
	// EndLease marks the lease of proxy ended, provided its Until is still
	// until and it is not ended yet; it returns ErrNotFound otherwise.
	EndLease(ctx context.Context, proxy string, until int64) error
	// MarkUnreachable sets Unreachable on the lease of proxy, provided its
	// Until is still until; it returns ErrNotFound otherwise.
	MarkUnreachable(ctx context.Context, proxy string, until int64) error
	// ClearWill drops the pending will of an offline session, provided it
	// is still the one due at willAt; it returns ErrNotFound otherwise.
	ClearWill(ctx context.Context, clientID string, willAt int64) error

	// Subscribe adds or replaces subscriptions of one client, fenced on
	// conn, and reports for each whether it replaced an existing one.
	Subscribe(ctx context.Context, clientID, conn string, subs []Subscription) (existed []bool, err error)
	// Unsubscribe removes subscriptions by filter, fenced on conn, and
	// reports for each whether it existed.
	Unsubscribe(ctx context.Context, clientID, conn string, filters []string) (existed []bool, err error)
	// Subscriptions returns every subscription of clientID.
	Subscriptions(ctx context.Context, clientID string) ([]Subscription, error)
	// Match returns every subscription whose filter matches topic name
	// topic, shared ones included.
	Match(ctx context.Context, topic string) ([]Subscription, error)

	// SetRetained stores m as the retained message of its topic, with
	// m.Identity, or removes the topic's retained message when m has an
	// empty payload. In the same atomic step it keeps the store within
	// lim: a write that would leave more than lim.Count messages, or more
	// than lim.Bytes bytes (the sum of their Message.Size), is not made
	// and returns ErrQuotaExceeded, unless it does not grow the store (a
	// removal, or a replacement by a message no larger). Likewise a write
	// that would leave m.Identity with more than lim.IdentityCount
	// messages or lim.IdentityBytes bytes, unless it does not grow what
	// m.Identity holds (replacing a message recorded with m.Identity by one
	// no larger). The message replaced or removed stops counting for the
	// identity recorded with it, whoever replaces or removes it. A zero
	// field is no limit.
	SetRetained(ctx context.Context, m *Message, lim RetainedLimits) error
	// RetainedPage returns retained messages whose topics match filter,
	// in the store's order of topics (the same for every call), starting
	// after the topic after ("" for the first page; after need not be a
	// topic the store holds). It returns at most maxCount messages whose
	// sizes (Message.Size) add up to at most maxBytes, except that it
	// returns the first message left however large; an empty page means
	// the scan is done. A scan that passes each page's last topic as the next
	// after returns every message retained throughout the scan exactly
	// once; messages set or removed meanwhile may or may not appear.
	RetainedPage(ctx context.Context, filter, after string, maxCount, maxBytes int) ([]*Message, error)

	// Enqueue appends messages to the outbound queue of clientID within
	// limit (see QueueLimit); it reports how many were accepted, in order,
	// dropping the rest. The messages are queued whoever holds the
	// session. When window > 0 it then dispatches for conn as Dispatch
	// does and returns the messages it put in flight; a dispatch fenced
	// off returns ErrFenced with accepted.
	Enqueue(ctx context.Context, clientID string, msgs []*Outbound, limit QueueLimit, conn string, window int) (accepted int, dispatched []*Outbound, err error)
	// Dispatch moves queued messages, oldest first, to in flight while
	// fewer than window QoS 1 and 2 messages are in flight, assigning each a
	// packet identifier no in-flight message uses; queued QoS 0 messages are
	// handed out and removed without counting against the window. It
	// returns the messages to send, in order, to conn.
	//
	// conn fences the step: when conn is not the session's connection
	// (another connection took the session over, or it went offline),
	// nothing moves and Dispatch returns ErrFenced. A message put in
	// flight for a connection that is gone would wait there until the
	// client's next connection, and the connection that took over may
	// already have resent what was in flight when it started (a late call
	// of a proxy that died; issue 15): checked in the step that moves the
	// messages, the fence leaves them queued for the connection that holds
	// the session. An empty conn dispatches whoever holds the session
	// (tools and tests).
	Dispatch(ctx context.Context, clientID, conn string, window int) ([]*Outbound, error)
	// Inflight returns the messages in flight (Sent or Released) in order,
	// for resending when the client reconnects.
	Inflight(ctx context.Context, clientID string) ([]*Outbound, error)
	// Acknowledge ends the QoS 1 exchange of packetID (PUBACK). It returns
	// ErrNotFound when no QoS 1 message is in flight under that identifier.
	Acknowledge(ctx context.Context, clientID, conn string, packetID uint16) error
	// Release records the PUBREC of a QoS 2 message (Sent to Released). It
	// returns ErrNotFound when no QoS 2 message uses packetID.
	Release(ctx context.Context, clientID, conn string, packetID uint16) error
	// Complete ends the QoS 2 exchange of packetID (PUBCOMP). It returns
	// ErrNotFound when no released message uses packetID.
	//
	// Acknowledge, Release and Complete are the acknowledgements of
	// connection conn, fenced on it like Dispatch: when conn is not the
	// session's connection (taken over, or gone offline) they change
	// nothing and return ErrFenced, whether or not a message uses
	// packetID; an empty conn is not fenced (tools, tests, and callers
	// that act for whichever connection holds the session). A late call
	// of a connection whose client has since started a new session (Clean
	// Start) would otherwise end the exchange of the new session's
	// message that happens to use the same packet identifier: the message
	// would leave the window without ever reaching the client, never to
	// be resent (issue 15). A session kept across the takeover loses
	// nothing by the fence: the connection that took over resends what is
	// in flight [MQTT-4.4.0-1], and the client acknowledges it there.
	Complete(ctx context.Context, clientID, conn string, packetID uint16) error

	// Receive records a QoS 2 message received under packetID on
	// connection conn, unless one is already recorded; it returns the
	// existing record, or nil when in was stored.
	//
	// Receive, MarkFannedOut and Forget are fenced like Dispatch: when conn
	// is not the session's connection they write nothing and return
	// ErrFenced (an empty conn is not fenced). A late call of a connection
	// whose client has started a new session (clean start) would
	// otherwise leave receive state there under a packet identifier the
	// new connection reuses: its next message under that identifier would
	// be taken for a resend and never routed (issue 15). The state of a
	// session kept across connections is the client's, whichever
	// connection writes it [MQTT-4.3.3-9]; the fence checks conn where the
	// store learns which session the write goes to.
	Receive(ctx context.Context, clientID, conn string, in *Inbound) (existing *Inbound, err error)
	// MarkFannedOut records that the message received under packetID
	// reached its subscribers (it sets Inbound.Routed).
	MarkFannedOut(ctx context.Context, clientID, conn string, packetID uint16) error
	// Forget removes the receive state of packetID (PUBREL), returning
	// ErrNotFound when there was none.
	Forget(ctx context.Context, clientID, conn string, packetID uint16) error
	// Receiving returns how many QoS 2 messages of clientID have receive
	// state (Receive'd and not yet Forgotten); 0 when there is no session.
	Receiving(ctx context.Context, clientID string) (int, error)
}

// MatchReader is an optional Store method that reads what the fan-out of
// a message needs in one step, and may read less for it than Match followed
// by Sessions: the DynamoDB store implements it.
type MatchReader interface {
	// MatchSessions returns the subscriptions matching topic name, as Match does,
	// and the sessions of their clients, as Sessions does, for a message
	// published at qos. The session of a client reached only at QoS 0
	// (the lower of qos and its subscriptions' QoS), and not through a
	// shared subscription, may be a copy read earlier, online but with a
	// connection since gone: a delivery to that connection is then
	// reported gone by its proxy, and Handler.Undelivered settles it with
	// fresh reads. Every other session is read fresh, except when
	// chunkAbove > 0: the sessions of clients matched only through
	// non-shared filters that more than chunkAbove subscriptions match
	// are not read (their delivery runs in chunks, chunk.go), and those
	// subscriptions are returned as Match returns them.
	MatchSessions(ctx context.Context, name string, qos byte, chunkAbove int) ([]Subscription, map[string]*Session, error)
}
