package topic

import "fmt"

// NodeCount returns the number of trie nodes in ix, not counting the root.
func NodeCount[T any](ix *Index[T]) int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return ix.root.count() - 1
}

func (n *node[T]) count() int {
	c := 1
	n.eachChild(func(ch *node[T]) { c += ch.count() })
	return c
}

func (n *node[T]) eachChild(fn func(*node[T])) {
	if n.child != nil {
		fn(n.child)
	}
	for _, ch := range n.children {
		fn(ch)
	}
	if n.plus != nil {
		fn(n.plus)
	}
	if n.hash != nil {
		fn(n.hash)
	}
}

// CheckIndex verifies the internal invariants of ix: parent links, levels,
// pruning, the single-child form, and that locs and the node entries agree.
func CheckIndex[T any](ix *Index[T]) error {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	seen := 0
	var walk func(n *node[T]) error
	walk = func(n *node[T]) error {
		if n != &ix.root && n.empty() {
			return fmt.Errorf("empty node %q not pruned", n.level)
		}
		if n.children != nil && (len(n.children) == 0 || n.child != nil) {
			return fmt.Errorf("node %q: children map with %d entries, child %v", n.level, len(n.children), n.child != nil)
		}
		for k, ch := range n.children {
			if ch.level != k {
				return fmt.Errorf("child keyed %q has level %q", k, ch.level)
			}
		}
		if n.plus != nil && n.plus.level != "+" || n.hash != nil && n.hash.level != "#" {
			return fmt.Errorf("node %q: wildcard child with a wrong level", n.level)
		}
		for i := range n.entries {
			e := &n.entries[i]
			l, ok := ix.locs[entryKey{e.Filter, e.Key}]
			if !ok || l.n != n || l.i != i {
				return fmt.Errorf("entry (%q, %q) not located at its node", e.Filter, e.Key)
			}
			seen++
		}
		var err error
		n.eachChild(func(ch *node[T]) {
			if err == nil && ch.parent != n {
				err = fmt.Errorf("node %q: wrong parent", ch.level)
			}
			if err == nil {
				err = walk(ch)
			}
		})
		return err
	}
	if err := walk(&ix.root); err != nil {
		return err
	}
	if seen != len(ix.locs) {
		return fmt.Errorf("%d entries in nodes, %d in locs", seen, len(ix.locs))
	}
	return nil
}
