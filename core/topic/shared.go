package topic

import (
	"fmt"
	"strings"
)

// SharePrefix starts every shared subscription's topic filter
// [MQTT-4.8.2-1].
const SharePrefix = "$share/"

var (
	errShareNoGroup  = fmt.Errorf("%w: empty share name", ErrInvalidShare)
	errShareWildcard = fmt.Errorf("%w: share name contains '+' or '#'", ErrInvalidShare)
	errShareNoSlash  = fmt.Errorf("%w: share name not followed by '/'", ErrInvalidShare)
	errShareNoFilter = fmt.Errorf("%w: no topic filter after the share name", ErrInvalidShare)
)

// ParseShared splits a shared subscription's filter "$share/{group}/{filter}"
// into its share name (group) and the inner topic filter, and reports ok.
//
// When filter does not start with "$share/" it is not a shared subscription:
// ParseShared returns ok false and a nil error. When it starts with
// "$share/" but is malformed, the error is ErrInvalidShare (wrapped with
// detail; use errors.Is), and group, inner and ok are zero. The inner filter
// itself is not validated: ValidateFilter does that.
func ParseShared(filter string) (group, inner string, ok bool, err error) {
	rest, found := strings.CutPrefix(filter, SharePrefix)
	if !found {
		return "", "", false, nil
	}
	i := strings.IndexByte(rest, '/')
	switch {
	case i == 0 || rest == "":
		// [MQTT-4.8.2-1]: the share name is at least one character long.
		return "", "", false, errShareNoGroup
	case i < 0:
		// [MQTT-4.8.2-2]: the share name is followed by a '/'.
		return "", "", false, errShareNoSlash
	}
	group, inner = rest[:i], rest[i+1:]
	// [MQTT-4.8.2-2]: the share name contains no '/' (it ends at the first
	// one), '+' or '#'.
	if strings.ContainsAny(group, "+#") {
		return "", "", false, errShareWildcard
	}
	// [MQTT-4.8.2-2]: the '/' is followed by a topic filter, which is at
	// least one character long [MQTT-4.7.3-1].
	if inner == "" {
		return "", "", false, errShareNoFilter
	}
	return group, inner, true, nil
}
