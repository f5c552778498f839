package topic_test

import (
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/mqttless/mqttless/core/topic"
)

func BenchmarkMatch(b *testing.B) {
	cases := []struct{ label, filter, name string }{
		{"exact", "dev/123/sensor/temp", "dev/123/sensor/temp"},
		{"plus", "dev/+/sensor/+", "dev/123/sensor/temp"},
		{"hash", "dev/#", "dev/123/sensor/temp"},
		{"miss", "dev/124/sensor/temp", "dev/123/sensor/temp"},
		{"dollar", "#", "$SYS/broker/clients"},
	}
	for _, c := range cases {
		b.Run(c.label, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				topic.Match(c.filter, c.name)
			}
		})
	}
}

// sensorNames are the sensors of a benchmark device; the first one is what
// the benchmark topic reports.
var sensorNames = []string{"temp", "hum", "press", "co2", "lux", "noise", "pm25", "pm10", "volt", "amp", "rssi", "batt", "door"}

// benchFilter returns the j-th filter of a benchmark index. Device d = j/16
// has 13 exact filters "dev/{d}/sensor/{sensor}" and 3 wildcard ones:
// "dev/{d}/+/temp", "dev/{d}/#" and "+/{d}/sensor/+". Two global wildcard
// filters come first. The topic "dev/{d}/sensor/temp" of a fully populated
// device thus matches 4 filters of its own plus the 2 global ones.
func benchFilter(j int) string {
	switch j {
	case 0:
		return "dev/+/sensor/temp"
	case 1:
		return "dev/#"
	}
	d := strconv.Itoa(j / 16)
	switch k := j % 16; k {
	case 13:
		return "dev/" + d + "/+/temp"
	case 14:
		return "dev/" + d + "/#"
	case 15:
		return "+/" + d + "/sensor/+"
	default:
		return "dev/" + d + "/sensor/" + sensorNames[k]
	}
}

// benchIndex builds an index of n subscriptions from benchFilter, keyed by
// client "c{j}"; it is cached because building the large ones takes a while.
func benchIndex(b *testing.B, n int) *topic.Index[int] {
	benchIndexes.Lock()
	defer benchIndexes.Unlock()
	if ix := benchIndexes.m[n]; ix != nil {
		return ix
	}
	b.StopTimer()
	defer b.StartTimer()
	ix := topic.NewIndex[int]()
	for j := range n {
		ix.Add(benchFilter(j), "c"+strconv.Itoa(j), j)
	}
	if ix.Len() != n {
		b.Fatalf("index holds %d entries, want %d", ix.Len(), n)
	}
	if benchIndexes.m == nil {
		benchIndexes.m = map[int]*topic.Index[int]{}
	}
	benchIndexes.m[n] = ix
	return ix
}

var benchIndexes struct {
	sync.Mutex
	m map[int]*topic.Index[int]
}

var benchSizes = []struct {
	label string
	n     int
}{{"1k", 1000}, {"100k", 100_000}, {"1M", 1_000_000}}

func BenchmarkIndexMatch(b *testing.B) {
	for _, size := range benchSizes {
		b.Run("subs="+size.label, func(b *testing.B) {
			ix := benchIndex(b, size.n)
			// A device in the middle of the index.
			name := fmt.Sprintf("dev/%d/sensor/temp", size.n/16/2)
			matches := 0
			fn := func(*topic.Entry[int]) bool { matches++; return true }
			ix.Match(name, fn)
			if matches != 6 {
				b.Fatalf("%s matches %d filters, want 6", name, matches)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				ix.Match(name, fn)
			}
		})
	}
}

func BenchmarkIndexMatchMiss(b *testing.B) {
	for _, size := range benchSizes {
		b.Run("subs="+size.label, func(b *testing.B) {
			ix := benchIndex(b, size.n)
			name := "home/kitchen/light/state" // matches nothing
			fn := func(*topic.Entry[int]) bool { b.Fatal("unexpected match"); return true }
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				ix.Match(name, fn)
			}
		})
	}
}

func BenchmarkIndexMatchAppend(b *testing.B) {
	ix := benchIndex(b, 100_000)
	name := "dev/42/sensor/temp"
	dst := make([]topic.Entry[int], 0, 16)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		dst = ix.MatchAppend(dst[:0], name)
	}
}

func BenchmarkIndexAdd(b *testing.B) {
	filters := make([]string, b.N)
	keys := make([]string, b.N)
	for j := range filters {
		filters[j] = benchFilter(j)
		keys[j] = "c" + strconv.Itoa(j)
	}
	ix := topic.NewIndex[int]()
	b.ReportAllocs()
	b.ResetTimer()
	for j := range b.N {
		ix.Add(filters[j], keys[j], j)
	}
}

func BenchmarkIndexRemove(b *testing.B) {
	filters := make([]string, b.N)
	keys := make([]string, b.N)
	ix := topic.NewIndex[int]()
	for j := range filters {
		filters[j] = benchFilter(j)
		keys[j] = "c" + strconv.Itoa(j)
		ix.Add(filters[j], keys[j], j)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for j := range b.N {
		ix.Remove(filters[j], keys[j])
	}
}

func BenchmarkValidateFilter(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = topic.ValidateFilter("$share/group/dev/+/sensor/#")
	}
}
