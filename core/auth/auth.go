// Package auth holds the broker's users and access rules: who may connect
// (username and password, or a client certificate) and what each client may
// publish and subscribe to. It has no I/O of its own: users and rules live
// in a Store, which the embedded store and the DynamoDB store implement.
//
// A Checker applies them: Authenticate decides who the client of a CONNECT
// is (HashPassword makes the hashes it checks), and Allow whether a client
// may publish to a topic or subscribe to a filter, from the rules it
// caches for Options.CacheTTL.
package auth

import (
	"context"
	"errors"
)

// Errors of the package. Adapters wrap them with context; match them with
// errors.Is.
var (
	// ErrNotFound is a user or rule that does not exist.
	ErrNotFound = errors.New("auth: not found")
	// ErrExists is a user that already exists where a new one was asked for.
	ErrExists = errors.New("auth: already exists")
	// ErrInvalid is a user or rule that breaks a rule of this package; the
	// message says which.
	ErrInvalid = errors.New("auth: invalid")
)

// User is a user who may connect with a username and password.
type User struct {
	// Name is the MQTT username.
	Name string `json:"name"`
	// Hash is the salted password hash (bcrypt); the password itself is
	// never stored.
	Hash []byte `json:"hash"`
	// Created is when the user was added (Unix ms).
	Created int64 `json:"created"`
	// ClientIDs is the pattern the client ids of this user must match
	// (see MatchClientID), replacing Options.ClientIDs; "" for none of
	// its own.
	ClientIDs string `json:"clientIds,omitempty"`
}

// Access is what a rule grants or denies.
type Access string

// Access values.
const (
	Publish   Access = "publish"
	Subscribe Access = "subscribe"
	Both      Access = "both"
)

// Rule is one access rule. A rule applies to a client when its User and
// ClientID are empty or equal to the client's username and client id; a
// rule with a ClientID applies only to a client whose client id is bound
// to its identity (Identity.MatchClientID). Once
// any rule exists, what no rule allows is denied; a deny rule that applies
// wins over any allow rule.
type Rule struct {
	// ID names the rule, for removal; the store assigns one when empty.
	ID string `json:"id"`
	// User and ClientID select the clients the rule applies to; empty
	// matches any.
	User     string `json:"user,omitempty"`
	ClientID string `json:"clientId,omitempty"`
	// Access is what the rule covers.
	Access Access `json:"access"`
	// Filter is a topic filter in which %u stands for the username and %c
	// for the client id.
	Filter string `json:"filter"`
	// Deny makes the rule deny what it matches instead of allowing it.
	Deny bool `json:"deny,omitempty"`
}

// Store keeps users and rules. Its methods are safe for concurrent use.
type Store interface {
	// User returns the user named name, or ErrNotFound.
	User(ctx context.Context, name string) (*User, error)
	// PutUser adds u, or replaces the user of that name when replace is
	// set; without replace an existing user gives ErrExists.
	PutUser(ctx context.Context, u *User, replace bool) error
	// DeleteUser removes the user named name, or returns ErrNotFound.
	DeleteUser(ctx context.Context, name string) error
	// Users returns every user, ordered by name.
	Users(ctx context.Context) ([]*User, error)
	// Rules returns every rule, ordered by ID.
	Rules(ctx context.Context) ([]Rule, error)
	// PutRule adds r, or replaces the rule with its ID, and returns the ID.
	PutRule(ctx context.Context, r Rule) (string, error)
	// DeleteRule removes the rule with id, or returns ErrNotFound.
	DeleteRule(ctx context.Context, id string) error
}
