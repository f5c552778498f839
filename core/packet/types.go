package packet

import "fmt"

// Type is an MQTT control packet type, the high nibble of the first byte.
type Type byte

// Control packet types (MQTT 5.0 section 2.1.2).
const (
	CONNECT     Type = 1
	CONNACK     Type = 2
	PUBLISH     Type = 3
	PUBACK      Type = 4
	PUBREC      Type = 5
	PUBREL      Type = 6
	PUBCOMP     Type = 7
	SUBSCRIBE   Type = 8
	SUBACK      Type = 9
	UNSUBSCRIBE Type = 10
	UNSUBACK    Type = 11
	PINGREQ     Type = 12
	PINGRESP    Type = 13
	DISCONNECT  Type = 14
	AUTH        Type = 15 // MQTT 5.0 only
)

var typeNames = [...]string{"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC",
	"PUBREL", "PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ",
	"PINGRESP", "DISCONNECT", "AUTH"}

// String returns the packet type's name, such as "PUBLISH".
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", byte(t))
}

// Version is an MQTT protocol level as carried in CONNECT.
type Version byte

// Protocol levels.
const (
	V31  Version = 3 // MQTT 3.1, protocol name "MQIsdp"
	V311 Version = 4 // MQTT 3.1.1
	V5   Version = 5 // MQTT 5.0
)

// String returns the version as the specification names it.
func (v Version) String() string {
	switch v {
	case V31:
		return "3.1"
	case V311:
		return "3.1.1"
	case V5:
		return "5.0"
	}
	return fmt.Sprintf("Version(%d)", byte(v))
}

// Packet is one MQTT control packet. The concrete types are the pointer
// types of this package (*Connect, *Publish, ...).
type Packet interface {
	// Type returns the control packet type.
	Type() Type
	// Append appends the packet's wire form at protocol version v to dst.
	// It fails with ErrVersion for a packet or field v does not have, and
	// with other sentinel errors for field values it cannot encode.
	Append(dst []byte, v Version) ([]byte, error)
	// Decode replaces the packet's fields with those decoded from frame,
	// which must hold exactly one whole packet of this type.
	Decode(frame []byte, v Version) error
}

// QoS levels.
const (
	QoS0 byte = 0
	QoS1 byte = 1
	QoS2 byte = 2
)
