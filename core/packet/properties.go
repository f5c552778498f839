package packet

import (
	"fmt"
	"math/bits"
)

// PropertyID is an MQTT 5.0 property identifier (section 2.2.2.2).
type PropertyID byte

// Property identifiers, MQTT 5.0 table 2-4.
const (
	PropPayloadFormat        PropertyID = 0x01
	PropMessageExpiry        PropertyID = 0x02
	PropContentType          PropertyID = 0x03
	PropResponseTopic        PropertyID = 0x08
	PropCorrelationData      PropertyID = 0x09
	PropSubscriptionID       PropertyID = 0x0B
	PropSessionExpiry        PropertyID = 0x11
	PropAssignedClientID     PropertyID = 0x12
	PropServerKeepAlive      PropertyID = 0x13
	PropAuthMethod           PropertyID = 0x15
	PropAuthData             PropertyID = 0x16
	PropRequestProblemInfo   PropertyID = 0x17
	PropWillDelay            PropertyID = 0x18
	PropRequestResponseInfo  PropertyID = 0x19
	PropResponseInfo         PropertyID = 0x1A
	PropServerReference      PropertyID = 0x1C
	PropReasonString         PropertyID = 0x1F
	PropReceiveMaximum       PropertyID = 0x21
	PropTopicAliasMaximum    PropertyID = 0x22
	PropTopicAlias           PropertyID = 0x23
	PropMaximumQoS           PropertyID = 0x24
	PropRetainAvailable      PropertyID = 0x25
	PropUser                 PropertyID = 0x26
	PropMaximumPacketSize    PropertyID = 0x27
	PropWildcardSubAvailable PropertyID = 0x28
	PropSubIDAvailable       PropertyID = 0x29
	PropSharedSubAvailable   PropertyID = 0x2A
)

// PropType is the data type of a property's value (section 1.5).
type PropType byte

// Property data types.
const (
	TypeByte        PropType = iota + 1 // Byte
	TypeTwoByteInt                      // Two Byte Integer
	TypeFourByteInt                     // Four Byte Integer
	TypeVarInt                          // Variable Byte Integer
	TypeString                          // UTF-8 Encoded String
	TypeBinary                          // Binary Data
	TypeStringPair                      // UTF-8 String Pair
)

// willProps is the pseudo packet type used for the will properties of a
// CONNECT, which have a table of their own (section 3.1.3.2).
const willProps Type = 0

type propInfo struct {
	name string
	typ  PropType
	in   []Type // packets that may carry it; willProps for will properties
}

// propTable is MQTT 5.0 table 2-4: each property's type and the packets
// that may carry it (section 2.2.2.2).
var propTable = map[PropertyID]propInfo{
	PropPayloadFormat:        {"Payload Format Indicator", TypeByte, []Type{PUBLISH, willProps}},
	PropMessageExpiry:        {"Message Expiry Interval", TypeFourByteInt, []Type{PUBLISH, willProps}},
	PropContentType:          {"Content Type", TypeString, []Type{PUBLISH, willProps}},
	PropResponseTopic:        {"Response Topic", TypeString, []Type{PUBLISH, willProps}},
	PropCorrelationData:      {"Correlation Data", TypeBinary, []Type{PUBLISH, willProps}},
	PropSubscriptionID:       {"Subscription Identifier", TypeVarInt, []Type{PUBLISH, SUBSCRIBE}},
	PropSessionExpiry:        {"Session Expiry Interval", TypeFourByteInt, []Type{CONNECT, CONNACK, DISCONNECT}},
	PropAssignedClientID:     {"Assigned Client Identifier", TypeString, []Type{CONNACK}},
	PropServerKeepAlive:      {"Server Keep Alive", TypeTwoByteInt, []Type{CONNACK}},
	PropAuthMethod:           {"Authentication Method", TypeString, []Type{CONNECT, CONNACK, AUTH}},
	PropAuthData:             {"Authentication Data", TypeBinary, []Type{CONNECT, CONNACK, AUTH}},
	PropRequestProblemInfo:   {"Request Problem Information", TypeByte, []Type{CONNECT}},
	PropWillDelay:            {"Will Delay Interval", TypeFourByteInt, []Type{willProps}},
	PropRequestResponseInfo:  {"Request Response Information", TypeByte, []Type{CONNECT}},
	PropResponseInfo:         {"Response Information", TypeString, []Type{CONNACK}},
	PropServerReference:      {"Server Reference", TypeString, []Type{CONNACK, DISCONNECT}},
	PropReasonString:         {"Reason String", TypeString, []Type{CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT, AUTH}},
	PropReceiveMaximum:       {"Receive Maximum", TypeTwoByteInt, []Type{CONNECT, CONNACK}},
	PropTopicAliasMaximum:    {"Topic Alias Maximum", TypeTwoByteInt, []Type{CONNECT, CONNACK}},
	PropTopicAlias:           {"Topic Alias", TypeTwoByteInt, []Type{PUBLISH}},
	PropMaximumQoS:           {"Maximum QoS", TypeByte, []Type{CONNACK}},
	PropRetainAvailable:      {"Retain Available", TypeByte, []Type{CONNACK}},
	PropUser:                 {"User Property", TypeStringPair, []Type{CONNECT, CONNACK, PUBLISH, willProps, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, DISCONNECT, AUTH}},
	PropMaximumPacketSize:    {"Maximum Packet Size", TypeFourByteInt, []Type{CONNECT, CONNACK}},
	PropWildcardSubAvailable: {"Wildcard Subscription Available", TypeByte, []Type{CONNACK}},
	PropSubIDAvailable:       {"Subscription Identifier Available", TypeByte, []Type{CONNACK}},
	PropSharedSubAvailable:   {"Shared Subscription Available", TypeByte, []Type{CONNACK}},
}

