package allinone

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqttless/mqttless/infra/proxy"
)

// With -emf-interval the proxy writes its key metrics as EMF records on
// stdout: gauges as they stand, counters as their increase since the last
// record (summed over their labels), so that CloudWatch's Sum over a
// period counts what happened in it, under the Service dimension.
func TestEMFReporter(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := proxy.NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	// Counters of the same names as the proxy's, which this test can move.
	errs := prometheus.NewCounter(prometheus.CounterOpts{Name: "mqttless_handler_errors_total"})
	dropped := prometheus.NewCounter(prometheus.CounterOpts{Name: "mqttless_dropped_messages_total"})
	conns := prometheus.NewGauge(prometheus.GaugeOpts{Name: "mqttless_connections"})
	own := prometheus.NewRegistry()
	own.MustRegister(errs, dropped, conns)
	var out bytes.Buffer
	r := newEMFReporter(own, &out, "stack-proxy")
	read := func() map[string]any {
		t.Helper()
		var rec map[string]any
		if err := json.Unmarshal(out.Bytes(), &rec); err != nil {
			t.Fatalf("record %q: %v", out.String(), err)
		}
		out.Reset()
		return rec
	}
	errs.Add(3)
	dropped.Add(5)
	conns.Set(42)
	if err := r.report(); err != nil {
		t.Fatal(err)
	}
	rec := read()
	if rec["Service"] != "stack-proxy" || rec["HandlerErrors"] != 3.0 || rec["DroppedMessages"] != 5.0 || rec["Connections"] != 42.0 {
		t.Errorf("first record %v", rec)
	}
	if _, ok := rec["_aws"]; !ok {
		t.Errorf("record without EMF metadata: %v", rec)
	}
	errs.Add(1)
	conns.Set(40)
	if err := r.report(); err != nil {
		t.Fatal(err)
	}
	rec = read()
	if rec["HandlerErrors"] != 1.0 || rec["DroppedMessages"] != 0.0 || rec["Connections"] != 40.0 {
		t.Errorf("second record %v, want the increase of the counters", rec)
	}

	// The proxy's own registry has every metric the template reads.
	r = newEMFReporter(reg, &out, "p")
	if err := r.report(); err != nil {
		t.Fatal(err)
	}
	rec = read()
	for _, m := range emfMetrics {
		if _, ok := rec[m.name]; !ok {
			t.Errorf("the proxy's metrics give no %s (from %s)", m.name, m.family)
		}
	}
}
