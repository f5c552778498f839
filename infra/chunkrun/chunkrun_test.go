package chunkrun_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/chunkrun"
)

func chunkEvent(offset uint64) *session.Event {
	return &session.Event{Kind: session.KindChunk, Chunk: &session.Chunk{Stream: session.StreamID{Filter: "t"}, Offset: offset, Clients: []string{"a", "b"}}}
}

// Each chunk is an asynchronous Invoke of the function, signed for the
// lambda service; Lambda's 202 accepts it, anything else fails the run.
func TestLambdaQueuesEachChunk(t *testing.T) {
	var got atomic.Int32
	var refuse atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/2015-03-31/functions/my-publish/invocations" {
			t.Errorf("%s %s", r.Method, r.URL.Path)
		}
		if r.Header.Get("X-Amz-Invocation-Type") != "Event" {
			t.Errorf("invocation type %q, want Event", r.Header.Get("X-Amz-Invocation-Type"))
		}
		if a := r.Header.Get("Authorization"); !strings.HasPrefix(a, "AWS4-HMAC-SHA256 ") || !strings.Contains(a, "/us-east-1/lambda/aws4_request") {
			t.Errorf("Authorization %q, want SigV4 for lambda in us-east-1", a)
		}
		body, _ := io.ReadAll(r.Body)
		var ev session.Event
		if err := json.Unmarshal(body, &ev); err != nil || ev.Kind != session.KindChunk || ev.Chunk == nil {
			t.Errorf("body %s: %v", body, err)
		}
		if refuse.Load() {
			http.Error(w, `{"Type":"User","message":"Rate Exceeded."}`, http.StatusTooManyRequests)
			return
		}
		got.Add(1)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	cfg := aws.Config{Region: "us-east-1", Credentials: aws.NewCredentialsCache(credentials{})}
	l := chunkrun.NewLambda(cfg, "my-publish", srv.URL)
	evs := []*session.Event{chunkEvent(1), chunkEvent(2), chunkEvent(3)}
	if err := l.RunChunks(context.Background(), evs); err != nil {
		t.Fatal(err)
	}
	if got.Load() != 3 {
		t.Fatalf("%d invocations, want 3", got.Load())
	}
	refuse.Store(true)
	if err := l.RunChunks(context.Background(), evs[:1]); !errors.Is(err, chunkrun.ErrNotQueued) || !strings.Contains(err.Error(), "429") {
		t.Fatalf("refused: %v, want ErrNotQueued with the status", err)
	}
}

type credentials struct{}

func (credentials) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "secret"}, nil
}

// A Process accepts at once and handles each chunk apart, again when it
// fails, at most Retries more times.
func TestProcessRetries(t *testing.T) {
	p := chunkrun.NewProcess(4, time.Second, nil)
	var calls atomic.Int32
	p.Bind(func(_ context.Context, ev *session.Event) error {
		n := calls.Add(1)
		if ev.Chunk.Offset == 1 && n < 2 {
			return errors.New("fails once")
		}
		if ev.Chunk.Offset == 2 {
			return errors.New("always fails")
		}
		return nil
	})
	if err := p.RunChunks(context.Background(), []*session.Event{chunkEvent(1)}); err != nil {
		t.Fatal(err)
	}
	p.Wait()
	if calls.Load() != 2 {
		t.Fatalf("%d handlings, want 2 (one failure, one retry)", calls.Load())
	}
	calls.Store(0)
	if err := p.RunChunks(context.Background(), []*session.Event{chunkEvent(2)}); err != nil {
		t.Fatal(err)
	}
	p.Wait()
	if calls.Load() != 1+chunkrun.Retries {
		t.Fatalf("%d handlings of a chunk that always fails, want %d", calls.Load(), 1+chunkrun.Retries)
	}
}
