package topic_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/mqttless/mqttless/core/topic"
)

var sentinels = []error{
	topic.ErrEmpty, topic.ErrTooLong, topic.ErrInvalidUTF8, topic.ErrWildcardInName,
	topic.ErrInvalidWildcard, topic.ErrInvalidShare, topic.ErrTooManyLevels,
}

// checkErr fails t unless err is want (nil or a sentinel, possibly wrapped),
// and an error matches exactly one sentinel.
func checkErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Errorf("%s = %v, want nil", what, err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Errorf("%s = %v, want %v", what, err, want)
	}
	if err != nil {
		n := 0
		for _, s := range sentinels {
			if errors.Is(err, s) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s = %v matches %d sentinels, want 1", what, err, n)
		}
		if !strings.HasPrefix(err.Error(), "topic: ") {
			t.Errorf("%s = %q, want the prefix \"topic: \"", what, err)
		}
	}
}

func TestValidateName(t *testing.T) {
	for _, c := range validateCases {
		t.Run(c.name(), func(t *testing.T) {
			checkErr(t, "ValidateName ["+c.id+"]", topic.ValidateName(c.in), c.nameErr)
		})
	}
}

func TestValidateFilter(t *testing.T) {
	for _, c := range validateCases {
		t.Run(c.name(), func(t *testing.T) {
			checkErr(t, "ValidateFilter ["+c.id+"]", topic.ValidateFilter(c.in), c.filterErr)
		})
	}
}

func TestValidateCaseCount(t *testing.T) {
	if len(validateCases) < 40 {
		t.Errorf("only %d validation cases", len(validateCases))
	}
}

func TestValidateNoAllocs(t *testing.T) {
	for _, s := range []string{"a/b/c", "a/+/#", "a/#/b", "\xff", "$share/g/a/+", "$share//a"} {
		if n := testing.AllocsPerRun(100, func() {
			_ = topic.ValidateFilter(s)
			_ = topic.ValidateName(s)
		}); n != 0 {
			t.Errorf("validating %q: %v allocations, want 0", s, n)
		}
	}
}

func TestLimits(t *testing.T) {
	cases := []struct {
		limits             topic.Limits
		in                 string
		nameErr, filterErr error
	}{
		{topic.Limits{MaxLength: 5}, "abcde", nil, nil},
		{topic.Limits{MaxLength: 5}, "abcdef", topic.ErrTooLong, topic.ErrTooLong},
		{topic.Limits{MaxLength: 5}, "a/b/#", topic.ErrWildcardInName, nil},
		{topic.Limits{MaxLength: 5}, "", topic.ErrEmpty, topic.ErrEmpty},
		{topic.Limits{MaxLength: 1 << 20}, overMax, topic.ErrTooLong, topic.ErrTooLong},
		{topic.Limits{MaxLength: -1}, maxLen, nil, nil},
		{topic.Limits{MaxLength: -1}, overMax, topic.ErrTooLong, topic.ErrTooLong},
		{topic.Limits{MaxLevels: 2}, "a", nil, nil},
		{topic.Limits{MaxLevels: 2}, "a/b", nil, nil},
		{topic.Limits{MaxLevels: 2}, "a/b/c", topic.ErrTooManyLevels, topic.ErrTooManyLevels},
		{topic.Limits{MaxLevels: 2}, "//", topic.ErrTooManyLevels, topic.ErrTooManyLevels},
		{topic.Limits{MaxLevels: 2}, "a/#", topic.ErrWildcardInName, nil},
		{topic.Limits{MaxLevels: 2}, "a/+/#", topic.ErrWildcardInName, topic.ErrTooManyLevels},
		{topic.Limits{MaxLevels: 2}, "$share/g/a/b", topic.ErrTooManyLevels, nil},
		{topic.Limits{MaxLevels: 2}, "$share/g/a/b/c", topic.ErrTooManyLevels, topic.ErrTooManyLevels},
		{topic.Limits{MaxLevels: 1}, "a/b#", topic.ErrWildcardInName, topic.ErrInvalidWildcard},
		{topic.Limits{MaxLevels: -3}, strings.Repeat("/", 1000), nil, nil},
		{topic.Limits{MaxLength: 8, MaxLevels: 2}, "$share/g/a", topic.ErrTooLong, topic.ErrTooLong},
	}
	for _, c := range cases {
		checkErr(t, "ValidateName("+c.in[:min(len(c.in), 20)]+")", c.limits.ValidateName(c.in), c.nameErr)
		checkErr(t, "ValidateFilter("+c.in[:min(len(c.in), 20)]+")", c.limits.ValidateFilter(c.in), c.filterErr)
	}
}

// TestNameIsFilter checks that a valid name without '$share/' is a valid
// filter that matches itself.
func TestNameIsFilter(t *testing.T) {
	for _, c := range validateCases {
		if c.nameErr != nil || strings.HasPrefix(c.in, topic.SharePrefix) {
			continue
		}
		if err := topic.ValidateFilter(c.in); err != nil {
			t.Errorf("ValidateFilter(%.20q) = %v for a valid name", c.in, err)
		}
		if !topic.Match(c.in, c.in) {
			t.Errorf("Match(%.20q, itself) = false", c.in)
		}
	}
}
