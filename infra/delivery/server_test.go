package delivery_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/delivery"
)

var (
	secret      = []byte("0123456789abcdef-shared")
	otherSecret = []byte("fedcba9876543210-other!")
)

// endpoint is a proxy's delivery endpoint under test: the Server behind an
// httptest server, optionally behind a tampering middleware, with a
// DeliverFunc that records what reached it.
type endpoint struct {
	t    *testing.T
	url  string
	srv  *delivery.Server
	gone []string // what the DeliverFunc answers

	mu    sync.Mutex
	log   bytes.Buffer // the Server's log, under mu
	calls [][]session.Delivery
	// tamper, when set, alters each request before the Server sees it.
	tamper func(r *http.Request)
}

func newEndpoint(t *testing.T, cfg delivery.ServerConfig) *endpoint {
	t.Helper()
	if cfg.Secret == nil {
		cfg.Secret = secret
	}
	ep := &endpoint{t: t}
	srv, err := delivery.NewServer(cfg, func(_ context.Context, ds []session.Delivery) []string {
		ep.mu.Lock()
		defer ep.mu.Unlock()
		ep.calls = append(ep.calls, ds)
		return ep.gone
	}, slog.New(slog.NewTextHandler(lockedWriter{ep}, nil)))
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	ep.srv = srv
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ep.mu.Lock()
		tamper := ep.tamper
		ep.mu.Unlock()
		if tamper != nil {
			tamper(r)
		}
		srv.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	ep.url = hs.URL
	return ep
}

// lockedWriter writes to an endpoint's log under its lock.
type lockedWriter struct{ ep *endpoint }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.ep.mu.Lock()
	defer w.ep.mu.Unlock()
	return w.ep.log.Write(p)
}

func (ep *endpoint) logged() string {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return ep.log.String()
}

func (ep *endpoint) delivered() [][]session.Delivery {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	return append([][]session.Delivery(nil), ep.calls...)
}

func (ep *endpoint) setTamper(f func(r *http.Request)) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	ep.tamper = f
}

func newClient(t *testing.T, key []byte) *delivery.Client {
	t.Helper()
	c, err := delivery.NewClient(key, 5*time.Second)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}

// sampleDeliveries holds binary frames (not valid UTF-8), a Client, and a
// close-only delivery, all of which must cross the wire unchanged.
func sampleDeliveries() []session.Delivery {
	return []session.Delivery{
		{Proxy: "http://p1", Conn: "conn-1", Client: "alice", Packets: [][]byte{{0x30, 0x05, 0x00, 0x01, 't', 0xFF, 0xFE}, {0x30, 0x03, 0x00, 0x01, 'u'}}},
		{Proxy: "http://p1", Conn: "conn-2", Client: "bob", Packets: [][]byte{{0xE0, 0x00}}, Close: true},
		{Proxy: "http://p1", Conn: "conn-3", Close: true},
	}
}

