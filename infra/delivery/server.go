package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mqttless/mqttless/core/session"
)

// Request is the body of a delivery request: frames for connections the
// proxy holds, or requests to close them.
type Request struct {
	// ID is random per request, so that two requests carrying the same
	// deliveries in the same millisecond differ, and neither is taken for
	// a replay of the other.
	ID         string             `json:"id,omitempty"`
	Deliveries []session.Delivery `json:"deliveries"`
}

// Response is the answer to a delivery request.
type Response struct {
	// Gone lists the connections of the request the proxy no longer holds.
	Gone []string `json:"gone,omitempty"`
}

// DeliverFunc writes deliveries to the proxy's connections and returns the
// ids of those it no longer holds.
type DeliverFunc func(ctx context.Context, ds []session.Delivery) (gone []string)

// ServerConfig configures a Server. Zero fields take the defaults in
// brackets.
type ServerConfig struct {
	// Secret is the shared signing secret, at least MinSecretLen bytes.
	Secret []byte
	// MaxSkew is how far a request's timestamp may be from the proxy's
	// clock [30s]. Signatures are remembered this long to refuse replays.
	MaxSkew time.Duration
	// MaxBody bounds a request's body [64 MiB].
	MaxBody int64
}

// Server is a proxy's delivery endpoint, an http.Handler serving Path. mu
// guards seen.
type Server struct {
	cfg     ServerConfig
	deliver DeliverFunc
	log     *slog.Logger
	now     func() time.Time

	mu        sync.Mutex
	seen      map[string]int64 // signature -> when it may be forgotten (Unix ms)
	lastPrune int64            // when seen was last pruned (Unix ms)
}

// NewServer returns the endpoint that hands signed requests to deliver. It
// fails with ErrSecret when the secret is too short.
func NewServer(cfg ServerConfig, deliver DeliverFunc, log *slog.Logger) (*Server, error) {
	if len(cfg.Secret) < MinSecretLen {
		return nil, fmt.Errorf("%w: %d bytes, want at least %d", ErrSecret, len(cfg.Secret), MinSecretLen)
	}
	if cfg.MaxSkew <= 0 {
		cfg.MaxSkew = 30 * time.Second
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = 64 << 20
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, deliver: deliver, log: log, now: time.Now, seen: map[string]int64{}}, nil
}

// ServeHTTP implements http.Handler. It answers 401 for a request that is
// not signed, wrongly signed, stale or replayed, 400 for a body that is not
// a Request, and 200 with a Response otherwise.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != Path {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "delivery: POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	if err != nil {
		http.Error(w, "delivery: reading the body: "+err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	if err := s.check(r.Header, body); err != nil {
		s.log.Warn("delivery request refused", "remote", r.RemoteAddr, "err", err)
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var req Request
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, "delivery: bad request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	resp := Response{Gone: s.deliver(r.Context(), req.Deliveries)}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

// check verifies the request's signature and freshness, and records the
// signature so that a replay is refused.
func (s *Server) check(h http.Header, body []byte) error {
	// Hex is case-insensitive: one signature is one request however it
	// is spelled.
	tsText, sig := h.Get(HeaderTimestamp), strings.ToLower(h.Get(HeaderSignature))
	if tsText == "" || sig == "" {
		return ErrUnsigned
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil || !verify(s.cfg.Secret, ts, body, sig) {
		return ErrBadSignature
	}
	now := s.now().UnixMilli()
	skew := s.cfg.MaxSkew.Milliseconds()
	if ts < now-skew || ts > now+skew {
		return fmt.Errorf("%w: %d ms off", ErrStale, now-ts)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.seen[sig]; ok {
		return ErrReplayed
	}
	if now-s.lastPrune > 1000 {
		s.lastPrune = now
		for k, until := range s.seen {
			if until < now {
				delete(s.seen, k)
			}
		}
	}
	// A request is fresh until ts+skew; remember it as long.
	s.seen[sig] = ts + skew
	return nil
}

// errorFromStatus maps an endpoint's refusal back to its sentinel.
func errorFromStatus(code int, msg string) error {
	for _, e := range []error{ErrUnsigned, ErrBadSignature, ErrStale, ErrReplayed} {
		if len(msg) >= len(e.Error()) && msg[:len(e.Error())] == e.Error() {
			return fmt.Errorf("delivery: endpoint answered %d: %w", code, e)
		}
	}
	return fmt.Errorf("delivery: endpoint answered %d: %s", code, msg)
}

var _ http.Handler = (*Server)(nil)

// errNoProxy is a delivery addressed to no proxy.
var errNoProxy = errors.New("delivery: delivery names no proxy")