// allowedIn[t] has bit id set when property id may appear in packet type t
// (t == willProps for will properties).
var allowedIn [16]uint64

func init() {
	for id, info := range propTable {
		for _, t := range info.in {
			allowedIn[t] |= 1 << id
		}
	}
}

// String returns the property's name from the specification.
func (id PropertyID) String() string {
	if info, ok := propTable[id]; ok {
		return info.name
	}
	return fmt.Sprintf("property 0x%02X", byte(id))
}

// Type returns the property's data type, or 0 for an unknown identifier.
func (id PropertyID) Type() PropType { return propTable[id].typ }

// AllowedIn reports whether property id may appear in packets of type t.
// Pass 0 for t to ask about the will properties of a CONNECT.
func (id PropertyID) AllowedIn(t Type) bool {
	return id < 64 && t < 16 && allowedIn[t]&(1<<id) != 0
}

// Limits on the User Properties of one packet, over all of its property
// lists (a CONNECT's and its will's). The specification sets none ("The
// User Property is allowed to appear multiple times", sections 3.1.2.11.8
// and 3.3.2.3.7), so a packet of 1 MiB could hold 262,144 empty ones,
// which decode into about 16 MiB of memory, before authentication in a
// CONNECT (issue 14). A packet over either limit fails to decode with
// ErrUserProperties (0x97 Quota exceeded). The defaults are far above what
// clients use (AWS IoT Core's and Alibaba's brokers take 20 user
// properties per packet); the operator sets others with
// -max-user-properties and -max-user-property-bytes, which reach every
// decoder as a Limits value (DecodeWith).
const (
	// MaxUserProperties is the default most User Properties one packet
	// may carry.
	MaxUserProperties = 128
	// MaxUserPropertyBytes is the default most bytes of names and values
	// the User Properties of one packet may hold (without their length
	// prefixes).
	MaxUserPropertyBytes = 64 << 10
)

// Limits are what a decoder accepts beyond the specification's own rules.
// A zero field stands for its default, so the zero Limits is the default
// (Decode uses it).
type Limits struct {
	// UserProperties is the most User Properties one packet may carry
	// [MaxUserProperties].
	UserProperties int
	// UserPropertyBytes is the most bytes of names and values the User
	// Properties of one packet may hold [MaxUserPropertyBytes].
	UserPropertyBytes int
}

func (l Limits) userProperties() int {
	if l.UserProperties <= 0 {
		return MaxUserProperties
	}
	return l.UserProperties
}

func (l Limits) userPropertyBytes() int {
	if l.UserPropertyBytes <= 0 {
		return MaxUserPropertyBytes
	}
	return l.UserPropertyBytes
}

// UserProperty is one User Property: a name and a value, both UTF-8 strings.
type UserProperty struct {
	Key   string
	Value string
}

