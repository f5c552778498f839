package topic

import "errors"

// Sentinel errors returned by the validation functions, ParseShared and
// Limits. They may be wrapped with detail by fmt.Errorf; use errors.Is to
// match them. An MQTT 5.0 server typically answers them with reason code
// 0x8F (Topic Filter invalid) for a SUBSCRIBE or 0x90 (Topic Name invalid)
// for a PUBLISH, except ErrInvalidUTF8, which makes the packet malformed
// (0x81).
var (
	// ErrEmpty is a topic name or filter of zero length [MQTT-4.7.3-1].
	ErrEmpty = errors.New("topic: empty topic")

	// ErrTooLong is a topic name or filter longer than 65535 bytes, the most
	// a UTF-8 Encoded String can hold [MQTT-4.7.3-3], or longer than
	// Limits.MaxLength.
	ErrTooLong = errors.New("topic: topic too long")

	// ErrInvalidUTF8 is a topic name or filter that is not well-formed UTF-8
	// (which includes encoded surrogates U+D800 to U+DFFF) [MQTT-1.5.4-1], or
	// that contains U+0000 [MQTT-1.5.4-2], [MQTT-4.7.3-2]. In MQTT 3.1.1 these
	// are [MQTT-1.5.3-1] and [MQTT-1.5.3-2].
	ErrInvalidUTF8 = errors.New("topic: invalid UTF-8")

	// ErrWildcardInName is a topic name containing '+' or '#'
	// [MQTT-3.3.2-2], [MQTT-4.7.0-1] (3.1.1: [MQTT-4.7.1-1]).
	ErrWildcardInName = errors.New("topic: wildcard in topic name")

	// ErrInvalidWildcard is a topic filter with a '#' that is not alone in
	// the last level [MQTT-4.7.1-1] (3.1.1: [MQTT-4.7.1-2]), or a '+' that is
	// not alone in its level [MQTT-4.7.1-2] (3.1.1: [MQTT-4.7.1-3]).
	ErrInvalidWildcard = errors.New("topic: invalid wildcard")

	// ErrInvalidShare is a filter that starts with "$share/" but is not
	// "$share/{group}/{filter}" with a non-empty group free of '+' and '#'
	// and a non-empty filter [MQTT-4.8.2-1], [MQTT-4.8.2-2].
	ErrInvalidShare = errors.New("topic: invalid shared subscription")

	// ErrTooManyLevels is a topic name or filter with more levels than
	// Limits.MaxLevels. It is a broker's limit, not a rule of the
	// specification.
	ErrTooManyLevels = errors.New("topic: too many topic levels")
)