func requestBody(t *testing.T, ds []session.Delivery) []byte {
	t.Helper()
	b, err := json.Marshal(delivery.Request{Deliveries: ds})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// post sends a raw request to the endpoint with the given signature
// headers (left out when empty).
func post(t *testing.T, url string, ts, sig string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+delivery.Path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ts != "" {
		req.Header.Set(delivery.HeaderTimestamp, ts)
	}
	if sig != "" {
		req.Header.Set(delivery.HeaderSignature, sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(data))
}

// wantRefused checks the endpoint's one refusal, 401 ErrRefused, which
// tells the sender nothing of why, and that the endpoint logged why: the
// sentinel.
func wantRefused(t *testing.T, ep *endpoint, code int, body string, sentinel error) {
	t.Helper()
	if code != http.StatusUnauthorized || body != delivery.ErrRefused.Error() {
		t.Fatalf("answer %d %q, want 401 %q refusing with %v", code, body, delivery.ErrRefused, sentinel)
	}
	if log := ep.logged(); !strings.Contains(log, sentinel.Error()) {
		t.Fatalf("the log does not name %q as the reason:\n%s", sentinel, log)
	}
}

func nowMs() int64 { return time.Now().UnixMilli() }

func signed(key []byte, ts int64, body []byte) (string, string) {
	return strconv.FormatInt(ts, 10), delivery.Sign(key, ts, body)
}

// The signature is the hex HMAC-SHA256 of the timestamp, a newline and the
// body, as HeaderSignature documents: an independent implementation must
// agree, and every input must count.
func TestSign(t *testing.T) {
	ts := int64(1735787045123)
	body := []byte(`{"deliveries":[]}`)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("1735787045123\n"))
	m.Write(body)
	want := hex.EncodeToString(m.Sum(nil))
	if got := delivery.Sign(secret, ts, body); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	base := delivery.Sign(secret, ts, body)
	for name, sig := range map[string]string{
		"another secret":    delivery.Sign(otherSecret, ts, body),
		"another timestamp": delivery.Sign(secret, ts+1, body),
		"another body":      delivery.Sign(secret, ts, []byte(`{"deliveries":[ ]}`)),
		// The newline separates the timestamp from the body: moving a digit
		// across it must change the signature.
		"digit moved into the body": delivery.Sign(secret, ts/10, append([]byte("3"), body...)),
	} {
		if sig == base {
			t.Errorf("%s gives the same signature", name)
		}
	}
}

// A request signed with Sign passes the endpoint and reaches the
// DeliverFunc with its deliveries intact (the round trip of Sign and the
// endpoint's verification).
func TestSignRoundTrip(t *testing.T) {
	ep := newEndpoint(t, delivery.ServerConfig{})
	ep.gone = []string{"conn-2"}
	ds := sampleDeliveries()
	body := requestBody(t, ds)
	ts, sig := signed(secret, nowMs(), body)
	code, resp := post(t, ep.url, ts, sig, body)
	if code != http.StatusOK {
		t.Fatalf("status %d (%s), want 200", code, resp)
	}
	var r delivery.Response
	if err := json.Unmarshal([]byte(resp), &r); err != nil {
		t.Fatalf("answer %q: %v", resp, err)
	}
	if !reflect.DeepEqual(r.Gone, []string{"conn-2"}) {
		t.Errorf("gone %q, want [conn-2]", r.Gone)
	}
	calls := ep.delivered()
	if len(calls) != 1 || !reflect.DeepEqual(calls[0], ds) {
		t.Fatalf("DeliverFunc got %+v, want once %+v", calls, ds)
	}
}

// A good request through Client.Forward reaches the DeliverFunc intact and
// the connections the proxy no longer holds come back.
func TestForward(t *testing.T) {
	ep := newEndpoint(t, delivery.ServerConfig{})
	ep.gone = []string{"conn-1", "conn-3"}
	c := newClient(t, secret)
	// A proxy id is the endpoint's base URL; a trailing slash is allowed.
	for i, proxy := range []string{ep.url, ep.url + "/"} {
		// Distinct requests (see TestForwardIdenticalDeliveriesConcurrently).
		ds := sampleDeliveries()
		ds[0].Packets = append(ds[0].Packets, []byte{0x30, 0x03, 0x00, 0x01, byte('a' + i)})
		gone, err := c.Forward(context.Background(), proxy, ds)
		if err != nil {
			t.Fatalf("Forward(%q): %v", proxy, err)
		}
		if !reflect.DeepEqual(gone, []string{"conn-1", "conn-3"}) {
			t.Errorf("Forward(%q) gone %q, want [conn-1 conn-3]", proxy, gone)
		}
		calls := ep.delivered()
		if len(calls) != i+1 || !reflect.DeepEqual(calls[i], ds) {
			t.Fatalf("DeliverFunc got %+v, want %+v", calls, ds)
		}
	}
	// Nothing gone: no connection reported.
	ep.gone = nil
	gone, err := c.Forward(context.Background(), ep.url, sampleDeliveries())
	if err != nil || len(gone) != 0 {
		t.Fatalf("Forward = %q, %v; want nothing gone", gone, err)
	}
}

// Forward must fail (so that the caller treats every connection as gone)
// when the proxy cannot be reached or names no endpoint.
func TestForwardFailures(t *testing.T) {
	c := newClient(t, secret)
	if _, err := c.Forward(context.Background(), "", sampleDeliveries()); err == nil {
		t.Errorf("Forward to no proxy succeeded")
	}
	hs := httptest.NewServer(http.NotFoundHandler())
	url := hs.URL
	hs.Close()
	if _, err := c.Forward(context.Background(), url, sampleDeliveries()); err == nil {
		t.Errorf("Forward to a closed endpoint succeeded")
	}
	// An endpoint that answers 200 with something that is not a Response.
	junk := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("<html>hello</html>"))
	}))
	defer junk.Close()
	if _, err := c.Forward(context.Background(), junk.URL, sampleDeliveries()); err == nil {
		t.Errorf("Forward accepted an answer that is not a Response")
	}
}

