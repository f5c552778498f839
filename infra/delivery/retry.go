package delivery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// ErrNotDelivered wraps a Forward error after which the proxy certainly
// wrote none of the deliveries: the request never reached it (the
// connection was refused or never made), or it refused the request (it
// writes frames only when it answers 200). Other errors, such as a
// timeout while waiting for the answer, leave it unknown.
var ErrNotDelivered = errors.New("delivery: not delivered")

// retryBackoff is the wait before each resend of a request that failed
// but for a timeout: a proxy that restarts, a connection reset, a refusal. Every
// resend carries the same body, so the same request id, which the
// endpoint serves once (idempotent.go); each is signed afresh.
var retryBackoff = []time.Duration{100 * time.Millisecond, 400 * time.Millisecond}

// postRetrying posts body, resending it after retryBackoff while it fails
// and ctx allows. Its error is the last attempt's, wrapping
// ErrNotDelivered only when no attempt may have been served.
func (c *Client) postRetrying(ctx context.Context, proxy string, body []byte) ([]string, error) {
	maybeServed := false
	for attempt := 0; ; attempt++ {
		gone, err := c.post(ctx, proxy, body)
		if err == nil {
			return gone, nil
		}
		maybeServed = maybeServed || !errors.Is(err, ErrNotDelivered)
		// A request that timed out is not sent again: the proxy is
		// likely dead or stuck, and its lease says so once the Relay
		// marks it (leases.go); a resend would only make the PUBLISH
		// that found it wait longer.
		if attempt == len(retryBackoff) || ctx.Err() != nil || timedOut(err) {
			return nil, lastError(err, maybeServed, attempt+1)
		}
		t := time.NewTimer(retryBackoff[attempt])
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, lastError(err, maybeServed, attempt+1)
		case <-t.C:
		}
	}
}

// lastError is the error of a request that failed attempts times: err,
// without ErrNotDelivered when an earlier attempt may have been served.
func lastError(err error, maybeServed bool, attempts int) error {
	if maybeServed && errors.Is(err, ErrNotDelivered) {
		return perhapsServed{fmt.Errorf("delivery: %d attempts, an earlier one perhaps served: %w", attempts, err)}
	}
	if attempts > 1 {
		return fmt.Errorf("delivery: %d attempts: %w", attempts, err)
	}
	return err
}

// neverSent reports whether err, from an HTTP request, means that the
// request never reached the server: the connection could not be made.
func neverSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// perhapsServed is err, which wraps ErrNotDelivered, for deliveries some
// of which may have been written: it matches what err matches (such as a
// *url.Error, for the leases' unreachable) but ErrNotDelivered.
type perhapsServed struct{ err error }

func (e perhapsServed) Error() string { return e.err.Error() }

// Is reports whether err matches target, unless target is ErrNotDelivered.
func (e perhapsServed) Is(target error) bool {
	return target != ErrNotDelivered && errors.Is(e.err, target)
}

// As finds target in err.
func (e perhapsServed) As(target any) bool { return errors.As(e.err, target) }

// timedOut reports whether err is a request that ran out of time.
func timedOut(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}
