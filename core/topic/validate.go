package topic

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxLength is the length in bytes of the longest topic name or filter MQTT
// allows: a UTF-8 Encoded String has a two-byte length prefix [MQTT-4.7.3-3].
const MaxLength = 65535

// Detailed forms of the sentinel errors, built once so that rejecting a topic
// does not allocate.
var (
	errNUL           = fmt.Errorf("%w: contains U+0000", ErrInvalidUTF8)
	errHashNotLast   = fmt.Errorf("%w: '#' must be the last character", ErrInvalidWildcard)
	errHashNotAlone  = fmt.Errorf("%w: '#' must occupy a whole level", ErrInvalidWildcard)
	errPlusNotAlone  = fmt.Errorf("%w: '+' must occupy a whole level", ErrInvalidWildcard)
	errNotWellFormed = fmt.Errorf("%w: not well-formed", ErrInvalidUTF8)
)

// ValidateName reports whether name is a valid topic name, as carried by a
// PUBLISH packet. It returns nil or one of ErrEmpty, ErrTooLong,
// ErrInvalidUTF8 and ErrWildcardInName, possibly wrapped; use errors.Is.
//
// Names starting with '$' (such as "$SYS/...") and names starting with
// "$share/" are valid names: whether a client may publish to them is the
// broker's policy, not a rule of the specification.
func ValidateName(name string) error { return Limits{}.ValidateName(name) }

// ValidateFilter reports whether filter is a valid topic filter, as carried
// by SUBSCRIBE and UNSUBSCRIBE packets. A filter starting with "$share/" is a
// shared subscription: its group and its inner filter are both checked. It
// returns nil or one of ErrEmpty, ErrTooLong, ErrInvalidUTF8,
// ErrInvalidWildcard and ErrInvalidShare, possibly wrapped; use errors.Is.
func ValidateFilter(filter string) error { return Limits{}.ValidateFilter(filter) }

// Limits are a broker's own limits on topic names and filters, checked on top
// of the rules of the specification. The zero Limits checks the
// specification's rules only.
type Limits struct {
	// MaxLength is the longest name or filter accepted, in bytes, counting
	// the whole string (a "$share/{group}/" prefix included). Zero or
	// negative means MaxLength (65535), as does any larger value: the
	// specification's limit always applies.
	MaxLength int

	// MaxLevels is the most topic levels accepted; a string of n '/'
	// characters has n+1 levels. For a shared subscription only the levels of
	// the inner filter count. Zero or negative means no limit.
	MaxLevels int
}

// ValidateName is like the package-level ValidateName, and also returns
// ErrTooLong or ErrTooManyLevels (possibly wrapped) when name exceeds l.
func (l Limits) ValidateName(name string) error {
	if err := l.checkString(name); err != nil {
		return err
	}
	// [MQTT-3.3.2-2], [MQTT-4.7.0-1] (3.1.1: [MQTT-4.7.1-1]).
	if strings.ContainsAny(name, "+#") {
		return ErrWildcardInName
	}
	return l.checkLevels(name)
}

// ValidateFilter is like the package-level ValidateFilter, and also returns
// ErrTooLong or ErrTooManyLevels (possibly wrapped) when filter exceeds l.
func (l Limits) ValidateFilter(filter string) error {
	if err := l.checkString(filter); err != nil {
		return err
	}
	_, inner, shared, err := ParseShared(filter)
	if err != nil {
		return err
	}
	if !shared {
		inner = filter
	}
	if err := checkWildcards(inner); err != nil {
		return err
	}
	return l.checkLevels(inner)
}

// checkString applies the rules common to names and filters: length and
// encoding.
func (l Limits) checkString(s string) error {
	if s == "" {
		return ErrEmpty // [MQTT-4.7.3-1]
	}
	limit := MaxLength // [MQTT-4.7.3-3]
	if l.MaxLength > 0 && l.MaxLength < limit {
		limit = l.MaxLength
	}
	if len(s) > limit {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLong, len(s), limit)
	}
	// utf8.ValidString rejects encoded surrogates, overlong forms and code
	// points above U+10FFFF [MQTT-1.5.4-1] (3.1.1: [MQTT-1.5.3-1]). A BOM
	// (U+FEFF) is valid and kept as it is [MQTT-1.5.4-3] (3.1.1:
	// [MQTT-1.5.3-3]); nothing is normalized [MQTT-4.7.3-4].
	if !utf8.ValidString(s) {
		return errNotWellFormed
	}
	// [MQTT-1.5.4-2], [MQTT-4.7.3-2] (3.1.1: [MQTT-1.5.3-2]).
	if strings.IndexByte(s, 0) >= 0 {
		return errNUL
	}
	return nil
}

// checkLevels enforces l.MaxLevels on s.
func (l Limits) checkLevels(s string) error {
	if l.MaxLevels <= 0 {
		return nil
	}
	// Counting stops as soon as the limit is passed.
	levels := 1
	for i := strings.IndexByte(s, '/'); i >= 0; i = strings.IndexByte(s, '/') {
		levels++
		if levels > l.MaxLevels {
			return fmt.Errorf("%w: more than %d", ErrTooManyLevels, l.MaxLevels)
		}
		s = s[i+1:]
	}
	return nil
}

// checkWildcards checks the placement of the wildcards in a (non-shared)
// filter. The bytes '+', '#' and '/' never occur inside a multi-byte UTF-8
// sequence, so scanning bytes is exact.
func checkWildcards(f string) error {
	for off := 0; ; {
		j := strings.IndexAny(f[off:], "+#")
		if j < 0 {
			return nil
		}
		i := off + j
		startsLevel := i == 0 || f[i-1] == '/'
		endsLevel := i == len(f)-1 || f[i+1] == '/'
		if f[i] == '#' {
			// [MQTT-4.7.1-1] (3.1.1: [MQTT-4.7.1-2]): '#' on its own or
			// after a '/', and the last character of the filter.
			if i != len(f)-1 {
				return errHashNotLast
			}
			if !startsLevel {
				return errHashNotAlone
			}
		} else if !startsLevel || !endsLevel {
			// [MQTT-4.7.1-2] (3.1.1: [MQTT-4.7.1-3]): '+' occupies a whole
			// level.
			return errPlusNotAlone
		}
		off = i + 1
	}
}
