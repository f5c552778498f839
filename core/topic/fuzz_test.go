package topic_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mqttless/mqttless/core/topic"
)

// isSentinel reports whether err matches exactly one of the package's errors.
func isSentinel(err error) bool {
	n := 0
	for _, s := range sentinels {
		if errors.Is(err, s) {
			n++
		}
	}
	return n == 1 && strings.HasPrefix(err.Error(), "topic: ")
}

func addValidateSeeds(f *testing.F) {
	for _, c := range validateCases {
		if !c.notForFuzzSeed {
			f.Add(c.in)
		}
	}
	for _, c := range matchCases {
		f.Add(c.filter)
		f.Add(c.name)
	}
}

func FuzzValidateName(f *testing.F) {
	addValidateSeeds(f)
	f.Fuzz(func(t *testing.T, name string) {
		err := topic.ValidateName(name)
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("ValidateName(%q) = %v, not a sentinel", name, err)
			}
			return
		}
		if name == "" || len(name) > topic.MaxLength || !utf8.ValidString(name) ||
			strings.ContainsAny(name, "+#\x00") {
			t.Fatalf("ValidateName(%q) = nil", name)
		}
		// A valid name is a valid filter unless it looks like a malformed
		// shared subscription, and as a filter it matches itself.
		if err := topic.ValidateFilter(name); err != nil && !errors.Is(err, topic.ErrInvalidShare) {
			t.Fatalf("ValidateFilter(%q) = %v for a valid name", name, err)
		}
		if !topic.Match(name, name) {
			t.Fatalf("Match(%q, itself) = false", name)
		}
	})
}

func FuzzValidateFilter(f *testing.F) {
	addValidateSeeds(f)
	f.Fuzz(func(t *testing.T, filter string) {
		err := topic.ValidateFilter(filter)
		if err != nil {
			if !isSentinel(err) {
				t.Fatalf("ValidateFilter(%q) = %v, not a sentinel", filter, err)
			}
			return
		}
		if filter == "" || len(filter) > topic.MaxLength || !utf8.ValidString(filter) ||
			strings.IndexByte(filter, 0) >= 0 {
			t.Fatalf("ValidateFilter(%q) = nil", filter)
		}
		group, inner, shared, perr := topic.ParseShared(filter)
		if perr != nil {
			t.Fatalf("ValidateFilter(%q) = nil but ParseShared failed: %v", filter, perr)
		}
		if !shared {
			inner = filter
		} else if group == "" || inner == "" || strings.ContainsAny(group, "/+#") ||
			topic.SharePrefix+group+"/"+inner != filter {
			t.Fatalf("ParseShared(%q) = %q, %q", filter, group, inner)
		}
		// Every wildcard occupies a whole level, and '#' only the last.
		levels := strings.Split(inner, "/")
		for i, l := range levels {
			if strings.ContainsAny(l, "+#") && l != "+" && !(l == "#" && i == len(levels)-1) {
				t.Fatalf("ValidateFilter(%q) = nil with level %q", filter, l)
			}
		}
		// Without wildcards the inner filter is also a valid name.
		if !strings.ContainsAny(inner, "+#") {
			if err := topic.ValidateName(inner); err != nil {
				t.Fatalf("ValidateName(%q) = %v for a wildcard-free valid filter", inner, err)
			}
		}
	})
}

func FuzzMatch(f *testing.F) {
	for _, c := range matchCases {
		f.Add(c.filter, c.name)
	}
	for _, c := range validateCases {
		if !c.notForFuzzSeed {
			f.Add(c.in, "a/b")
			f.Add("#", c.in)
		}
	}
	f.Fuzz(func(t *testing.T, filter, name string) {
		got := topic.Match(filter, name) // must not panic, whatever the input

		ix := topic.NewIndex[int]()
		ix.Add(filter, "k", 1) // nor must the index
		n := len(ix.MatchAppend(nil, name))

		if topic.ValidateFilter(filter) != nil || topic.ValidateName(name) != nil {
			return
		}
		if want := matchRef(filter, name); got != want {
			t.Fatalf("Match(%q, %q) = %v, reference says %v", filter, name, got, want)
		}
		inner := filter
		if _, in, ok, _ := topic.ParseShared(filter); ok {
			inner = in
		}
		if want := topic.Match(inner, name); (n == 1) != want || n > 1 {
			t.Fatalf("Index{%q}.Match(%q) gave %d entries, Match(%q, %q) = %v", filter, name, n, inner, name, want)
		}
		if !ix.Remove(filter, "k") || topic.NodeCount(ix) != 0 {
			t.Fatalf("Index{%q}: Remove failed or left nodes", filter)
		}
	})
}
