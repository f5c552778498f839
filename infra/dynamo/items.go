package dynamo

import (
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// This file is the one place where core types become items and back;
// keys.go builds their keys.

// MaxItemSize is DynamoDB's limit on the size of one item.
const MaxItemSize = 400 * 1024

// packetID derives the packet identifier of an outbound message from its
// Seq: (seq-1) mod max + 1.
func packetID(seq uint64, max uint16) uint16 { return uint16((seq-1)%uint64(max) + 1) }

// msgItem is a session.Message as an attribute.
type msgItem struct {
	Topic     string     `dynamodbav:"t"`
	Payload   []byte     `dynamodbav:"p,omitempty"`
	QoS       byte       `dynamodbav:"q,omitempty"`
	Retain    bool       `dynamodbav:"r,omitempty"`
	Publisher string     `dynamodbav:"pub,omitempty"`
	Identity  string     `dynamodbav:"id,omitempty"`
	ExpiresAt int64      `dynamodbav:"x,omitempty"`
	PFI       byte       `dynamodbav:"pfi,omitempty"`
	CT        string     `dynamodbav:"ct,omitempty"`
	RT        string     `dynamodbav:"rt,omitempty"`
	CD        []byte     `dynamodbav:"cd,omitempty"`
	User      []userItem `dynamodbav:"up,omitempty"`
	Has       uint8      `dynamodbav:"has,omitempty"`
	Receipt   string     `dynamodbav:"rc,omitempty"`
}

type userItem struct {
	K string `dynamodbav:"k,omitempty"`
	V string `dynamodbav:"v,omitempty"`
}

func toMsgItem(m *session.Message) msgItem {
	it := msgItem{
		Topic: m.Topic, Payload: clone(m.Payload), QoS: m.QoS, Retain: m.Retain, Publisher: m.Publisher, Identity: m.Identity,
		ExpiresAt: m.ExpiresAt, PFI: m.Props.PayloadFormat, CT: m.Props.ContentType,
		RT: m.Props.ResponseTopic, CD: clone(m.Props.CorrelationData), Has: m.Props.Has, Receipt: m.Receipt,
	}
	for _, u := range m.Props.User {
		it.User = append(it.User, userItem{K: u.Key, V: u.Value})
	}
	return it
}

func (it *msgItem) message() session.Message {
	m := session.Message{
		Topic: it.Topic, Payload: it.Payload, QoS: it.QoS, Retain: it.Retain, Publisher: it.Publisher, Identity: it.Identity,
		ExpiresAt: it.ExpiresAt, Props: session.Props{
			PayloadFormat: it.PFI, ContentType: it.CT, ResponseTopic: it.RT,
			CorrelationData: it.CD, Has: it.Has,
		},
		Receipt: it.Receipt,
	}
	for _, u := range it.User {
		m.Props.User = append(m.Props.User, packet.UserProperty{Key: u.K, Value: u.V})
	}
	return m
}

func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return append([]byte(nil), b...)
}

// willItem is a session.Will as an attribute.
type willItem struct {
	Msg    msgItem `dynamodbav:"m"`
	Delay  uint32  `dynamodbav:"d,omitempty"`
	Expiry uint32  `dynamodbav:"e,omitempty"`
}

func toWillItem(w *session.Will) *willItem {
	if w == nil {
		return nil
	}
	return &willItem{Msg: toMsgItem(&w.Message), Delay: w.Delay, Expiry: w.Expiry}
}

func (w *willItem) will() *session.Will {
	if w == nil {
		return nil
	}
	return &session.Will{Message: w.Msg.message(), Delay: w.Delay, Expiry: w.Expiry}
}

