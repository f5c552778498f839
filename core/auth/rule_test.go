package auth_test

import (
	"errors"
	"testing"

	"github.com/mqttless/mqttless/core/auth"
	"github.com/mqttless/mqttless/core/topic"
)

func TestRuleValidate(t *testing.T) {
	cases := []struct {
		rule auth.Rule
		ok   bool
	}{
		{auth.Rule{Access: auth.Publish, Filter: "a/b"}, true},
		{auth.Rule{Access: auth.Subscribe, Filter: "#"}, true},
		{auth.Rule{Access: auth.Both, Filter: "users/%u/#"}, true},
		{auth.Rule{Access: auth.Both, Filter: "devices/%c/+/x"}, true},
		{auth.Rule{Access: auth.Both, Filter: "d/%u-%c"}, true},
		{auth.Rule{Access: auth.Publish, Filter: "$SYS/#", Deny: true}, true},
		{auth.Rule{Access: "read", Filter: "a"}, false},
		{auth.Rule{Access: "", Filter: "a"}, false},
		{auth.Rule{Access: auth.Publish, Filter: ""}, false},
		{auth.Rule{Access: auth.Publish, Filter: "a/#/b"}, false},
		{auth.Rule{Access: auth.Publish, Filter: "a+"}, false},
		{auth.Rule{Access: auth.Publish, Filter: "+%u"}, false},
		{auth.Rule{Access: auth.Publish, Filter: "%c#"}, false},
		{auth.Rule{Access: auth.Subscribe, Filter: "$share/g/a"}, false},
		{auth.Rule{Access: auth.Publish, Filter: "a\x00"}, false},
	}
	for _, tc := range cases {
		err := tc.rule.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("Validate(%+v) = %v, want ok %v", tc.rule, err, tc.ok)
		}
		if err != nil && !errors.Is(err, auth.ErrInvalid) {
			t.Errorf("Validate(%+v) = %v, not ErrInvalid", tc.rule, err)
		}
	}
	// The filter's own error is kept.
	err := auth.Rule{Access: auth.Publish, Filter: "a/#/b"}.Validate()
	if !errors.Is(err, topic.ErrInvalidWildcard) {
		t.Errorf("Validate: %v, want it to wrap topic.ErrInvalidWildcard", err)
	}
}
