package topic

import "strings"

// Match reports whether the topic name name matches the topic filter filter.
//
// Neither argument is validated; an empty filter or name matches nothing.
// A '+' level matches exactly one level of the name, an empty level
// included, and a '#' level matches the rest of the name: its parent level
// and any number of child levels, so "a/#" matches "a", "a/" and "a/b/c"
// [MQTT-4.7.1-1], [MQTT-4.7.1-2]. A filter whose first character is a
// wildcard does not match a name starting with '$' [MQTT-4.7.2-1]. Levels are
// compared byte for byte, without normalization [MQTT-4.7.3-4].
//
// A shared subscription's filter "$share/{group}/{filter}" is not unwrapped:
// pass the inner filter (see ParseShared). Match does not allocate.
func Match(filter, name string) bool {
	if filter == "" || name == "" {
		return false
	}
	// [MQTT-4.7.2-1]
	if name[0] == '$' && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	for {
		flevel, frest, flast := cutLevel(filter)
		if flevel == "#" {
			return true
		}
		nlevel, nrest, nlast := cutLevel(name)
		if flevel != "+" && flevel != nlevel {
			return false
		}
		switch {
		case nlast:
			// The name is used up: the filter must be too, or have only a
			// '#' level left, which matches its parent.
			return flast || frest == "#"
		case flast:
			return false
		}
		filter, name = frest, nrest
	}
}

// cutLevel splits the first topic level off s. last reports whether that was
// the last level, in which case rest is empty; rest is also empty when s ends
// with a '/', but then last is false and an empty level follows.
func cutLevel(s string) (level, rest string, last bool) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i+1:], false
	}
	return s, "", true
}
