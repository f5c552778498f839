package session

import "slices"

// followIndexAt is how many follows a window keeps in its list alone;
// past it, an index by StreamID keeps look-ups constant.
const followIndexAt = 8

// followSet is a window's follows: a list in the order they began, with
// an index by sub-stream only past followIndexAt. A connection with few
// subscriptions, the common case, keeps no map: an idle connection's
// memory (S4).
type followSet struct {
	list  []*follow
	index map[StreamID]*follow // nil while len(list) <= followIndexAt
	// turn is where the next pass over list starts (each pass starts one
	// later), so that no sub-stream always comes first to a window's
	// room.
	turn int
}

// get returns the follow of id, or nil.
func (s *followSet) get(id StreamID) *follow {
	if s.index != nil {
		return s.index[id]
	}
	for _, f := range s.list {
		if f.id == id {
			return f
		}
	}
	return nil
}

// add adds f, whose sub-stream the set does not hold.
func (s *followSet) add(f *follow) {
	s.list = append(s.list, f)
	switch {
	case s.index != nil:
		s.index[f.id] = f
	case len(s.list) > followIndexAt:
		s.index = make(map[StreamID]*follow, len(s.list))
		for _, g := range s.list {
			s.index[g.id] = g
		}
	}
}

// remove removes the follow of id, if any.
func (s *followSet) remove(id StreamID) {
	s.list = slices.DeleteFunc(s.list, func(f *follow) bool { return f.id == id })
	if s.index != nil {
		delete(s.index, id)
		if len(s.list) <= followIndexAt {
			s.index = nil
		}
	}
	if len(s.list) == 0 {
		s.list = nil
	}
}

// len returns how many follows the set holds.
func (s *followSet) len() int { return len(s.list) }

// start returns where a pass over list starts, one later on each call.
func (s *followSet) start() int {
	if len(s.list) == 0 {
		return 0
	}
	i := s.turn % len(s.list)
	s.turn = i + 1
	return i
}
