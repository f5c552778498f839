package adminsock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/mqttless/mqttless/core/auth"
)

// requestTimeout bounds one request: reading it, the store's work and
// writing the response.
const requestTimeout = 30 * time.Second

// maxRequest bounds a request's bytes: a user with its hash, or a rule.
const maxRequest = 1 << 20

// request is one call of an auth.Store method (Op).
type request struct {
	Op      string     `json:"op"`
	Name    string     `json:"name,omitempty"`
	User    *auth.User `json:"user,omitempty"`
	Replace bool       `json:"replace,omitempty"`
	Rule    *auth.Rule `json:"rule,omitempty"`
	ID      string     `json:"id,omitempty"`
}

// response is the result of a request, or its error (Err) and the error's
// kind (errKinds).
type response struct {
	User  *auth.User   `json:"user,omitempty"`
	Users []*auth.User `json:"users,omitempty"`
	Rules []auth.Rule  `json:"rules,omitempty"`
	ID    string       `json:"id,omitempty"`
	Err   string       `json:"err,omitempty"`
	Kind  string       `json:"kind,omitempty"`
}

// errKinds name the errors of auth.Store that cross the socket.
var errKinds = map[string]error{"not_found": auth.ErrNotFound, "exists": auth.ErrExists, "invalid": auth.ErrInvalid}

// Listen listens on the Unix socket path, mode 0600. A socket file left
// by a broker that did not stop cleanly is removed first: the caller
// holds the store's lock, so no other broker serves it.
func Listen(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("adminsock: remove the stale socket %s: %w", path, err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("adminsock: listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("adminsock: chmod %s: %w", path, err)
	}
	return ln, nil
}

// Serve answers requests on ln with st until ln is closed, each
// connection in a goroutine of its own (st is safe for concurrent use).
func Serve(ln net.Listener, st auth.Store, log *slog.Logger) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return // closed
		}
		go serveConn(c, st, log)
	}
}

func serveConn(c net.Conn, st auth.Store, log *slog.Logger) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(requestTimeout))
	var req request
	if err := json.NewDecoder(&limitedReader{r: c, n: maxRequest}).Decode(&req); err != nil {
		if !errors.Is(err, io.EOF) { // EOF: Running's probe
			log.Warn("admin socket: bad request", "err", err)
		}
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	resp := call(ctx, st, &req)
	if resp.Err == "" && req.Op != "user" && req.Op != "users" && req.Op != "rules" {
		log.Info("admin socket: store changed", "op", req.Op)
	}
	if err := json.NewEncoder(c).Encode(resp); err != nil {
		log.Warn("admin socket: write the response", "op", req.Op, "err", err)
	}
}

// call runs req on st.
func call(ctx context.Context, st auth.Store, req *request) *response {
	resp := &response{}
	var err error
	switch req.Op {
	case "user":
		resp.User, err = st.User(ctx, req.Name)
	case "putUser":
		if req.User == nil {
			err = fmt.Errorf("%w: no user", auth.ErrInvalid)
			break
		}
		err = st.PutUser(ctx, req.User, req.Replace)
	case "deleteUser":
		err = st.DeleteUser(ctx, req.Name)
	case "users":
		resp.Users, err = st.Users(ctx)
	case "rules":
		resp.Rules, err = st.Rules(ctx)
	case "putRule":
		if req.Rule == nil {
			err = fmt.Errorf("%w: no rule", auth.ErrInvalid)
			break
		}
		resp.ID, err = st.PutRule(ctx, *req.Rule)
	case "deleteRule":
		err = st.DeleteRule(ctx, req.ID)
	default:
		err = fmt.Errorf("unknown operation %q", req.Op)
	}
	if err != nil {
		resp.Err = err.Error()
		for k, e := range errKinds {
			if errors.Is(err, e) {
				resp.Kind = k
			}
		}
	}
	return resp
}

// limitedReader fails, rather than ends, past n bytes.
type limitedReader struct {
	r interface{ Read([]byte) (int, error) }
	n int
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errors.New("adminsock: request too large")
	}
	if len(p) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= n
	return n, err
}
