package e2e_test

// A fault scenario of issue 15's item 3: a proxy's delivery endpoint
// refuses every request for a window, as it does after clock skew (401),
// so that the functions' POSTs of deliveries to its connections fail.

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"
)

// deliveryFront stands in front of a proxy's delivery endpoint (the proxy
// started with -delivery-url naming it, its id): it passes requests on to
// target, or, while refusing, answers each with the endpoint's refusal.
type deliveryFront struct {
	URL     string
	target  atomic.Pointer[url.URL]
	refuse  atomic.Bool
	refused atomic.Int64
}

func newDeliveryFront(t *testing.T) *deliveryFront {
	t.Helper()
	f := &deliveryFront{}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(f.target.Load())
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.refuse.Load() || f.target.Load() == nil {
			f.refused.Add(1)
			http.Error(w, "delivery: request refused", http.StatusUnauthorized)
			return
		}
		rp.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	f.URL = "http://" + ln.Addr().String()
	return f
}

// TestFaultDeliveryRefused: proxy B's delivery endpoint refuses every
// request for a window (as after clock skew), while publishers on A and B
// send QoS 1 and 2 to persistent subscribers on both: the deliveries the
// functions post from A's events to B's subscribers fail, with the QoS
// 1/2 messages in them in flight (session.Handler.Unreached puts them
// back in the queue). Every acknowledged message is delivered, without
// forbidden repeats, and B's subscribers still get messages after the
// failed deliveries (the row reports how many requests were refused, 3
// per failed delivery).
//
// It was gated (issue 15) while, on a loaded machine, the subscribers'
// queues grew to dozens of messages and then stopped being dispatched:
// a Dispatch cut short by its caller's deadline had put messages in
// flight that it never returned, and they held the window (the DynamoDB
// store now returns what it put in flight; infra/dynamo/settle.go). The
// "dynamo: recount of a queue" lines seen then (nq 44, live 68) were a
// Dispatch recounting from a view of the session that concurrent calls
// had changed, which its condition refuses ("recount lost a race"), not a
// count off from the items.
func TestFaultDeliveryRefused(t *testing.T) {
	const scenario = "a proxy's delivery endpoint refuses every request for a window (as after clock skew), QoS 1/2"
	s := newFaultStack(t, nil, "A")
	a := s.proxy("A")
	front := newDeliveryFront(t)
	b := s.start("B", "-delivery-url", front.URL)
	target, err := url.Parse(proxyID(b))
	if err != nil {
		t.Fatal(err)
	}
	front.target.Store(target)
	root := topicRoot("f-refused")
	keepers := []*keeper{
		s.keep(fconn{addr: a.addr, proxy: "A", id: uniq("f-ref-sa")}, nil, subscriberSetup(root+"/#", 2)),
		s.keep(fconn{addr: b.addr, proxy: "B", id: uniq("f-ref-sb")}, nil, subscriberSetup(root+"/#", 1)),
		s.keep(fconn{addr: b.addr, proxy: "B", id: uniq("f-ref-sb2")}, nil, subscriberSetup(root+"/#", 2)),
	}
	pubs := []*keeper{
		s.keep(fconn{addr: a.addr, proxy: "A", id: uniq("f-ref-pa"), clean: true}, nil, nil),
		s.keep(fconn{addr: b.addr, proxy: "B", id: uniq("f-ref-pb"), clean: true}, nil, nil),
	}
	runPublishers(pubs, root+"-before", root, []byte{1, 2}, 100*time.Millisecond, 2*time.Second)
	s.h.faultOn("delivery refused")
	front.refuse.Store(true)
	runPublishers(pubs, root+"-during", root, []byte{1, 2}, 100*time.Millisecond, 4*time.Second)
	front.refuse.Store(false)
	// Each failed delivery is 3 requests (delivery.Client's retries). A
	// message to B's subscribers goes out in a delivery posted from A's
	// events only when their window has room as it is routed; otherwise
	// their acknowledgements on B dispatch it, and B writes it itself.
	// After a failed delivery, B holds its subscribers' next frames for
	// -order-wait (their predecessors went back to the queue), so their
	// windows stay full and A's events rarely find room again within the
	// 4 s: runs see one failed delivery, at times more.
	if n := front.refused.Load(); n < 3 {
		t.Errorf("the window refused %d requests, want at least one failed delivery (3)", n)
	}
	for _, p := range pubs {
		if n := p.client().waitAcked(30 * time.Second); n > 0 {
			t.Errorf("%d QoS 1/2 messages unacknowledged 30 s after the window", n)
		}
	}
	s.h.faultOff("delivery refused")
	runPublishers(pubs, root+"-after", root, []byte{1, 2}, 100*time.Millisecond, 3*time.Second)
	for _, p := range pubs {
		p.client().waitAcked(30 * time.Second)
	}
	s.h.settle(3*time.Second, 60*time.Second)
	r := check(s.h.events(), time.Now(), Checks{})
	moves := 0
	for _, k := range append(keepers, pubs...) {
		moves += k.moveCount()
	}
	report(t, scenario, r, fmt.Sprintf("requests refused %d, reconnects %d", front.refused.Load(), moves))
}