// The endpoint refuses, with 401 and the sentinel, every request that is
// not a fresh one signed under the shared secret, and the DeliverFunc never
// sees it.
func TestEndpointRefusesRaw(t *testing.T) {
	body := requestBody(t, sampleDeliveries())
	cases := []struct {
		name string
		// build returns the headers and body to send
		build func() (ts, sig string, body []byte)
		want  error
	}{
		{name: "unsigned", want: delivery.ErrUnsigned,
			build: func() (string, string, []byte) { return "", "", body }},
		{name: "timestamp without signature", want: delivery.ErrUnsigned,
			build: func() (string, string, []byte) { return strconv.FormatInt(nowMs(), 10), "", body }},
		{name: "signature without timestamp", want: delivery.ErrUnsigned,
			build: func() (string, string, []byte) {
				_, sig := signed(secret, nowMs(), body)
				return "", sig, body
			}},
		{name: "signed with another secret", want: delivery.ErrBadSignature,
			build: func() (string, string, []byte) {
				ts, sig := signed(otherSecret, nowMs(), body)
				return ts, sig, body
			}},
		{name: "body altered after signing", want: delivery.ErrBadSignature,
			build: func() (string, string, []byte) {
				ts, sig := signed(secret, nowMs(), body)
				altered := bytes.Replace(body, []byte("conn-1"), []byte("conn-9"), 1)
				return ts, sig, altered
			}},
		{name: "timestamp altered after signing", want: delivery.ErrBadSignature,
			build: func() (string, string, []byte) {
				now := nowMs()
				_, sig := signed(secret, now, body)
				return strconv.FormatInt(now-1, 10), sig, body
			}},
		{name: "timestamp not a number", want: delivery.ErrBadSignature,
			build: func() (string, string, []byte) {
				_, sig := signed(secret, nowMs(), body)
				return "yesterday", sig, body
			}},
		{name: "signature not hex", want: delivery.ErrBadSignature,
			build: func() (string, string, []byte) { return strconv.FormatInt(nowMs(), 10), "zz-not-hex", body }},
		{name: "truncated signature", want: delivery.ErrBadSignature,
			build: func() (string, string, []byte) {
				ts, sig := signed(secret, nowMs(), body)
				return ts, sig[:32], body
			}},
		{name: "timestamp older than the skew", want: delivery.ErrStale,
			build: func() (string, string, []byte) {
				ts, sig := signed(secret, nowMs()-int64(5*time.Minute/time.Millisecond), body)
				return ts, sig, body
			}},
		{name: "timestamp in the future beyond the skew", want: delivery.ErrStale,
			build: func() (string, string, []byte) {
				ts, sig := signed(secret, nowMs()+int64(5*time.Minute/time.Millisecond), body)
				return ts, sig, body
			}},
		{name: "timestamp in seconds, not milliseconds", want: delivery.ErrStale,
			build: func() (string, string, []byte) {
				ts, sig := signed(secret, time.Now().Unix(), body)
				return ts, sig, body
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ep := newEndpoint(t, delivery.ServerConfig{})
			ts, sig, b := tc.build()
			code, resp := post(t, ep.url, ts, sig, b)
			wantRefused(t, ep, code, resp, tc.want)
			if calls := ep.delivered(); len(calls) != 0 {
				t.Fatalf("refused request reached the DeliverFunc: %+v", calls)
			}
		})
	}
}