// sessionItem is the session item. Rev changes with every write to the
// ownership attributes (all but Gen, Seq, NQ, NF and NB), so a read-modify-write
// of them is conditioned on it.
type sessionItem struct {
	PK     string    `dynamodbav:"pk"`
	SK     string    `dynamodbav:"sk"`
	Gen    int64     `dynamodbav:"gen"`
	Rev    int64     `dynamodbav:"rev"`
	Conn   string    `dynamodbav:"conn,omitempty"`
	Proxy  string    `dynamodbav:"proxy,omitempty"`
	Owner  string    `dynamodbav:"owner,omitempty"`
	Ident  string    `dynamodbav:"ident,omitempty"` // session.Session.Identity
	Bound  bool      `dynamodbav:"bound,omitempty"`
	Ver    byte      `dynamodbav:"ver"`
	Exp    uint32    `dynamodbav:"exp"`
	ExpAt  int64     `dynamodbav:"expAt,omitempty"`
	RMax   uint16    `dynamodbav:"rmax"`
	MPS    uint32    `dynamodbav:"mps,omitempty"`
	Will   *willItem `dynamodbav:"will,omitempty"`
	WillAt int64     `dynamodbav:"willAt,omitempty"`
	DueP   string    `dynamodbav:"dueP,omitempty"`
	DueAt  int64     `dynamodbav:"dueAt,omitempty"`
	TTL    int64     `dynamodbav:"ttl,omitempty"`
	Seq    uint64    `dynamodbav:"seq"`
	NQ     int       `dynamodbav:"nq"`
	NF     int       `dynamodbav:"nf"`
	// NB is the Message.Size of the queued messages summed (each queued
	// item's sz), for QueueLimit.Bytes; like NQ it can be left above the
	// items that exist after DynamoDB's TTL deletion, and heals at a
	// recount.
	NB int64 `dynamodbav:"nb"`
	// QX is at most the earliest ttl of the queued messages (0 when none
	// has one): before then DynamoDB cannot have deleted any, so NQ is
	// exact. It is not raised when messages leave the queue.
	QX int64 `dynamodbav:"qx,omitempty"`
	// Cnt is set when the session counters count this session
	// (sessionquota.go): every session Connect created or took over since
	// they were kept.
	Cnt bool `dynamodbav:"cnt,omitempty"`
	// HF is the Seq of the QoS 1 or 2 message put in flight last (which
	// may have left flight since): while NF > 0 it is the After of the
	// next one put in flight (session.Outbound.After).
	HF uint64 `dynamodbav:"hf,omitempty"`
	// Pos are delivery v2's positions by posKey (streams.go); Connect
	// sets it empty for a new or cleared session.
	Pos map[string]posItem `dynamodbav:"pos,omitempty"`
}

// ttlMargin is how long after a message expires its item's ttl falls
// (seconds): the store drops the expired messages it meets itself, so
// DynamoDB's TTL deletion, which changes no counter, is a backstop for
// those nobody read in that time (see recount).
const ttlMargin = 600

// msgTTL returns the ttl attribute (Unix seconds, DynamoDB's TTL format) of
// a message expiring at expiresAt (Unix ms), or 0 for one that never
// expires.
func msgTTL(expiresAt int64) int64 {
	if expiresAt <= 0 {
		return 0
	}
	return (expiresAt+999)/1000 + ttlMargin
}

// ttlPassed reports whether DynamoDB may have deleted an item with ttl by
// now (Unix seconds).
func ttlPassed(ttl, now int64) bool { return ttl != 0 && ttl <= now }

// ownership are the attributes of a session item that Connect, SetOffline
// and ClearWill rewrite.
var ownership = []string{"conn", "proxy", "owner", "ident", "bound", "ver", "exp", "expAt", "rmax", "mps", "will", "willAt", "dueP", "dueAt", "ttl"}

// setOwnership fills the ownership attributes from s, deriving the index
// and TTL attributes.
func (it *sessionItem) setOwnership(s *session.Session) {
	it.PK, it.SK = sessionPK(s.ClientID), sessionSK
	it.Conn, it.Proxy, it.Owner = s.Conn, s.Proxy, ""
	it.Ident, it.Bound = s.Identity, s.Bound
	if s.Conn != "" {
		it.Owner = ownerKey(s.Proxy)
	}
	it.Ver, it.Exp, it.ExpAt, it.RMax, it.MPS = byte(s.Version), s.ExpiryInterval, s.ExpiresAt, s.ReceiveMax, s.MaxPacketSize
	it.Will, it.WillAt = toWillItem(s.Will), s.WillAt
	it.DueP, it.DueAt, it.TTL = "", 0, 0
	if s.Conn == "" {
		due := s.ExpiresAt
		if s.Will != nil && s.WillAt != 0 && (due == 0 || s.WillAt < due) {
			due = s.WillAt
		}
		if due != 0 {
			it.DueP, it.DueAt = dueShard(s.ClientID), due
		}
		if s.ExpiresAt != 0 {
			// DynamoDB deletes late and only this item; Due and DeleteSession
			// remove the rest. A day's grace keeps it for Due to find.
			it.TTL = s.ExpiresAt/1000 + 86400
		}
	}
}

func (it *sessionItem) session() *session.Session {
	return &session.Session{
		ClientID: clientOfSessionPK(it.PK), Identity: it.Ident, Bound: it.Bound, Proxy: it.Proxy, Conn: it.Conn,
		Version: packet.Version(it.Ver), ExpiryInterval: it.Exp, ExpiresAt: it.ExpAt,
		ReceiveMax: it.RMax, MaxPacketSize: it.MPS, Will: it.Will.will(), WillAt: it.WillAt,
	}
}

// subItem is a subscription, on the session side (under the session) and
// on the topic side (under its trie node).
type subItem struct {
	PK     string `dynamodbav:"pk"`
	SK     string `dynamodbav:"sk"`
	Gen    int64  `dynamodbav:"gen"`
	Client string `dynamodbav:"c"`
	Filter string `dynamodbav:"f"`
	QoS    byte   `dynamodbav:"q,omitempty"`
	NL     bool   `dynamodbav:"nl,omitempty"`
	RAP    bool   `dynamodbav:"rap,omitempty"`
	RH     byte   `dynamodbav:"rh,omitempty"`
	SID    uint32 `dynamodbav:"sid,omitempty"`
}

