package allinone

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mqttless/mqttless/core/auth"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/chunkrun"
	"github.com/mqttless/mqttless/infra/config"
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
	cfg     config.Config
	log     *slog.Logger
	id      string
	closeSt func() error
	inv     proxy.Invoker
	proxy   *proxy.Server
	ln      net.Listener
	pprofLn net.Listener // nil unless -pprof is set
	delivLn net.Listener // nil unless -delivery-addr is set
	deliv   *http.Server // serves delivLn
	tlsCfg  *tls.Config  // nil unless -tls-addr or -wss-addr is set
	tlsLn   net.Listener // nil unless -tls-addr is set; TCP, the proxy adds TLS
	wsLn    net.Listener // nil unless -ws-addr is set
	wssLn   net.Listener // nil unless -wss-addr is set; TCP, TLS is added in Run
	metrLn  net.Listener // nil unless -metrics-addr is set
	// adminLn is the admin socket of the embedded store (admin.go); nil
	// with other stores.
	adminLn net.Listener
	adminSt auth.Store // what adminLn serves
	metrics *proxy.Metrics
	reg     *prometheus.Registry // what metrLn serves; nil without -metrics-addr
	// stopping is set when Run starts to shut down, so that the listeners
	// it closes are not reported as failures.
	stopping atomic.Bool
	// lease keeps the proxy's lease (lease.go), nil when it holds none;
	// leaseHeld is when the renewal made at start was asked for.
	lease     *leaseHolder
	leaseHeld time.Time
}

