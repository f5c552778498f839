package delivery_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqttless/mqttless/infra/delivery"
)

// A request whose answer is lost after the proxy wrote its frames (the
// connection cut before the answer) is sent again by Forward, and the
// endpoint, which serves each request id once, answers the resend with
// the first answer without writing the frames again: the deliveries
// arrive once and the gone connections come back.
func TestForwardResendsAndEndpointServesOnce(t *testing.T) {
	ep := newEndpoint(t, delivery.ServerConfig{})
	ep.gone = []string{"conn-3"}
	var attempts atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if attempts.Add(1) == 1 {
			ep.srv.ServeHTTP(httptest.NewRecorder(), r) // served; the answer is lost
			panic(http.ErrAbortHandler)
		}
		ep.srv.ServeHTTP(w, r)
	}))
	defer hs.Close()
	c := newClient(t, secret)
	gone, err := c.Forward(context.Background(), hs.URL, sampleDeliveries())
	if err != nil {
		t.Fatalf("Forward: %v", err)
	}
	if len(gone) != 1 || gone[0] != "conn-3" {
		t.Errorf("gone %q, want [conn-3], the first answer", gone)
	}
	if n := attempts.Load(); n != 2 {
		t.Errorf("%d attempts, want 2", n)
	}
	if calls := ep.delivered(); len(calls) != 1 {
		t.Fatalf("the deliveries were written %d times, want once", len(calls))
	}
}

// A proxy that fails a request for a moment (a restart, an overload) gets
// it again and serves it.
func TestForwardResendsAfterAFailure(t *testing.T) {
	ep := newEndpoint(t, delivery.ServerConfig{})
	var attempts atomic.Int32
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if attempts.Add(1) <= 2 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		ep.srv.ServeHTTP(w, r)
	}))
	defer hs.Close()
	if _, err := newClient(t, secret).Forward(context.Background(), hs.URL, sampleDeliveries()); err != nil {
		t.Fatalf("Forward: %v", err)
	}
	if calls := ep.delivered(); len(calls) != 1 {
		t.Fatalf("the deliveries were written %d times, want once", len(calls))
	}
}

// Forward's error wraps ErrNotDelivered only when the proxy certainly
// wrote nothing: every attempt refused, or the connection never made. A
// request the proxy may have served (no answer in time) does not.
func TestForwardNotDelivered(t *testing.T) {
	c := newClient(t, secret)
	hs := httptest.NewServer(http.NotFoundHandler())
	closed := hs.URL
	hs.Close()
	if _, err := c.Forward(context.Background(), closed, sampleDeliveries()); !errors.Is(err, delivery.ErrNotDelivered) {
		t.Errorf("Forward to a closed port: %v, want ErrNotDelivered", err)
	}
	ep := newEndpoint(t, delivery.ServerConfig{})
	_, err := newClient(t, otherSecret).Forward(context.Background(), ep.url, sampleDeliveries())
	if !errors.Is(err, delivery.ErrNotDelivered) || !errors.Is(err, delivery.ErrRefused) {
		t.Errorf("Forward refused: %v, want ErrNotDelivered and ErrRefused", err)
	}
	stop := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	}))
	defer hang.Close()
	defer close(stop)
	slow, err := delivery.NewClient(secret, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	_, err = slow.Forward(context.Background(), hang.URL, sampleDeliveries())
	if err == nil || errors.Is(err, delivery.ErrNotDelivered) {
		t.Errorf("Forward timed out: %v, want an error without ErrNotDelivered", err)
	}
	if len(ep.delivered()) != 0 {
		t.Errorf("a refused request was written")
	}
}
