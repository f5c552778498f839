package dynamo

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// silent is an endpoint that never answers: each call waits for its
// request's context to end, as a DynamoDB call does whose answer is lost
// behind a stalled connection.
type silent struct{ calls atomic.Int32 }

func (s *silent) Do(r *http.Request) (*http.Response, error) {
	s.calls.Add(1)
	<-r.Context().Done()
	return nil, r.Context().Err()
}

// TestTransactKnownWithinDeadline: when neither a transaction nor its
// resend gets an answer, transactKnown returns an error (the outcome is
// unknown, and is never reported as success), and the resend ends
// settleGrace past the caller's deadline instead of settleTimeout after it:
// in a Lambda function the caller's deadline is the handler's, and the
// function itself ends 2 s later at most (the relay's reserve).
func TestTransactKnownWithinDeadline(t *testing.T) {
	ep := &silent{}
	db := dynamodb.New(dynamodb.Options{
		Region: "us-east-1", BaseEndpoint: aws.String("http://127.0.0.1:1"),
		Credentials: aws.AnonymousCredentials{}, HTTPClient: ep,
		RetryMaxAttempts: 1,
	})
	st := New(db, "table")
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	dl, _ := ctx.Deadline()
	err := st.transactKnown(ctx, []types.TransactWriteItem{{ConditionCheck: &types.ConditionCheck{
		TableName: aws.String("table"), Key: key("p", "s"), ConditionExpression: aws.String("attribute_exists(pk)")}}})
	ended := time.Now()
	if err == nil {
		t.Fatal("transactKnown without any answer returned success")
	}
	if n := ep.calls.Load(); n != 2 {
		t.Errorf("%d calls, want the transaction and its resend", n)
	}
	// Past the grace, with room for a slow machine, and well before
	// settleTimeout would have ended the resend.
	if limit := dl.Add(settleGrace + time.Second); ended.After(limit) {
		t.Errorf("transactKnown ended %v past the caller's deadline, want at most %v", ended.Sub(dl), settleGrace)
	}
}

// TestSettleDeadline: the resend ends settleTimeout after it starts, or
// settleGrace past the caller's deadline when that is sooner.
func TestSettleDeadline(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := settleDeadline(context.Background(), now); !got.Equal(now.Add(settleTimeout)) {
		t.Errorf("without a deadline: %v, want %v", got, now.Add(settleTimeout))
	}
	for _, left := range []time.Duration{-time.Second, 0, time.Second, time.Minute} {
		ctx, cancel := context.WithDeadline(context.Background(), now.Add(left))
		got := settleDeadline(ctx, now)
		exp := now.Add(settleTimeout)
		if d := now.Add(left + settleGrace); d.Before(exp) {
			exp = d
		}
		if !got.Equal(exp) {
			t.Errorf("deadline %v from now: %v, want %v", left, got.Sub(now), exp.Sub(now))
		}
		cancel()
	}
}
