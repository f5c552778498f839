package session

import (
	"time"

	"github.com/mqttless/mqttless/core/packet"
)

// Message is an application message as the broker stores and routes it.
type Message struct {
	Topic   string `json:"topic"`
	Payload []byte `json:"payload,omitempty"`
	QoS     byte   `json:"qos"`
	Retain  bool   `json:"retain,omitempty"`
	// Publisher is the client id of the sender, for the No Local option.
	Publisher string `json:"publisher,omitempty"`
	// Identity is the identity of the sender (Session.Identity), recorded
	// with a retained message for the per-identity retained quotas
	// (RetainedLimits.IdentityCount, IdentityBytes); "" on other copies and
	// on the broker's own messages. It is never sent to subscribers.
	Identity string `json:"identity,omitempty"`
	// ExpiresAt is when the message expires in Unix milliseconds, 0 for never
	// (the Message Expiry Interval, made absolute on receipt).
	ExpiresAt int64 `json:"expiresAt,omitempty"`
	// Props are the 5.0 properties forwarded unaltered to subscribers:
	// payload format, content type, response topic, correlation data and
	// user properties [MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16]
	// [MQTT-3.3.2-17] [MQTT-3.3.2-18] [MQTT-3.3.2-20].
	Props Props `json:"props,omitzero"`
	// Receipt is set on a QoS 2 message as it is received: a random key
	// of that receipt, kept with its receive state (Inbound) and carried
	// into its stream entries, so that a resend after a call that failed
	// between its appends and MarkFannedOut finds the entries appended
	// already instead of appending them again (flushAppends,
	// [MQTT-4.3.3-10]). It is never sent to subscribers.
	Receipt string `json:"receipt,omitempty"`
}

// Props are the message properties the broker passes through.
type Props struct {
	PayloadFormat   byte                  `json:"pfi,omitempty"`
	ContentType     string                `json:"ct,omitempty"`
	ResponseTopic   string                `json:"rt,omitempty"`
	CorrelationData []byte                `json:"cd,omitempty"`
	User            []packet.UserProperty `json:"up,omitempty"`
	// Has records which of the scalar and string properties were present.
	Has uint8 `json:"has,omitempty"`
}

// Bits of Props.Has.
const (
	hasPayloadFormat uint8 = 1 << iota
	hasContentType
	hasResponseTopic
	hasCorrelationData
)

// Expired reports whether m has expired at now.
func (m *Message) Expired(now time.Time) bool {
	return m.ExpiresAt != 0 && now.UnixMilli() >= m.ExpiresAt
}

// Subscription is one topic filter a client subscribed to, with its options.
type Subscription struct {
	ClientID          string `json:"clientId"`
	Filter            string `json:"filter"` // as subscribed, including any $share/{group}/ prefix
	QoS               byte   `json:"qos"`
	NoLocal           bool   `json:"noLocal,omitempty"`
	RetainAsPublished bool   `json:"rap,omitempty"`
	RetainHandling    byte   `json:"rh,omitempty"`
	SubID             uint32 `json:"subId,omitempty"`
}

// Will is a will message with its delay (section 3.1.3.2).
type Will struct {
	Message Message `json:"message"`
	Delay   uint32  `json:"delay,omitempty"` // Will Delay Interval in seconds
	// Expiry is the will's Message Expiry Interval in seconds, 0 for none.
	// The will's lifetime starts when it is published (section 3.1.3.2.4),
	// so Message.ExpiresAt stays 0 until then.
	Expiry uint32 `json:"expiry,omitempty"`
}

// NeverExpires is the Session Expiry Interval 0xFFFFFFFF, meaning that
// the session never expires (section 3.1.2.11.2).
const NeverExpires = ^uint32(0)

