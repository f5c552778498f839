// Package emf writes CloudWatch embedded metric format (EMF) records: one
// JSON object a line, which CloudWatch Logs turns into metrics as it
// ingests them, with no API call (the functions' stdout reaches CloudWatch
// Logs through Lambda, the proxies' through the awslogs log driver). See
// https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html.
//
// It depends on nothing but the standard library, so that the handler
// functions link it at no cost.
package emf

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"
)

// Namespace is the CloudWatch namespace of every mqttless metric; the
// alarms and the dashboard of template.yaml read it.
const Namespace = "mqttless"

// Units of CloudWatch metrics.
const (
	Count        = "Count"
	Milliseconds = "Milliseconds"
	None         = "None"
)

// Metric is one value of a record.
type Metric struct {
	Name  string
	Unit  string
	Value float64
}

// Writer writes records to w, one line each. mu serializes the lines, so
// that concurrent records never interleave.
type Writer struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
}

// NewWriter returns a Writer on w (os.Stdout in Lambda and on ECS).
func NewWriter(w io.Writer) *Writer { return &Writer{w: w, now: time.Now} }

// Write writes one record: metrics under the dimensions dims (one
// dimension set: every key of dims), with dims as the record's properties.
// A record without metrics writes nothing.
func (w *Writer) Write(dims map[string]string, metrics ...Metric) error {
	return w.WriteAt(w.now(), dims, metrics...)
}

// WriteAt is Write of a record timestamped t.
func (w *Writer) WriteAt(t time.Time, dims map[string]string, metrics ...Metric) error {
	if len(metrics) == 0 {
		return nil
	}
	line, err := Record(t, dims, metrics...)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	_, err = w.w.Write(line)
	return err
}

type directive struct {
	Namespace  string       `json:"Namespace"`
	Dimensions [][]string   `json:"Dimensions"`
	Metrics    []definition `json:"Metrics"`
}

type definition struct {
	Name string `json:"Name"`
	Unit string `json:"Unit,omitempty"`
}

type metadata struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
}

// Record returns the EMF line (with its newline) of metrics at t under
// dims. A dimension or metric named "_aws", or a metric named as a
// dimension, is an error: the record would not parse as EMF.
func Record(t time.Time, dims map[string]string, metrics ...Metric) ([]byte, error) {
	keys := make([]string, 0, len(dims))
	for k := range dims {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	rec := make(map[string]any, len(dims)+len(metrics)+1)
	for _, k := range keys {
		if k == "_aws" {
			return nil, fmt.Errorf("emf: dimension named _aws")
		}
		rec[k] = dims[k]
	}
	d := directive{Namespace: Namespace, Dimensions: [][]string{keys}}
	for _, m := range metrics {
		if _, dup := rec[m.Name]; dup || m.Name == "" {
			return nil, fmt.Errorf("emf: metric %q named as a dimension, twice, or empty", m.Name)
		}
		rec[m.Name] = m.Value
		d.Metrics = append(d.Metrics, definition{Name: m.Name, Unit: m.Unit})
	}
	rec["_aws"] = metadata{Timestamp: t.UnixMilli(), CloudWatchMetrics: []directive{d}}
	line, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("emf: %w", err)
	}
	return append(line, '\n'), nil
}