// Properties holds the MQTT 5.0 properties of a packet. Scalar, string and
// binary properties count as present only when marked with Set (decoding
// marks them), so a zero value can be sent explicitly. User properties and
// subscription identifiers are present when their slices are non-empty, and
// keep their order. At levels 3 and 4 properties are neither read nor written.
type Properties struct {
	present uint64 // bit id set when property id is present

	PayloadFormat        byte
	MessageExpiry        uint32
	ContentType          string
	ResponseTopic        string
	CorrelationData      []byte
	SubscriptionIDs      []uint32 // one in SUBSCRIBE; any number in PUBLISH to a client
	SessionExpiry        uint32
	AssignedClientID     string
	ServerKeepAlive      uint16
	AuthMethod           string
	AuthData             []byte
	RequestProblemInfo   byte
	WillDelay            uint32
	RequestResponseInfo  byte
	ResponseInfo         string
	ServerReference      string
	ReasonString         string
	ReceiveMaximum       uint16
	TopicAliasMaximum    uint16
	TopicAlias           uint16
	MaximumQoS           byte
	RetainAvailable      byte
	User                 []UserProperty
	MaximumPacketSize    uint32
	WildcardSubAvailable byte
	SubIDAvailable       byte
	SharedSubAvailable   byte
}

// Has reports whether property id is present.
func (p *Properties) Has(id PropertyID) bool {
	switch id {
	case PropUser:
		return len(p.User) > 0
	case PropSubscriptionID:
		return len(p.SubscriptionIDs) > 0
	}
	return id < 64 && p.present&(1<<id) != 0
}

// Set marks property id as present, so that its field is encoded. It
// returns p so that calls can be chained. User properties and subscription
// identifiers need no marking: they are present when their slice is not empty.
func (p *Properties) Set(id PropertyID) *Properties {
	if id < 64 && id != PropUser && id != PropSubscriptionID {
		p.present |= 1 << id
	}
	return p
}

// Clear marks property id as absent.
func (p *Properties) Clear(id PropertyID) *Properties {
	if id < 64 {
		p.present &^= 1 << id
	}
	return p
}

// Empty reports whether no property is present.
func (p *Properties) Empty() bool {
	return p.present == 0 && len(p.User) == 0 && len(p.SubscriptionIDs) == 0
}

// mask returns the set of present identifiers, including the slice ones.
func (p *Properties) mask() uint64 {
	m := p.present
	if len(p.User) > 0 {
		m |= 1 << PropUser
	}
	if len(p.SubscriptionIDs) > 0 {
		m |= 1 << PropSubscriptionID
	}
	return m
}

// decodeProperties reads a property length and the properties that follow,
// for packet type t. It enforces the allowed-in table (section 2.2.2.2), the
// at-most-once rule, and each property's value range.
func (d *decoder) properties(p *Properties, t Type) {
	*p = Properties{}
	n := int(d.varint("property length"))
	if d.err != nil {
		return
	}
	if d.remaining() < n {
		d.fail(wrap(ErrTruncated, "properties of %d bytes", n))
		return
	}
	end := d.off + n
	pd := decoder{b: d.b[:end], off: d.off, lim: d.lim, users: d.users, userBytes: d.userBytes}
	for pd.err == nil && pd.off < end {
		pd.property(p, t)
	}
	d.off = end
	d.users, d.userBytes = pd.users, pd.userBytes
	d.fail(pd.err)
	if d.err == nil && p.Has(PropAuthData) && !p.Has(PropAuthMethod) {
		// Authentication Data without a method is a Protocol Error
		// (sections 3.1.2.11.10, 3.2.2.3.18 and 3.15.2.2.3).
		d.fail(wrap(ErrPropertyValue, "%s without %s", PropAuthData, PropAuthMethod))
	}
}

