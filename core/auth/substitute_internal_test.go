package auth

import (
	"strings"
	"testing"
)

// substitute replaces as the one-pass strings.Replacer it stands for.
func TestSubstitute(t *testing.T) {
	for _, f := range []string{"", "a/b", "%u", "%c", "x/%u/%c/y", "%%u", "%%%c", "a%", "%", "%x%u", "%u%c%u", "100%/%u"} {
		for _, v := range [][2]string{{"alice", "dev1"}, {"%c", "%u"}, {"", ""}} {
			want := strings.NewReplacer(placeholderUser, v[0], placeholderClient, v[1]).Replace(f)
			if got := substitute(f, v[0], v[1]); got != want {
				t.Errorf("substitute(%q, %q, %q) = %q, want %q", f, v[0], v[1], got, want)
			}
		}
	}
}
