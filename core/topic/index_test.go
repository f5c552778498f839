package topic_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mqttless/mqttless/core/topic"
)

// matchKeys returns the sorted "filter|key" pairs ix matches name with.
func matchKeys[T any](ix *topic.Index[T], name string) []string {
	var got []string
	ix.Match(name, func(e *topic.Entry[T]) bool {
		got = append(got, e.Filter+"|"+e.Key)
		return true
	})
	slices.Sort(got)
	return got
}

func checkIndex[T any](t *testing.T, ix *topic.Index[T]) {
	t.Helper()
	if err := topic.CheckIndex(ix); err != nil {
		t.Fatal(err)
	}
}

func TestIndexAddReplaceRemove(t *testing.T) {
	ix := topic.NewIndex[int]()
	if ix.Add("a/+", "c1", 1) {
		t.Error("first Add reported a replacement")
	}
	if !ix.Add("a/+", "c1", 2) {
		t.Error("second Add of the same (filter, key) did not report a replacement")
	}
	if ix.Add("a/+", "c2", 3) || ix.Add("a/#", "c1", 4) || ix.Add("$share/g/a/+", "c1", 5) {
		t.Error("Add of a new (filter, key) reported a replacement")
	}
	if got := ix.Len(); got != 4 {
		t.Errorf("Len = %d, want 4", got)
	}
	checkIndex(t, ix)

	got := ix.MatchAppend(nil, "a/b")
	slices.SortFunc(got, func(x, y topic.Entry[int]) int {
		return strings.Compare(x.Filter+x.Key, y.Filter+y.Key)
	})
	want := []topic.Entry[int]{
		{Filter: "$share/g/a/+", Group: "g", Key: "c1", Value: 5},
		{Filter: "a/#", Key: "c1", Value: 4},
		{Filter: "a/+", Key: "c1", Value: 2},
		{Filter: "a/+", Key: "c2", Value: 3},
	}
	if !slices.Equal(got, want) {
		t.Errorf("MatchAppend(a/b) = %+v, want %+v", got, want)
	}

	if ix.Remove("a/+", "nobody") || ix.Remove("a/b", "c1") || ix.Remove("a/+/", "c1") {
		t.Error("Remove of a missing entry reported true")
	}
	if !ix.Remove("a/+", "c1") {
		t.Error("Remove(a/+, c1) = false")
	}
	if ix.Remove("a/+", "c1") {
		t.Error("second Remove(a/+, c1) = true")
	}
	checkIndex(t, ix)
	if got, want := matchKeys(ix, "a/b"), []string{"$share/g/a/+|c1", "a/#|c1", "a/+|c2"}; !slices.Equal(got, want) {
		t.Errorf("after Remove, Match(a/b) = %q, want %q", got, want)
	}
	if got := ix.Len(); got != 3 {
		t.Errorf("Len = %d, want 3", got)
	}
}

func TestIndexZeroValue(t *testing.T) {
	var ix topic.Index[string]
	if ix.Len() != 0 || ix.Remove("a", "k") || len(ix.MatchAppend(nil, "a")) != 0 {
		t.Fatal("zero Index not empty")
	}
	ix.Add("a", "k", "v")
	if got := ix.MatchAppend(nil, "a"); len(got) != 1 || got[0].Value != "v" {
		t.Errorf("MatchAppend = %+v", got)
	}
}

