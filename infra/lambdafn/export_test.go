package lambdafn

import (
	"io"
	"time"
)

// WithMetricsAt is WithMetrics on the clock now.
func (f *Function) WithMetricsAt(w io.Writer, name string, now func() time.Time) *Function {
	return f.withMetrics(w, name, now)
}
