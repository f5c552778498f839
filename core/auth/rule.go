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
	return substitute(r.Filter, user, clientID), true
}

// substitute replaces %u by user and %c by clientID in f, in one pass, so
// that a value holding the other placeholder stays a literal. It is on the
// path of every delivery (MayReceive): no Replacer is built for it.
func substitute(f, user, clientID string) string {
	var b strings.Builder
	b.Grow(len(f) + len(user) + len(clientID))
	for {
		i := strings.IndexByte(f, '%')
		if i < 0 || i == len(f)-1 {
			b.WriteString(f)
			return b.String()
		}
		b.WriteString(f[:i])
		switch f[i+1] {
		case placeholderUser[1]:
			b.WriteString(user)
		case placeholderClient[1]:
			b.WriteString(clientID)
		default: // a lone '%': the next byte may start a placeholder
			b.WriteByte('%')
			f = f[i+1:]
			continue
		}
		f = f[i+2:]
	}
}

// safeValue reports whether v may stand in a filter for a placeholder.
func safeValue(v string) bool {
	return v != "" && !strings.ContainsAny(v, "+#/") && v[0] != '$'
}
