package topic_test

import (
	"testing"

	"github.com/mqttless/mqttless/core/topic"
)

var coversCases = []struct {
	rule, filter string
	want         bool
	why          string
}{
	{"#", "#", true, "'#' covers everything"},
	{"#", "a/b/c", true, "'#' covers everything"},
	{"#", "+/+", true, "'#' covers everything"},
	{"a/#", "a", true, "[MQTT-4.7.1-1] '#' matches its parent level"},
	{"a/#", "a/b/#", true, "'#' covers the rest"},
	{"a/#", "a/+/c", true, "'#' covers the rest"},
	{"a/#", "#", false, "'#' matches more than a/#"},
	{"a/#", "b", false, "other literal"},
	{"a/#", "+/b", false, "'+' matches more than a"},
	{"a/+", "a/b", true, "'+' covers a literal"},
	{"a/+", "a/+", true, "'+' covers '+'"},
	{"a/+", "a/", true, "'+' covers an empty level"},
	{"a/+", "a/#", false, "'+' does not cover '#'"},
	{"a/+", "a/b/c", false, "rule shorter"},
	{"a/+", "a", false, "'+' needs a level"},
	{"a/+/c", "a/b/c", true, "level by level"},
	{"a/+/c", "a/b/d", false, "last level differs"},
	{"a/b", "a/b", true, "literal covers itself"},
	{"a/b", "a/+", false, "literal does not cover '+'"},
	{"a/b", "a/b/c", false, "filter longer"},
	{"a/b/c", "a/b", false, "filter shorter"},
	{"a/b", "a/b/#", false, "'#' in filter matches more"},
	{"+", "$SYS", false, "[MQTT-4.7.2-1] '+' matches no '$' topic"},
	{"#", "$SYS/#", false, "[MQTT-4.7.2-1] '#' matches no '$' topic"},
	{"+/#", "$SYS/x", false, "[MQTT-4.7.2-1]"},
	{"$SYS/#", "$SYS/broker/+", true, "an explicit '$' level"},
	{"#", "+/x", true, "'+' at the start matches no '$' topic either"},
	{"a/#", "$share/g/a/b", true, "[MQTT-4.8.2-1] a shared filter is checked on its inner filter"},
	{"a/b", "$share/g/a/+", false, "shared inner filter not covered"},
	{"#", "$share/g", false, "malformed shared filter"},
	{"", "a", false, "empty rule"},
	{"a", "", false, "empty filter"},
}

func TestCovers(t *testing.T) {
	for _, c := range coversCases {
		if got := topic.Covers(c.rule, c.filter); got != c.want {
			t.Errorf("Covers(%q, %q) = %v, want %v (%s)", c.rule, c.filter, got, c.want, c.why)
		}
	}
}

// Covers agrees with Match: when rule covers filter, every name the
// filter matches among a sample is matched by rule.
func TestCoversAgreesWithMatch(t *testing.T) {
	names := []string{"a", "a/", "a/b", "a/b/c", "a/b/d", "b", "b/c", "$SYS", "$SYS/x", "$SYS/broker/load", "/", "/a", "x/y/z"}
	filters := []string{"#", "+", "a", "a/#", "a/+", "a/b", "a/+/c", "+/+", "+/#", "$SYS/#", "$SYS/+", "/#", "+/b/#", "x/y/z"}
	for _, rule := range filters {
		for _, f := range filters {
			if !topic.Covers(rule, f) {
				continue
			}
			for _, n := range names {
				if topic.Match(f, n) && !topic.Match(rule, n) {
					t.Errorf("Covers(%q, %q) but %q matches only the filter", rule, f, n)
				}
			}
		}
	}
}

func TestCoversNoAllocs(t *testing.T) {
	for _, c := range coversCases {
		if n := testing.AllocsPerRun(50, func() { topic.Covers(c.rule, c.filter) }); n != 0 {
			t.Errorf("Covers(%q, %q): %v allocations, want 0", c.rule, c.filter, n)
		}
	}
}
