package chunkrun

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/mqttless/mqttless/core/session"
)

// Lambda runs chunks as asynchronous invocations (InvocationType Event) of
// one function, the publish function itself: Lambda queues each, runs it
// on an instance of its own and retries it twice when it fails
// (docs/architecture.md, "Fan-out in chunks"). It calls the Invoke API
// with a signed request rather than the SDK's Lambda client, which the
// functions would otherwise link for this one call (see lambdafn's
// TestFunctionsLinkNoOneMachineCode).
type Lambda struct {
	creds    aws.CredentialsProvider
	region   string
	endpoint string // e.g. https://lambda.us-east-1.amazonaws.com
	function string
	client   *http.Client
	signer   *v4.Signer
	parallel int
}

// ErrNotQueued is an asynchronous invocation Lambda did not accept.
var ErrNotQueued = errors.New("chunkrun: chunk not queued")

// MaxAsyncBytes is the most JSON one asynchronous invocation carries
// (Lambda's limit is 256 KB).
const MaxAsyncBytes = 256 << 10

// NewLambda returns a Lambda that invokes function with the credentials
// and region of cfg, at endpoint (empty: Lambda's public endpoint of the
// region).
func NewLambda(cfg aws.Config, function, endpoint string) *Lambda {
	if endpoint == "" {
		endpoint = "https://lambda." + cfg.Region + ".amazonaws.com"
	}
	return &Lambda{creds: cfg.Credentials, region: cfg.Region, endpoint: endpoint, function: function,
		client: &http.Client{Timeout: 10 * time.Second}, signer: v4.NewSigner(), parallel: 64}
}

// RunChunks implements session.ChunkRunner: it queues each event with an
// asynchronous Invoke, up to 64 at once, and returns once Lambda accepted
// every one, or with the first refusal.
func (l *Lambda) RunChunks(ctx context.Context, evs []*session.Event) error {
	sem := make(chan struct{}, l.parallel)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for _, ev := range evs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := l.invoke(ctx, ev); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return first
}

// invoke queues one event.
func (l *Lambda) invoke(ctx context.Context, ev *session.Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("chunkrun: encode a chunk: %w", err)
	}
	if len(body) > MaxAsyncBytes {
		return fmt.Errorf("%w: %d bytes, more than an asynchronous invocation takes", ErrNotQueued, len(body))
	}
	u := l.endpoint + "/2015-03-31/functions/" + url.PathEscape(l.function) + "/invocations"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("chunkrun: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Amz-Invocation-Type", "Event")
	creds, err := l.creds.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("chunkrun: credentials: %w", err)
	}
	sum := sha256.Sum256(body)
	if err := l.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "lambda", l.region, time.Now()); err != nil {
		return fmt.Errorf("chunkrun: sign: %w", err)
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotQueued, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("%w: Invoke answered %d: %s", ErrNotQueued, resp.StatusCode, bytes.TrimSpace(msg))
	}
	return nil
}

var _ session.ChunkRunner = (*Lambda)(nil)
