package auth

import (
	"fmt"
	"strings"

	"github.com/mqttless/mqttless/core/topic"
)

// Placeholders of Rule.Filter.
const (
	placeholderUser   = "%u"
	placeholderClient = "%c"
)

// literalPlaceholders turns the placeholders of a filter into plain
// letters, for validation.
var literalPlaceholders = strings.NewReplacer(placeholderUser, "u", placeholderClient, "c")

// Validate returns nil when r is a rule the Checker can apply, or an error
// wrapping ErrInvalid that says what is wrong: Access must be Publish,
// Subscribe or Both, and Filter a valid topic filter once %u and %c are
// read as literals. A filter may not be a shared subscription
// ("$share/..."): rules are written for the filters inside them.
func (r Rule) Validate() error {
	switch r.Access {
	case Publish, Subscribe, Both:
	default:
		return fmt.Errorf("%w: rule access %q is not %q, %q or %q", ErrInvalid, r.Access, Publish, Subscribe, Both)
	}
	if strings.HasPrefix(r.Filter, topic.SharePrefix) {
		return fmt.Errorf("%w: rule filter %q is a shared subscription", ErrInvalid, r.Filter)
	}
	if err := topic.ValidateFilter(literalPlaceholders.Replace(r.Filter)); err != nil {
		return fmt.Errorf("%w: rule filter %q: %w", ErrInvalid, r.Filter, err)
	}
	return nil
}

// selects reports whether r applies to the client: its User and ClientID
// are empty or equal to the client's.
func (r *Rule) selects(user, clientID string) bool {
	return (r.User == "" || r.User == user) && (r.ClientID == "" || r.ClientID == clientID)
}

// grants reports whether r is about access a.
func (r *Rule) grants(a Access) bool { return r.Access == a || r.Access == Both }

// filterFor returns r's filter with %u replaced by user and %c by
// clientID. ok is false when the filter uses a placeholder whose value
// could widen it: an empty value, one containing '+', '#' or '/', or one
// starting with '$' (a user named "#" must not get "#", nor a client named
// "$SYS" the "$SYS" tree). Such a rule does not apply.
func (r *Rule) filterFor(user, clientID string) (filter string, ok bool) {
	hasUser := strings.Contains(r.Filter, placeholderUser)
	hasClient := strings.Contains(r.Filter, placeholderClient)
	switch {
	case !hasUser && !hasClient:
		return r.Filter, true
	case hasUser && !safeValue(user), hasClient && !safeValue(clientID):
		return "", false
	}
	// One pass, so that a value holding the other placeholder stays a
	// literal.
	return strings.NewReplacer(placeholderUser, user, placeholderClient, clientID).Replace(r.Filter), true
}

// safeValue reports whether v may stand in a filter for a placeholder.
func safeValue(v string) bool {
	return v != "" && !strings.ContainsAny(v, "+#/") && v[0] != '$'
}

// overlap reports whether two valid, non-shared topic filters match at
// least one topic name in common. A deny rule for subscriptions applies to
// every filter it overlaps: "#" is refused under a rule denying "secret/#",
// since messages are not checked again at delivery.
func overlap(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	// [MQTT-4.7.2-1]: a filter starting with a wildcard matches no name
	// starting with '$', which a first level starting with '$' needs.
	if wild(a[0]) && b[0] == '$' || wild(b[0]) && a[0] == '$' {
		return false
	}
	for {
		al, arest, alast := cutLevel(a)
		bl, brest, blast := cutLevel(b)
		if al == "#" || bl == "#" {
			return true
		}
		if al != "+" && bl != "+" && al != bl {
			return false
		}
		switch {
		case alast && blast:
			return true
		case alast:
			return brest == "#" // "a" and "a/#" both match "a"
		case blast:
			return arest == "#"
		}
		a, b = arest, brest
	}
}

func wild(c byte) bool { return c == '+' || c == '#' }

// cutLevel splits the first topic level off s; last reports whether it was
// the last one.
func cutLevel(s string) (level, rest string, last bool) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i+1:], false
	}
	return s, "", true
}
