// Package packet encodes and decodes MQTT control packets at protocol levels
// 3 (MQTT 3.1, protocol name "MQIsdp"), 4 (MQTT 3.1.1) and 5 (MQTT 5.0).
//
// Every packet type has its own struct with a Decode method that parses one
// whole frame (fixed header included) and an Append method that appends the
// packet's wire form to a byte slice. The package-level Decode dispatches on
// the fixed header's packet type, and FrameReader cuts frames out of an
// io.Reader without decoding their bodies, which is what the connection proxy
// needs.
//
// Decoding validates everything the specification requires of a server
// receiving the packet. Errors are sentinel *Error values, usually wrapped
// with context; match them with errors.Is and read the reason code to answer
// with through ReasonCodeOf. Each rule enforced names its statement in the
// specification, e.g. [MQTT-3.3.1-4]. Statement ids are those of MQTT 5.0
// unless marked as 3.1.1.
//
// Decoded packets copy every string out of the frame, but byte fields
// (payloads, correlation and authentication data, passwords) alias the frame
// they were decoded from: the caller must not reuse the frame's memory while
// it still uses those fields.
package packet
