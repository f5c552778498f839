package packet

import (
	"errors"
	"fmt"
)

// Error is a decoding or encoding failure that carries the MQTT 5.0 reason
// code a server answers it with (in a DISCONNECT, or a CONNACK while the
// connection is being established). The package's errors are the sentinel
// *Error values below, often wrapped with context by fmt.Errorf; use
// errors.Is to match them and ReasonCodeOf to read the code.
type Error struct {
	// Code is the reason code to answer the failure with.
	Code ReasonCode
	msg  string
}

func (e *Error) Error() string { return "packet: " + e.msg }

func newError(code ReasonCode, msg string) *Error { return &Error{Code: code, msg: msg} }

// Sentinel errors. The reason code each carries is given in brackets.
var (
	// ErrMalformed is a packet that does not follow the format of its type,
	// where no more specific error applies (0x81).
	ErrMalformed = newError(MalformedPacket, "malformed packet")
	// ErrTruncated is a packet, field or header that ends before its declared
	// length (0x81). ParseFixedHeader returns it for an incomplete header.
	ErrTruncated = newError(MalformedPacket, "packet truncated")
	// ErrTrailingBytes is a packet with bytes left over after its last field,
	// or a frame longer than its remaining length says (0x81).
	ErrTrailingBytes = newError(MalformedPacket, "unexpected bytes after the last field")
	// ErrInvalidType is packet type 0, 15 before MQTT 5.0, or a type that a
	// server never receives where one is required (0x81).
	ErrInvalidType = newError(MalformedPacket, "invalid packet type")
	// ErrReservedFlags is a fixed header whose reserved flag bits are not the
	// fixed values the packet type requires (0x81).
	ErrReservedFlags = newError(MalformedPacket, "reserved flag bits set")
	// ErrInvalidQoS is a QoS of 3, or a non-zero will QoS without a will (0x81).
	ErrInvalidQoS = newError(MalformedPacket, "invalid QoS")
	// ErrDupWithQoS0 is a PUBLISH at QoS 0 with the DUP flag set (0x81).
	ErrDupWithQoS0 = newError(MalformedPacket, "DUP flag set on a QoS 0 PUBLISH")
	// ErrVarInt is a Variable Byte Integer longer than 4 bytes or, in a
	// packet being decoded, not in its shortest form [MQTT-1.5.5-1] (0x81).
	ErrVarInt = newError(MalformedPacket, "invalid variable byte integer")
	// ErrInvalidUTF8 is a UTF-8 string that is not well-formed or contains
	// U+0000 (0x81).
	ErrInvalidUTF8 = newError(MalformedPacket, "invalid UTF-8 string")
	// ErrConnectFlags is a CONNECT whose reserved flag is set, or whose will
	// QoS or will retain is set without the will flag (0x81).
	ErrConnectFlags = newError(MalformedPacket, "invalid CONNECT flags")
	// ErrPasswordWithoutUsername is a CONNECT at level 3 or 4 with the
	// password flag but not the username flag (0x81).
	ErrPasswordWithoutUsername = newError(MalformedPacket, "password without username")
	// ErrSubscriptionOptions is a SUBSCRIBE whose subscription options have
	// reserved bits set (0x81).
	ErrSubscriptionOptions = newError(MalformedPacket, "reserved subscription option bits set")
	// ErrPropertyNotAllowed is a property identifier that is unknown or not
	// allowed in the packet that carries it (0x81).
	ErrPropertyNotAllowed = newError(MalformedPacket, "property not allowed in this packet")
	// ErrDuplicateProperty is a property given more than once where the
	// specification allows it once (0x82).
	ErrDuplicateProperty = newError(ProtocolError, "property given more than once")
	// ErrPropertyValue is a property whose value is out of its range, such
	// as a Receive Maximum of 0 (0x82).
	ErrPropertyValue = newError(ProtocolError, "invalid property value")
	// ErrPacketIDZero is packet identifier 0 where a non-zero one is
	// required (0x82).
	ErrPacketIDZero = newError(ProtocolError, "packet identifier 0")
	// ErrNoTopicFilters is a SUBSCRIBE or UNSUBSCRIBE without topic filters (0x82).
	ErrNoTopicFilters = newError(ProtocolError, "no topic filters")
	// ErrRetainHandling is a subscription with Retain Handling 3 (0x82).
	ErrRetainHandling = newError(ProtocolError, "retain handling 3")
	// ErrSubscriptionQoS is a 5.0 subscription with Maximum QoS 3 (0x82); at
	// 3.1.1 the same fault is malformed and reported as ErrInvalidQoS.
	ErrSubscriptionQoS = newError(ProtocolError, "subscription QoS 3")
	// ErrSharedNoLocal is a shared subscription with No Local set (0x82).
	ErrSharedNoLocal = newError(ProtocolError, "No Local on a shared subscription")
	// ErrReasonCode is a reason code that the packet type does not define (0x82).
	ErrReasonCode = newError(ProtocolError, "invalid reason code")
	// ErrNoTopic is a PUBLISH with an empty topic name and no Topic Alias (0x82).
	ErrNoTopic = newError(ProtocolError, "empty topic name without a topic alias")
	// ErrTopicName is a PUBLISH or will topic name that is not a valid topic
	// name, for example one holding a wildcard (0x90).
	ErrTopicName = newError(TopicNameInvalid, "invalid topic name")
	// ErrTopicAlias is a Topic Alias of 0 (0x94).
	ErrTopicAlias = newError(TopicAliasInvalid, "topic alias 0")
	// ErrProtocolName is a CONNECT whose protocol name is neither "MQTT" nor
	// "MQIsdp" (0x84, return code 1 at 3.1.1).
	ErrProtocolName = newError(UnsupportedProtocolVersion, "unknown protocol name")
	// ErrProtocolVersion is a CONNECT whose protocol level is not 3, 4 or 5,
	// or does not go with its protocol name (0x84, return code 1 at 3.1.1).
	ErrProtocolVersion = newError(UnsupportedProtocolVersion, "unsupported protocol version")
	// ErrUserProperties is a packet with more User Properties than
	// MaxUserProperties, or more bytes in them than MaxUserPropertyBytes
	// (0x97). The packet is well formed and within the maximum packet size,
	// so neither 0x81 nor 0x95 describes it; 0x97 Quota exceeded is the
	// code the specification gives for "an implementation or
	// administratively imposed limit" (sections 3.2.2.2 and 3.14.2.1), and
	// both CONNACK and DISCONNECT carry it.
	ErrUserProperties = newError(QuotaExceeded, "too many user properties")
	// ErrPacketTooLarge is a packet larger than the maximum packet size (0x95).
	ErrPacketTooLarge = newError(PacketTooLarge, "packet too large")
	// ErrPayloadFormat is a payload that is not valid UTF-8 although its
	// Payload Format Indicator says it is (0x99).
	ErrPayloadFormat = newError(PayloadFormatInvalid, "payload is not valid UTF-8")
	// ErrVersion is an encode or decode request for a packet that the given
	// protocol version does not have, such as AUTH before 5.0 (0x82).
	ErrVersion = newError(ProtocolError, "packet or field not defined at this protocol version")
	// ErrTooLarge is an encode request for a field longer than its wire type
	// can carry, such as a string over 65,535 bytes (0x81).
	ErrTooLarge = newError(MalformedPacket, "field too long to encode")
)

// ReasonCodeOf returns the reason code carried by err, or
// UnspecifiedError (0x80) when err is not an *Error, and Success for nil.
func ReasonCodeOf(err error) ReasonCode {
	if err == nil {
		return Success
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return UnspecifiedError
}

// wrap adds context to a sentinel error.
func wrap(sentinel *Error, format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)
}
