package delivery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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

	"github.com/mqttless/mqttless/core/ratelog"
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
	// Previous, when set (at least MinSecretLen bytes), is a second secret
	// the endpoint accepts during a rotation: the handlers sign with one
	// secret, and while some sign with the old and some with the new one,
	// a request signed with either is served. Empty: Secret only.
	Previous []byte
	// MaxSkew is how far a request's timestamp may be from the proxy's
	// clock [30s]. Signatures are remembered this long to refuse replays.
	MaxSkew time.Duration
	// MaxBody bounds a request's body [MaxBodyFor(MaxPacketSize)]: the
	// largest request a Client sends when no packet exceeds MaxPacketSize.
	MaxBody int64
	// MaxPacketSize is the largest packet the handlers send [1 MiB]; it
	// sets MaxBody's default.
	MaxPacketSize int
	// MaxConcurrent bounds the requests whose bodies are read at once
	// [8]; more wait for a slot (without reading their bodies) for at
	// most MaxWait, then are refused. Bodies held at once stay under
	// MaxConcurrent × MaxBody.
	MaxConcurrent int
	// MaxWait is how long a request waits for a slot [10s].
	MaxWait time.Duration
}

// Server is a proxy's delivery endpoint, an http.Handler serving Path. mu
// guards seen; slots holds one token per request whose body is being read
// or served.
type Server struct {
	cfg     ServerConfig
	deliver DeliverFunc
	log     *slog.Logger
	refusal *ratelog.Limiter // one log line per interval for refusals
	now     func() time.Time
	slots   chan struct{}

	mu        sync.Mutex
	seen      map[string]int64      // signature -> when it may be forgotten (Unix ms)
	served    map[string]*servedReq // request id -> its answer (idempotent.go)
	lastPrune int64                 // when seen and served were last pruned (Unix ms)
}

// NewServer returns the endpoint that hands signed requests to deliver. It
// fails with ErrSecret when the secret is too short.
func NewServer(cfg ServerConfig, deliver DeliverFunc, log *slog.Logger) (*Server, error) {
	if len(cfg.Secret) < MinSecretLen {
		return nil, fmt.Errorf("%w: %d bytes, want at least %d", ErrSecret, len(cfg.Secret), MinSecretLen)
	}
	if len(cfg.Previous) > 0 && len(cfg.Previous) < MinSecretLen {
		return nil, fmt.Errorf("%w: previous secret of %d bytes, want at least %d", ErrSecret, len(cfg.Previous), MinSecretLen)
	}
	if cfg.MaxSkew <= 0 {
		cfg.MaxSkew = 30 * time.Second
	}
	if cfg.MaxPacketSize <= 0 {
		cfg.MaxPacketSize = 1 << 20
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = MaxBodyFor(cfg.MaxPacketSize)
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = 8
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 10 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, deliver: deliver, log: log, now: time.Now, seen: map[string]int64{}, served: map[string]*servedReq{},
		refusal: ratelog.New(10*time.Second, 64), slots: make(chan struct{}, cfg.MaxConcurrent)}, nil
}