func TestIndexShared(t *testing.T) {
	ix := topic.NewIndex[struct{}]()
	ix.Add("$share/g1/s/+", "c1", struct{}{})
	ix.Add("$share/g2/s/+", "c1", struct{}{})
	ix.Add("$share/g1/s/+", "c2", struct{}{})
	ix.Add("s/+", "c1", struct{}{})
	ix.Add("$share/g1/#", "c3", struct{}{})
	if n := ix.Len(); n != 5 {
		t.Fatalf("Len = %d, want 5", n)
	}
	groups := map[string]string{}
	ix.Match("s/x", func(e *topic.Entry[struct{}]) bool {
		groups[e.Filter+"|"+e.Key] = e.Group
		return true
	})
	want := map[string]string{
		"$share/g1/s/+|c1": "g1", "$share/g2/s/+|c1": "g2", "$share/g1/s/+|c2": "g1",
		"s/+|c1": "", "$share/g1/#|c3": "g1",
	}
	if fmt.Sprint(groups) != fmt.Sprint(want) {
		t.Errorf("Match(s/x) entries and groups = %v, want %v", groups, want)
	}
	// [MQTT-4.7.2-1] applies to the inner filter.
	if got := matchKeys(ix, "$SYS/x"); len(got) != 0 {
		t.Errorf("Match($SYS/x) = %q, want nothing", got)
	}
	// The shared filter is not matched literally.
	if got := matchKeys(ix, "$share/g1/s/x"); len(got) != 0 {
		t.Errorf("Match($share/g1/s/x) = %q, want nothing", got)
	}
	if !ix.Remove("$share/g2/s/+", "c1") || ix.Remove("$share/g3/s/+", "c1") {
		t.Error("Remove of shared entries went wrong")
	}
	checkIndex(t, ix)
}

// TestIndexMatchCases runs the Match table through an Index holding the one
// filter of each case.
func TestIndexMatchCases(t *testing.T) {
	for _, c := range matchCases {
		if c.filter == "" || strings.HasPrefix(c.filter, topic.SharePrefix) {
			continue // Match does not unwrap shared filters, but Index does
		}
		ix := topic.NewIndex[int]()
		ix.Add(c.filter, "k", 0)
		if got := len(ix.MatchAppend(nil, c.name)) == 1; got != c.want {
			t.Errorf("Index{%q}.Match(%q) = %v, want %v [%s]", c.filter, c.name, got, c.want, c.id)
		}
	}
}

func TestIndexDollarRule(t *testing.T) {
	ix := topic.NewIndex[int]()
	for _, f := range []string{"#", "+", "+/x", "+/#", "$SYS/#", "$SYS/+", "$SYS/x", "$share/g/#", "$share/g/$SYS/#"} {
		ix.Add(f, "k", 0)
	}
	// [MQTT-4.7.2-1]
	want := []string{"$SYS/#|k", "$SYS/+|k", "$SYS/x|k", "$share/g/$SYS/#|k"}
	if got := matchKeys(ix, "$SYS/x"); !slices.Equal(got, want) {
		t.Errorf("Match($SYS/x) = %q, want %q", got, want)
	}
	want = []string{"#|k", "$share/g/#|k", "+/#|k", "+/x|k"}
	if got := matchKeys(ix, "SYS/x"); !slices.Equal(got, want) {
		t.Errorf("Match(SYS/x) = %q, want %q", got, want)
	}
}

func TestIndexStopEarly(t *testing.T) {
	ix := topic.NewIndex[int]()
	for i := range 10 {
		ix.Add("#", fmt.Sprint(i), i)
		ix.Add("a/+", fmt.Sprint(i), i)
		ix.Add("a/b", fmt.Sprint(i), i)
	}
	for stop := 1; stop <= 30; stop++ {
		calls := 0
		ix.Match("a/b", func(*topic.Entry[int]) bool {
			calls++
			return calls < stop
		})
		if calls != stop {
			t.Errorf("fn returned false on call %d, but was called %d times", stop, calls)
		}
	}
}

func TestIndexEmptyAndOddInputs(t *testing.T) {
	ix := topic.NewIndex[int]()
	// Invalid filters are stored without panicking.
	for _, f := range []string{"", "/", "a/#/b", "#/#", "++", "$share/", "$share//a", "\xff\x00"} {
		ix.Add(f, "k", 0)
	}
	checkIndex(t, ix)
	if got := matchKeys(ix, ""); len(got) != 0 {
		t.Errorf("Match(\"\") = %q, want nothing", got)
	}
	ix.Match("a", nil) // a nil fn is ignored
	for _, f := range []string{"", "/", "a/#/b", "#/#", "++", "$share/", "$share//a", "\xff\x00"} {
		if !ix.Remove(f, "k") {
			t.Errorf("Remove(%q) = false", f)
		}
	}
	if n := topic.NodeCount(ix); n != 0 {
		t.Errorf("%d nodes left", n)
	}
}