// A request within the skew is served; MaxSkew bounds it.
func TestEndpointSkew(t *testing.T) {
	body := requestBody(t, sampleDeliveries())
	ep := newEndpoint(t, delivery.ServerConfig{}) // default skew 30s
	ts, sig := signed(secret, nowMs()-10_000, body)
	if code, resp := post(t, ep.url, ts, sig, body); code != http.StatusOK {
		t.Fatalf("request 10s old: status %d (%s), want 200 within the default 30s skew", code, resp)
	}
	ts, sig = signed(secret, nowMs()+10_000, body)
	if code, resp := post(t, ep.url, ts, sig, body); code != http.StatusOK {
		t.Fatalf("request 10s ahead: status %d (%s), want 200 within the default 30s skew", code, resp)
	}
	tight := newEndpoint(t, delivery.ServerConfig{MaxSkew: 2 * time.Second})
	ts, sig = signed(secret, nowMs()-10_000, body)
	code, resp := post(t, tight.url, ts, sig, body)
	wantRefused(t, tight, code, resp, delivery.ErrStale)
}

// An exact copy of a served request is refused as a replay, and reaches
// the DeliverFunc once.
func TestEndpointRefusesReplay(t *testing.T) {
	ep := newEndpoint(t, delivery.ServerConfig{})
	body := requestBody(t, sampleDeliveries())
	ts, sig := signed(secret, nowMs(), body)
	if code, resp := post(t, ep.url, ts, sig, body); code != http.StatusOK {
		t.Fatalf("first request: status %d (%s)", code, resp)
	}
	code, resp := post(t, ep.url, ts, sig, body)
	wantRefused(t, ep, code, resp, delivery.ErrReplayed)
	code, resp = post(t, ep.url, ts, sig, body)
	wantRefused(t, ep, code, resp, delivery.ErrReplayed)
	if n := len(ep.delivered()); n != 1 {
		t.Fatalf("DeliverFunc called %d times, want 1", n)
	}
	// A new request with the same body, signed at another time, is not a
	// replay.
	ts2, sig2 := signed(secret, nowMs()+1, body)
	if code, resp := post(t, ep.url, ts2, sig2, body); code != http.StatusOK {
		t.Fatalf("same body at another time: status %d (%s), want 200", code, resp)
	}
}

// Hex is case-insensitive: the same signature in capitals is the same
// request, and must be refused as a replay too.
func TestEndpointRefusesReplayWithRecasedSignature(t *testing.T) {
	ep := newEndpoint(t, delivery.ServerConfig{})
	body := requestBody(t, sampleDeliveries())
	ts, sig := signed(secret, nowMs(), body)
	if code, resp := post(t, ep.url, ts, sig, body); code != http.StatusOK {
		t.Fatalf("first request: status %d (%s)", code, resp)
	}
	code, resp := post(t, ep.url, ts, strings.ToUpper(sig), body)
	wantRefused(t, ep, code, resp, delivery.ErrReplayed)
	if n := len(ep.delivered()); n != 1 {
		t.Fatalf("DeliverFunc called %d times, want 1", n)
	}
}

