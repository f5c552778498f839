// Command mqttless-cost prints the monthly bill of mqttless, deployed by
// template.yaml at its defaults, for the reference fleets of issue 17,
// every component with its list price and source, beside AWS IoT Core's
// bill for the same fleet (make cost; the README's "The honest bill").
package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
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
	fmt.Fprintln(w, "Monthly bills, us-east-1 list prices, template.yaml at its defaults.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| fleet | proxy tasks | mqttless fixed | mqttless variable | mqttless total | AWS IoT Core | ratio |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- |")
	bills, iots := make([]Bill, len(fleets)), make([]Bill, len(fleets))
	for i, f := range fleets {
		bills[i], iots[i] = MQTTless(d, f), IoTCore(f)
		m, iot := bills[i], iots[i]
		fmt.Fprintf(w, "| %s | %d | $%.2f | $%.2f | $%.2f | $%.2f | %.2f |\n", f.Name, d.Tasks(f), m.FixedTotal(), m.Total()-m.FixedTotal(), m.Total(), iot.Total(), m.Total()/iot.Total())
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, "| | component | list price | source |")
	sep := "| --- | --- | --- | --- |"
	for _, f := range fleets {
		fmt.Fprintf(w, " %s $ |", f.Name[:1])
		sep += " --- |"
	}
	fmt.Fprintln(w, "\n"+sep)
	rows := func(part string, lines func(i int) []Line) {
		for k, l := range lines(0) {
			fmt.Fprintf(w, "| %s | %s | $%s %s | %s |", part, l.Component, strconv.FormatFloat(l.Price.Value, 'f', -1, 64), l.Price.Unit, l.Price.Source)
			for i := range fleets {
				fmt.Fprintf(w, " %.2f |", lines(i)[k].USD)
			}
			fmt.Fprintln(w)
		}
	}
	rows("mqttless fixed", func(i int) []Line { return bills[i].Fixed })
	rows("mqttless variable", func(i int) []Line { return bills[i].Variable })
	rows("AWS IoT Core", func(i int) []Line { return iots[i].Variable })
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Quantities, and the per-message figures each fleet's variable lines use:")
	for i, f := range fleets {
		fmt.Fprintf(w, "\n- %s: %s.", f.Name, f.perMessage(Defaults).Source)
		for _, l := range append(append([]Line{}, bills[i].Fixed...), bills[i].Variable...) {
			if l.Quantity != "" {
				fmt.Fprintf(w, " %s: %s;", l.Component, l.Quantity)
			}
		}
		fmt.Fprintln(w)
	}
}

func f3(format string, a ...any) string { return fmt.Sprintf(format, a...) }
