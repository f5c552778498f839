package dynamo

import (
	"slices"
	"testing"
)

// TestKeysStoredFormat pins every key the Store writes: they are the
// stored format, and a table written by an earlier version must stay
// readable.
func TestKeysStoredFormat(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{sessionPK("c/1 ü"), "S#c/1 ü"},
		{sessionSK, "#"},
		{subSK(7, "$share/g/a/+"), "G00000000000000000007#U#$share/g/a/+"},
		{outSK(7, 42), "G00000000000000000007#O#00000000000000000042"},
		{flightSK(7, 65535), "G00000000000000000007#F#65535"},
		{inboundSK(7, 9), "G00000000000000000007#I#00009"},
		{genBound(7), "G00000000000000000007"},
		{genFirst, "G"},
		{genEnd, "H"},
		{ownerKey("p1"), "P#p1"},
		{dueShardKey(3), "3"},
		{nodePK("a/+/#"), "T#a/+/#"},
		{nodeSK, "#"},
		{topicSideSK("$share/g/a/b", 7, "c1"), "C#$share/g/a/b#00000000000000000007#c1"},
		{matchEpochPK("a/b"), "E#a"},
		{matchEpochPK("+/b"), "E#+"},
		{matchEpochPK("#"), "E#+"},
		{matchEpochPK("$SYS/x"), "E#$SYS"},
		{epochSK, "E"},
		{retainedPK(nil), "R"},
		{retainedPK([]string{"a", "b"}), "R#a/b"},
		{retainedCountSK("c"), "Nc"},
		{retainedMsgSK("c"), "Mc"},
		{userPK("ü"), "U#ü"},
		{userSK, "U"},
		{usersPK, "USERS"},
		{userListSK("ü"), "U#ü"},
		{rulesPK, "ACL"},
		{ruleSK("0f"), "R#0f"},
	} {
		if c.got != c.want {
			t.Errorf("key %q, want %q", c.got, c.want)
		}
	}
	if got := topicEpochPKs("a/b"); !slices.Equal(got, []string{"E#a", "E#+"}) {
		t.Errorf("topicEpochPKs(a/b) = %q", got)
	}
	if got := topicEpochPKs("$SYS/b"); !slices.Equal(got, []string{"E#$SYS"}) {
		t.Errorf("topicEpochPKs($SYS/b) = %q", got)
	}
	// The due shard of a client is stable: sessions already indexed stay
	// in their shard.
	if got := dueShard("client-1"); got != "0" { // FNV-1a 32 of it, mod 8
		t.Errorf("dueShard(client-1) = %q, want 0", got)
	}
}

// TestKeysParse: every key taken apart gives back what built it.
func TestKeysParse(t *testing.T) {
	if got := clientOfSessionPK(sessionPK("S#c")); got != "S#c" {
		t.Errorf("clientOfSessionPK = %q", got)
	}
	if got := filterOfNodePK(nodePK("T#/a")); got != "T#/a" {
		t.Errorf("filterOfNodePK = %q", got)
	}
	for _, levels := range [][]string{nil, {"a"}, {"a", "", "R#"}} {
		if got := levelsOfRetainedPK(retainedPK(levels)); !slices.Equal(got, levels) {
			t.Errorf("levelsOfRetainedPK(retainedPK(%q)) = %q", levels, got)
		}
	}
	if isMsg, level := parseRetainedSK(retainedMsgSK("N/x")); !isMsg || level != "N/x" {
		t.Errorf("parseRetainedSK(message) = %v, %q", isMsg, level)
	}
	if isMsg, level := parseRetainedSK(retainedCountSK("M")); isMsg || level != "M" {
		t.Errorf("parseRetainedSK(counter) = %v, %q", isMsg, level)
	}
	for _, c := range []struct {
		sk   string
		want genKind
	}{
		{subSK(1, "a/#/O#"), kindSub},
		{outSK(1, 1), kindQueued},
		{flightSK(1, 1), kindInflight},
		{inboundSK(1, 1), kindInbound},
		{sessionSK, ""},
	} {
		if got := kindOfGenSK(c.sk); got != c.want {
			t.Errorf("kindOfGenSK(%q) = %q, want %q", c.sk, got, c.want)
		}
	}
}
