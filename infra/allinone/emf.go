package allinone

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqttless/mqttless/infra/emf"
)

// emfMetrics maps each CloudWatch metric the proxy writes with
// -emf-interval to the Prometheus family it comes from. Counters are
// written as their increase since the last record (summed over labels), so
// that CloudWatch's Sum over a period is what happened in it; gauges as
// they are. The alarms and the dashboard of template.yaml read these
// names. Each is a custom CloudWatch metric, billed monthly: the list
// holds what an operator acts on or plots, not every Prometheus family
// (which /metrics serves).
var emfMetrics = []struct {
	name, family string
	counter      bool
}{
	{"Connections", "mqttless_connections", false},
	{"ConnectionsRefused", "mqttless_connections_refused_total", true},
	{"HandlerErrors", "mqttless_handler_errors_total", true},
	{"DroppedMessages", "mqttless_dropped_messages_total", true},
	{"PacketsReceived", "mqttless_packets_received_total", true},
}

// emfReporter turns the registry's metrics into EMF records. last holds
// the counters' values at the previous record; it is used by one goroutine
// only (run).
type emfReporter struct {
	reg     prometheus.Gatherer
	out     *emf.Writer
	service string
	last    map[string]float64
}

func newEMFReporter(reg prometheus.Gatherer, w io.Writer, service string) *emfReporter {
	return &emfReporter{reg: reg, out: emf.NewWriter(w), service: service, last: map[string]float64{}}
}

// run writes a record every interval until ctx ends, and one last at the
// end, so that what the final interval counted is not lost.
func (r *emfReporter) run(ctx context.Context, interval time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := r.report(); err != nil {
				log.Warn("writing EMF metrics", "err", err)
			}
			return
		case <-t.C:
			if err := r.report(); err != nil {
				log.Warn("writing EMF metrics", "err", err)
			}
		}
	}
}

// report writes one record of the metrics of emfMetrics that the registry
// holds.
func (r *emfReporter) report() error {
	fams, err := r.reg.Gather()
	if err != nil {
		return err
	}
	byName := make(map[string]int, len(fams))
	for i, f := range fams {
		byName[f.GetName()] = i
	}
	var ms []emf.Metric
	for _, m := range emfMetrics {
		i, ok := byName[m.family]
		if !ok {
			continue
		}
		v := 0.0
		for _, s := range fams[i].GetMetric() {
			// Sums over the labels; a counter's sample has no gauge and
			// the other way round, and the getters answer 0 for nil.
			v += s.GetCounter().GetValue() + s.GetGauge().GetValue()
		}
		if m.counter {
			v, r.last[m.name] = v-r.last[m.name], v
		}
		ms = append(ms, emf.Metric{Name: m.name, Unit: emf.Count, Value: v})
	}
	return r.out.Write(map[string]string{"Service": r.service}, ms...)
}