// ServeHTTP implements http.Handler. It answers 404 off Path, 405 to a
// method but POST, 400 to a signed body that is not a Request, 200 with a
// Response to a request it serves, and the same refusal (refused) to every
// other request: unsigned, wrongly signed, stale, replayed, too large or
// arriving when every slot is taken. What is checkable without the body
// (the headers, the timestamp's window, a replayed signature, the length)
// is checked before a byte of it is read.
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
	ts, sig, err := s.checkHeaders(r)
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	if err := s.acquire(r.Context()); err != nil {
		s.refuse(w, r, err)
		return
	}
	defer func() { <-s.slots }()
	// ContentLength is exact here (checkHeaders refused an unknown one);
	// MaxBytesReader holds the body to it all the same.
	body := make([]byte, r.ContentLength)
	if _, err := io.ReadFull(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody), body); err != nil {
		s.refuse(w, r, fmt.Errorf("%w: reading the body: %w", errUnserved, err))
		return
	}
	if err := s.checkBody(ts, sig, body); err != nil {
		s.refuse(w, r, err)
		return
	}
	var req Request
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, "delivery: bad request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	resp, err := s.serve(r.Context(), &req, ts)
	if err != nil {
		s.refuse(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

// refuse answers a refused request with the one refusal every refused
// request gets, so that it tells a sender without the secret nothing (not
// even the proxy's clock), and logs why, at most once per interval.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, why error) {
	if ok, suppressed := s.refusal.Allow("refused", s.now()); ok {
		s.log.Warn("delivery request refused", "remote", r.RemoteAddr, "err", why, "suppressed", suppressed)
	}
	// Whatever of the body is unread stays unread: the connection closes.
	w.Header().Set("Connection", "close")
	http.Error(w, ErrRefused.Error(), http.StatusUnauthorized)
}

// acquire waits for a slot, for at most MaxWait.
func (s *Server) acquire(ctx context.Context) error {
	select {
	case s.slots <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(s.cfg.MaxWait)
	defer t.Stop()
	select {
	case s.slots <- struct{}{}:
		return nil
	case <-t.C:
		return fmt.Errorf("%w: every one of %d slots taken for %v", errUnserved, s.cfg.MaxConcurrent, s.cfg.MaxWait)
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", errUnserved, ctx.Err())
	}
}

// checkHeaders checks what can be checked before the body is read: the
// signature headers are there and well formed, the timestamp is within
// the skew, the signature was not served already, and the body has a
// known length within MaxBody. It returns the timestamp and signature.
func (s *Server) checkHeaders(r *http.Request) (int64, string, error) {
	// Hex is case-insensitive: one signature is one request however it
	// is spelled.
	tsText, sig := r.Header.Get(HeaderTimestamp), strings.ToLower(r.Header.Get(HeaderSignature))
	if tsText == "" || sig == "" {
		return 0, "", ErrUnsigned
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil || len(sig) != hex.EncodedLen(sha256.Size) {
		return 0, "", ErrBadSignature
	}
	if _, err := hex.DecodeString(sig); err != nil {
		return 0, "", ErrBadSignature
	}
	now := s.now().UnixMilli()
	if skew := s.cfg.MaxSkew.Milliseconds(); ts < now-skew || ts > now+skew {
		return 0, "", fmt.Errorf("%w: %d ms off", ErrStale, now-ts)
	}
	s.mu.Lock()
	_, replayed := s.seen[sig]
	s.mu.Unlock()
	if replayed {
		return 0, "", ErrReplayed
	}
	if r.ContentLength < 0 || r.ContentLength > s.cfg.MaxBody {
		return 0, "", fmt.Errorf("%w: body length %d, want 0 to %d", ErrTooLarge, r.ContentLength, s.cfg.MaxBody)
	}
	return ts, sig, nil
}

// checkBody verifies the signature over the body, under Secret or else
// Previous, and records it, so that a replay is refused; it checks the
// window again, since the body may have taken a while.
func (s *Server) checkBody(ts int64, sig string, body []byte) error {
	if !verify(s.cfg.Secret, ts, body, sig) && (len(s.cfg.Previous) == 0 || !verify(s.cfg.Previous, ts, body, sig)) {
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
		s.pruneServed(now)
	}
	// A request is fresh until ts+skew; remember it as long.
	s.seen[sig] = ts + skew
	return nil
}

// errorFromStatus maps an endpoint's answer back to an error: ErrRefused
// for its refusal.
func errorFromStatus(code int, msg string) error {
	if code == http.StatusUnauthorized && msg == ErrRefused.Error() {
		return fmt.Errorf("delivery: endpoint answered %d: %w", code, ErrRefused)
	}
	return fmt.Errorf("delivery: endpoint answered %d: %s", code, msg)
}

var _ http.Handler = (*Server)(nil)

// errNoProxy is a delivery addressed to no proxy.
var errNoProxy = errors.New("delivery: delivery names no proxy")
