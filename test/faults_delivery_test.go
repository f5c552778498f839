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
// functions post from A's events to B's subscriber fail, with the QoS 1/2
// messages in them in flight. Every acknowledged message is delivered,
// without forbidden repeats, and the subscriber on B still gets messages
// after more failed deliveries than its window holds (-max-inflight 4).
func TestFaultDeliveryRefused(t *testing.T) {
	const scenario = "a proxy's delivery endpoint refuses every request for a window (as after clock skew), QoS 1/2"
	s := newFaultStack(t, []string{"-max-inflight", "4"}, "A")
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
		s.keep(fconn{addr: b.addr, proxy: "B", id: uniq("f-ref-sb")}, nil, subscriberSetup(root+"/#", 2)),
		s.keep(fconn{addr: b.addr, proxy: "B", id: uniq("f-ref-sb1")}, nil, subscriberSetup(root+"/#", 1)),
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
	for _, p := range pubs {
		p.client().waitAcked(60 * time.Second)
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