func (d *decoder) property(p *Properties, t Type) {
	raw := d.varint("property identifier")
	if d.err != nil {
		return
	}
	id := PropertyID(raw)
	if raw >= 64 || !id.AllowedIn(t) {
		where := t.String()
		if t == willProps {
			where = "will properties"
		}
		d.fail(wrap(ErrPropertyNotAllowed, "%s in %s", id, where)) // section 2.2.2.2
		return
	}
	if id != PropUser && !(id == PropSubscriptionID && t == PUBLISH) {
		if p.Has(id) {
			// Every property but User Property, and Subscription Identifier
			// in a PUBLISH to a client, may appear at most once (section 3).
			d.fail(wrap(ErrDuplicateProperty, "%s", id))
			return
		}
	}
	name := id.String()
	switch id {
	case PropPayloadFormat:
		p.PayloadFormat = d.u8(name)
		d.boolean(p.PayloadFormat, name)
	case PropMessageExpiry:
		p.MessageExpiry = d.u32(name)
	case PropContentType:
		p.ContentType = d.str(name)
	case PropResponseTopic:
		p.ResponseTopic = d.str(name)
		if d.err == nil {
			if err := validTopicName(p.ResponseTopic); err != nil { // [MQTT-3.3.2-13] [MQTT-3.3.2-14]
				d.fail(wrap(ErrPropertyValue, "%s: %v", name, err))
			}
		}
	case PropCorrelationData:
		p.CorrelationData = d.binary(name)
	case PropSubscriptionID:
		v := d.varint(name)
		if d.err == nil && v == 0 {
			d.fail(wrap(ErrPropertyValue, "%s 0", name)) // section 3.3.2.3.8 and 3.8.2.1.2
		}
		p.SubscriptionIDs = append(p.SubscriptionIDs, v)
	case PropSessionExpiry:
		p.SessionExpiry = d.u32(name)
	case PropAssignedClientID:
		p.AssignedClientID = d.str(name)
	case PropServerKeepAlive:
		p.ServerKeepAlive = d.u16(name)
	case PropAuthMethod:
		p.AuthMethod = d.str(name)
	case PropAuthData:
		p.AuthData = d.binary(name)
	case PropRequestProblemInfo:
		p.RequestProblemInfo = d.u8(name)
		d.boolean(p.RequestProblemInfo, name)
	case PropWillDelay:
		p.WillDelay = d.u32(name)
	case PropRequestResponseInfo:
		p.RequestResponseInfo = d.u8(name)
		d.boolean(p.RequestResponseInfo, name)
	case PropResponseInfo:
		p.ResponseInfo = d.str(name)
	case PropServerReference:
		p.ServerReference = d.str(name)
	case PropReasonString:
		p.ReasonString = d.str(name)
	case PropReceiveMaximum:
		p.ReceiveMaximum = d.u16(name)
		d.nonZero(uint32(p.ReceiveMaximum), name) // section 3.1.2.11.3 and 3.2.2.3.3
	case PropTopicAliasMaximum:
		p.TopicAliasMaximum = d.u16(name)
	case PropTopicAlias:
		p.TopicAlias = d.u16(name)
		if d.err == nil && p.TopicAlias == 0 {
			d.fail(wrap(ErrTopicAlias, "in %s", t)) // [MQTT-3.3.2-8]
		}
	case PropMaximumQoS:
		p.MaximumQoS = d.u8(name)
		d.boolean(p.MaximumQoS, name)
	case PropRetainAvailable:
		p.RetainAvailable = d.u8(name)
		d.boolean(p.RetainAvailable, name)
	case PropUser:
		if n := d.lim.userProperties(); d.users >= n {
			d.fail(wrap(ErrUserProperties, "more than %d in %s", n, t))
			return
		}
		k := d.str(name + " name")
		v := d.str(name + " value")
		d.users++
		d.userBytes += len(k) + len(v)
		if n := d.lim.userPropertyBytes(); d.err == nil && d.userBytes > n {
			d.fail(wrap(ErrUserProperties, "names and values of more than %d bytes in %s", n, t))
			return
		}
		p.User = append(p.User, UserProperty{Key: k, Value: v})
	case PropMaximumPacketSize:
		p.MaximumPacketSize = d.u32(name)
		d.nonZero(p.MaximumPacketSize, name) // section 3.1.2.11.4 and 3.2.2.3.6
	case PropWildcardSubAvailable:
		p.WildcardSubAvailable = d.u8(name)
		d.boolean(p.WildcardSubAvailable, name)
	case PropSubIDAvailable:
		p.SubIDAvailable = d.u8(name)
		d.boolean(p.SubIDAvailable, name)
	case PropSharedSubAvailable:
		p.SharedSubAvailable = d.u8(name)
		d.boolean(p.SharedSubAvailable, name)
	}
	if id != PropUser && id != PropSubscriptionID {
		p.Set(id)
	}
}

// boolean fails with ErrPropertyValue unless v is 0 or 1; the specification
// calls any other value of these byte properties a Protocol Error.
func (d *decoder) boolean(v byte, name string) {
	if d.err == nil && v > 1 {
		d.fail(wrap(ErrPropertyValue, "%s %d", name, v))
	}
}

func (d *decoder) nonZero(v uint32, name string) {
	if d.err == nil && v == 0 {
		d.fail(wrap(ErrPropertyValue, "%s 0", name))
	}
}

// check validates p for encoding in packet type t.
func (p *Properties) check(t Type) error {
	if extra := p.mask() &^ allowedIn[t]; extra != 0 {
		for id := PropertyID(0); id < 64; id++ {
			if extra&(1<<id) != 0 {
				return wrap(ErrPropertyNotAllowed, "%s in %s", id, t)
			}
		}
	}
	if len(p.SubscriptionIDs) > 1 && t != PUBLISH {
		return wrap(ErrDuplicateProperty, "%s", PropSubscriptionID)
	}
	for _, id := range p.SubscriptionIDs {
		if id == 0 || id > MaxVarInt {
			return wrap(ErrPropertyValue, "%s %d", PropSubscriptionID, id)
		}
	}
	for m := p.present; m != 0; m &= m - 1 {
		id := PropertyID(bits.TrailingZeros64(m))
		if t := propTable[id].typ; t == TypeString || t == TypeBinary {
			if err := checkLen16(id.String(), p.lenOf(id)); err != nil {
				return err
			}
		}
	}
	for _, u := range p.User {
		if err := checkLen16("User Property", max(len(u.Key), len(u.Value))); err != nil {
			return err
		}
	}
	return nil
}

