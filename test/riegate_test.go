package e2e_test

// The gate in front of an emulator instance (harness flag -e2e-rie-gate
// true, which the fault scenarios set): the Runtime Interface Emulator
// serves one invocation at a time and crashes (a nil dereference in
// rapidcore's Invoke) when a second one comes while the first runs. The
// proxy's invoker frees a target as soon as its caller gives up (an
// -invoke-timeout, a shutdown), while the emulator still runs the
// invocation, so the next one would crash the instance: an artefact of the
// emulator, since on Lambda a caller that goes away leaves the function
// running and other calls go to other instances. The gate forwards one
// invocation at a time, after the previous one ended (the instance's
// START and END lines), and does not pass a caller's cancellation on to
// the emulator: the function runs its event to the end, as on Lambda.

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// rieGateEnv marks, in a pool's settings, a pool whose instances are gated.
const rieGateEnv = "MQTTLESS_E2E_RIE_GATE=1"

type rieGate struct {
	in     *rieInstance
	target string // the instance's endpoint
	URL    string // the gate's endpoint
	srv    *http.Server
	client *http.Client
	mu     sync.Mutex // held for an invocation, until the instance has ended it
}

// startGate serves a gate for in on a free loopback port.
func startGate(in *rieInstance) (*rieGate, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	g := &rieGate{in: in, target: in.endpoint, URL: "http://" + ln.Addr().String(), client: &http.Client{}}
	g.srv = &http.Server{Handler: g, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = g.srv.Serve(ln) }()
	return g, nil
}

func (g *rieGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	deadline := time.Now().Add(90 * time.Second)
	for g.in.out.inflight() > 0 && !g.in.exited() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	req, err := http.NewRequestWithContext(context.WithoutCancel(r.Context()), r.Method, g.target+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := g.client.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(data)
}

func (g *rieGate) close() { _ = g.srv.Close() }
