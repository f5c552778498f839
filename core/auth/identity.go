package auth

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Identity is who a client is, as Authenticate decided: a stored user
// (username and password), a certificate identity (mutual TLS with
// Options.CertIdentity), or anonymous.
type Identity struct {
	// User is the name access rules see: the username, or the
	// certificate identity; "" for an anonymous client.
	User string
	// Cert is set when a client certificate identified the client, so
	// that User need not name a stored user.
	Cert bool
	// ClientIDs is the client-id pattern in force for the client: its
	// stored user's own (User.ClientIDs), else Options.ClientIDs; ""
	// allows any client id. See MatchClientID.
	ClientIDs string
}

// Identity strings (Identity.String) by kind.
const (
	// Anonymous is the identity of every anonymous client: anonymous
	// clients can resume each other's sessions.
	Anonymous  = "anonymous"
	userPrefix = "user:"
	certPrefix = "cert:"
)

// String returns the identity a session belongs to: "anonymous",
// "user:NAME" for a stored user or "cert:NAME" for a certificate identity.
// The prefixes keep the kinds apart: a user named "anonymous" is not the
// anonymous clients, nor a certificate for "alice" the user alice.
func (id Identity) String() string {
	switch {
	case id.User == "":
		return Anonymous
	case id.Cert:
		return certPrefix + id.User
	}
	return userPrefix + id.User
}

// ParseIdentity reads an Identity.String back, without its ClientIDs; ok
// is false for a string no Identity gives (such as the empty identity of
// a session stored by an older version).
func ParseIdentity(s string) (id Identity, ok bool) {
	switch {
	case s == Anonymous:
		return Identity{}, true
	case strings.HasPrefix(s, userPrefix) && len(s) > len(userPrefix):
		return Identity{User: s[len(userPrefix):]}, true
	case strings.HasPrefix(s, certPrefix) && len(s) > len(certPrefix):
		return Identity{User: s[len(certPrefix):], Cert: true}, true
	}
	return Identity{}, false
}

// Client-id patterns.
//
// A pattern is matched against the whole client id: "*" stands for any run
// of characters (none included) and "%u" for the username (taken
// literally, even when it holds "*"); every other character stands for
// itself. "%u" matches the username alone, as Mosquitto's
// use_username_as_clientid; "%u-*" any id that starts with the username
// and a dash; "sensor-*" any id starting with "sensor-". A pattern with
// "%u" matches no anonymous client. No character escapes "*": a literal
// star is matched only by "*".
const (
	patternUser = "%u"
	patternAny  = '*'
)

// ValidateClientIDPattern returns an error wrapping ErrInvalid for a
// pattern that is not UTF-8, or uses '%' other than in "%u" (kept for
// later placeholders). The empty pattern, which allows any client id, is
// valid.
func ValidateClientIDPattern(p string) error {
	if !utf8.ValidString(p) {
		return fmt.Errorf("%w: client-id pattern %q is not UTF-8", ErrInvalid, p)
	}
	for i := 0; i < len(p); i++ {
		if p[i] == '%' && !strings.HasPrefix(p[i:], patternUser) {
			return fmt.Errorf("%w: client-id pattern %q: '%%' is only allowed in %q", ErrInvalid, p, patternUser)
		}
	}
	return nil
}

// MatchClientID reports whether clientID may be used by the client: it
// matches the pattern in force (id.ClientIDs; any id when it is empty).
// bound reports whether clientID is bound to the identity, so that
// access rules that name a client id (Rule.ClientID) or use %c apply to
// the client (see Allow): a named client is bound when its client id is
// its name, or when it matches a pattern that holds %u. An anonymous
// client is never bound.
func (id Identity) MatchClientID(clientID string) (ok, bound bool) {
	p := id.ClientIDs
	if p != "" {
		if strings.Contains(p, patternUser) && id.User == "" {
			return false, false
		}
		if !matchPattern(p, id.User, clientID) {
			return false, false
		}
	}
	if id.User == "" {
		return true, false
	}
	return true, clientID == id.User || strings.Contains(p, patternUser)
}

// matchPattern reports whether s matches pattern p with %u read as user:
// the pieces between the stars must appear in s in order, the first at
// its start and the last at its end. Finding each middle piece at its
// earliest place is enough, and costs at most len(p)*len(s).
func matchPattern(p, user, s string) bool {
	// Split p into literal pieces around the stars, %u substituted.
	pieces := strings.Split(p, string(patternAny))
	for i := range pieces {
		pieces[i] = strings.ReplaceAll(pieces[i], patternUser, user)
	}
	if len(pieces) == 1 {
		return s == pieces[0]
	}
	first, last := pieces[0], pieces[len(pieces)-1]
	if len(s) < len(first)+len(last) || !strings.HasPrefix(s, first) || !strings.HasSuffix(s, last) {
		return false
	}
	mid := s[len(first) : len(s)-len(last)]
	for _, piece := range pieces[1 : len(pieces)-1] {
		i := strings.Index(mid, piece)
		if i < 0 {
			return false
		}
		mid = mid[i+len(piece):]
	}
	return true
}