// The client maps the endpoint's one refusal to ErrRefused, so that a
// handler can tell a misconfigured secret from an unreachable proxy; the
// endpoint logs why it refused.
func TestClientMapsRefusals(t *testing.T) {
	ds := sampleDeliveries()
	cases := []struct {
		name   string
		key    []byte
		tamper func(t *testing.T) func(r *http.Request)
		want   error
	}{
		{name: "signature stripped", key: secret, want: delivery.ErrUnsigned,
			tamper: func(*testing.T) func(r *http.Request) {
				return func(r *http.Request) {
					r.Header.Del(delivery.HeaderSignature)
					r.Header.Del(delivery.HeaderTimestamp)
				}
			}},
		{name: "client with another secret", key: otherSecret, want: delivery.ErrBadSignature},
		{name: "body altered on the way", key: secret, want: delivery.ErrBadSignature,
			tamper: func(t *testing.T) func(r *http.Request) {
				return func(r *http.Request) {
					b, _ := io.ReadAll(r.Body)
					b = bytes.Replace(b, []byte("conn-1"), []byte("conn-9"), 1)
					r.Body = io.NopCloser(bytes.NewReader(b))
					r.ContentLength = int64(len(b))
				}
			}},
		{name: "re-signed at an old time", key: secret, want: delivery.ErrStale,
			tamper: func(t *testing.T) func(r *http.Request) {
				return func(r *http.Request) {
					b, _ := io.ReadAll(r.Body)
					r.Body = io.NopCloser(bytes.NewReader(b))
					ts, sig := signed(secret, nowMs()-int64(time.Hour/time.Millisecond), b)
					r.Header.Set(delivery.HeaderTimestamp, ts)
					r.Header.Set(delivery.HeaderSignature, sig)
				}
			}},
		{name: "earlier request replayed", key: secret, want: delivery.ErrReplayed,
			tamper: func(t *testing.T) func(r *http.Request) {
				// Capture the first request; put it in place of every later one.
				var (
					mu     sync.Mutex
					header http.Header
					body   []byte
				)
				return func(r *http.Request) {
					mu.Lock()
					defer mu.Unlock()
					if header == nil {
						header = r.Header.Clone()
						body, _ = io.ReadAll(r.Body)
						r.Body = io.NopCloser(bytes.NewReader(body))
						return
					}
					r.Header = header.Clone()
					r.Body = io.NopCloser(bytes.NewReader(body))
					r.ContentLength = int64(len(body))
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ep := newEndpoint(t, delivery.ServerConfig{})
			if tc.tamper != nil {
				ep.setTamper(tc.tamper(t))
			}
			c := newClient(t, tc.key)
			if tc.want == delivery.ErrReplayed {
				// The first request is served (and captured by the tamper).
				if _, err := c.Forward(context.Background(), ep.url, ds); err != nil {
					t.Fatalf("first request refused: %v", err)
				}
			}
			_, err := c.Forward(context.Background(), ep.url, ds)
			if !errors.Is(err, delivery.ErrRefused) {
				t.Fatalf("Forward error %v, want one wrapping %v", err, delivery.ErrRefused)
			}
			if log := ep.logged(); !strings.Contains(log, tc.want.Error()) {
				t.Fatalf("the endpoint's log does not name %q:\n%s", tc.want, log)
			}
			want := tc.want
			wantCalls := 0
			if want == delivery.ErrReplayed {
				wantCalls = 1
			}
			if n := len(ep.delivered()); n != wantCalls {
				t.Fatalf("DeliverFunc called %d times, want %d", n, wantCalls)
			}
		})
	}
}

// Two distinct deliveries may carry the same frames (two publishers sending
// the same QoS 0 payload to one subscriber) and be posted in the same
// millisecond: both must be delivered, not the second refused as a replay.
func TestForwardIdenticalDeliveriesConcurrently(t *testing.T) {
	ep := newEndpoint(t, delivery.ServerConfig{})
	c := newClient(t, secret)
	ds := []session.Delivery{{Proxy: ep.url, Conn: "conn-1", Client: "alice", Packets: [][]byte{{0x30, 0x04, 0x00, 0x01, 't', '1'}}}}
	const workers, each = 8, 25
	var failed atomic.Int32
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				if _, err := c.Forward(context.Background(), ep.url, ds); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d of %d identical deliveries refused, first: %v", n, workers*each, firstErr.Load())
	}
	if n := len(ep.delivered()); n != workers*each {
		t.Fatalf("DeliverFunc called %d times, want %d", n, workers*each)
	}
}

