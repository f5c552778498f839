package e2e_test

import (
	"strings"
	"testing"
)

// The abuse suite (TestAbuse*, test/abuse_*_test.go, make test-abuse) has
// one test per way a single client could make the broker hold memory, disk,
// descriptors or CPU without bound (issue 14). Each test drives the broker
// as that client would and asserts the bound; it also records one line for
// the README's report with abuseReport.

// abuseReport records what the test found for the README's abuse report:
// the resource, the flag that bounds it (with its value in the test), and
// what one client could make the broker hold, measured. make test-abuse
// runs the suite verbosely; grep "ABUSE |" to collect the table.
func abuseReport(t testing.TB, resource, limit, held string) {
	t.Helper()
	clean := func(s string) string { return strings.ReplaceAll(s, "|", "/") }
	t.Logf("ABUSE | %s | %s | %s |", clean(resource), clean(limit), clean(held))
}
