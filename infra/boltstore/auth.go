package boltstore

// Users and rules (auth.Store) live in two buckets of their own, next to
// the session buckets:
//
//	users  <name>   the user (JSON of auth.User)
//	rules  <ID>     the rule (JSON of auth.Rule)
//
// The buckets are created by the first write to them, so a file written
// before they existed needs no migration: a missing bucket reads as empty.
// bbolt keeps keys in byte order, which is the order of Users and Rules.
// Every write is a plain read-write transaction, durable when it returns
// (never batched nor returned early, whatever the options), and touches no
// session cache or index.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/mqttless/mqttless/core/auth"
)

var _ auth.Store = (*Store)(nil)

// Bucket names of the users and rules.
var (
	bUsers = []byte("users")
	bRules = []byte("rules")
)

// User implements auth.Store.
func (st *Store) User(ctx context.Context, name string) (*auth.User, error) {
	var u *auth.User
	err := st.view(ctx, func(tx *bolt.Tx) error {
		u = nil
		v := authValue(tx, bUsers, name)
		if v == nil {
			return auth.ErrNotFound
		}
		u = new(auth.User)
		return json.Unmarshal(v, u)
	})
	if err != nil {
		return nil, wrap(err, "user %q", name)
	}
	return u, nil
}

// PutUser implements auth.Store.
func (st *Store) PutUser(ctx context.Context, u *auth.User, replace bool) error {
	if err := checkUser(u); err != nil {
		return wrap(err, "put user")
	}
	err := st.update(ctx, false, nil, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bUsers)
		if err != nil {
			return err
		}
		if !replace && b.Get([]byte(u.Name)) != nil {
			return auth.ErrExists
		}
		return putJSON(b, []byte(u.Name), u)
	})
	return wrap(err, "put user %q", u.Name)
}

// DeleteUser implements auth.Store.
func (st *Store) DeleteUser(ctx context.Context, name string) error {
	return wrap(st.deleteKey(ctx, bUsers, name), "delete user %q", name)
}

// Users implements auth.Store.
func (st *Store) Users(ctx context.Context) ([]*auth.User, error) {
	out := []*auth.User{}
	err := st.view(ctx, func(tx *bolt.Tx) error {
		out = out[:0]
		b := tx.Bucket(bUsers)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			u := new(auth.User)
			if err := json.Unmarshal(v, u); err != nil {
				return fmt.Errorf("user %q: %w", k, err)
			}
			out = append(out, u)
			return nil
		})
	})
	if err != nil {
		return nil, wrap(err, "users")
	}
	return out, nil
}

// Rules implements auth.Store.
func (st *Store) Rules(ctx context.Context) ([]auth.Rule, error) {
	out := []auth.Rule{}
	err := st.view(ctx, func(tx *bolt.Tx) error {
		out = out[:0]
		b := tx.Bucket(bRules)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var r auth.Rule
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("rule %q: %w", k, err)
			}
			out = append(out, r)
			return nil
		})
	})
	if err != nil {
		return nil, wrap(err, "rules")
	}
	return out, nil
}

// PutRule implements auth.Store. An ID it assigns is 16 random hex digits.
func (st *Store) PutRule(ctx context.Context, r auth.Rule) (string, error) {
	if err := checkRule(r); err != nil {
		return "", wrap(err, "put rule")
	}
	id := r.ID
	err := st.update(ctx, false, nil, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bRules)
		if err != nil {
			return err
		}
		r.ID = id
		for r.ID == "" {
			if id := newRuleID(); b.Get([]byte(id)) == nil {
				r.ID = id
			}
		}
		return putJSON(b, []byte(r.ID), r)
	})
	if err != nil {
		return "", wrap(err, "put rule %q", id)
	}
	return r.ID, nil
}

// DeleteRule implements auth.Store.
func (st *Store) DeleteRule(ctx context.Context, id string) error {
	return wrap(st.deleteKey(ctx, bRules, id), "delete rule %q", id)
}

// authValue returns the value of key in bucket, or nil when either is
// missing.
func authValue(tx *bolt.Tx, bucket []byte, key string) []byte {
	b := tx.Bucket(bucket)
	if b == nil || key == "" {
		return nil
	}
	return b.Get([]byte(key))
}

// deleteKey deletes key from bucket, or returns auth.ErrNotFound when it
// is not there.
func (st *Store) deleteKey(ctx context.Context, bucket []byte, key string) error {
	return st.update(ctx, false, nil, func(tx *bolt.Tx) error {
		if authValue(tx, bucket, key) == nil {
			return auth.ErrNotFound
		}
		return tx.Bucket(bucket).Delete([]byte(key))
	})
}

// newRuleID returns a random rule ID: 16 hex digits.
func newRuleID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// checkUser returns an error wrapping auth.ErrInvalid when u cannot be
// stored: nil, without a name, or with a name that is not UTF-8 (JSON
// would change it) or longer than a bbolt key.
func checkUser(u *auth.User) error {
	switch {
	case u == nil:
		return fmt.Errorf("no user: %w", auth.ErrInvalid)
	case u.Name == "":
		return fmt.Errorf("empty user name: %w", auth.ErrInvalid)
	case !utf8.ValidString(u.Name):
		return fmt.Errorf("user name %q is not UTF-8: %w", u.Name, auth.ErrInvalid)
	case len(u.Name) > bolt.MaxKeySize:
		return fmt.Errorf("user name of %d bytes, more than %d: %w", len(u.Name), bolt.MaxKeySize, auth.ErrInvalid)
	}
	return nil
}

// checkRule returns an error wrapping auth.ErrInvalid when r cannot be
// stored: an Access other than Publish, Subscribe and Both, an empty
// Filter, a string that is not UTF-8 (JSON would change it), or an ID
// longer than a bbolt key.
func checkRule(r auth.Rule) error {
	switch r.Access {
	case auth.Publish, auth.Subscribe, auth.Both:
	default:
		return fmt.Errorf("rule %q: access %q: %w", r.ID, r.Access, auth.ErrInvalid)
	}
	if r.Filter == "" {
		return fmt.Errorf("rule %q: empty filter: %w", r.ID, auth.ErrInvalid)
	}
	if len(r.ID) > bolt.MaxKeySize {
		return fmt.Errorf("rule ID of %d bytes, more than %d: %w", len(r.ID), bolt.MaxKeySize, auth.ErrInvalid)
	}
	for _, s := range []string{r.ID, r.User, r.ClientID, r.Filter} {
		if !utf8.ValidString(s) {
			return fmt.Errorf("rule %q: %q is not UTF-8: %w", r.ID, s, auth.ErrInvalid)
		}
	}
	return nil
}