// Session is the server's view of one client's session.
type Session struct {
	ClientID string `json:"clientId"`
	// Identity is who the session belongs to: the identity that created
	// it (see IdentityOf). A CONNECT from another identity may not resume,
	// clean or take over the session while it lasts (MayConnect). Empty
	// for a session stored before sessions had an identity.
	Identity string `json:"identity,omitempty"`
	// Bound records that the client id of the owning (or last) connection
	// is bound to Identity by a client-id pattern (auth.Identity.Binds), so
	// that access rules naming a client id, and %c, apply to it.
	Bound bool `json:"bound,omitempty"`
	// Proxy and Conn name the connection that owns the session; both are
	// empty while the client is offline. Every write a connection makes to
	// its session is fenced on Conn, so a connection that was taken over
	// cannot change the session its successor owns.
	Proxy string `json:"proxy,omitempty"`
	Conn  string `json:"conn,omitempty"`
	// Version is the protocol level of the owning (or last) connection.
	Version packet.Version `json:"version"`
	// ExpiryInterval is the Session Expiry Interval in seconds; NeverExpires
	// means the session never expires, 0 that it ends with its connection.
	ExpiryInterval uint32 `json:"expiry"`
	// ExpiresAt is when an offline session expires, in Unix milliseconds; 0
	// while online or when it never expires.
	ExpiresAt int64 `json:"expiresAt,omitempty"`
	// ReceiveMax is how many QoS 1 and 2 messages the client accepts
	// unacknowledged at once.
	ReceiveMax uint16 `json:"receiveMax"`
	// MaxPacketSize is the largest packet the client accepts, 0 for no limit.
	MaxPacketSize uint32 `json:"maxPacket,omitempty"`
	// Will is the will message of the owning connection, or a pending will
	// waiting for its delay after the connection was lost.
	Will *Will `json:"will,omitempty"`
	// WillAt is when a pending will is due, in Unix milliseconds; 0 when no
	// will is pending.
	WillAt int64 `json:"willAt,omitempty"`
}

// Online reports whether a connection owns the session.
func (s *Session) Online() bool { return s.Conn != "" }

// Ended reports whether the session has ended by now (Unix ms), so that a
// new connection cannot resume it: an offline session past its ExpiresAt,
// or an online one with Session Expiry Interval 0, which ends when its
// connection is taken over (section 3.1.2.11.2) [MQTT-3.1.4-3].
func (s *Session) Ended(now int64) bool {
	if s.Online() {
		return s.ExpiryInterval == 0
	}
	return s.ExpiresAt != 0 && s.ExpiresAt <= now
}

// OutState is where an outbound message stands in its QoS exchange.
type OutState uint8

// Outbound message states.
const (
	Queued   OutState = iota // not yet sent
	Sent                     // PUBLISH sent, waiting for PUBACK or PUBREC
	Released                 // PUBREL sent, waiting for PUBCOMP (QoS 2)
)

// Outbound is one message on its way to a session: queued, or in flight.
type Outbound struct {
	// Seq orders a session's outbound messages; the store assigns it.
	Seq uint64 `json:"seq"`
	// After is set by Dispatch (and Enqueue's dispatch) on a QoS 1 or 2
	// message it puts in flight: the Seq of a QoS 1 or 2 message of the
	// session put in flight before it that may still be, the latest
	// such; 0 when none is. The message is written to the connection only
	// after that one (see Order). A store may name a message that has
	// since left flight (its PUBLISH was written, or it expired unsent),
	// never one later than the latest put in flight before it. It is not
	// stored: Inflight leaves it 0.
	After uint64 `json:"after,omitempty"`
	// PacketID is assigned when the message goes in flight.
	PacketID uint16   `json:"pid,omitempty"`
	State    OutState `json:"state"`
	QoS      byte     `json:"qos"`    // the QoS it is delivered at
	Retain   bool     `json:"retain"` // the retain flag it is delivered with
	SubIDs   []uint32 `json:"subIds,omitempty"`
	Message  Message  `json:"message"`
}

// Inbound is the QoS 2 receive state of one packet identifier: the message
// was received and acknowledged with PUBREC, and the PUBREL has not come yet.
type Inbound struct {
	PacketID uint16  `json:"pid"`
	Routed   bool    `json:"routed"` // the message reached every subscriber
	Message  Message `json:"message"`
}
