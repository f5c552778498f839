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

// Append implements session.StreamStore: the entry goes at the end of the
// sub-stream's slice, so its offset is the slice's length after it.
func (st *Store) Append(_ context.Context, id session.StreamID, msg *session.Message) (uint64, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.streams == nil {
		st.streams = map[session.StreamID][]session.Message{}
	}
	st.streams[id] = append(st.streams[id], cloneMessage(*msg))
	return uint64(len(st.streams[id])), nil
}

// ReadStream implements session.StreamStore.
func (st *Store) ReadStream(_ context.Context, id session.StreamID, after uint64, limit int) ([]session.StreamEntry, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.streams[id]
	var out []session.StreamEntry
	for off := after + 1; off <= uint64(len(s)) && len(out) < limit; off++ {
		out = append(out, session.StreamEntry{Offset: off, Message: cloneMessage(s[off-1])})
	}
	return out, nil
}

// Heads implements session.StreamStore.
func (st *Store) Heads(_ context.Context, ids []session.StreamID) (map[session.StreamID]uint64, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make(map[session.StreamID]uint64, len(ids))
	for _, id := range ids {
		out[id] = uint64(len(st.streams[id]))
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
