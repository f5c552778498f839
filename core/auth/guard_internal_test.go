package auth

import "testing"

// HoldPasswordChecks takes n of c's password-check slots until the
// returned function gives them back, for the tests of auth_test.
func HoldPasswordChecks(c *Checker, n int) func() {
	for range n {
		c.checks <- struct{}{}
	}
	return func() {
		for range n {
			<-c.checks
		}
	}
}

// A source is its address without the port; an IPv6 source is its /64.
func TestSourceKey(t *testing.T) {
	for in, want := range map[string]string{
		"":                         "",
		"192.0.2.7:40000":          "192.0.2.7",
		"192.0.2.7":                "192.0.2.7",
		"[::ffff:192.0.2.7]:1":     "192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:9": "2001:db8:1:2::/64",
		"[2001:db8:1:2::9]:10":     "2001:db8:1:2::/64",
		"pipe":                     "pipe",
	} {
		if got := sourceKey(in); got != want {
			t.Errorf("sourceKey(%q) = %q, want %q", in, got, want)
		}
	}
}