func TestIndexPrune(t *testing.T) {
	ix := topic.NewIndex[int]()
	filters := []string{
		"a", "a/b", "a/b/c", "a/+/c", "a/#", "+", "#", "+/+/#", "/", "//", "a//",
		"$SYS/#", "$share/g/a/b", "$share/h/a/b", "x/y/z/w/v", "x/y/z/w/u",
	}
	for round := range 3 {
		for i, f := range filters {
			for k := range 3 {
				ix.Add(f, fmt.Sprint(k), i)
			}
		}
		checkIndex(t, ix)
		if topic.NodeCount(ix) == 0 {
			t.Fatal("no nodes after Add")
		}
		// Remove in a different order each round.
		order := slices.Clone(filters)
		if round == 1 {
			slices.Reverse(order)
		} else if round == 2 {
			rand.New(rand.NewPCG(1, 2)).Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		}
		for _, f := range order {
			for k := range 3 {
				if !ix.Remove(f, fmt.Sprint(k)) {
					t.Fatalf("Remove(%q, %d) = false", f, k)
				}
				checkIndex(t, ix)
			}
		}
		if n, l := topic.NodeCount(ix), ix.Len(); n != 0 || l != 0 {
			t.Fatalf("round %d: %d nodes and %d entries left after removing everything", round, n, l)
		}
	}
}

func TestIndexManyEntriesOneNode(t *testing.T) {
	ix := topic.NewIndex[int]()
	const n = 1000
	for i := range n {
		ix.Add("a/b", fmt.Sprint(i), i)
	}
	for i := 0; i < n; i += 2 {
		ix.Remove("a/b", fmt.Sprint(i))
	}
	checkIndex(t, ix)
	got := ix.MatchAppend(nil, "a/b")
	if len(got) != n/2 {
		t.Fatalf("%d matches, want %d", len(got), n/2)
	}
	for _, e := range got {
		if e.Key != fmt.Sprint(e.Value) || e.Value%2 != 1 {
			t.Fatalf("wrong entry %+v", e)
		}
	}
	for i := 1; i < n; i += 2 {
		ix.Remove("a/b", fmt.Sprint(i))
	}
	if topic.NodeCount(ix) != 0 {
		t.Error("nodes left")
	}
}

// randomLevel returns one topic level from a small alphabet, so that random
// filters and names often match.
func randomLevel(r *rand.Rand, wildcards bool) string {
	levels := []string{"a", "b", "", "$x", "é"}
	if wildcards {
		levels = append(levels, "+", "+", "#")
	}
	return levels[r.IntN(len(levels))]
}

func randomTopic(r *rand.Rand, wildcards bool) string {
	n := 1 + r.IntN(4)
	parts := make([]string, 0, n)
	for i := range n {
		l := randomLevel(r, wildcards)
		if l == "#" && i != n-1 {
			l = "+"
		}
		parts = append(parts, l)
	}
	if s := strings.Join(parts, "/"); s != "" {
		return s
	}
	return "/" // a topic is at least one character long

}

