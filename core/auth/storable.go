package auth

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"unicode/utf8"
)

// CheckStorableUser returns an error wrapping ErrInvalid when a Store
// cannot keep u: nil, or a name that is empty, not UTF-8 (JSON and the
// AWS SDK would change it) or longer than maxKey bytes (the store's
// longest key; 0 for no limit).
func CheckStorableUser(u *User, maxKey int) error {
	switch {
	case u == nil:
		return fmt.Errorf("auth: no user: %w", ErrInvalid)
	case u.Name == "":
		return fmt.Errorf("auth: empty user name: %w", ErrInvalid)
	case !utf8.ValidString(u.Name):
		return fmt.Errorf("auth: user name %q is not UTF-8: %w", u.Name, ErrInvalid)
	case maxKey > 0 && len(u.Name) > maxKey:
		return fmt.Errorf("auth: user name of %d bytes, more than %d: %w", len(u.Name), maxKey, ErrInvalid)
	}
	return nil
}

// CheckStorableRule returns an error wrapping ErrInvalid when a Store
// cannot keep r: an Access other than Publish, Subscribe and Both, an
// empty Filter, a string that is not UTF-8, or an ID longer than maxKey
// bytes (0 for no limit). It is weaker than Rule.Validate, which the
// admin CLI applies: a store keeps what it is given faithfully, and the
// Checker skips, or for deny rules applies to everything, a rule it
// cannot use.
func CheckStorableRule(r Rule, maxKey int) error {
	switch r.Access {
	case Publish, Subscribe, Both:
	default:
		return fmt.Errorf("auth: rule %q: access %q: %w", r.ID, r.Access, ErrInvalid)
	}
	if r.Filter == "" {
		return fmt.Errorf("auth: rule %q: empty filter: %w", r.ID, ErrInvalid)
	}
	if maxKey > 0 && len(r.ID) > maxKey {
		return fmt.Errorf("auth: rule ID of %d bytes, more than %d: %w", len(r.ID), maxKey, ErrInvalid)
	}
	for _, s := range []string{r.ID, r.User, r.ClientID, r.Filter} {
		if !utf8.ValidString(s) {
			return fmt.Errorf("auth: rule %q: %q is not UTF-8: %w", r.ID, s, ErrInvalid)
		}
	}
	return nil
}

// NewRuleID returns a random rule ID: 16 hex digits.
func NewRuleID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
