package e2e_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go"
)

// fakeDynamo is an upstream that answers every call with an empty JSON
// object (a valid answer to ListTables and Query), counting them.
func fakeDynamo(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// faultClient is a DynamoDB client on the fault proxy with the SDK's
// standard retryer making up to attempts attempts, without back-off.
func faultClient(p *faultProxy, attempts int) *dynamodb.Client {
	return dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(p.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = attempts
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		}),
	})
}

func startFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	p, err := newFaultProxy(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.close)
	return p
}

// TestFaultProxyErrors: each error rule reaches the SDK as the DynamoDB
// error it names, which the standard retryer retries (the proxy sees every
// attempt), without the call reaching DynamoDB; an operation the rule does
// not name passes.
func TestFaultProxyErrors(t *testing.T) {
	for _, tc := range []struct {
		kind faultKind
		code string
	}{
		{faultThrottle, "ThrottlingException"},
		{faultProvisioned, "ProvisionedThroughputExceededException"},
		{faultServerError, "InternalServerError"},
	} {
		t.Run(tc.kind.String(), func(t *testing.T) {
			up, upCalls := fakeDynamo(t)
			p := startFaultProxy(t, up.URL)
			p.add(faultRule{Kind: tc.kind, Ops: []string{"ListTables"}})
			db := faultClient(p, 3)
			ctx := context.Background()

			_, err := db.ListTables(ctx, &dynamodb.ListTablesInput{})
			var api smithy.APIError
			if !errors.As(err, &api) || api.ErrorCode() != tc.code {
				t.Fatalf("ListTables: %v, want the API error %s", err, tc.code)
			}
			if !retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err).Bool() &&
				!retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err).Bool() {
				t.Errorf("%s is neither retryable nor a throttle to the SDK", tc.code)
			}
			if s := p.stats(); s.Calls["ListTables"] != 3 || s.Injected[tc.kind] != 3 {
				t.Errorf("proxy saw %v, want 3 attempts of ListTables, all injected", s)
			}
			if n := upCalls.Load(); n != 0 {
				t.Errorf("DynamoDB got %d calls, want none", n)
			}

			if _, err := db.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("t")}); err != nil {
				t.Errorf("Query, which the rule does not name: %v", err)
			}
			if n := upCalls.Load(); n != 1 {
				t.Errorf("DynamoDB got %d calls, want the Query", n)
			}
		})
	}
}

// TestFaultProxyRetriedThrough: a throttle on a share of the calls is
// absorbed by the retryer: every call succeeds in the end, and some were
// retried.
func TestFaultProxyRetriedThrough(t *testing.T) {
	up, upCalls := fakeDynamo(t)
	p := startFaultProxy(t, up.URL)
	p.add(faultRule{Kind: faultThrottle, Share: 0.3})
	db := faultClient(p, 10)
	for i := range 100 {
		if _, err := db.ListTables(context.Background(), &dynamodb.ListTablesInput{}); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	s := p.stats()
	if upCalls.Load() != 100 || s.Injected[faultThrottle] == 0 || s.total() != 100+s.Injected[faultThrottle] {
		t.Errorf("DynamoDB got %d calls, proxy %v; want 100 through and every throttled one retried", upCalls.Load(), s)
	}
}

// TestFaultProxyLostAnswer: a lost answer reaches DynamoDB and then the
// SDK as a connection error, which the standard retryer retries: the call
// is made twice, and the second answer arrives.
func TestFaultProxyLostAnswer(t *testing.T) {
	up, upCalls := fakeDynamo(t)
	p := startFaultProxy(t, up.URL)
	remove := p.add(faultRule{Kind: faultLostAnswer, Ops: []string{"ListTables"}})
	db := faultClient(p, 1)
	if _, err := db.ListTables(context.Background(), &dynamodb.ListTablesInput{}); err == nil || !retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err).Bool() {
		t.Fatalf("ListTables with its answer lost: %v, want an error the SDK retries", err)
	}
	if n := upCalls.Load(); n != 1 {
		t.Fatalf("DynamoDB got %d calls, want the one whose answer was lost", n)
	}
	remove()
	p.add(faultRule{Kind: faultLostAnswer, Ops: []string{"ListTables"}, Share: 0.5})
	db = faultClient(p, 10)
	for i := range 20 {
		if _, err := db.ListTables(context.Background(), &dynamodb.ListTablesInput{}); err != nil {
			t.Fatalf("call %d, half the answers lost: %v", i, err)
		}
	}
	if s := p.stats(); s.Injected[faultLostAnswer] < 2 || upCalls.Load() != int64(1+20+s.Injected[faultLostAnswer]-1) {
		t.Errorf("proxy %v, DynamoDB %d calls; want each lost answer's call made and sent again", s, upCalls.Load())
	}
}

// TestFaultProxyShare: a rule with share 0.5 picks about half the calls.
func TestFaultProxyShare(t *testing.T) {
	up, _ := fakeDynamo(t)
	p := startFaultProxy(t, up.URL)
	p.add(faultRule{Kind: faultServerError, Share: 0.5})
	db := faultClient(p, 1)
	failed := 0
	for range 400 {
		if _, err := db.ListTables(context.Background(), &dynamodb.ListTablesInput{}); err != nil {
			failed++
		}
	}
	if failed < 140 || failed > 260 { // 200 ± 7 standard deviations
		t.Errorf("%d of 400 calls failed, want about half", failed)
	}
}

// TestFaultProxyWindow: a window throttles every call until it ends, and
// none after; clear removes the rules.
func TestFaultProxyWindow(t *testing.T) {
	up, _ := fakeDynamo(t)
	p := startFaultProxy(t, up.URL)
	db := faultClient(p, 1)
	ctx := context.Background()
	p.window(faultRule{Kind: faultThrottle}, 300*time.Millisecond)
	end := time.Now().Add(300 * time.Millisecond)
	if _, err := db.ListTables(ctx, &dynamodb.ListTablesInput{}); err == nil && time.Now().Before(end) {
		t.Fatal("a call in the window passed")
	}
	time.Sleep(time.Until(end))
	if _, err := db.ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	p.add(faultRule{Kind: faultProvisioned})
	p.clear()
	if _, err := db.ListTables(ctx, &dynamodb.ListTablesInput{}); err != nil {
		t.Fatalf("after clear: %v", err)
	}
}

// TestFaultProxyLatency: a latency rule delays the calls it picks, which
// then pass; removing it stops the delay.
func TestFaultProxyLatency(t *testing.T) {
	up, upCalls := fakeDynamo(t)
	p := startFaultProxy(t, up.URL)
	remove := p.add(faultRule{Kind: faultLatency, Delay: 200 * time.Millisecond, Ops: []string{"ListTables"}})
	db := faultClient(p, 1)
	begin := time.Now()
	if _, err := db.ListTables(context.Background(), &dynamodb.ListTablesInput{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(begin); d < 200*time.Millisecond {
		t.Errorf("delayed call took %v, want at least 200ms", d)
	}
	remove()
	if s := p.stats(); s.Injected[faultLatency] != 1 || upCalls.Load() != 1 {
		t.Errorf("proxy %v, DynamoDB %d calls; want one delayed call through", s, upCalls.Load())
	}
}
