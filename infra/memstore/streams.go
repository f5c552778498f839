package memstore

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/mqttless/mqttless/core/session"
)

// The store steps of delivery v2 (session.StreamStore). streams and each
// record's positions are guarded by st.mu, as everything else.

var _ session.StreamStore = (*Store)(nil)

// stream is a sub-stream: msgs[i] is the entry at offset base+i+1.
type stream struct {
	base uint64
	msgs []session.Message
}

// Append implements session.StreamStore: the entry goes at the end of the
// sub-stream, so its offset is base plus the entries after it. Past
// keep+keep/4 entries (keep > 0), the oldest go down to keep.
func (st *Store) Append(_ context.Context, id session.StreamID, msg *session.Message) (uint64, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.streams == nil {
		st.streams = map[session.StreamID]*stream{}
	}
	s := st.streams[id]
	if s == nil {
		s = &stream{}
		st.streams[id] = s
	}
	s.msgs = append(s.msgs, cloneMessage(*msg))
	if st.keep > 0 && len(s.msgs) > st.keep+st.keep/4 {
		drop := len(s.msgs) - st.keep
		s.msgs = slices.Clone(s.msgs[drop:]) // a new array: the old one's messages go
		s.base += uint64(drop)
	}
	return s.base + uint64(len(s.msgs)), nil
}

// ReadStream implements session.StreamStore.
func (st *Store) ReadStream(_ context.Context, id session.StreamID, after uint64, limit int) ([]session.StreamEntry, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.streams[id]
	if s == nil {
		return nil, nil
	}
	var out []session.StreamEntry
	for off := max(after, s.base) + 1; off <= s.base+uint64(len(s.msgs)) && len(out) < limit; off++ {
		out = append(out, session.StreamEntry{Offset: off, Message: cloneMessage(s.msgs[off-s.base-1])})
	}
	return out, nil
}

// Heads implements session.StreamStore.
func (st *Store) Heads(_ context.Context, ids []session.StreamID) (map[session.StreamID]uint64, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make(map[session.StreamID]uint64, len(ids))
	for _, id := range ids {
		if s := st.streams[id]; s != nil {
			out[id] = s.base + uint64(len(s.msgs))
		} else {
			out[id] = 0
		}
	}
	return out, nil
}

// SavePositions implements session.StreamStore.
func (st *Store) SavePositions(_ context.Context, clientID, conn string, pos session.Positions) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	rec, err := st.owned(clientID, conn)
	if err != nil {
		return fmt.Errorf("memstore: positions: %w", err)
	}
	for id, p := range pos {
		if _, ok := rec.subs[id.Filter]; !ok {
			continue // the subscription went: its positions went with it
		}
		if rec.pos == nil {
			rec.pos = session.Positions{}
		}
		rec.pos[id] = clonePosition(p)
	}
	return nil
}

// Positions implements session.StreamStore.
func (st *Store) Positions(_ context.Context, clientID string) (session.Positions, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	rec := st.sessions[clientID]
	if rec == nil {
		return nil, nil
	}
	out := make(session.Positions, len(rec.pos))
	for id, p := range rec.pos {
		out[id] = clonePosition(p)
	}
	return out, nil
}

// dropPositions removes the positions of filter from rec. Lock held.
func dropPositions(rec *record, filter string) {
	maps.DeleteFunc(rec.pos, func(id session.StreamID, _ session.Position) bool { return id.Filter == filter })
}

// clonePosition returns a copy of p that shares no memory with it.
func clonePosition(p session.Position) session.Position {
	p.Released = slices.Clone(p.Released)
	return p
}
