package lambdafn

import (
	"io"

	"github.com/mqttless/mqttless/infra/emf"
	"github.com/mqttless/mqttless/infra/invocation"
)

// The metrics each invocation writes, in the namespace emf.Namespace under
// the dimension FunctionName: the events it carried and those that
// failed. A batched invocation answers its events' failures inside a
// successful reply, which Lambda's own Errors metric never sees; the
// alarm on EventErrors in template.yaml does.
const (
	MetricEvents      = "Events"
	MetricEventErrors = "EventErrors"
	DimensionFunction = "FunctionName"
)

// WithMetrics makes f write one embedded metric format record per
// invocation to w (Start: stdout, which Lambda ships to CloudWatch Logs,
// where the record becomes metrics), under the dimension FunctionName
// name (Start: AWS_LAMBDA_FUNCTION_NAME; empty: the group). It returns f.
func (f *Function) WithMetrics(w io.Writer, name string) *Function {
	if name == "" {
		name = string(f.group)
	}
	f.metrics, f.name = emf.NewWriter(w), name
	return f
}

// record writes the metrics of one invocation's results. A failed write
// is logged, never the invocation's failure.
func (f *Function) record(results []invocation.Result) {
	if f.metrics == nil {
		return
	}
	failed := 0
	for _, r := range results {
		if r.Error != "" {
			failed++
		}
	}
	err := f.metrics.Write(map[string]string{DimensionFunction: f.name},
		emf.Metric{Name: MetricEvents, Unit: emf.Count, Value: float64(len(results))},
		emf.Metric{Name: MetricEventErrors, Unit: emf.Count, Value: float64(failed)})
	if err != nil {
		f.log.Warn("writing metrics", "err", err)
	}
}
