package delivery

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/mqttless/mqttless/core/session"
)

// Client posts signed delivery requests to proxies. A proxy's id is the
// base URL of its delivery endpoint (such as http://10.0.1.7:9883). A
// Client is safe for concurrent use.
type Client struct {
	secret []byte
	http   *http.Client
	now    func() time.Time
}

// NewClient returns a Client signing with secret, whose requests time out
// after timeout (10s when 0). It fails with ErrSecret when the secret is
// too short.
func NewClient(secret []byte, timeout time.Duration) (*Client, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("%w: %d bytes, want at least %d", ErrSecret, len(secret), MinSecretLen)
	}
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	return &Client{secret: secret, http: &http.Client{Timeout: timeout, Transport: tr}, now: time.Now}, nil
}

// Forward sends ds to the proxy whose id is proxy and returns the
// connections it reported gone. ds goes in one request or, past
// BatchBytes, several, one after the other. A request that fails is sent
// again (retry.go). An error means the proxy could not be reached or
// refused a request: the caller must treat every connection of ds as
// gone; when it wraps ErrNotDelivered, none of ds was written.
func (c *Client) Forward(ctx context.Context, proxy string, ds []session.Delivery) (gone []string, err error) {
	if proxy == "" {
		return nil, errNoProxy
	}
	bodies, err := requestBodies(ds)
	if err != nil {
		return nil, err
	}
	for i, body := range bodies {
		g, err := c.postRetrying(ctx, proxy, body)
		if err != nil {
			if i > 0 {
				// The requests before it were served: some of ds was
				// written.
				return nil, perhapsServed{fmt.Errorf("delivery: request %d of %d to %s: %w", i+1, len(bodies), proxy, err)}
			}
			return nil, err
		}
		gone = append(gone, g...)
	}
	return gone, nil
}

// post sends one signed request.
func (c *Client) post(ctx context.Context, proxy string, body []byte) (gone []string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(proxy, "/")+Path, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("delivery: request to %q: %w", proxy, err)
	}
	ts := c.now().UnixMilli()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, Sign(c.secret, ts, body))
	resp, err := c.http.Do(req)
	if err != nil {
		if neverSent(err) {
			return nil, fmt.Errorf("%w: post to %s: %w", ErrNotDelivered, proxy, err)
		}
		return nil, fmt.Errorf("delivery: post to %s: %w", proxy, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("delivery: reading the answer of %s: %w", proxy, err)
	}
	if resp.StatusCode != http.StatusOK {
		// The endpoint writes frames only when it answers 200.
		return nil, fmt.Errorf("%w: %w", ErrNotDelivered, errorFromStatus(resp.StatusCode, strings.TrimSpace(string(data))))
	}
	var r Response
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("delivery: decoding the answer of %s: %w", proxy, err)
	}
	return r.Gone, nil
}
