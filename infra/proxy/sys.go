package proxy

import (
	"context"
	"math"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/mqttless/mqttless/core/session"
)

// DefaultSysPrefix is the topic prefix of RunSys.
const DefaultSysPrefix = "$SYS/broker"

// RunSys sends the proxy's statistics to the handlers as a KindSys event
// at once and then every interval (10 s when interval is not positive),
// until ctx ends; the handlers publish them as retained messages, and the
// deliveries of their reply are written as other replies' are. prefix is
// the topic prefix [DefaultSysPrefix]. A failed call is logged and counted
// in HandlerErrors; the next one is tried at the next interval.
//
// The topics, under prefix, follow Mosquitto's. The figures are this
// proxy's since it started (with several proxies, give each its own
// prefix, such as $SYS/broker/proxy/<id>, or each overwrites the
// others'):
//
//	version                        "mqttless <version>" (Version)
//	uptime                         "<seconds> seconds"
//	clients/connected              clients connected: connections whose
//	                               CONNECT was accepted, as Mosquitto
//	                               counts them (a socket that never sent
//	                               an accepted CONNECT is no client)
//	clients/maximum                most clients connected at once
//	clients/total                  clients connected; the handlers make it
//	                               Mosquitto's "connected and registered"
//	                               (the sessions the store holds) when the
//	                               store counts them (-store bolt, memory)
//	connections/refused            connections closed before their CONNECT
//	                               was accepted, for every reason: the sum
//	                               of mqttless_connections_refused_total
//	messages/received, messages/sent                   MQTT packets of every type
//	publish/messages/received, publish/messages/sent   PUBLISH packets
//	publish/messages/dropped       QoS 0 messages dropped on full send queues
//	bytes/received, bytes/sent     bytes of MQTT packets
//	load/{messages/received,messages/sent,publish/received,publish/sent,
//	      bytes/received,bytes/sent,connections}/{1min,5min,15min}
//	                               per-minute rates, moving averages over
//	                               1, 5 and 15 minutes (as Mosquitto's)
func (s *Server) RunSys(ctx context.Context, interval time.Duration, prefix string) {
	if interval <= 0 {
		interval = 10 * time.Second
	}
	if prefix == "" {
		prefix = DefaultSysPrefix
	}
	sl := newSysLoad()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s.sendSys(ctx, prefix, sl, time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) sendSys(ctx context.Context, prefix string, sl *sysLoad, now time.Time) {
	ictx, cancel := context.WithTimeout(ctx, s.cfg.InvokeTimeout)
	defer cancel()
	ev := &session.Event{Kind: session.KindSys, Proxy: s.cfg.ID, Sys: s.sysValues(prefix, sl, now)}
	reply, err := s.invoke(ictx, ev)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("$SYS statistics not published", "err", err)
		}
		return
	}
	if reply != nil && len(reply.Deliveries) > 0 {
		s.deliverReply(reply.Deliveries)
	}
}

// sysCounters are the counters that $SYS reports as totals and loads.
var sysCounters = [...]string{"messages/received", "messages/sent", "publish/received",
	"publish/sent", "bytes/received", "bytes/sent", "connections"}

// sysLoad holds the moving averages of RunSys; only RunSys's goroutine
// uses it.
type sysLoad struct {
	last  time.Time
	prev  [len(sysCounters)]uint64
	loads [len(sysCounters)][3]float64 // per minute, over 1, 5, 15 minutes
}

var loadWindows = [3]struct {
	name string
	d    float64 // seconds
}{{"1min", 60}, {"5min", 300}, {"15min", 900}}

func newSysLoad() *sysLoad { return &sysLoad{} }

// sysValues builds the statistics at now, updating the loads.
func (s *Server) sysValues(prefix string, sl *sysLoad, now time.Time) []session.SysValue {
	s.mu.RLock()
	connected, maxClients := s.clients, s.maxClients
	s.mu.RUnlock()
	st := &s.stats
	cur := [len(sysCounters)]uint64{st.framesIn.Load(), st.framesOut.Load(), st.publishIn.Load(),
		st.publishOut.Load(), st.bytesIn.Load(), st.bytesOut.Load(), st.accepted.Load()}
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	vals := []session.SysValue{
		{Topic: "version", Value: "mqttless " + BrokerVersion()},
		{Topic: "uptime", Value: strconv.FormatInt(int64(now.Sub(s.started)/time.Second), 10) + " seconds"},
		{Topic: "clients/connected", Value: strconv.Itoa(connected)},
		{Topic: "clients/maximum", Value: strconv.Itoa(maxClients)},
		{Topic: "clients/total", Value: strconv.Itoa(connected)},
		{Topic: "connections/refused", Value: u(st.refused.Load())},
		{Topic: "messages/received", Value: u(cur[0])},
		{Topic: "messages/sent", Value: u(cur[1])},
		{Topic: "publish/messages/received", Value: u(cur[2])},
		{Topic: "publish/messages/sent", Value: u(cur[3])},
		{Topic: "publish/messages/dropped", Value: u(s.Dropped.Load())},
		{Topic: "bytes/received", Value: u(cur[4])},
		{Topic: "bytes/sent", Value: u(cur[5])},
	}
	// Mosquitto's loads: exponentially weighted moving averages of the
	// per-minute rate since the last update.
	if !sl.last.IsZero() {
		if dt := now.Sub(sl.last).Seconds(); dt > 0 {
			for i := range sysCounters {
				perMin := float64(cur[i]-sl.prev[i]) * 60 / dt
				for w, win := range loadWindows {
					e := math.Exp(-dt / win.d)
					sl.loads[i][w] = perMin + e*(sl.loads[i][w]-perMin)
				}
			}
		}
	}
	sl.last, sl.prev = now, cur
	for i, name := range sysCounters {
		for w, win := range loadWindows {
			vals = append(vals, session.SysValue{Topic: "load/" + name + "/" + win.name,
				Value: strconv.FormatFloat(sl.loads[i][w], 'f', 2, 64)})
		}
	}
	for i := range vals {
		vals[i].Topic = prefix + "/" + vals[i].Topic
	}
	return vals
}

// Version is the broker's version, stamped at build time by the Makefile
// and the SAM build (-ldflags "-X
// github.com/mqttless/mqttless/infra/proxy.Version=$(git describe)");
// empty in a binary built otherwise, which BrokerVersion then takes from
// the module's build information.
var Version string

// BrokerVersion is Version, or else the version of the module the binary
// was built from ("(devel)" for a build in its own checkout).
func BrokerVersion() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
