package proxy

import (
	"fmt"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// Reasons a connection is refused or dropped before its CONNECT was
// accepted, the values of the reason label of
// mqttless_connections_refused_total, with those the handlers give for a
// CONNECT they refused (session.ConnectRefusals; refusals.go).
const (
	RefusedRateLimit      = "rate_limit"      // over MaxConnRate for its source address
	RefusedConnectTimeout = "connect_timeout" // no CONNECT within ConnectTimeout
	RefusedTLSHandshake   = "tls_handshake"   // the TLS handshake failed or timed out
	RefusedProtocol       = "protocol"        // the first packet was not a well-formed CONNECT
	RefusedConnect        = "connect_refused" // the handlers refused the CONNECT, or failed, giving no reason
	RefusedShuttingDown   = "shutting_down"   // accepted while the proxy shut down
	RefusedSubprotocol    = "subprotocol"     // a WebSocket upgrade without subprotocol mqtt or mqttv3.1
	// RefusedMaxConnections: MaxConnections connections were open.
	RefusedMaxConnections = "max_connections"
	// RefusedPendingConnects: MaxPendingConnects connections were waiting
	// for their CONNECT to be accepted.
	RefusedPendingConnects = "pending_connects"
	// RefusedUserConnections: the CONNECT's user had MaxUserConnections
	// connections.
	RefusedUserConnections = "user_connections"
	// RefusedBusy: the CONNECT waited for the handlers until too little of
	// -invoke-timeout was left for an answer (connectwait.go).
	RefusedBusy = "server_busy"
	// RefusedAbandoned: the client closed the connection while its CONNECT
	// waited for the handlers (connectwait.go).
	RefusedAbandoned = "abandoned"
)

var refusedReasons = [...]string{RefusedRateLimit, RefusedConnectTimeout, RefusedTLSHandshake,
	RefusedProtocol, RefusedConnect, RefusedShuttingDown, RefusedSubprotocol,
	RefusedMaxConnections, RefusedPendingConnects, RefusedUserConnections, RefusedBusy, RefusedAbandoned}

// Metrics are the proxy's Prometheus metrics. Create them once with
// NewMetrics and pass them in Config.Metrics; several proxies in one
// process may share them, and then the figures are their sums.
//
// The label children are resolved when the metrics are created, so that
// counting a packet costs an atomic add and no map lookup; the proxy adds
// per batch of frames, not per frame. The fields are set once by
// NewMetrics and never change; sendQueued is atomic.
//
// mqttless_send_queue_bytes is a gauge of the bytes waiting to be written
// across all connections (the sum of every connection's send queue), not a
// per-connection histogram: the sum is what memory and alarms care about,
// and it costs one atomic add when a queue grows or drains.
type Metrics struct {
	connections      prometheus.Gauge
	connectionsTotal prometheus.Counter
	refused          map[string]prometheus.Counter // by reason, read-only after NewMetrics
	denied           map[string]prometheus.Counter // by reason, read-only after NewMetrics
	packetsIn        [16]prometheus.Counter        // by packet type
	packetsOut       [16]prometheus.Counter
	bytesIn          prometheus.Counter
	bytesOut         prometheus.Counter
	invokeDuration   prometheus.Histogram
	handlerErrors    prometheus.Counter
	dropped          prometheus.Counter
	acceptErrors     prometheus.Counter
	sendQueued       atomic.Int64 // read by the mqttless_send_queue_bytes GaugeFunc
}

// NewMetrics creates the proxy's metrics and registers them with reg (none
// when reg is nil, as tests and benchmarks may want). It fails when reg
// already holds metrics of the same names.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{Name: "mqttless_connections",
			Help: "Connections open on the proxy, CONNECT accepted or not."}),
		connectionsTotal: prometheus.NewCounter(prometheus.CounterOpts{Name: "mqttless_connections_total",
			Help: "Connections accepted (past the connection rate limit)."}),
		bytesIn: prometheus.NewCounter(prometheus.CounterOpts{Name: "mqttless_bytes_received_total",
			Help: "Bytes of MQTT packets received from clients (without TLS or WebSocket framing)."}),
		bytesOut: prometheus.NewCounter(prometheus.CounterOpts{Name: "mqttless_bytes_sent_total",
			Help: "Bytes of MQTT packets written to clients (without TLS or WebSocket framing)."}),
		invokeDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "mqttless_invoke_duration_seconds",
			Help:    "Duration of calls to the handlers.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}),
		handlerErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "mqttless_handler_errors_total",
			Help: "Calls to the handlers that failed."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "mqttless_dropped_messages_total",
			Help: "QoS 0 PUBLISH packets dropped because a connection's send queue, or the send budget of all connections, was full."}),
		acceptErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "mqttless_accept_errors_total",
			Help: "Temporary accept errors, such as running out of file descriptors; the listener backs off and retries."}),
		refused: map[string]prometheus.Counter{},
		denied:  map[string]prometheus.Counter{},
	}
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mqttless_connections_refused_total",
		Help: "Connections closed before their CONNECT was accepted, by reason."}, []string{"reason"})
	for _, r := range append(refusedReasons[:], session.ConnectRefusals...) {
		m.refused[r] = refused.WithLabelValues(r)
	}
	denied := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mqttless_access_denied_total",
		Help: "PUBLISH packets and SUBSCRIBE filters the access rules denied, by reason."}, []string{"reason"})
	for _, r := range session.Denials {
		m.denied[r] = denied.WithLabelValues(r)
	}
	in := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mqttless_packets_received_total",
		Help: "MQTT packets received from clients, by type."}, []string{"type"})
	out := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "mqttless_packets_sent_total",
		Help: "MQTT packets written to clients, by type."}, []string{"type"})
	for t := range m.packetsIn {
		name := packet.Type(t).String()
		m.packetsIn[t], m.packetsOut[t] = in.WithLabelValues(name), out.WithLabelValues(name)
	}
	queued := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "mqttless_send_queue_bytes",
		Help: "Bytes waiting to be written, summed over all connections' send queues, the batches being written included."},
		func() float64 { return float64(m.sendQueued.Load()) })
	if reg != nil {
		for _, c := range []prometheus.Collector{m.connections, m.connectionsTotal, refused, denied, in, out,
			m.bytesIn, m.bytesOut, m.invokeDuration, m.handlerErrors, m.dropped, m.acceptErrors, queued} {
			if err := reg.Register(c); err != nil {
				return nil, fmt.Errorf("proxy: register metrics: %w", err)
			}
		}
	}
	return m, nil
}