// Start opens the store (or the Lambda client), binds the listeners and
// starts serving. Errors name what failed: the store, the address, or a
// setting.
func Start(cfg config.Config, log *slog.Logger) (*Broker, error) {
	b := &Broker{cfg: cfg, log: log, id: ProxyID, closeSt: func() error { return nil }}
	if cfg.Delivery.Addr != "" {
		b.id = cfg.Delivery.URL
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
	var local *session.Handler // the handlers, when they run in-process
	if cfg.Lambda.Invoker == "lambda" {
		inv, err := newLambdaInvoker(cfg, b.log)
		if err != nil {
			return err
		}
		b.inv = inv
	} else {
		st, closeSt, err := OpenStore(cfg.Store, b.log)
		if err != nil {
			return err
		}
		b.closeSt = closeSt
		b.listenAdmin(st)
		// Delivery v2's large fan-outs run in chunks in this process
		// (core/session/chunk.go), bound to the handlers once built.
		var extra []session.Option
		var chunks *chunkrun.Process
		if cfg.Session.Delivery == session.DeliveryV2 {
			chunks = chunkrun.NewProcess(16, cfg.Proxy.InvokeTimeout, b.log)
			extra = append(extra, session.WithChunks(chunks))
			if cfg.Delivery.Addr == "" {
				// Every connection is this process's: a QoS 1 message
				// reaches its subscribers' windows before its commit,
				// its PUBACK after (session.WithEarlyDelivery).
				extra = append(extra, session.WithEarlyDelivery(func(ctx context.Context, ds []session.Delivery) {
					b.proxy.Deliver(ctx, ds) // a connection gone needs nothing: its session reads its streams
				}))
			}
		}
		h, err := cfg.NewHandler(st, b.log, extra...)
		if err != nil {
			return err
		}
		maxPacket = int(h.Config().MaxPacketSize)
		local = h
		var eh proxy.EventHandler = h
		if cfg.Delivery.Addr != "" {
			client, err := delivery.NewClient(cfg.Delivery.Secret, cfg.Delivery.Timeout)
			if err != nil {
				return fmt.Errorf("-delivery-secret: %w", err)
			}
			eh = delivery.NewRelay(h, client, b.log).WithLeases(st)
		}
		b.inv = proxy.Local{Handler: eh}
		if chunks != nil {
			chunks.Bind(func(ctx context.Context, ev *session.Event) error {
				reply, err := eh.Handle(ctx, ev)
				if reply != nil && len(reply.Deliveries) > 0 {
					b.proxy.Deliver(ctx, reply.Deliveries)
				}
				return err
			})
		}
	}
	if cfg.Listen.MetricsAddr != "" {
		b.reg = prometheus.NewRegistry()
		b.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		m, err := proxy.NewMetrics(b.reg)
		if err != nil {
			return fmt.Errorf("-metrics-addr: %w", err)
		}
		b.metrics = m
		if local != nil {
			registerHandlerMetrics(b.reg, local)
		}
	}
	if cfg.Listen.TLSAddr != "" || cfg.Listen.WSSAddr != "" {
		tc, err := proxy.TLSConfig(cfg.Listen.TLSCert, cfg.Listen.TLSKey, cfg.Listen.TLSClientCA, cfg.Listen.TLSRequireClientCert)
		if err != nil {
			return fmt.Errorf("-tls-cert, -tls-key, -tls-client-ca: %w", err)
		}
		b.tlsCfg = tc
	}
	srv, err := proxy.New(proxy.Config{
		ID: b.id, MaxPacketSize: maxPacket,
		MaxSendBytes: cfg.Proxy.MaxSendBytes, ConnectTimeout: cfg.Proxy.ConnectTimeout,
		InvokeTimeout: cfg.Proxy.InvokeTimeout, OrderWait: cfg.Proxy.OrderWait, PositionSave: cfg.Proxy.PositionSave,
		MaxPublishRate: cfg.Proxy.MaxPublishRate, MaxConnRate: cfg.Proxy.MaxConnRate,
		MaxConnections: cfg.Proxy.MaxConnections, MaxUserConnections: cfg.Proxy.MaxUserConnections,
		MaxPendingConnects: cfg.Proxy.MaxPendingConnects, MaxConnectSize: cfg.Proxy.MaxConnectSize,
		MaxSendBytesTotal:  cfg.Proxy.MaxSendBytesTotal,
		MaxOutboundAliases: cfg.Proxy.MaxOutboundAliases, MaxOutboundAliasBytes: cfg.Proxy.MaxOutboundAliasBytes,
		Packet:  cfg.Session.Packet,
		Metrics: b.metrics,
	}, b.inv, b.log)
	if err != nil {
		return err
	}
	b.proxy = srv
	for _, l := range []struct {
		ln         *net.Listener
		name, addr string
	}{
		{&b.tlsLn, "tls-addr", cfg.Listen.TLSAddr},
		{&b.wsLn, "ws-addr", cfg.Listen.WSAddr},
		{&b.wssLn, "wss-addr", cfg.Listen.WSSAddr},
		{&b.metrLn, "metrics-addr", cfg.Listen.MetricsAddr},
	} {
		if l.addr == "" {
			continue
		}
		if *l.ln, err = net.Listen("tcp", l.addr); err != nil {
			return fmt.Errorf("listen on -%s %s: %w", l.name, l.addr, err)
		}
	}
	if cfg.Listen.Pprof != "" {
		if b.pprofLn, err = net.Listen("tcp", cfg.Listen.Pprof); err != nil {
			return fmt.Errorf("listen on -pprof %s: %w", cfg.Listen.Pprof, err)
		}
	}
	if cfg.Delivery.Addr != "" {
		ds, err := delivery.NewServer(delivery.ServerConfig{Secret: cfg.Delivery.Secret, Previous: cfg.Delivery.PreviousSecret, MaxPacketSize: maxPacket}, srv.Deliver, b.log)
		if err != nil {
			return fmt.Errorf("-delivery-secret: %w", err)
		}
		// A request's headers and body arrive within ReadTimeout, or the
		// connection closes; headers stay small.
		b.deliv = &http.Server{Handler: ds, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
			WriteTimeout: time.Minute, IdleTimeout: time.Minute, MaxHeaderBytes: 16 << 10}
		if b.delivLn, err = net.Listen("tcp", cfg.Delivery.Addr); err != nil {
			return fmt.Errorf("listen on -delivery-addr %s: %w", cfg.Delivery.Addr, err)
		}
	}
	// -addr is bound last of the listeners: whoever reaches it (a client,
	// a start-up probe) finds /healthz, /metrics and the delivery endpoint
	// bound too.
	if b.ln, err = net.Listen("tcp", cfg.Listen.Addr); err != nil {
		return fmt.Errorf("listen on -addr %s: %w", cfg.Listen.Addr, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if needsLease(cfg) {
		// The lease comes before any connection, so that a sweep still
		// ending a previous run's sessions under this id stops
		// (session.Handler.Sweep).
		b.lease = &leaseHolder{inv: b.inv, id: b.id, period: cfg.Proxy.LeasePeriod, log: b.log}
		if b.leaseHeld, err = b.lease.renew(ctx); err != nil {
			return fmt.Errorf("take the proxy's lease: %w", err)
		}
	}
	// Connections a crashed previous run held are gone: end them, so that
	// their wills go out and their sessions can expire.
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
func newLambdaInvoker(cfg config.Config, log *slog.Logger) (*lambdainvoke.Invoker, error) {
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
	return lambdainvoke.New(cfg.Lambda.Functions, api, perEndpoint, log,
		lambdainvoke.WithConcurrency(cfg.Lambda.Concurrency), lambdainvoke.WithBatchTimeout(cfg.Proxy.InvokeTimeout)), nil
}

func (b *Broker) closeListeners() {
	for _, ln := range []net.Listener{b.ln, b.pprofLn, b.delivLn, b.tlsLn, b.wsLn, b.wssLn, b.metrLn, b.adminLn} {
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

// TLSAddr returns the address of the MQTT over TLS listener, or nil when
// -tls-addr is not set.
func (b *Broker) TLSAddr() net.Addr { return addrOf(b.tlsLn) }

// WSAddr returns the address MQTT over WebSockets is served on (path
// /mqtt), or nil when -ws-addr is not set.
func (b *Broker) WSAddr() net.Addr { return addrOf(b.wsLn) }

// WSSAddr returns the address MQTT over secure WebSockets is served on
// (path /mqtt), or nil when -wss-addr is not set.
func (b *Broker) WSSAddr() net.Addr { return addrOf(b.wssLn) }

// MetricsAddr returns the address /metrics and /healthz are served on, or
// nil when -metrics-addr is not set.
func (b *Broker) MetricsAddr() net.Addr { return addrOf(b.metrLn) }

func addrOf(ln net.Listener) net.Addr {
	if ln == nil {
		return nil
	}
	return ln.Addr()
}

// serveHTTP serves h on ln in the background and returns the server; a
// failure other than a shutdown is logged. A request's headers (and the
// TLS handshake) must come within 10 seconds, and an idle keep-alive
// connection is closed after a minute; an upgraded WebSocket connection is
// the proxy's, with the proxy's limits.
func (b *Broker) serveHTTP(what string, ln net.Listener, h http.Handler) *http.Server {
	return b.serve(what, ln, &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute})
}

// serve serves srv on ln in the background, with its errors logged at
// debug level, and returns it.
func (b *Broker) serve(what string, ln net.Listener, srv *http.Server) *http.Server {
	srv.ErrorLog = slog.NewLogLogger(b.log.Handler(), slog.LevelDebug)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !b.stopping.Load() {
			b.log.Error(what+" server failed", "err", err)
		}
	}()
	return srv
}

// serveMQTT serves the MQTT listeners besides -addr: TLS and WebSockets,
// plain and secure. It returns the HTTP servers of the WebSocket listeners.
func (b *Broker) serveMQTT() []*http.Server {
	var servers []*http.Server
	if b.tlsLn != nil {
		b.log.Info("mqttless listening", "addr", b.tlsLn.Addr().String(), "transport", "tls")
		go func() {
			if err := b.proxy.ServeTLS(b.tlsLn, b.tlsCfg); err != nil && !b.stopping.Load() {
				b.log.Error("TLS listener failed", "err", err)
			}
		}()
	}
	// The proxy's limits apply at accept, before the TLS handshake and the
	// upgrade request; the proxy's server bounds the request's headers.
	if b.wsLn != nil {
		b.log.Info("mqttless listening", "addr", b.wsLn.Addr().String(), "transport", "ws", "path", "/mqtt")
		servers = append(servers, b.serve("WebSocket", b.proxy.Listener(b.wsLn), b.proxy.NewWebSocketServer()))
	}
	if b.wssLn != nil {
		b.log.Info("mqttless listening", "addr", b.wssLn.Addr().String(), "transport", "wss", "path", "/mqtt")
		servers = append(servers, b.serve("secure WebSocket", tls.NewListener(b.proxy.Listener(b.wssLn), b.tlsCfg),
			b.proxy.NewWebSocketServer()))
	}
	return servers
}

// serveMetrics serves the Prometheus metrics at /metrics and the health
// check at /healthz.
func (b *Broker) serveMetrics() *http.Server {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(b.reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(b.log.Handler(), slog.LevelWarn)}))
	mux.Handle("/healthz", b.proxy.HealthHandler())
	b.log.Info("metrics listening", "addr", b.metrLn.Addr().String(), "paths", "/metrics /healthz")
	return b.serveHTTP("metrics", b.metrLn, mux)
}

// Run serves until ctx ends, then shuts down. It serves MQTT on every
// listener (TCP, and TLS, WebSockets and secure WebSockets when set), the
// metrics and health check, pprof and the delivery endpoint when set, and
// has the $SYS topics published every -sys-interval. When ctx ends
// (cmd/mqttless: SIGTERM or SIGINT) it drains: the listeners stop taking
// connections, the open ones are closed (with DISCONNECT 0x8B at 5.0,
// proxy.Server.Drain), the handlers are told of each, which settles its
// session, within -drain-timeout; then the proxy's lease is released and
// the store is closed; /healthz answers 503 meanwhile. A proxy that holds
// a lease (lease.go) and cannot renew it in time drains so too, and Run
// returns why.
func (b *Broker) Run(ctx context.Context) error {
	if b.cfg.Lambda.Invoker == "lambda" {
		b.log.Info("mqttless proxy listening", "addr", b.ln.Addr().String(), "invoker", "lambda", "proxy", b.id)
	} else {
		// With -invoker lambda, the functions' own setting applies, and they
		// warn.
		b.cfg.Auth.WarnAnonymous(b.log)
		b.log.Info("mqttless listening", "addr", b.ln.Addr().String(), "store", b.cfg.Store.Kind, "data-dir", b.cfg.Store.DataDir)
	}
	warnDescriptors(b.log, b.cfg.Proxy.MaxConnections)
	if b.lease != nil {
		// Start's renewal may be old by now (the recovery took its time):
		// the lease is renewed once more before the first connection.
		rctx, cancel := context.WithTimeout(ctx, b.lease.trusted())
		held, err := b.lease.renew(rctx)
		cancel()
		if err != nil {
			b.closeListeners()
			return errors.Join(err, b.closeSt())
		}
		b.leaseHeld = held
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- b.proxy.Serve(b.ln) }()
	wsServers := b.serveMQTT()
	b.serveAdmin()
	if b.pprofLn != nil {
		defer b.servePprof().Close()
	}
	if b.metrLn != nil {
		// Closed last, so that /healthz answers 503 while the proxy drains.
		defer b.serveMetrics().Close()
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
	sysCtx, stopSys := context.WithCancel(ctx)
	sysDone := make(chan struct{})
	go func() {
		defer close(sysDone)
		if b.cfg.Proxy.SysInterval > 0 {
			b.proxy.RunSys(sysCtx, b.cfg.Proxy.SysInterval, sysPrefix(b.cfg, b.id))
		}
	}()
	emfDone := make(chan struct{})
	go func() {
		defer close(emfDone)
		if b.cfg.Listen.EMFInterval > 0 && b.reg != nil {
			newEMFReporter(b.reg, os.Stdout, b.cfg.Listen.EMFService).run(sysCtx, b.cfg.Listen.EMFInterval, b.log)
		}
	}()
	var tick <-chan time.Time // nil with -tick 0: the sweep runs elsewhere
	if b.cfg.Proxy.Tick > 0 {
		ticker := time.NewTicker(b.cfg.Proxy.Tick)
		defer ticker.Stop()
		tick = ticker.C
	}
	// The lease is held until the proxy drains, then released once the
	// drain settled its sessions (lease.go).
	leaseCtx, stopLease := context.WithCancel(context.Background())
	defer stopLease()
	leaseLost := make(chan error, 1)
	leaseLostOnce := false
	if b.lease != nil {
		go func() { leaseLost <- b.lease.hold(leaseCtx, b.leaseHeld) }()
	}
	var err error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case err = <-serveErr:
			break loop
		case err = <-leaseLost:
			leaseLostOnce = true
			b.log.Error("lease lost: stopping", "err", err)
			break loop
		case <-tick:
			b.tick(ctx)
		}
	}
	b.log.Info("stopping", "connections", b.proxy.Connections())
	stopSys()
	<-sysDone
	<-emfDone
	// Stop taking connections on every listener, then end those open.
	b.stopping.Store(true)
	for _, ln := range []net.Listener{b.tlsLn, b.wsLn, b.wssLn} {
		if ln != nil {
			ln.Close()
		}
	}
	for _, srv := range wsServers {
		srv.Close()
	}
	// Drain: DISCONNECT 0x8B to 5.0 clients, each connection's lost event
	// (its session settled), within -drain-timeout. A proxy of a fleet
	// renews its lease no more, and settles its sessions in bulk instead
	// (KindDrain, lease.go's settle) once its connections closed:
	// thousands of lost events took the handlers far longer than the
	// drain timeout. The bulk settle waits for the connections: each one
	// saves its delivery window's positions as it ends (proxy/window.go's
	// endWindow), and a session the settle already ended refuses that
	// save (it is fenced), so that the acknowledgements the window took
	// since its last save would be lost: the PUBREL of a message whose
	// PUBCOMP came sent again after the restart, say.
	sctx, cancel := context.WithTimeout(context.Background(), b.cfg.Proxy.DrainTimeout)
	defer cancel()
	begin := time.Now()
	n := b.proxy.Connections()
	if b.lease != nil {
		stopLease()
		if !leaseLostOnce {
			<-leaseLost
		}
		b.proxy.CloseAll(true)
	}
	derr := b.proxy.Drain(sctx)
	if b.lease != nil {
		// A drain that ran out of time still gets one -invoke-timeout to
		// settle (and release the lease): the sweep would otherwise end
		// the sessions only once the lease lapsed.
		if deadline, _ := sctx.Deadline(); time.Until(deadline) < b.cfg.Proxy.InvokeTimeout {
			cancel()
			sctx, cancel = context.WithTimeout(context.Background(), b.cfg.Proxy.InvokeTimeout)
			defer cancel()
		}
		events, done := b.lease.settle(sctx)
		b.log.Info("settled the sessions of the drained connections", "done", done, "events", events,
			"took", time.Since(begin).Round(time.Millisecond))
	}
	if derr != nil {
		err = errors.Join(err, fmt.Errorf("-drain-timeout %v: %w", b.cfg.Proxy.DrainTimeout, derr))
	} else {
		b.log.Info("drained", "connections", n, "took", time.Since(begin).Round(time.Millisecond))
	}
	if b.lease != nil {
		b.lease.release(sctx)
	}
	b.ln.Close()
	if b.adminLn != nil {
		b.adminLn.Close()
	}
	err = errors.Join(err, b.closeSt())
	b.log.Info("mqttless stopped")
	return err
}

// tick runs one sweep through the handlers (session.Handler.Sweep): the
// sessions of proxies whose lease lapsed, due wills and expired sessions,
// up to 1,000 of each. A tick under way when ctx ends (SIGTERM) is
// given up at once, so that the drain starts: a sweep is safe to stop
// anywhere (the next one, of this proxy or another, goes on from the
// store), a Lambda invocation runs on without its caller, and the invoker
// keeps an emulator of -lambda-functions, which serves one invocation at
// a time, taken until its invocation has ended (lambdainvoke's submit).
func (b *Broker) tick(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.Proxy.InvokeTimeout)
	defer cancel()
	reply, err := b.inv.Invoke(ctx, &session.Event{Kind: session.KindTick, Proxy: b.id})
	if reply != nil && len(reply.Deliveries) > 0 {
		b.proxy.Deliver(ctx, reply.Deliveries)
	}
	if err != nil && ctx.Err() == nil {
		b.log.Error("tick failed", "err", err)
	}
}