// TestIndexMatchesBruteForce compares Index.Match with Match applied to every
// entry, over random filters and names, while entries come and go.
func TestIndexMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewPCG(42, 1))
	ix := topic.NewIndex[int]()
	type sub struct{ filter, key string }
	held := map[sub]bool{}
	for step := range 3000 {
		f := randomTopic(r, true)
		if r.IntN(5) == 0 {
			f = "$share/g" + fmt.Sprint(r.IntN(2)) + "/" + f
		}
		if err := topic.ValidateFilter(f); err != nil {
			t.Fatalf("generated invalid filter %q: %v", f, err)
		}
		s := sub{f, fmt.Sprint(r.IntN(3))}
		if r.IntN(3) == 0 {
			if got := ix.Remove(s.filter, s.key); got != held[s] {
				t.Fatalf("Remove(%q, %q) = %v, want %v", s.filter, s.key, got, held[s])
			}
			delete(held, s)
		} else {
			if got := ix.Add(s.filter, s.key, step); got != held[s] {
				t.Fatalf("Add(%q, %q) = %v, want %v", s.filter, s.key, got, held[s])
			}
			held[s] = true
		}
		if ix.Len() != len(held) {
			t.Fatalf("Len = %d, want %d", ix.Len(), len(held))
		}
		if step%100 == 0 {
			checkIndex(t, ix)
		}
		for range 3 {
			name := randomTopic(r, false)
			var want []string
			for s := range held {
				inner := s.filter
				if _, in, ok, _ := topic.ParseShared(s.filter); ok {
					inner = in
				}
				if topic.Match(inner, name) {
					want = append(want, s.filter+"|"+s.key)
				}
			}
			slices.Sort(want)
			if got := matchKeys(ix, name); !slices.Equal(got, want) {
				t.Fatalf("step %d: Index.Match(%q) = %q, want %q", step, name, got, want)
			}
		}
	}
	for s := range held {
		ix.Remove(s.filter, s.key)
	}
	if n := topic.NodeCount(ix); n != 0 {
		t.Errorf("%d nodes left after removing everything", n)
	}
}

func TestIndexMatchNoAllocs(t *testing.T) {
	ix := topic.NewIndex[int]()
	for i := range 100 {
		ix.Add(fmt.Sprintf("dev/%d/sensor/temp", i), "c", i)
		ix.Add(fmt.Sprintf("dev/%d/+/temp", i), "c", i)
	}
	ix.Add("dev/#", "c", 0)
	ix.Add("#", "c", 0)
	count := 0
	fn := func(*topic.Entry[int]) bool { count++; return true }
	dst := make([]topic.Entry[int], 0, 16)
	for _, name := range []string{"dev/7/sensor/temp", "other/x/y", "$SYS/none", "dev/999/sensor/temp/deeper/still"} {
		if n := testing.AllocsPerRun(100, func() { ix.Match(name, fn) }); n != 0 {
			t.Errorf("Match(%q): %v allocations, want 0", name, n)
		}
		if n := testing.AllocsPerRun(100, func() { dst = ix.MatchAppend(dst[:0], name) }); n != 0 {
			t.Errorf("MatchAppend(%q) with room: %v allocations, want 0", name, n)
		}
	}
}

// TestIndexConcurrent exercises the locking; run it with -race.
func TestIndexConcurrent(t *testing.T) {
	ix := topic.NewIndex[int]()
	filters := []string{"a/b", "a/+", "a/#", "#", "+/b", "$share/g/a/b", "a/b/c", "$SYS/#"}
	names := []string{"a/b", "a/b/c", "x/b", "$SYS/a"}
	const workers, rounds = 4, 2000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range rounds {
				f, k := filters[r.IntN(len(filters))], fmt.Sprint(r.IntN(4))
				if r.IntN(2) == 0 {
					ix.Add(f, k, i)
				} else {
					ix.Remove(f, k)
				}
			}
		}()
		go func() {
			defer wg.Done()
			var dst []topic.Entry[int]
			for i := range rounds {
				name := names[i%len(names)]
				ix.Match(name, func(e *topic.Entry[int]) bool {
					_ = e.Value
					return true
				})
				dst = ix.MatchAppend(dst[:0], name)
				_ = ix.Len()
			}
		}()
	}
	wg.Wait()
	checkIndex(t, ix)
	for _, f := range filters {
		for k := range 4 {
			ix.Remove(f, fmt.Sprint(k))
		}
	}
	if n := topic.NodeCount(ix); n != 0 || ix.Len() != 0 {
		t.Errorf("%d nodes, %d entries left", n, ix.Len())
	}
}
