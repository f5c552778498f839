package lambdafn_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mqttless/mqttless/infra/lambdafn"
)

// WithDeliverySecret fetches the secret only when it is not given
// directly and an ARN is, and fails naming the variable when it cannot.
func TestWithDeliverySecret(t *testing.T) {
	const arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:mqttless-delivery-AbCdEf"
	for _, tc := range []struct {
		name       string
		env        map[string]string
		fetched    string
		fetchErr   error
		want       string // MQTTLESS_DELIVERY_SECRET seen by the function
		wantFetch  bool
		wantErrSub string
	}{
		{name: "neither", env: map[string]string{}, want: ""},
		{name: "secret only", env: map[string]string{"MQTTLESS_DELIVERY_SECRET": "direct-secret-0123456789"}, want: "direct-secret-0123456789"},
		{name: "secret wins over ARN", env: map[string]string{"MQTTLESS_DELIVERY_SECRET": "direct-secret-0123456789", "MQTTLESS_DELIVERY_SECRET_ARN": arn}, want: "direct-secret-0123456789"},
		{name: "ARN only", env: map[string]string{"MQTTLESS_DELIVERY_SECRET_ARN": arn}, fetched: "fetched-secret-0123456789", want: "fetched-secret-0123456789", wantFetch: true},
		{name: "fetch fails", env: map[string]string{"MQTTLESS_DELIVERY_SECRET_ARN": arn}, fetchErr: errors.New("AccessDeniedException"), wantFetch: true, wantErrSub: "MQTTLESS_DELIVERY_SECRET_ARN: AccessDeniedException"},
		{name: "empty secret", env: map[string]string{"MQTTLESS_DELIVERY_SECRET_ARN": arn}, wantFetch: true, wantErrSub: "is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			fetch := func(_ context.Context, got string) (string, error) {
				calls++
				if got != arn {
					t.Errorf("fetched %q, want %q", got, arn)
				}
				return tc.fetched, tc.fetchErr
			}
			getenv := func(k string) string { return tc.env[k] }
			env, err := lambdafn.WithDeliverySecret(context.Background(), getenv, fetch)
			if (calls > 0) != tc.wantFetch {
				t.Errorf("fetched %d times, want fetch %v", calls, tc.wantFetch)
			}
			if tc.wantErrSub != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrSub) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErrSub)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if got := env("MQTTLESS_DELIVERY_SECRET"); got != tc.want {
					t.Errorf("MQTTLESS_DELIVERY_SECRET = %q, want %q", got, tc.want)
				}
			}
			if calls > 1 {
				t.Errorf("fetched %d times, want once", calls)
			}
			if got := env("MQTTLESS_TABLE"); got != "" {
				t.Errorf("other variables changed: MQTTLESS_TABLE = %q", got)
			}
		})
	}
}