// size returns the length of the encoded properties, without the property
// length that precedes them.
func (p *Properties) size() int {
	if p.Empty() {
		return 0
	}
	n := 0
	m := p.present
	for m != 0 {
		id := PropertyID(bits.TrailingZeros64(m))
		m &= m - 1
		switch propTable[id].typ {
		case TypeByte:
			n += 2
		case TypeTwoByteInt:
			n += 3
		case TypeFourByteInt:
			n += 5
		case TypeString, TypeBinary:
			n += 3 + p.lenOf(id)
		}
	}
	for _, id := range p.SubscriptionIDs {
		n += 1 + varIntLen(int(id))
	}
	for _, u := range p.User {
		n += 5 + len(u.Key) + len(u.Value)
	}
	return n
}

// lenOf returns the length of a string or binary property's value.
func (p *Properties) lenOf(id PropertyID) int {
	switch id {
	case PropCorrelationData:
		return len(p.CorrelationData)
	case PropAuthData:
		return len(p.AuthData)
	}
	return len(p.stringOf(id))
}

// stringOf returns the value of a string property.
func (p *Properties) stringOf(id PropertyID) string {
	switch id {
	case PropContentType:
		return p.ContentType
	case PropResponseTopic:
		return p.ResponseTopic
	case PropAssignedClientID:
		return p.AssignedClientID
	case PropAuthMethod:
		return p.AuthMethod
	case PropResponseInfo:
		return p.ResponseInfo
	case PropServerReference:
		return p.ServerReference
	case PropReasonString:
		return p.ReasonString
	}
	return ""
}

// appendTo appends the property length and the properties, in identifier
// order with user properties last, in their order. size is p.size().
func (p *Properties) appendTo(dst []byte, size int) []byte {
	dst = appendVarInt(dst, size)
	if size == 0 {
		return dst
	}
	m := p.present
	for m != 0 {
		id := PropertyID(bits.TrailingZeros64(m))
		m &= m - 1
		dst = append(dst, byte(id))
		switch id {
		case PropPayloadFormat:
			dst = append(dst, p.PayloadFormat)
		case PropMessageExpiry:
			dst = appendU32(dst, p.MessageExpiry)
		case PropSessionExpiry:
			dst = appendU32(dst, p.SessionExpiry)
		case PropServerKeepAlive:
			dst = appendU16(dst, p.ServerKeepAlive)
		case PropRequestProblemInfo:
			dst = append(dst, p.RequestProblemInfo)
		case PropWillDelay:
			dst = appendU32(dst, p.WillDelay)
		case PropRequestResponseInfo:
			dst = append(dst, p.RequestResponseInfo)
		case PropReceiveMaximum:
			dst = appendU16(dst, p.ReceiveMaximum)
		case PropTopicAliasMaximum:
			dst = appendU16(dst, p.TopicAliasMaximum)
		case PropTopicAlias:
			dst = appendU16(dst, p.TopicAlias)
		case PropMaximumQoS:
			dst = append(dst, p.MaximumQoS)
		case PropRetainAvailable:
			dst = append(dst, p.RetainAvailable)
		case PropMaximumPacketSize:
			dst = appendU32(dst, p.MaximumPacketSize)
		case PropWildcardSubAvailable:
			dst = append(dst, p.WildcardSubAvailable)
		case PropSubIDAvailable:
			dst = append(dst, p.SubIDAvailable)
		case PropSharedSubAvailable:
			dst = append(dst, p.SharedSubAvailable)
		case PropCorrelationData:
			dst = appendBinary(dst, p.CorrelationData)
		case PropAuthData:
			dst = appendBinary(dst, p.AuthData)
		default: // string properties
			dst = appendString(dst, p.stringOf(id))
		}
	}
	for _, id := range p.SubscriptionIDs {
		dst = append(dst, byte(PropSubscriptionID))
		dst = appendVarInt(dst, int(id))
	}
	for _, u := range p.User {
		dst = append(dst, byte(PropUser))
		dst = appendString(dst, u.Key)
		dst = appendString(dst, u.Value)
	}
	return dst
}
