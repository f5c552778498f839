package topic_test

import (
	"strings"
	"testing"

	"github.com/mqttless/mqttless/core/topic"
)

func TestMatch(t *testing.T) {
	for _, c := range matchCases {
		if got := topic.Match(c.filter, c.name); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v [%s]", c.filter, c.name, got, c.want, c.id)
		}
		if got := matchRef(c.filter, c.name); got != c.want {
			t.Errorf("matchRef(%q, %q) = %v, want %v [%s]", c.filter, c.name, got, c.want, c.id)
		}
	}
}

func TestMatchNoAllocs(t *testing.T) {
	for _, c := range matchCases {
		if n := testing.AllocsPerRun(50, func() { topic.Match(c.filter, c.name) }); n != 0 {
			t.Errorf("Match(%q, %q): %v allocations, want 0", c.filter, c.name, n)
		}
	}
}

// matchRef is a plain reference implementation of Match, written from the
// specification with strings.Split, against which Match is checked.
func matchRef(filter, name string) bool {
	if filter == "" || name == "" {
		return false
	}
	if strings.HasPrefix(name, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false // [MQTT-4.7.2-1]
	}
	f := strings.Split(filter, "/")
	n := strings.Split(name, "/")
	for i, fl := range f {
		if fl == "#" {
			return true // the rest of the name, possibly nothing
		}
		if i >= len(n) {
			return false
		}
		if fl != "+" && fl != n[i] {
			return false
		}
	}
	return len(f) == len(n)
}
