package topic

import (
	"slices"
	"strings"
	"sync"
)

// Entry is one subscription held by an Index.
type Entry[T any] struct {
	// Filter is the filter as subscribed, including any "$share/{group}/"
	// prefix.
	Filter string
	// Group is the share name of a shared subscription, "" for a non-shared
	// one.
	Group string
	// Key identifies the subscriber, for example a client identifier. An
	// Index holds one entry per (Filter, Key) pair.
	Key string
	// Value is the caller's data, for example the subscription options.
	Value T
}

// Index is a subscription index: a trie over topic levels whose nodes hold
// the entries subscribed with the filter that leads to them. A shared
// subscription is filed under its inner filter. Matching a topic name visits
// only the nodes whose filter prefix matches the name's prefix, so its cost
// grows with the name's depth and the number of matches, not with the number
// of subscriptions held; adding and removing cost time proportional to the
// filter's depth.
//
// An Index is safe for concurrent use. Its mutex mu guards the whole trie
// (every node, its children and its entries) and the entry locator locs: Add
// and Remove hold it for writing, Match, MatchAppend and Len for reading.
// The zero Index is empty and ready to use; it must not be copied after
// first use.
type Index[T any] struct {
	mu   sync.RWMutex
	root node[T]                  // the empty prefix; guarded by mu
	locs map[entryKey]entryLoc[T] // where each entry is; guarded by mu
}

// entryKey identifies an entry: its filter as subscribed and its key.
type entryKey struct{ filter, key string }

// entryLoc is the position of an entry: node n's entries[i].
type entryLoc[T any] struct {
	n *node[T]
	i int
}

// node is one trie node, standing for the filter prefix spelled by the
// levels on the path from the root. Its literal children are in child while
// it has at most one of them, and in children (keyed by level) after that,
// which saves a map for the many nodes on a single path.
type node[T any] struct {
	level    string   // the level leading here from parent; "+" or "#" for plus and hash
	parent   *node[T] // nil for the root
	child    *node[T] // the only literal child, when children is nil
	children map[string]*node[T]
	plus     *node[T] // the child for a '+' level
	hash     *node[T] // the child for a '#' level
	entries  []Entry[T]
}

// NewIndex returns an empty Index.
func NewIndex[T any]() *Index[T] {
	return &Index[T]{locs: make(map[entryKey]entryLoc[T])}
}

// Add inserts the entry for (filter, key) with value v, or replaces the value
// of the existing one, and reports whether it replaced one. A shared filter
// "$share/{group}/{inner}" is indexed under its inner filter and its entry's
// Group is set. The filter is assumed valid (see ValidateFilter): an invalid
// one is stored without complaint but may never match.
func (ix *Index[T]) Add(filter, key string, v T) (replaced bool) {
	group, inner, shared, _ := ParseShared(filter)
	if !shared {
		inner = filter
	}
	k := entryKey{filter, key}

	ix.mu.Lock()
	defer ix.mu.Unlock()
	if l, ok := ix.locs[k]; ok {
		l.n.entries[l.i].Value = v
		return true
	}
	if ix.locs == nil {
		ix.locs = make(map[entryKey]entryLoc[T])
	}
	n := ix.path(inner)
	n.entries = append(n.entries, Entry[T]{Filter: filter, Group: group, Key: key, Value: v})
	ix.locs[k] = entryLoc[T]{n, len(n.entries) - 1}
	return false
}

// path returns the node for filter, creating the missing nodes on the way.
// The caller holds mu for writing.
func (ix *Index[T]) path(filter string) *node[T] {
	n := &ix.root
	for rest, last := filter, false; !last; {
		var level string
		level, rest, last = cutLevel(rest)
		switch level {
		case "+":
			if n.plus == nil {
				n.plus = &node[T]{level: "+", parent: n}
			}
			n = n.plus
		case "#":
			if n.hash == nil {
				n.hash = &node[T]{level: "#", parent: n}
			}
			n = n.hash
		default:
			c := n.literal(level)
			if c == nil {
				// Cloned so that the node does not keep the caller's whole
				// filter string alive after its entry is gone.
				c = &node[T]{level: strings.Clone(level), parent: n}
				n.addLiteral(c)
			}
			n = c
		}
	}
	return n
}

