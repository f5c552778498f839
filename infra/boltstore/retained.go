package boltstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/core/topic"
)

// kRetained is the meta key of retainedTotals.
var kRetained = []byte("retained")

// retainedTotals counts the retained bucket: its messages and the sum of
// their Message.Size. Every write to the retained bucket updates it in the
// same transaction.
type retainedTotals struct {
	N     int   `json:"n"`
	Bytes int64 `json:"bytes"`
}

func getRetainedTotals(tx *bolt.Tx) (retainedTotals, error) {
	var t retainedTotals
	v := tx.Bucket(bMeta).Get(kRetained)
	if v == nil {
		return t, nil
	}
	if err := json.Unmarshal(v, &t); err != nil {
		return t, fmt.Errorf("retained totals: %w", err)
	}
	return t, nil
}

// initRetainedTotals counts the retained bucket of a file written before
// the totals were kept.
func initRetainedTotals(tx *bolt.Tx) error {
	if tx.Bucket(bMeta).Get(kRetained) != nil {
		return nil
	}
	var t retainedTotals
	err := tx.Bucket(bRetained).ForEach(func(k, v []byte) error {
		var m session.Message
		if err := json.Unmarshal(v, &m); err != nil {
			return fmt.Errorf("retained %q: %w", k, err)
		}
		t.N++
		t.Bytes += int64(m.Size())
		return nil
	})
	if err != nil {
		return err
	}
	return putJSON(tx.Bucket(bMeta), kRetained, &t)
}

// SetRetained implements session.Store: the message, the totals and the
// totals of the identities concerned in one transaction, which a refused
// write leaves untouched.
func (st *Store) SetRetained(ctx context.Context, m *session.Message, lim session.RetainedLimits) error {
	if m.Topic == "" {
		return nil
	}
	var refused error
	err := st.update(ctx, true, nil, func(tx *bolt.Tx) error {
		refused = nil
		b := tx.Bucket(bRetained)
		t, err := getRetainedTotals(tx)
		if err != nil {
			return err
		}
		var (
			om      session.Message
			oldSize int64
		)
		old := b.Get([]byte(m.Topic))
		if old != nil {
			if err := json.Unmarshal(old, &om); err != nil {
				return fmt.Errorf("retained %q: %w", m.Topic, err)
			}
			oldSize = int64(om.Size())
		}
		if len(m.Payload) == 0 {
			if old == nil {
				return nil
			}
			t.N--
			t.Bytes -= oldSize
			if err := b.Delete([]byte(m.Topic)); err != nil {
				return err
			}
			if err := addRetainedBy(tx, om.Identity, -1, -oldSize); err != nil {
				return err
			}
			return putJSON(tx.Bucket(bMeta), kRetained, &t)
		}
		size := int64(m.Size())
		use, err := getRetainedBy(tx, m.Identity)
		if err != nil {
			return err
		}
		mine := old != nil && om.Identity == m.Identity
		grown := use.Bytes + size
		if mine {
			grown -= oldSize
		}
		switch {
		case old == nil && lim.Count > 0 && t.N >= lim.Count:
			refused = fmt.Errorf("%d messages: %w", t.N, session.ErrQuotaExceeded)
			return nil
		case size > oldSize && lim.Bytes > 0 && t.Bytes-oldSize+size > lim.Bytes:
			refused = fmt.Errorf("%d bytes: %w", t.Bytes, session.ErrQuotaExceeded)
			return nil
		case !mine && lim.IdentityCount > 0 && use.N >= lim.IdentityCount:
			refused = fmt.Errorf("%d messages of %q: %w", use.N, m.Identity, session.ErrQuotaExceeded)
			return nil
		case grown > use.Bytes && lim.IdentityBytes > 0 && grown > lim.IdentityBytes:
			refused = fmt.Errorf("%d bytes of %q: %w", use.Bytes, m.Identity, session.ErrQuotaExceeded)
			return nil
		}
		if old == nil {
			t.N++
		} else if err := addRetainedBy(tx, om.Identity, -1, -oldSize); err != nil {
			return err
		}
		if err := addRetainedBy(tx, m.Identity, 1, size); err != nil {
			return err
		}
		t.Bytes += size - oldSize
		if err := putJSON(b, []byte(m.Topic), m); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bMeta), kRetained, &t)
	})
	if err == nil {
		err = refused
	}
	return wrap(err, "set retained %q", m.Topic)
}

// RetainedPage implements session.Store, in byte order of topics (bbolt's
// key order).
func (st *Store) RetainedPage(ctx context.Context, filter, after string, maxCount, maxBytes int) ([]*session.Message, error) {
	var out []*session.Message
	err := st.view(ctx, func(tx *bolt.Tx) error {
		out = nil
		size := 0
		return scanRetained(tx.Bucket(bRetained), filter, after, func(name, v []byte) (bool, error) {
			m := new(session.Message)
			if err := json.Unmarshal(v, m); err != nil {
				return false, fmt.Errorf("retained %q: %w", name, err)
			}
			if len(out) > 0 && size+m.Size() > maxBytes {
				return false, nil
			}
			out = append(out, m)
			size += m.Size()
			return len(out) < maxCount, nil
		})
	})
	if err != nil {
		return nil, wrap(err, "retained %q after %q", filter, after)
	}
	return out, nil
}

// scanRetained calls fn, in topic order, for each retained message in b
// whose topic matches filter and comes after after, until fn returns
// false. It seeks to the later of after and the filter's literal prefix
// (the levels before its first wildcard) and scans the topics that start
// with that prefix, so its cost grows with the number of those topics;
// "#" and "+/..." scan everything. This is the one place to put a topic
// trie when that gets too slow.
func scanRetained(b *bolt.Bucket, filter, after string, fn func(name, v []byte) (bool, error)) error {
	if filter == "" {
		return nil
	}
	i := strings.IndexAny(filter, "+#")
	if i < 0 {
		if filter <= after {
			return nil
		}
		if v := b.Get([]byte(filter)); v != nil {
			_, err := fn([]byte(filter), v)
			return err
		}
		return nil
	}
	// "a/#" also matches "a": drop the '/' before the wildcard level.
	prefix := []byte(strings.TrimSuffix(filter[:i], "/"))
	c := b.Cursor()
	k, v := c.Seek(prefix)
	if after != "" && bytes.Compare([]byte(after), prefix) >= 0 {
		k, v = c.Seek([]byte(after))
		if k != nil && string(k) == after {
			k, v = c.Next()
		}
	}
	for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if topic.Match(filter, string(k)) {
			more, err := fn(k, v)
			if err != nil || !more {
				return err
			}
		}
	}
	return nil
}
