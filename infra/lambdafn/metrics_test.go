package lambdafn_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/invocation"
	"github.com/mqttless/mqttless/infra/lambdafn"
)

// emfRecord is what CloudWatch reads from one metrics line.
type emfRecord struct {
	AWS struct {
		CloudWatchMetrics []struct {
			Namespace  string
			Dimensions [][]string
			Metrics    []struct{ Name, Unit string }
		}
	} `json:"_aws"`
	FunctionName string
	Events       *float64
	EventErrors  *float64
}

func records(t *testing.T, out *bytes.Buffer) []emfRecord {
	t.Helper()
	var recs []emfRecord
	for _, line := range bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n")) {
		var r emfRecord
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	out.Reset()
	return recs
}

// A function writes embedded-metric-format records with the events it
// handled and those that failed, under its function's name. A batch whose
// events fail answers them inside a successful reply, which Lambda's
// Errors metric does not count: EventErrors does, at once. A failed bare
// event counts too. Events without failures are added up and written once
// a MetricsInterval, not per invocation.
func TestFunctionMetrics(t *testing.T) {
	fns := newFunctions(t)
	var out bytes.Buffer
	clock := time.Unix(1764700000, 0)
	connect := fns[invocation.GroupConnect].WithMetricsAt(&out, "stack-connect", func() time.Time { return clock })
	ctx := context.Background()
	invoke := func(id string) {
		t.Helper()
		ev, _ := json.Marshal(&session.Event{Kind: session.KindPackets, Proxy: "p", Conn: "c-" + id,
			Packets: [][]byte{frame(t, &packet.Connect{ClientID: id, CleanStart: true})}})
		if _, err := connect.Invoke(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	invoke("m0") // the instance's first invocation writes at once
	if out.Len() == 0 {
		t.Fatal("the first invocation wrote no metrics")
	}

	b := invocation.Batch{}
	for _, id := range []string{"m1", "m2", "m3"} {
		b.Events = append(b.Events, &session.Event{Kind: session.KindPackets, Proxy: "p", Conn: "c-" + id,
			Packets: [][]byte{frame(t, &packet.Connect{ClientID: id, CleanStart: true})}})
	}
	b.Events[1].Packets = [][]byte{frame(t, &packet.Publish{Topic: "x"})} // misrouted: fails
	b.Events = append(b.Events, nil)                                      // a null event: fails
	payload, _ := json.Marshal(b)
	if _, err := connect.Invoke(ctx, payload); err != nil {
		t.Fatalf("the batch failed as a whole: %v", err)
	}
	single, _ := json.Marshal(&session.Event{Kind: session.KindPackets, Proxy: "p", Conn: "c-m4",
		Packets: [][]byte{frame(t, &packet.Publish{Topic: "x"})}})
	if _, err := connect.Invoke(ctx, single); err == nil {
		t.Fatal("a misrouted bare event succeeded")
	}
	before := out.Len()
	invoke("m5") // within the interval: added up, not written
	invoke("m6")
	if out.Len() != before {
		t.Fatalf("successful invocations within the interval wrote %q", out.Bytes()[before:])
	}
	clock = clock.Add(lambdafn.MetricsInterval)
	invoke("m7") // the interval is over: m5, m6 and m7

	recs := records(t, &out)
	want := [][2]float64{{1, 0}, {4, 2}, {1, 1}, {3, 0}}
	if len(recs) != len(want) {
		t.Fatalf("%d metrics records, want one per invocation (%d)", len(recs), len(want))
	}
	for i, r := range recs {
		cw := r.AWS.CloudWatchMetrics
		if len(cw) != 1 || cw[0].Namespace != "mqttless" || len(cw[0].Dimensions) != 1 ||
			len(cw[0].Dimensions[0]) != 1 || cw[0].Dimensions[0][0] != lambdafn.DimensionFunction || len(cw[0].Metrics) != 2 {
			t.Errorf("record %d: directive %+v", i, cw)
		}
		if r.FunctionName != "stack-connect" || r.Events == nil || r.EventErrors == nil ||
			*r.Events != want[i][0] || *r.EventErrors != want[i][1] {
			t.Errorf("record %d: %+v, want %v events and %v errors of stack-connect", i, r, want[i][0], want[i][1])
		}
	}

	// Without WithMetrics a function writes nothing anywhere.
	if _, err := fns[invocation.GroupSession].Invoke(ctx, payload); err != nil {
		t.Fatal(err)
	}
	if out.Len() != 0 {
		t.Errorf("a function without metrics wrote %q", out.String())
	}
}
