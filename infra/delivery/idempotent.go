package delivery

import (
	"context"
	"fmt"
)

// A Client resends a request that failed (Forward's retries) with the
// same body, so the same Request.ID, signed anew. The endpoint serves each
// id once: it remembers the answer of an id it served for as long as it
// remembers signatures (MaxSkew after the request's timestamp), and
// answers a resend of it with that answer, writing nothing again. A
// resend that comes while the first is still being served waits for it.
// So a request whose answer was lost (a timeout after the proxy wrote the
// frames) can be resent without writing a QoS 1 or 2 PUBLISH twice under
// different conditions, or a QoS 0 one twice at all. Server.mu guards
// served.

// servedReq is what the endpoint knows of a request id: done is closed
// once resp is set.
type servedReq struct {
	done  chan struct{}
	resp  Response
	until int64 // when it may be forgotten (Unix ms)
}

// claim returns the record of id and whether the caller is the first to
// serve it. An empty id (a sender that sends none) is never remembered.
func (s *Server) claim(id string, until int64) (*servedReq, bool) {
	if id == "" {
		return &servedReq{done: make(chan struct{})}, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.served[id]; ok {
		return r, false
	}
	r := &servedReq{done: make(chan struct{}), until: until}
	s.served[id] = r
	return r, true
}

// serve delivers req once per id, and returns its answer.
func (s *Server) serve(ctx context.Context, req *Request, ts int64) (Response, error) {
	r, first := s.claim(req.ID, ts+s.cfg.MaxSkew.Milliseconds())
	if !first {
		select {
		case <-r.done:
			return r.resp, nil
		case <-ctx.Done():
			return Response{}, fmt.Errorf("%w: waiting for the first copy of request %s: %w", errUnserved, req.ID, ctx.Err())
		}
	}
	r.resp = Response{Gone: s.deliver(ctx, req.Deliveries)}
	close(r.done)
	return r.resp, nil
}

// pruneServed forgets the ids whose time passed. s.mu must be held.
func (s *Server) pruneServed(now int64) {
	for id, r := range s.served {
		if r.until < now {
			select {
			case <-r.done:
				delete(s.served, id)
			default: // still being served
			}
		}
	}
}
