package emf_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/mqttless/mqttless/infra/emf"
)

// A record is one JSON line that CloudWatch reads as metrics: the
// directive names the namespace, the dimension keys and each metric with
// its unit, and the values sit at the top level beside the dimensions.
func TestRecord(t *testing.T) {
	at := time.UnixMilli(1764700000123)
	line, err := emf.Record(at, map[string]string{"Function": "publish"},
		emf.Metric{Name: "Events", Unit: emf.Count, Value: 3}, emf.Metric{Name: "EventErrors", Unit: emf.Count, Value: 1})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(line, []byte("\n")) != 1 || line[len(line)-1] != '\n' {
		t.Fatalf("record %q is not one line", line)
	}
	var rec struct {
		AWS struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		Function    string
		Events      float64
		EventErrors float64
	}
	if err := json.Unmarshal(line, &rec); err != nil {
		t.Fatal(err)
	}
	cw := rec.AWS.CloudWatchMetrics
	if rec.AWS.Timestamp != 1764700000123 || len(cw) != 1 || cw[0].Namespace != "mqttless" ||
		len(cw[0].Dimensions) != 1 || len(cw[0].Dimensions[0]) != 1 || cw[0].Dimensions[0][0] != "Function" ||
		len(cw[0].Metrics) != 2 || cw[0].Metrics[1].Name != "EventErrors" || cw[0].Metrics[1].Unit != "Count" {
		t.Errorf("metadata %+v", rec.AWS)
	}
	if rec.Function != "publish" || rec.Events != 3 || rec.EventErrors != 1 {
		t.Errorf("values %+v", rec)
	}
}

// A metric that shadows a dimension would make the record ambiguous: it
// is refused, and a record without metrics writes nothing.
func TestRecordRefusals(t *testing.T) {
	if _, err := emf.Record(time.Now(), map[string]string{"Function": "x"}, emf.Metric{Name: "Function", Value: 1}); err == nil {
		t.Error("a metric named as a dimension was accepted")
	}
	var buf bytes.Buffer
	if err := emf.NewWriter(&buf).Write(map[string]string{"Function": "x"}); err != nil || buf.Len() != 0 {
		t.Errorf("a record without metrics wrote %q (%v)", buf.String(), err)
	}
}
