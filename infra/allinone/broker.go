package allinone

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/proxy"
)

// ProxyID is the id of the all-in-one broker's proxy. It is fixed so that
// sessions a previous run left owned by it can be recognised.
const ProxyID = "local"

// Broker is a running all-in-one broker.
type Broker struct {
	cfg     Config
	log     *slog.Logger
	store   session.Store
	closeSt func() error
	handler *session.Handler
	proxy   *proxy.Server
	ln      net.Listener
	pprofLn net.Listener // nil unless -pprof is set
}

// Start opens the store, binds the listener and starts serving. Errors name
// what failed: the store, the address, or a setting.
func Start(cfg Config, log *slog.Logger) (*Broker, error) {
	st, closeSt, err := openStore(cfg, log)
	if err != nil {
		return nil, err
	}
	h, err := session.New(st, cfg.Session, log)
	if err != nil {
		closeSt()
		return nil, err
	}
	srv, err := proxy.New(proxy.Config{
		ID: ProxyID, MaxPacketSize: int(h.Config().MaxPacketSize),
		MaxSendBytes: cfg.MaxSendBytes, ConnectTimeout: cfg.ConnectTimeout,
	}, proxy.Local{Handler: h}, log)
	if err != nil {
		closeSt()
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		closeSt()
		return nil, fmt.Errorf("listen on -addr %s: %w", cfg.Addr, err)
	}
	b := &Broker{cfg: cfg, log: log, store: st, closeSt: closeSt, handler: h, proxy: srv, ln: ln}
	if cfg.Pprof != "" {
		if b.pprofLn, err = net.Listen("tcp", cfg.Pprof); err != nil {
			ln.Close()
			closeSt()
			return nil, fmt.Errorf("listen on -pprof %s: %w", cfg.Pprof, err)
		}
	}
	// Connections a crashed previous run held are gone: end them, so that
	// their wills go out and their sessions can expire.
	reply, n, err := h.Recover(context.Background(), ProxyID)
	if err != nil {
		b.closeListeners()
		closeSt()
		return nil, fmt.Errorf("recover the sessions of the previous run: %w", err)
	}
	if n > 0 {
		log.Info("ended connections left open by the previous run", "sessions", n)
		srv.Deliver(context.Background(), reply.Deliveries)
	}
	return b, nil
}

func (b *Broker) closeListeners() {
	b.ln.Close()
	if b.pprofLn != nil {
		b.pprofLn.Close()
	}
}

// PprofAddr returns the address net/http/pprof is served on, or nil when
// -pprof is not set.
func (b *Broker) PprofAddr() net.Addr {
	if b.pprofLn == nil {
		return nil
	}
	return b.pprofLn.Addr()
}

// servePprof serves the net/http/pprof handlers, on their own mux rather
// than http.DefaultServeMux, until the returned server is closed.
func (b *Broker) servePprof() *http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	b.log.Info("pprof listening", "addr", b.pprofLn.Addr().String())
	go func() {
		if err := srv.Serve(b.pprofLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			b.log.Error("pprof server failed", "err", err)
		}
	}()
	return srv
}

// Addr returns the address the broker listens on.
func (b *Broker) Addr() net.Addr { return b.ln.Addr() }

// Run serves until ctx ends, then shuts down: connections are closed (with
// DISCONNECT 0x8B at 5.0), the handlers are told of each, and the store is
// closed.
func (b *Broker) Run(ctx context.Context) error {
	b.log.Info("mqttless listening", "addr", b.ln.Addr().String(), "store", b.cfg.Store, "data-dir", b.cfg.DataDir)
	serveErr := make(chan error, 1)
	go func() { serveErr <- b.proxy.Serve(b.ln) }()
	if b.pprofLn != nil {
		defer b.servePprof().Close()
	}
	ticker := time.NewTicker(b.cfg.Tick)
	defer ticker.Stop()
	var err error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err = <-serveErr:
			break loop
		case <-ticker.C:
			b.tick(ctx)
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = errors.Join(err, b.proxy.Shutdown(sctx), b.closeSt())
	b.log.Info("mqttless stopped")
	return err
}

// tick publishes due wills and removes expired sessions.
func (b *Broker) tick(ctx context.Context) {
	for {
		reply, n, err := b.handler.Tick(ctx, 1000)
		if len(reply.Deliveries) > 0 {
			b.proxy.Deliver(ctx, reply.Deliveries)
		}
		if err != nil {
			b.log.Error("tick failed", "err", err)
			return
		}
		if n < 1000 {
			return
		}
	}
}
