package lambdafn

import (
	"io"
	"sync"
	"time"

	"github.com/mqttless/mqttless/infra/emf"
	"github.com/mqttless/mqttless/infra/invocation"
)

// The metrics the functions write, in the namespace emf.Namespace under
// the dimension FunctionName: the events handled and those that failed. A
// batched invocation answers its events' failures inside a successful
// reply, which Lambda's own Errors metric never sees; the alarm on
// EventErrors in template.yaml does.
const (
	MetricEvents      = "Events"
	MetricEventErrors = "EventErrors"
	DimensionFunction = "FunctionName"
)

// MetricsInterval is how long a function instance adds up its events
// before it writes them, when none failed: one record a minute per
// instance instead of one per invocation keeps the log bytes (what EMF
// costs) off the per-message bill. A failure is written at once, with the
// events added up so far, so that the alarm never waits for it. What an
// instance added up when Lambda shuts it down is lost: Events may fall
// short by less than a minute of one instance; EventErrors never does.
const MetricsInterval = time.Minute

// metrics adds up one instance's results and writes them. mu guards
// events and last; invocations of one instance may overlap.
type metrics struct {
	out  *emf.Writer
	name string
	now  func() time.Time

	mu     sync.Mutex
	events int       // events since the last record
	last   time.Time // when the last record was written (zero: never)
}

// WithMetrics makes f write its events as embedded metric format records
// to w (Start: stdout, which Lambda ships to CloudWatch Logs, where the
// records become metrics), under the dimension FunctionName name (Start:
// AWS_LAMBDA_FUNCTION_NAME; empty: the group). It returns f.
func (f *Function) WithMetrics(w io.Writer, name string) *Function {
	return f.withMetrics(w, name, time.Now)
}

func (f *Function) withMetrics(w io.Writer, name string, now func() time.Time) *Function {
	if name == "" {
		name = string(f.group)
	}
	f.metrics = &metrics{out: emf.NewWriter(w), name: name, now: now}
	return f
}

// record adds one invocation's results, and writes a record when one
// failed or MetricsInterval has passed since the last. A failed write is
// logged, never the invocation's failure.
func (f *Function) record(results []invocation.Result) {
	m := f.metrics
	if m == nil {
		return
	}
	failed := 0
	for _, r := range results {
		if r.Error != "" {
			failed++
		}
	}
	now := m.now()
	m.mu.Lock()
	m.events += len(results)
	if failed == 0 && !m.last.IsZero() && now.Sub(m.last) < MetricsInterval {
		m.mu.Unlock()
		return
	}
	events := m.events
	m.events, m.last = 0, now
	m.mu.Unlock()
	err := m.out.WriteAt(now, map[string]string{DimensionFunction: m.name},
		emf.Metric{Name: MetricEvents, Unit: emf.Count, Value: float64(events)},
		emf.Metric{Name: MetricEventErrors, Unit: emf.Count, Value: float64(failed)})
	if err != nil {
		f.log.Warn("writing metrics", "err", err)
	}
}
