package memstore

import (
	"context"
	"fmt"
	"slices"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/core/topic"
)

// SetRetained implements session.Store. st.retainedBytes follows every
// change of st.retained, under st.mu.
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
	c := cloneMessage(*m)
	st.retained[m.Topic] = &c
	st.retainedBytes += size - oldSize
	return nil
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
