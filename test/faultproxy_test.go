package e2e_test

// The DynamoDB fault proxy of the fault-injection harness (issue 15): an
// HTTP reverse proxy on 127.0.0.1 in front of the DynamoDB endpoint
// (moto), which the functions of a stack use as AWS_ENDPOINT_URL (see
// withDynamoEndpoint). Rules add latency to calls, or answer them as
// DynamoDB does when it throttles (HTTP 400 with the JSON error type
// ThrottlingException or ProvisionedThroughputExceededException) or fails
// (HTTP 500), or carry them out and drop the connection before the answer
// (a lost answer: the SDK sees a connection error and sends the call
// again), for a share of the calls, for a window of time, and optionally
// only for some operations (the X-Amz-Target header,
// DynamoDB_20120810.<Operation>). aws-sdk-go-v2's standard retryer
// retries all four (faultproxy_unit_test.go checks that it does).

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

// faultKind is what a rule does to the calls it picks.
type faultKind int

const (
	// faultLatency delays the call by the rule's Delay, then passes it on.
	faultLatency faultKind = iota
	// faultThrottle answers 400 ThrottlingException.
	faultThrottle
	// faultProvisioned answers 400 ProvisionedThroughputExceededException.
	faultProvisioned
	// faultServerError answers 500 InternalServerError.
	faultServerError
	// faultLostAnswer passes the call on, then closes the connection
	// instead of answering: the call was made, and its caller cannot know.
	faultLostAnswer
)

func (k faultKind) String() string {
	switch k {
	case faultLatency:
		return "latency"
	case faultThrottle:
		return "ThrottlingException"
	case faultProvisioned:
		return "ProvisionedThroughputExceededException"
	case faultServerError:
		return "500"
	case faultLostAnswer:
		return "lost answer"
	}
	return fmt.Sprintf("faultKind(%d)", int(k))
}

// faultRule picks calls and does Kind to them. The zero values of the
// filters pick every call: Share 0 means all of them, Ops nil every
// operation, From and Until zero no window.
type faultRule struct {
	Kind  faultKind
	Delay time.Duration // for faultLatency
	// Share of the calls picked, in (0, 1]; 0 picks every call.
	Share float64
	// Ops are operation names (TransactWriteItems, Query, ...): only calls
	// whose X-Amz-Target ends in ".<op>" are picked.
	Ops []string
	// From and Until bound the window in which the rule picks calls.
	From, Until time.Time
}

// picks reports whether r applies to a call of op at now, drawing the
// share.
func (r *faultRule) picks(op string, now time.Time) bool {
	if !r.From.IsZero() && now.Before(r.From) {
		return false
	}
	if !r.Until.IsZero() && !now.Before(r.Until) {
		return false
	}
	if len(r.Ops) > 0 {
		found := false
		for _, o := range r.Ops {
			found = found || o == op
		}
		if !found {
			return false
		}
	}
	return r.Share <= 0 || rand.Float64() < r.Share
}

// faultProxy is the DynamoDB fault proxy. Its methods are safe for
// concurrent use.
type faultProxy struct {
	URL string // http://127.0.0.1:port, for AWS_ENDPOINT_URL

	srv *http.Server
	rp  *httputil.ReverseProxy

	mu       sync.Mutex // guards what follows
	rules    []*faultRule
	calls    map[string]int    // calls seen, by operation
	injected map[faultKind]int // calls a rule picked, by kind
}

// newFaultProxy starts a fault proxy in front of target (a base URL such
// as http://127.0.0.1:4566), with no rules: it passes every call on.
func newFaultProxy(target string) (*faultProxy, error) {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("fault proxy target %q: want a base URL (%v)", target, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &faultProxy{
		URL:      "http://" + ln.Addr().String(),
		rp:       httputil.NewSingleHostReverseProxy(u),
		calls:    map[string]int{},
		injected: map[faultKind]int{},
	}
	p.rp.ErrorLog = nil
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// close stops the proxy and the calls it is delaying.
func (p *faultProxy) close() { _ = p.srv.Close() }

// add installs r and returns the function that removes it.
func (p *faultProxy) add(r faultRule) (remove func()) {
	rule := &r
	p.mu.Lock()
	p.rules = append(p.rules, rule)
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for i, x := range p.rules {
			if x == rule {
				p.rules = append(p.rules[:i], p.rules[i+1:]...)
				return
			}
		}
	}
}

// window installs r for the next d (From now, Until now+d).
func (p *faultProxy) window(r faultRule, d time.Duration) {
	r.From = time.Now()
	r.Until = r.From.Add(d)
	p.add(r)
}

// clear removes every rule.
func (p *faultProxy) clear() {
	p.mu.Lock()
	p.rules = nil
	p.mu.Unlock()
}

// faultStats are the calls a proxy saw and the faults it injected.
type faultStats struct {
	Calls    map[string]int
	Injected map[faultKind]int
}

func (s faultStats) total() int {
	n := 0
	for _, c := range s.Calls {
		n += c
	}
	return n
}

func (s faultStats) String() string {
	var inj []string
	for _, k := range []faultKind{faultLatency, faultThrottle, faultProvisioned, faultServerError, faultLostAnswer} {
		if n := s.Injected[k]; n > 0 {
			inj = append(inj, fmt.Sprintf("%d %s", n, k))
		}
	}
	if len(inj) == 0 {
		inj = []string{"none"}
	}
	return fmt.Sprintf("%d calls, injected %s", s.total(), strings.Join(inj, ", "))
}

// stats returns a copy of the counters.
func (p *faultProxy) stats() faultStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := faultStats{Calls: map[string]int{}, Injected: map[faultKind]int{}}
	for k, v := range p.calls {
		s.Calls[k] = v
	}
	for k, v := range p.injected {
		s.Injected[k] = v
	}
	return s
}

// operation is the DynamoDB operation an X-Amz-Target names
// (DynamoDB_20120810.Query -> Query).
func operation(target string) string {
	if i := strings.LastIndexByte(target, '.'); i >= 0 {
		return target[i+1:]
	}
	return target
}

// ServeHTTP applies the first rule that picks the call: latency rules
// delay it and let the next rules decide; an error rule answers it.
func (p *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := operation(r.Header.Get("X-Amz-Target"))
	now := time.Now()
	var delay time.Duration
	var fail *faultRule
	p.mu.Lock()
	p.calls[op]++
	for _, rule := range p.rules {
		if !rule.picks(op, now) {
			continue
		}
		p.injected[rule.Kind]++
		if rule.Kind == faultLatency {
			delay += rule.Delay
			continue
		}
		fail = rule
		break
	}
	p.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if fail == nil {
		p.rp.ServeHTTP(w, r)
		return
	}
	if fail.Kind == faultLostAnswer {
		p.rp.ServeHTTP(httptest.NewRecorder(), r)
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close()
		}
		return
	}
	// The body is read and dropped, as DynamoDB would.
	_, _ = io.Copy(io.Discard, r.Body)
	status, typ, msg := http.StatusBadRequest, "", ""
	switch fail.Kind {
	case faultThrottle:
		typ, msg = "ThrottlingException", "Rate of requests exceeds the allowed throughput."
	case faultProvisioned:
		typ, msg = "ProvisionedThroughputExceededException", "The level of configured provisioned throughput for the table was exceeded."
	default:
		status, typ, msg = http.StatusInternalServerError, "InternalServerError", "Internal server error (injected)"
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-Requestid", fmt.Sprintf("fault-%d", rand.Uint64()))
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":%q}`, typ, msg)
}
