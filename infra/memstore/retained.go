package memstore

import (
	"context"
	"fmt"
	"slices"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/core/topic"
)

// retainedUse is what the retained messages recorded with one identity
// hold: how many, and their Message.Size summed.
type retainedUse struct {
	n     int
	bytes int64
}

// SetRetained implements session.Store. st.retainedBytes and
// st.retainedBy follow every change of st.retained, under st.mu.
func (st *Store) SetRetained(_ context.Context, m *session.Message, lim session.RetainedLimits) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	old := st.retained[m.Topic]
	oldSize := int64(0)
	if old != nil {
		oldSize = int64(old.Size())
	}
	if len(m.Payload) == 0 {
		if old != nil {
			delete(st.retained, m.Topic)
			st.retainedBytes -= oldSize
			st.useRetained(old.Identity, -1, -oldSize)
		}
		return nil
	}
	size := int64(m.Size())
	if old == nil && lim.Count > 0 && len(st.retained) >= lim.Count {
		return fmt.Errorf("memstore: retained %q: %d messages: %w", m.Topic, len(st.retained), session.ErrQuotaExceeded)
	}
	if size > oldSize && lim.Bytes > 0 && st.retainedBytes-oldSize+size > lim.Bytes {
		return fmt.Errorf("memstore: retained %q: %d bytes: %w", m.Topic, st.retainedBytes, session.ErrQuotaExceeded)
	}
	// What m.Identity holds, and would hold after the write.
	use := st.retainedBy[m.Identity]
	mine := old != nil && old.Identity == m.Identity
	grown := use.bytes + size
	if mine {
		grown -= oldSize
	}
	if !mine && lim.IdentityCount > 0 && use.n >= lim.IdentityCount {
		return fmt.Errorf("memstore: retained %q: %d messages of %q: %w", m.Topic, use.n, m.Identity, session.ErrQuotaExceeded)
	}
	if grown > use.bytes && lim.IdentityBytes > 0 && grown > lim.IdentityBytes {
		return fmt.Errorf("memstore: retained %q: %d bytes of %q: %w", m.Topic, use.bytes, m.Identity, session.ErrQuotaExceeded)
	}
	if old != nil {
		st.useRetained(old.Identity, -1, -oldSize)
	}
	st.useRetained(m.Identity, 1, size)
	c := cloneMessage(*m)
	st.retained[m.Topic] = &c
	st.retainedBytes += size - oldSize
	return nil
}

// useRetained adds n messages and bytes to what identity holds, under
// st.mu.
func (st *Store) useRetained(identity string, n int, bytes int64) {
	u := st.retainedBy[identity]
	u.n += n
	u.bytes += bytes
	if u.n <= 0 {
		delete(st.retainedBy, identity)
		return
	}
	st.retainedBy[identity] = u
}

// RetainedPage implements session.Store, in byte order of topics. It
// scans every retained message for each page.
func (st *Store) RetainedPage(_ context.Context, filter, after string, maxCount, maxBytes int) ([]*session.Message, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	var names []string
	for name := range st.retained {
		if name > after && topic.Match(filter, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var out []*session.Message
	bytes := 0
	for _, name := range names {
		m := st.retained[name]
		if len(out) >= maxCount || (len(out) > 0 && bytes+m.Size() > maxBytes) {
			break
		}
		c := cloneMessage(*m)
		out = append(out, &c)
		bytes += c.Size()
	}
	return out, nil
}
