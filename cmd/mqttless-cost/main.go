// Command mqttless-cost prints the monthly bill of mqttless, deployed by
// template.yaml at its defaults, for the reference fleets of issue 17,
// every component with its list price and source, beside AWS IoT Core's
// bill for the same fleet (make cost; the README's "The honest bill").
package main

import (
	"fmt"
	"io"
	"os"
)

// Fleets are the reference fleets.
var Fleets = []Fleet{
	{Name: "A: 10,000 devices, each 1 QoS 1 message a minute to 1 subscriber", Connections: 10001,
		PublishesMonth: 10000 * hoursPerMonth * 60, FanOut: 1, QoS: 1, Payload: 100, Topic: 30, Misses: 1, ReconnectsPerDay: 1},
	{Name: "B: 100,000 devices, each 1 QoS 0 message every 10 minutes, fan-out 1", Connections: 100001,
		PublishesMonth: 100000 * hoursPerMonth * 6, FanOut: 1, QoS: 0, Payload: 100, Topic: 30, Misses: 1, ReconnectsPerDay: 1},
	{Name: "C: 1,000 devices subscribed to one topic, 1 publisher sending once a second (QoS 0)", Connections: 1001,
		PublishesMonth: hoursPerMonth * 3600, FanOut: 1000, QoS: 0, Payload: 100, Topic: 30, Misses: 0, ReconnectsPerDay: 1},
}

// Levers are what would bring the fleets that are not below AWS IoT Core
// there; none is built. Each is the fleet with other per-message figures.
var Levers = []struct {
	What  string
	Fleet Fleet
}{
	{"A, if a QoS 1 delivery to an online subscriber wrote nothing to DynamoDB (its in-flight state kept by the proxy holding the connection, written only for offline sessions): the QoS 0 figures, a cache miss, and one more invocation for the PUBACK",
		withOverride(Fleets[0], warmQoS0Fan1.Add(cacheMiss).Add(PerMessage{1, 0, 0, 0.002 * 0.125, "the PUBACK's invocation"}))},
	{"B, if a device's own topic hit the match cache (a match shared by the function instances, about the warm figures, instead of the trie walk of 11 RRU more that each instance does once a topic)",
		withOverride(Fleets[1], warmQoS0Fan1)},
}

func withOverride(f Fleet, p PerMessage) Fleet {
	f.Override = &p
	return f
}

func main() {
	write(os.Stdout, Defaults, Fleets)
	fmt.Println("\n#### What would get there (not built)\n\n| lever | mqttless | AWS IoT Core | ratio |\n| --- | --- | --- | --- |")
	for _, l := range Levers {
		m, iot := MQTTless(Defaults, l.Fleet), IoTCore(l.Fleet)
		fmt.Printf("| %s | $%.2f | $%.2f | %.2f |\n", l.What, m.Total(), iot.Total(), m.Total()/iot.Total())
	}
}

func write(w io.Writer, d Deployment, fleets []Fleet) {
	fmt.Fprintln(w, "Monthly bills, us-east-1 list prices (sources below each table), template.yaml at its defaults.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| fleet | proxy tasks | mqttless fixed | mqttless variable | mqttless total | AWS IoT Core | ratio |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- |")
	for _, f := range fleets {
		m, iot := MQTTless(d, f), IoTCore(f)
		fmt.Fprintf(w, "| %s | %d | $%.2f | $%.2f | $%.2f | $%.2f | %.2f |\n", f.Name, d.Tasks(f), m.FixedTotal(), m.Total()-m.FixedTotal(), m.Total(), iot.Total(), m.Total()/iot.Total())
	}
	for _, f := range fleets {
		m, iot := MQTTless(d, f), IoTCore(f)
		fmt.Fprintf(w, "\n#### Fleet %s\n\nPer message: %s.\n\n", f.Name, f.perMessage().Source)
		fmt.Fprintln(w, "| | component | quantity | list price | source | $ a month |")
		fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- |")
		for _, part := range []struct {
			name  string
			lines []Line
		}{{"mqttless fixed", m.Fixed}, {"mqttless variable", m.Variable}, {"AWS IoT Core", iot.Variable}} {
			for _, l := range part.lines {
				fmt.Fprintf(w, "| %s | %s | %s | $%g %s | %s | %.2f |\n", part.name, l.Component, l.Quantity, l.Price.Value, l.Price.Unit, l.Price.Source, l.USD)
			}
		}
		fmt.Fprintf(w, "| | **mqttless** | | | | **%.2f** |\n| | **AWS IoT Core** | | | | **%.2f** |\n", m.Total(), iot.Total())
	}
}

func f3(format string, a ...any) string { return fmt.Sprintf(format, a...) }
