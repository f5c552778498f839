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

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/delivery"
	"github.com/mqttless/mqttless/infra/lambdainvoke"
	"github.com/mqttless/mqttless/infra/proxy"
)

// ProxyID is the id of the all-in-one broker's proxy. It is fixed so that
// sessions a previous run left owned by it can be recognised.
const ProxyID = "local"

// Broker is a running broker process: a proxy with the handlers
// in-process on a store, or (-invoker lambda) a proxy that invokes the
// handler functions.
type Broker struct {
	cfg     Config
	log     *slog.Logger
	id      string
	closeSt func() error
	inv     proxy.Invoker
	proxy   *proxy.Server
	ln      net.Listener
	pprofLn net.Listener // nil unless -pprof is set
	delivLn net.Listener // nil unless -delivery-addr is set
	deliv   *http.Server // serves delivLn
}

// Start opens the store (or the Lambda client), binds the listeners and
// starts serving. Errors name what failed: the store, the address, or a
// setting.
func Start(cfg Config, log *slog.Logger) (*Broker, error) {
	b := &Broker{cfg: cfg, log: log, id: ProxyID, closeSt: func() error { return nil }}
	if cfg.DeliveryAddr != "" {
		b.id = cfg.DeliveryURL
	}
	if err := b.start(); err != nil {
		b.closeListeners()
		return nil, errors.Join(err, b.closeSt())
	}
	return b, nil
}

func (b *Broker) start() error {
	cfg := b.cfg
	maxPacket := int(cfg.Session.MaxPacketSize)
	if cfg.Invoker == "lambda" {
		inv, err := newLambdaInvoker(cfg, b.log)
		if err != nil {
			return err
		}
		b.inv = inv
	} else {
		st, closeSt, err := openStore(cfg, b.log)
		if err != nil {
			return err
		}
		b.closeSt = closeSt
		h, err := session.New(st, cfg.Session, b.log)
		if err != nil {
			return err
		}
		maxPacket = int(h.Config().MaxPacketSize)
		var eh proxy.EventHandler = h
		if cfg.DeliveryAddr != "" {
			client, err := delivery.NewClient(cfg.DeliverySecret, 0)
			if err != nil {
				return fmt.Errorf("-delivery-secret: %w", err)
			}
			eh = delivery.NewRouter(h, client, b.log)
		}
		b.inv = proxy.Local{Handler: eh}
	}
	srv, err := proxy.New(proxy.Config{
		ID: b.id, MaxPacketSize: maxPacket,
		MaxSendBytes: cfg.MaxSendBytes, ConnectTimeout: cfg.ConnectTimeout,
		InvokeTimeout: cfg.InvokeTimeout,
	}, b.inv, b.log)
	if err != nil {
		return err
	}
	b.proxy = srv
	if b.ln, err = net.Listen("tcp", cfg.Addr); err != nil {
		return fmt.Errorf("listen on -addr %s: %w", cfg.Addr, err)
	}
	if cfg.Pprof != "" {
		if b.pprofLn, err = net.Listen("tcp", cfg.Pprof); err != nil {
			return fmt.Errorf("listen on -pprof %s: %w", cfg.Pprof, err)
		}
	}
	if cfg.DeliveryAddr != "" {
		ds, err := delivery.NewServer(delivery.ServerConfig{Secret: cfg.DeliverySecret}, srv.Deliver, b.log)
		if err != nil {
			return fmt.Errorf("-delivery-secret: %w", err)
		}
		b.deliv = &http.Server{Handler: ds, ReadHeaderTimeout: 10 * time.Second}
		if b.delivLn, err = net.Listen("tcp", cfg.DeliveryAddr); err != nil {
			return fmt.Errorf("listen on -delivery-addr %s: %w", cfg.DeliveryAddr, err)
		}
	}
	// Connections a crashed previous run held are gone: end them, so that
	// their wills go out and their sessions can expire.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	reply, err := b.inv.Invoke(ctx, &session.Event{Kind: session.KindRecover, Proxy: b.id})
	if err != nil {
		return fmt.Errorf("recover the sessions of the previous run: %w", err)
	}
	if len(reply.Deliveries) > 0 {
		b.log.Info("ended connections left open by the previous run")
		srv.Deliver(ctx, reply.Deliveries)
	}
	return nil
}

// newLambdaInvoker returns the invoker of -invoker lambda, with the
// Lambda client from the standard AWS configuration chain
// (AWS_ENDPOINT_URL_LAMBDA or AWS_ENDPOINT_URL for emulators).
func newLambdaInvoker(cfg Config, log *slog.Logger) (*lambdainvoke.Invoker, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("-invoker lambda: loading the AWS configuration: %w", err)
	}
	api := lambda.NewFromConfig(awsCfg)
	perEndpoint := func(ep string) lambdainvoke.API {
		return lambda.NewFromConfig(awsCfg, func(o *lambda.Options) {
			o.BaseEndpoint = aws.String(ep)
			// An emulator answers a function's panic with 502, which the
			// standard retryer would retry: the event would run again.
			o.RetryMaxAttempts = 1
		})
	}
	return lambdainvoke.New(cfg.Functions, api, perEndpoint, log,
		lambdainvoke.WithConcurrency(cfg.LambdaConcurrency), lambdainvoke.WithBatchTimeout(cfg.InvokeTimeout)), nil
}

func (b *Broker) closeListeners() {
	for _, ln := range []net.Listener{b.ln, b.pprofLn, b.delivLn} {
		if ln != nil {
			ln.Close()
		}
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
	if b.cfg.Invoker == "lambda" {
		b.log.Info("mqttless proxy listening", "addr", b.ln.Addr().String(), "invoker", "lambda", "proxy", b.id)
	} else {
		b.log.Info("mqttless listening", "addr", b.ln.Addr().String(), "store", b.cfg.Store, "data-dir", b.cfg.DataDir)
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- b.proxy.Serve(b.ln) }()
	if b.pprofLn != nil {
		defer b.servePprof().Close()
	}
	if b.delivLn != nil {
		b.log.Info("delivery endpoint listening", "addr", b.delivLn.Addr().String(), "proxy", b.id)
		go func() {
			if err := b.deliv.Serve(b.delivLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				b.log.Error("delivery endpoint failed", "err", err)
			}
		}()
		defer b.deliv.Close()
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

// tick publishes due wills and removes expired sessions (up to 1,000 per
// tick), through the handlers.
func (b *Broker) tick(ctx context.Context) {
	reply, err := b.inv.Invoke(ctx, &session.Event{Kind: session.KindTick, Proxy: b.id})
	if reply != nil && len(reply.Deliveries) > 0 {
		b.proxy.Deliver(ctx, reply.Deliveries)
	}
	if err != nil && ctx.Err() == nil {
		b.log.Error("tick failed", "err", err)
	}
}