// Secrets shorter than MinSecretLen are refused on both sides.
func TestSecretLength(t *testing.T) {
	deliver := func(context.Context, []session.Delivery) []string { return nil }
	for _, n := range []int{0, 1, delivery.MinSecretLen - 1} {
		key := bytes.Repeat([]byte("k"), n)
		if s, err := delivery.NewServer(delivery.ServerConfig{Secret: key}, deliver, nil); !errors.Is(err, delivery.ErrSecret) || s != nil {
			t.Errorf("NewServer with a %d-byte secret = %v, %v; want ErrSecret", n, s, err)
		}
		if c, err := delivery.NewClient(key, 0); !errors.Is(err, delivery.ErrSecret) || c != nil {
			t.Errorf("NewClient with a %d-byte secret = %v, %v; want ErrSecret", n, c, err)
		}
	}
	key := bytes.Repeat([]byte("k"), delivery.MinSecretLen)
	if _, err := delivery.NewServer(delivery.ServerConfig{Secret: key}, deliver, nil); err != nil {
		t.Errorf("NewServer with a %d-byte secret: %v", delivery.MinSecretLen, err)
	}
	if _, err := delivery.NewClient(key, 0); err != nil {
		t.Errorf("NewClient with a %d-byte secret: %v", delivery.MinSecretLen, err)
	}
}

// The endpoint serves POST on Path only, and refuses a signed body that is
// not a Request.
func TestEndpointMethodPathBody(t *testing.T) {
	ep := newEndpoint(t, delivery.ServerConfig{})
	body := requestBody(t, sampleDeliveries())

	for _, method := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		req, _ := http.NewRequest(method, ep.url+delivery.Path, bytes.NewReader(body))
		ts, sig := signed(secret, nowMs(), body)
		req.Header.Set(delivery.HeaderTimestamp, ts)
		req.Header.Set(delivery.HeaderSignature, sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: status %d, want 405", method, delivery.Path, resp.StatusCode)
		}
		if allow := resp.Header.Get("Allow"); allow != http.MethodPost {
			t.Errorf("%s: Allow %q, want POST", method, allow)
		}
	}
	for _, path := range []string{"/", "/deliver/", "/other", delivery.Path + "x"} {
		ts, sig := signed(secret, nowMs(), body)
		req, _ := http.NewRequest(http.MethodPost, ep.url+path, bytes.NewReader(body))
		req.Header.Set(delivery.HeaderTimestamp, ts)
		req.Header.Set(delivery.HeaderSignature, sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("POST %s: status %d, want 404", path, resp.StatusCode)
		}
	}
	// Signed, but not a Request.
	junk := []byte(`{"deliveries": "nope"`)
	ts, sig := signed(secret, nowMs(), junk)
	if code, resp := post(t, ep.url, ts, sig, junk); code != http.StatusBadRequest {
		t.Errorf("signed junk body: status %d (%s), want 400", code, resp)
	}
	// A body over MaxBody is refused.
	small := newEndpoint(t, delivery.ServerConfig{MaxBody: 64})
	ts, sig = signed(secret, nowMs(), body)
	if code, _ := post(t, small.url, ts, sig, body); code == http.StatusOK {
		t.Errorf("body of %d bytes over MaxBody 64 served", len(body))
	}
	if calls := append(ep.delivered(), small.delivered()...); len(calls) != 0 {
		t.Fatalf("DeliverFunc reached: %+v", calls)
	}
}
