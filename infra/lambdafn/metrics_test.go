package lambdafn_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

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

// Each invocation writes one embedded-metric-format record with the events
// it carried and those that failed, under its function's name. A batch
// whose events fail answers them inside a successful reply, which Lambda's
// Errors metric does not count: EventErrors does. A failed bare event
// counts too.
func TestFunctionMetrics(t *testing.T) {
	fns := newFunctions(t)
	var out bytes.Buffer
	connect := fns[invocation.GroupConnect].WithMetrics(&out, "stack-connect")
	ctx := context.Background()

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
	ok, _ := json.Marshal(&session.Event{Kind: session.KindPackets, Proxy: "p", Conn: "c-m5",
		Packets: [][]byte{frame(t, &packet.Connect{ClientID: "m5", CleanStart: true})}})
	if _, err := connect.Invoke(ctx, ok); err != nil {
		t.Fatal(err)
	}

	recs := records(t, &out)
	want := [][2]float64{{4, 2}, {1, 1}, {1, 0}}
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
