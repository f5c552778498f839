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
	"encoding/json"
	"fmt"

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
	if err := auth.CheckStorableUser(u, bolt.MaxKeySize); err != nil {
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
	if err := auth.CheckStorableRule(r, bolt.MaxKeySize); err != nil {
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
			if id := auth.NewRuleID(); b.Get([]byte(id)) == nil {
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