// sysPrefix returns the topic prefix of the $SYS statistics: -sys-prefix
// when set, else $SYS/broker, or with -invoker lambda, where every proxy
// counts its own connections and messages, $SYS/broker/proxies/ and the
// host and port of the proxy's delivery URL (id), with '_' for ':'.
func sysPrefix(cfg config.Config, id string) string {
	if cfg.Proxy.SysPrefix != "" {
		return cfg.Proxy.SysPrefix
	}
	if cfg.Lambda.Invoker != "lambda" {
		return "$SYS/broker"
	}
	host := id
	if u, err := url.Parse(id); err == nil && u.Host != "" {
		host = u.Host
	}
	return "$SYS/broker/proxies/" + strings.NewReplacer(":", "_", "/", "_", "+", "_", "#", "_").Replace(host)
}

// registerHandlerMetrics registers the counters of in-process handlers h:
// messages dropped on full session queues, and the password checks of
// its auth.Checker (bcrypt run, and attempts refused unchecked during a
// back-off).
func registerHandlerMetrics(reg prometheus.Registerer, h *session.Handler) {
	counter := func(name, help string, f func() uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(f()) })
	}
	reg.MustRegister(
		counter("mqttless_queue_dropped_messages_total", "Messages dropped because a session's queue was full (-max-queued, -max-queued-bytes).", h.Dropped),
		counter("mqttless_password_checks_total", "Password checks (bcrypt) made.", func() uint64 { return h.AuthStats().PasswordChecks }),
		counter("mqttless_password_backoff_refusals_total", "CONNECTs refused without a password check during a back-off (-auth-backoff).", func() uint64 { return h.AuthStats().BackedOff }),
	)
}
