package topic

// Covers reports whether the topic filter rule covers the topic filter
// filter: whether every topic name that filter matches is also matched by
// rule, so that a subscription to filter receives nothing a subscription to
// rule would not. An access rule that allows subscribing to rule thereby
// allows subscribing to filter.
//
// Level by level, a '#' in rule covers the rest of filter, '#' included;
// a '+' in rule covers one level of filter that is a literal or a '+'; a
// literal level covers only the same literal. A filter "a" is covered by
// "a/#", whose '#' also matches its parent level [MQTT-4.7.1-1]. A rule
// starting with a wildcard covers no filter whose first level starts with
// '$', since it matches no name starting with '$' [MQTT-4.7.2-1].
//
// A shared subscription's filter "$share/{group}/{filter}" is checked on
// its inner filter; rule is taken as it is. Neither argument is otherwise
// validated; an empty or malformed shared filter is covered by nothing.
// Covers does not allocate.
func Covers(rule, filter string) bool {
	_, inner, shared, err := ParseShared(filter)
	if err != nil {
		return false
	}
	if shared {
		filter = inner
	}
	if rule == "" || filter == "" {
		return false
	}
	// [MQTT-4.7.2-1]
	if filter[0] == '$' && (rule[0] == '+' || rule[0] == '#') {
		return false
	}
	for {
		rlevel, rrest, rlast := cutLevel(rule)
		if rlevel == "#" {
			return true
		}
		flevel, frest, flast := cutLevel(filter)
		switch {
		case flevel == "#":
			return false // only a '#' covers a '#'
		case rlevel == "+":
			// A '+' covers a literal or a '+'.
		case flevel != rlevel:
			return false // a literal covers only itself, not a '+'
		}
		switch {
		case flast:
			// The filter is used up: the rule must be too, or have only a
			// '#' level left, which matches its parent.
			return rlast || rrest == "#"
		case rlast:
			return false
		}
		rule, filter = rrest, frest
	}
}