// frameCounts tallies a batch of frames, to be added to the counters at
// once.
type frameCounts struct {
	types    [16]uint32
	frames   int
	publish  int
	bytes    int
	nonEmpty uint16 // bit t set when types[t] > 0
}

func (fc *frameCounts) add(f []byte) {
	if len(f) == 0 {
		return
	}
	t := f[0] >> 4
	fc.types[t]++
	fc.nonEmpty |= 1 << t
	fc.frames++
	fc.bytes += len(f)
	if packet.Type(t) == packet.PUBLISH {
		fc.publish++
	}
}

// counted adds a batch's tallies to the packet and byte counters of one
// direction.
func (m *Metrics) counted(fc *frameCounts, byType *[16]prometheus.Counter, bytes prometheus.Counter) {
	for t := range byType {
		if fc.nonEmpty&(1<<t) != 0 {
			byType[t].Add(float64(fc.types[t]))
		}
	}
	bytes.Add(float64(fc.bytes))
}

// refuse counts a refused connection; m may be nil. A reason without a
// label of its own (from a newer handler) counts as RefusedConnect.
func (m *Metrics) refuse(reason string) {
	if m == nil {
		return
	}
	c := m.refused[reason]
	if c == nil {
		c = m.refused[RefusedConnect]
	}
	c.Inc()
}

// deny counts a PUBLISH or SUBSCRIBE filter the handlers denied; m may be
// nil.
func (m *Metrics) deny(reason string) {
	if m == nil {
		return
	}
	if c := m.denied[reason]; c != nil {
		c.Inc()
	}
}

// stats are the proxy's own counters, kept whether or not Metrics are
// configured, for $SYS (RunSys). All fields are atomic.
type stats struct {
	accepted atomic.Uint64 // connections accepted
	refused  atomic.Uint64 // connections refused, for every reason (refusals.go)
	// acceptErrors counts temporary accept errors (admit.go).
	acceptErrors atomic.Uint64
	framesIn     atomic.Uint64
	framesOut    atomic.Uint64
	publishIn    atomic.Uint64
	publishOut   atomic.Uint64
	bytesIn      atomic.Uint64
	bytesOut     atomic.Uint64
}

// received counts a batch of frames read from a client.
func (s *Server) received(fc *frameCounts) {
	s.stats.framesIn.Add(uint64(fc.frames))
	s.stats.bytesIn.Add(uint64(fc.bytes))
	if fc.publish > 0 {
		s.stats.publishIn.Add(uint64(fc.publish))
	}
	if m := s.metrics; m != nil {
		m.counted(fc, &m.packetsIn, m.bytesIn)
	}
}

// sent counts a batch of frames written to a client.
func (s *Server) sent(fc *frameCounts) {
	s.stats.framesOut.Add(uint64(fc.frames))
	s.stats.bytesOut.Add(uint64(fc.bytes))
	if fc.publish > 0 {
		s.stats.publishOut.Add(uint64(fc.publish))
	}
	if m := s.metrics; m != nil {
		m.counted(fc, &m.packetsOut, m.bytesOut)
	}
}
