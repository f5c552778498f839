package topic_test

import (
	"strings"

	"github.com/mqttless/mqttless/core/topic"
)

// validateCase is one string with the error expected from ValidateName and
// from ValidateFilter, and the statement the case exercises.
type validateCase struct {
	in             string
	nameErr        error
	filterErr      error
	id             string
	label          string // test name for inputs too long or unprintable to serve as one
	notForFuzzSeed bool
}

var (
	maxLen   = strings.Repeat("a", topic.MaxLength)
	overMax  = strings.Repeat("a", topic.MaxLength+1)
	maxHash  = strings.Repeat("a", topic.MaxLength-2) + "/#"
	overUTF8 = strings.Repeat("é", (topic.MaxLength+1)/2) // 65536 bytes of 2-byte runes
)

var validateCases = []validateCase{
	// Plain names and filters.
	{in: "a", id: "MQTT-4.7.3-1"},
	{in: "a/b/c", id: "MQTT-4.7.0"},
	{in: "sport/tennis/player1", id: "MQTT-4.7.1"},
	{in: "a b/c d", id: "MQTT-4.7.3"},
	{in: "/", id: "MQTT-4.7.1"},
	{in: "/a", id: "MQTT-4.7.1"},
	{in: "a/", id: "MQTT-4.7.1"},
	{in: "//", id: "MQTT-4.7.1"},
	{in: "/finance", id: "MQTT-4.7.1"},
	{in: "$SYS/x", id: "MQTT-4.7.2"},
	{in: "$SYS", id: "MQTT-4.7.2"},
	{in: "$", id: "MQTT-4.7.2"},
	{in: "\u0001/ctl", id: "MQTT-1.5.4 (control characters are only SHOULD NOT)"},
	{in: "\ufeff/bom", id: "MQTT-1.5.4-3"},
	{in: "caf\u00e9/\u00fcber/\U0001F600", id: "MQTT-1.5.4-1"},
	{in: "\uffff", id: "MQTT-1.5.4 (non-characters are allowed)"},

	// Wildcards.
	{in: "#", nameErr: topic.ErrWildcardInName, id: "MQTT-4.7.1-1"},
	{in: "+", nameErr: topic.ErrWildcardInName, id: "MQTT-4.7.1-2"},
	{in: "a/#", nameErr: topic.ErrWildcardInName, id: "MQTT-4.7.1-1"},
	{in: "/#", nameErr: topic.ErrWildcardInName, id: "MQTT-4.7.1-1"},
	{in: "$SYS/#", nameErr: topic.ErrWildcardInName, id: "MQTT-4.7.1-1"},
	{in: "a/+/b", nameErr: topic.ErrWildcardInName, id: "MQTT-4.7.1-2"},
	{in: "+/+", nameErr: topic.ErrWildcardInName, id: "MQTT-4.7.1-2"},
	{in: "/+", nameErr: topic.ErrWildcardInName, id: "MQTT-4.7.1-2"},
	{in: "+/", nameErr: topic.ErrWildcardInName, id: "MQTT-4.7.1-2"},
	{in: "+/tennis/#", nameErr: topic.ErrWildcardInName, id: "MQTT-4.7.1-2"},
	{in: "a/#/b", nameErr: topic.ErrWildcardInName, filterErr: topic.ErrInvalidWildcard, id: "MQTT-4.7.1-1"},
	{in: "sport/tennis/#/ranking", nameErr: topic.ErrWildcardInName, filterErr: topic.ErrInvalidWildcard, id: "MQTT-4.7.1-1"},
	{in: "a#", nameErr: topic.ErrWildcardInName, filterErr: topic.ErrInvalidWildcard, id: "MQTT-4.7.1-1"},
	{in: "sport/tennis#", nameErr: topic.ErrWildcardInName, filterErr: topic.ErrInvalidWildcard, id: "MQTT-4.7.1-1"},
	{in: "#/", nameErr: topic.ErrWildcardInName, filterErr: topic.ErrInvalidWildcard, id: "MQTT-4.7.1-1"},
	{in: "##", nameErr: topic.ErrWildcardInName, filterErr: topic.ErrInvalidWildcard, id: "MQTT-4.7.1-1"},
	{in: "#a", nameErr: topic.ErrWildcardInName, filterErr: topic.ErrInvalidWildcard, id: "MQTT-4.7.1-1"},
	{in: "+#", nameErr: topic.ErrWildcardInName, filterErr: topic.ErrInvalidWildcard, id: "MQTT-4.7.1-1"},
	{in: "+a", nameErr: topic.ErrWildcardInName, filterErr: topic.ErrInvalidWildcard, id: "MQTT-4.7.1-2"},
	{in: "a+", nameErr: topic.ErrWildcardInName, filterErr: topic.ErrInvalidWildcard, id: "MQTT-4.7.1-2"},
	{in: "sport+", nameErr: topic.ErrWildcardInName, filterErr: topic.ErrInvalidWildcard, id: "MQTT-4.7.1-2"},
	{in: "a/+b/c", nameErr: topic.ErrWildcardInName, filterErr: topic.ErrInvalidWildcard, id: "MQTT-4.7.1-2"},
	{in: "++", nameErr: topic.ErrWildcardInName, filterErr: topic.ErrInvalidWildcard, id: "MQTT-4.7.1-2"},
	{in: "a/b+", nameErr: topic.ErrWildcardInName, filterErr: topic.ErrInvalidWildcard, id: "MQTT-4.7.1-2"},

	// Empty, too long, encoding.
	{in: "", nameErr: topic.ErrEmpty, filterErr: topic.ErrEmpty, id: "MQTT-4.7.3-1"},
	{in: maxLen, label: "65535 bytes", id: "MQTT-4.7.3-3", notForFuzzSeed: true},
	{in: maxHash, label: "65535 bytes ending in /#", nameErr: topic.ErrWildcardInName, id: "MQTT-4.7.3-3", notForFuzzSeed: true},
	{in: overMax, label: "65536 bytes", nameErr: topic.ErrTooLong, filterErr: topic.ErrTooLong, id: "MQTT-4.7.3-3", notForFuzzSeed: true},
	{in: overUTF8, label: "65536 bytes of 2-byte runes", nameErr: topic.ErrTooLong, filterErr: topic.ErrTooLong, id: "MQTT-4.7.3-3", notForFuzzSeed: true},
	{in: "a\x00b", nameErr: topic.ErrInvalidUTF8, filterErr: topic.ErrInvalidUTF8, id: "MQTT-1.5.4-2"},
	{in: "\x00", nameErr: topic.ErrInvalidUTF8, filterErr: topic.ErrInvalidUTF8, id: "MQTT-1.5.4-2"},
	{in: "a/#\x00", nameErr: topic.ErrInvalidUTF8, filterErr: topic.ErrInvalidUTF8, id: "MQTT-4.7.3-2"},
	{in: "a/\xff", nameErr: topic.ErrInvalidUTF8, filterErr: topic.ErrInvalidUTF8, id: "MQTT-1.5.4-1"},
	{in: "\xc3\x28", nameErr: topic.ErrInvalidUTF8, filterErr: topic.ErrInvalidUTF8, id: "MQTT-1.5.4-1"},
	{in: "\xc3", nameErr: topic.ErrInvalidUTF8, filterErr: topic.ErrInvalidUTF8, id: "MQTT-1.5.4-1"},
	{in: "\xed\xa0\x80", nameErr: topic.ErrInvalidUTF8, filterErr: topic.ErrInvalidUTF8, id: "MQTT-1.5.4-1 (surrogate U+D800)"},
	{in: "\xed\xbf\xbf/a", nameErr: topic.ErrInvalidUTF8, filterErr: topic.ErrInvalidUTF8, id: "MQTT-1.5.4-1 (surrogate U+DFFF)"},
	{in: "\xc0\xaf", nameErr: topic.ErrInvalidUTF8, filterErr: topic.ErrInvalidUTF8, id: "MQTT-1.5.4-1 (overlong)"},
	{in: "\xf4\x90\x80\x80", nameErr: topic.ErrInvalidUTF8, filterErr: topic.ErrInvalidUTF8, id: "MQTT-1.5.4-1 (above U+10FFFF)"},
	{in: "#\xff", nameErr: topic.ErrInvalidUTF8, filterErr: topic.ErrInvalidUTF8, id: "MQTT-1.5.4-1"},

	// Shared subscriptions.
	{in: "$share/g/a/b", id: "MQTT-4.8.2-1"},
	{in: "$share/g/#", nameErr: topic.ErrWildcardInName, id: "MQTT-4.8.2-2"},
	{in: "$share/g/+/a", nameErr: topic.ErrWildcardInName, id: "MQTT-4.8.2-2"},
	{in: "$share/g//", id: "MQTT-4.8.2-2"},
	{in: "$share/g/$share/h/a", id: "MQTT-4.8.2-2"},
	{in: "$share/\u00e9/a", id: "MQTT-4.8.2-1"},
	{in: "$share//a", filterErr: topic.ErrInvalidShare, id: "MQTT-4.8.2-1"},
	{in: "$share/", filterErr: topic.ErrInvalidShare, id: "MQTT-4.8.2-1"},
	{in: "$share/g", filterErr: topic.ErrInvalidShare, id: "MQTT-4.8.2-2"},
	{in: "$share/g/", filterErr: topic.ErrInvalidShare, id: "MQTT-4.8.2-2"},
	{in: "$share/g+/a", nameErr: topic.ErrWildcardInName, filterErr: topic.ErrInvalidShare, id: "MQTT-4.8.2-2"},
	{in: "$share/g#/a", nameErr: topic.ErrWildcardInName, filterErr: topic.ErrInvalidShare, id: "MQTT-4.8.2-2"},
	{in: "$share/+/a", nameErr: topic.ErrWildcardInName, filterErr: topic.ErrInvalidShare, id: "MQTT-4.8.2-2"},
	{in: "$share/g/a#", nameErr: topic.ErrWildcardInName, filterErr: topic.ErrInvalidWildcard, id: "MQTT-4.7.1-1"},
	{in: "$share/g/a/#/b", nameErr: topic.ErrWildcardInName, filterErr: topic.ErrInvalidWildcard, id: "MQTT-4.7.1-1"},
	{in: "$share/g/+a", nameErr: topic.ErrWildcardInName, filterErr: topic.ErrInvalidWildcard, id: "MQTT-4.7.1-2"},
	{in: "$share/g/\x00", nameErr: topic.ErrInvalidUTF8, filterErr: topic.ErrInvalidUTF8, id: "MQTT-1.5.4-2"},
	{in: "$share", id: "MQTT-4.8.2-1 (not shared without the '/')"},
	{in: "$sharex/g/a", id: "MQTT-4.8.2-1 (not shared)"},
	{in: "$SHARE/g/a", id: "MQTT-4.8.2-1 (the prefix is case-sensitive)"},
	{in: "$SHARE//a", id: "MQTT-4.8.2-1 (not shared)"},
}