// Remove deletes the entry for (filter, key), prunes the trie nodes left
// without entries or children, and reports whether the entry existed.
func (ix *Index[T]) Remove(filter, key string) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	k := entryKey{filter, key}
	l, ok := ix.locs[k]
	if !ok {
		return false
	}
	delete(ix.locs, k)

	n := l.n
	last := len(n.entries) - 1
	if l.i != last {
		n.entries[l.i] = n.entries[last]
		moved := &n.entries[l.i]
		ix.locs[entryKey{moved.Filter, moved.Key}] = entryLoc[T]{n, l.i}
	}
	n.entries[last] = Entry[T]{} // drop references for the garbage collector
	n.entries = n.entries[:last]
	switch {
	case last == 0:
		n.entries = nil
	case cap(n.entries) > 32 && last*4 < cap(n.entries):
		n.entries = slices.Clone(n.entries) // give back memory after a mass unsubscribe
	}
	ix.prune(n)
	return true
}

// prune detaches n and then its ancestors for as long as they are empty. The
// caller holds mu for writing.
func (ix *Index[T]) prune(n *node[T]) {
	for n != &ix.root && n.empty() {
		p := n.parent
		switch n {
		case p.plus:
			p.plus = nil
		case p.hash:
			p.hash = nil
		default:
			p.removeLiteral(n)
		}
		n.parent = nil
		n = p
	}
}

// Match calls fn for every entry whose filter matches the topic name name, in
// no particular order, until fn returns false. Filters starting with a
// wildcard do not match names starting with '$' [MQTT-4.7.2-1]; shared
// subscriptions match through their inner filter. An empty name matches
// nothing. The name is not validated.
//
// Match holds the read lock while it calls fn, so fn must not call Add or
// Remove on the same Index (that deadlocks), and should not call its other
// methods either. *e belongs to the Index: fn must not modify it or keep the
// pointer after it returns; copy the Entry instead.
func (ix *Index[T]) Match(name string, fn func(e *Entry[T]) bool) {
	if name == "" || fn == nil {
		return
	}
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	if name[0] == '$' {
		// [MQTT-4.7.2-1]: skip the root's '+' and '#' children.
		level, rest, last := cutLevel(name)
		if c := ix.root.literal(level); c != nil {
			c.match(rest, last, fn)
		}
		return
	}
	ix.root.match(name, false, fn)
}

// match calls fn for the entries matching a name whose levels up to n's have
// matched n's filter prefix; rest holds the name's remaining levels unless
// done reports there are none. It reports false once fn has returned false.
// The recursion is at most as deep as the trie.
func (n *node[T]) match(rest string, done bool, fn func(*Entry[T]) bool) bool {
	// A '#' child matches the rest of the name, including nothing at all.
	if n.hash != nil && !emit(n.hash.entries, fn) {
		return false
	}
	if done {
		return emit(n.entries, fn)
	}
	level, rest, last := cutLevel(rest)
	if c := n.literal(level); c != nil && !c.match(rest, last, fn) {
		return false
	}
	if n.plus != nil {
		return n.plus.match(rest, last, fn)
	}
	return true
}

// emit calls fn for each of entries until it returns false, and reports
// whether it never did.
func emit[T any](entries []Entry[T], fn func(*Entry[T]) bool) bool {
	for i := range entries {
		if !fn(&entries[i]) {
			return false
		}
	}
	return true
}

// MatchAppend appends copies of the entries Match would pass to fn to dst,
// and returns the extended slice.
func (ix *Index[T]) MatchAppend(dst []Entry[T], name string) []Entry[T] {
	ix.Match(name, func(e *Entry[T]) bool {
		dst = append(dst, *e)
		return true
	})
	return dst
}

// Len returns the number of entries in the index.
func (ix *Index[T]) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.locs)
}

// literal returns n's child for the literal level, or nil.
func (n *node[T]) literal(level string) *node[T] {
	if n.children != nil {
		return n.children[level]
	}
	if n.child != nil && n.child.level == level {
		return n.child
	}
	return nil
}

// addLiteral adds c, which n has no literal child for yet, as a child of n.
func (n *node[T]) addLiteral(c *node[T]) {
	switch {
	case n.children != nil:
		n.children[c.level] = c
	case n.child == nil:
		n.child = c
	default:
		n.children = map[string]*node[T]{n.child.level: n.child, c.level: c}
		n.child = nil
	}
}

// removeLiteral removes n's literal child c.
func (n *node[T]) removeLiteral(c *node[T]) {
	if n.children == nil {
		n.child = nil
		return
	}
	delete(n.children, c.level)
	if len(n.children) == 0 {
		n.children = nil
	}
}

// empty reports whether n has neither entries nor children.
func (n *node[T]) empty() bool {
	return len(n.entries) == 0 && n.child == nil && n.children == nil &&
		n.plus == nil && n.hash == nil
}