func toSubItem(s *session.Subscription, gen int64) subItem {
	return subItem{
		Gen: gen, Client: s.ClientID, Filter: s.Filter, QoS: s.QoS, NL: s.NoLocal,
		RAP: s.RetainAsPublished, RH: s.RetainHandling, SID: s.SubID,
	}
}

func (it *subItem) subscription() session.Subscription {
	return session.Subscription{
		ClientID: it.Client, Filter: it.Filter, QoS: it.QoS, NoLocal: it.NL,
		RetainAsPublished: it.RAP, RetainHandling: it.RH, SubID: it.SID,
	}
}

// nodeItem is a subscription trie node: N counts the subscriptions whose
// filter is the node's or below it, H those whose filter is the node's.
type nodeItem struct {
	PK string `dynamodbav:"pk"`
	SK string `dynamodbav:"sk,omitempty"`
	N  int64  `dynamodbav:"n"`
	H  int64  `dynamodbav:"h"`
}

// outItem is an outbound message: queued under O#<seq>, in flight under
// F#<pid>. A queued message that expires carries a ttl; an in-flight one
// never does, since a delivery once started must complete.
type outItem struct {
	PK   string   `dynamodbav:"pk"`
	SK   string   `dynamodbav:"sk"`
	Seq  uint64   `dynamodbav:"seq"`
	PID  uint16   `dynamodbav:"pid,omitempty"`
	St   uint8    `dynamodbav:"st"`
	QoS  byte     `dynamodbav:"qos"`
	Ret  bool     `dynamodbav:"ret,omitempty"`
	SIDs []uint32 `dynamodbav:"sids,omitempty"`
	Msg  msgItem  `dynamodbav:"msg"`
	TTL  int64    `dynamodbav:"ttl,omitempty"`
	// Sz is the message's Message.Size, counted in the session's nb while
	// it is queued.
	Sz int `dynamodbav:"sz,omitempty"`
}

// toOutItem returns o as a queued item, with the ttl of its message.
func toOutItem(o *session.Outbound) outItem {
	it := outItem{Seq: o.Seq, PID: o.PacketID, St: uint8(o.State), QoS: o.QoS, Ret: o.Retain, Msg: toMsgItem(&o.Message),
		TTL: msgTTL(o.Message.ExpiresAt), Sz: o.Message.Size()}
	if len(o.SubIDs) > 0 {
		it.SIDs = append([]uint32(nil), o.SubIDs...)
	}
	return it
}

func (it *outItem) outbound() *session.Outbound {
	return &session.Outbound{
		Seq: it.Seq, PacketID: it.PID, State: session.OutState(it.St), QoS: it.QoS,
		Retain: it.Ret, SubIDs: it.SIDs, Message: it.Msg.message(),
	}
}

// inItem is the QoS 2 receive state of one packet identifier.
type inItem struct {
	PK     string  `dynamodbav:"pk"`
	SK     string  `dynamodbav:"sk"`
	PID    uint16  `dynamodbav:"pid"`
	Routed bool    `dynamodbav:"routed,omitempty"`
	Msg    msgItem `dynamodbav:"msg"`
}

func toInItem(in *session.Inbound) inItem {
	return inItem{PID: in.PacketID, Routed: in.Routed, Msg: toMsgItem(&in.Message)}
}

func (it *inItem) inbound() *session.Inbound {
	return &session.Inbound{PacketID: it.PID, Routed: it.Routed, Message: it.Msg.message()}
}

// retainedItem is a retained message under its parent's node, with the
// ttl of its message.
type retainedItem struct {
	PK  string  `dynamodbav:"pk"`
	SK  string  `dynamodbav:"sk"`
	Msg msgItem `dynamodbav:"msg"`
	N   int64   `dynamodbav:"n,omitempty"` // set on count items ("N<level>")
	TTL int64   `dynamodbav:"ttl,omitempty"`
}

// itemSize estimates the size DynamoDB bills and limits an item by: the
// lengths of attribute names and values, plus a little per nested value.
func itemSize(item map[string]types.AttributeValue) int {
	n := 0
	for k, v := range item {
		n += len(k) + valueSize(v)
	}
	return n
}

func valueSize(v types.AttributeValue) int {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return len(v.Value)
	case *types.AttributeValueMemberN:
		return len(v.Value)/2 + 2
	case *types.AttributeValueMemberB:
		return len(v.Value)
	case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
		return 1
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range v.Value {
			n += 1 + valueSize(e)
		}
		return n
	case *types.AttributeValueMemberM:
		n := 3
		for k, e := range v.Value {
			n += 1 + len(k) + valueSize(e)
		}
		return n
	}
	return 0
}