// name returns the subtest name for c.
func (c validateCase) name() string {
	if c.label != "" {
		return c.label
	}
	return c.in
}

// matchCase is one Match expectation and the statement it exercises.
type matchCase struct {
	filter, name string
	want         bool
	id           string
}

var matchCases = []matchCase{
	// The examples of MQTT 5.0 section 4.7.1.2 (multi-level wildcard).
	{"sport/tennis/player1/#", "sport/tennis/player1", true, "MQTT-4.7.1-1"},
	{"sport/tennis/player1/#", "sport/tennis/player1/ranking", true, "MQTT-4.7.1-1"},
	{"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true, "MQTT-4.7.1-1"},
	{"sport/#", "sport", true, "MQTT-4.7.1-1"},
	{"sport/#", "sport/", true, "MQTT-4.7.1-1"},
	{"sport/#", "sports", false, "MQTT-4.7.1-1"},
	{"#", "sport/tennis/player1", true, "MQTT-4.7.1-1"},
	{"#", "/", true, "MQTT-4.7.1-1"},
	{"sport/tennis/player1/#", "sport/tennis/player2", false, "MQTT-4.7.1-1"},
	{"sport/tennis/player1/#", "sport/tennis", false, "MQTT-4.7.1-1"},

	// The examples of section 4.7.1.3 (single-level wildcard).
	{"sport/tennis/+", "sport/tennis/player1", true, "MQTT-4.7.1-2"},
	{"sport/tennis/+", "sport/tennis/player2", true, "MQTT-4.7.1-2"},
	{"sport/tennis/+", "sport/tennis/player1/ranking", false, "MQTT-4.7.1-2"},
	{"sport/+", "sport", false, "MQTT-4.7.1-2"},
	{"sport/+", "sport/", true, "MQTT-4.7.1-2"},
	{"+/+", "/finance", true, "MQTT-4.7.1-2"},
	{"/+", "/finance", true, "MQTT-4.7.1-2"},
	{"+", "/finance", false, "MQTT-4.7.1-2"},
	{"+/tennis/#", "sport/tennis/player1", true, "MQTT-4.7.1-2"},
	{"+/tennis/#", "sport/tennis", true, "MQTT-4.7.1-2"},
	{"+/+/+", "a//b", true, "MQTT-4.7.1-2"},
	{"+", "a", true, "MQTT-4.7.1-2"},
	{"a/+", "a/b/c", false, "MQTT-4.7.1-2"},
	{"a/+/#", "a", false, "MQTT-4.7.1-2"},
	{"a/+/#", "a/b", true, "MQTT-4.7.1-2"},

	// The examples of section 4.7.2 (topics beginning with $).
	{"#", "$SYS/x", false, "MQTT-4.7.2-1"},
	{"#", "$SYS", false, "MQTT-4.7.2-1"},
	{"+", "$SYS", false, "MQTT-4.7.2-1"},
	{"+/monitor/Clients", "$SYS/monitor/Clients", false, "MQTT-4.7.2-1"},
	{"+/#", "$SYS/x", false, "MQTT-4.7.2-1"},
	{"$SYS/#", "$SYS/x", true, "MQTT-4.7.2-1"},
	{"$SYS/#", "$SYS", true, "MQTT-4.7.2-1"},
	{"$SYS/monitor/+", "$SYS/monitor/Clients", true, "MQTT-4.7.2-1"},
	{"$SYS/+/+", "$SYS/monitor/Clients", true, "MQTT-4.7.2-1"},
	{"a/#", "a/$SYS", true, "MQTT-4.7.2-1 (only the first level counts)"},
	{"+/$x", "a/$x", true, "MQTT-4.7.2-1 (only the first level counts)"},

	// Literal levels: byte-for-byte, case-sensitive, no normalization.
	{"a/b", "a/b", true, "MQTT-4.7.3-4"},
	{"a/b", "A/b", false, "MQTT-4.7.3-4"},
	{"a/b", "a/b/", false, "MQTT-4.7.3-4"},
	{"a/b/", "a/b", false, "MQTT-4.7.3-4"},
	{"a//b", "a/b", false, "MQTT-4.7.3-4"},
	{"/", "/", true, "MQTT-4.7.3-4"},
	{"caf\u00e9", "cafe\u0301", false, "MQTT-4.7.3-4"},
	{"\ufeffa", "a", false, "MQTT-1.5.4-3"},
	{"", "a", false, "MQTT-4.7.3-1"},
	{"a", "", false, "MQTT-4.7.3-1"},

	// A shared filter is not unwrapped by Match.
	{"$share/g/a", "a", false, "MQTT-4.8.2-1"},
	{"$share/g/a", "$share/g/a", true, "MQTT-4.8.2-1"},
}
