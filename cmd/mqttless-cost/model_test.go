package main

import (
	"bytes"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/mqttless/mqttless/infra/config"
)

func near(a, b float64) bool { return math.Abs(a-b) < 0.005 }

// The fixed floor at the defaults, added up by hand from the list prices:
// 2 tasks of 0.5 vCPU and 1 GB, the load balancer, 4 addresses, the
// two interface endpoints (Secrets Manager, Lambda) in 2 zones, the secret, the sweep (one 128 MB invocation a
// minute running 60 s, a pass of 2 RRU a second), 2 proxies' lease
// renewals (every 10/3 s: an invocation and a write) and $SYS rounds (1 a
// minute), 30 alarm metrics, the dashboard, 13 custom metrics and the EMF
// lines.
func TestFixedFloor(t *testing.T) {
	want := 2*0.5*730*0.03238 + 2*1*730*0.00356 + 730*0.0225 + 4*730*0.005 + 2*2*730*0.01 + 0.40 +
		(43800+2*788400+2*43800)*0.20/1e6 + (43800*60*0.125+2*788400*0.001+2*43800*0.01925)*0.0000133334 +
		2628000*2*0.125/1e6 + 2*788400*0.625/1e6 + 2*43800*50*0.625/1e6 + 30*0.10 + 3.00 + 13*0.30 + 22*43800*400/1e9*0.50
	small := Fleet{Connections: 10}
	if got := MQTTless(Defaults, small).FixedTotal(); !near(got, want) {
		t.Errorf("fixed floor $%.4f, want $%.4f", got, want)
	}
	if !near(want, 108.6976) {
		t.Errorf("the hand sum moved: $%.4f", want)
	}
}

// The proxies scale on connections between the minimum and the maximum;
// past the maximum, the bill says the maximum (and the README that the
// fleet needs ProxyMaxCount raised).
func TestTasks(t *testing.T) {
	for conns, want := range map[int]int{1: 2, 40000: 2, 40001: 3, 100001: 6, 500000: 10} {
		if got := Defaults.Tasks(Fleet{Connections: conns}); got != want {
			t.Errorf("%d connections: %d tasks, want %d", conns, got, want)
		}
	}
}

// AWS IoT Core: a PUBLISH in, each delivery and each PUBACK from a
// subscriber is one message per 5 KB; past a billion a month the price
// falls to $0.80, past 5 billion to $0.70; each connected minute costs
// $0.08 per million.
func TestIoTCore(t *testing.T) {
	qos1 := Fleet{Connections: 1000, PublishesMonth: 1e6, FanOut: 1, QoS: 1, Payload: 100, Topic: 20}
	if got, want := IoTCore(qos1).Total(), 3.0+1000*730*60*0.08/1e6; !near(got, want) {
		t.Errorf("QoS 1 fan-out 1: $%.4f, want $%.4f", got, want)
	}
	tiers := Fleet{PublishesMonth: 1e9, FanOut: 5, Payload: 6000, Topic: 10} // 6 messages of 2 steps each
	if got, want := IoTCore(tiers).Total(), 1e9*1.00/1e6+4e9*0.80/1e6+7e9*0.70/1e6; !near(got, want) {
		t.Errorf("12 billion messages: $%.2f, want $%.2f", got, want)
	}
}

// The variable bill scales the measured figures by the messages, and the
// load balancer bills the largest of its dimensions: 30,000 TLS flows are
// 10 NLCU.
func TestVariable(t *testing.T) {
	f := Fleet{Connections: 30000, PublishesMonth: 1e6, FanOut: 1, Payload: 100, Topic: 30}
	var lambda, reads, nlcu float64
	for _, l := range MQTTless(Defaults, f).Variable {
		switch l.Component {
		case "Lambda requests":
			lambda = l.USD
		case "DynamoDB reads":
			reads = l.USD
		case "Load balancer capacity units (TLS)":
			nlcu = l.USD
		}
	}
	if !near(lambda, 0.20) || !near(reads, 2.14*0.125) || !near(nlcu, 10*730*0.006) {
		t.Errorf("1M QoS 0 messages, 30,000 connections: Lambda $%.4f, reads $%.4f, NLCU $%.4f", lambda, reads, nlcu)
	}
	f.Misses = 1
	v1 := Deployment{Delivery: "v1"}
	if got := f.perMessage(v1).RRU; !near(got, 13.14) {
		t.Errorf("a cache miss per message: %.2f RRU, want 2.14 + 11", got)
	}
	f.QoS = 1
	if p := f.perMessage(v1); !near(p.WRU, 17) || p.Invocations != 2 {
		t.Errorf("QoS 1: %+v, want 14 measured + 3 index WRU and 2 invocations", p)
	}
	if p := f.perMessage(Deployment{Delivery: "v2"}); !near(p.WRU, 1.1) || !near(p.Invocations, 1.05) {
		t.Errorf("QoS 1 under delivery v2: %+v, want 1.05 measured + 0.05 index WRU and 1.05 invocations", p)
	}
}

// Defaults is template.yaml at its defaults: the figures the bill prices
// are the ones the template deploys.
func TestDefaultsMatchTemplate(t *testing.T) {
	data, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Parameters map[string]struct {
			Default string `yaml:"Default"`
		} `yaml:"Parameters"`
		Resources map[string]struct {
			Type       string         `yaml:"Type"`
			Properties map[string]any `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	param := func(name string) float64 {
		v, err := strconv.ParseFloat(doc.Parameters[name].Default, 64)
		if err != nil {
			t.Fatalf("parameter %s: %v", name, err)
		}
		return v
	}
	d := Defaults
	if float64(d.ProxyMinCount) != param("ProxyMinCount") || float64(d.ProxyMaxCount) != param("ProxyMaxCount") ||
		float64(d.ConnectionsPerTask) != param("ProxyConnectionsPerTask") || d.TaskVCPU != param("ProxyCpu")/1024 ||
		d.TaskGB != param("ProxyMemory")/1024 || d.FunctionMemoryGB != param("FunctionMemorySize")/1024 {
		t.Errorf("Defaults %+v differ from the template's parameters", d)
	}
	alarms := 6 // the two target tracking policies' alarms: CPU 2 x 1 metric, connections 2 x 2
	for _, r := range doc.Resources {
		if r.Type != "AWS::CloudWatch::Alarm" {
			continue
		}
		if ms, ok := r.Properties["Metrics"].([]any); ok {
			for _, m := range ms {
				if _, stat := m.(map[string]any)["MetricStat"]; stat {
					alarms++
				}
			}
		} else {
			alarms++
		}
	}
	if alarms != d.Alarms {
		t.Errorf("the template's alarms read %d metrics, the bill counts %d", alarms, d.Alarms)
	}
	for _, env := range []string{"MQTTLESS_SYS_INTERVAL\n              Value: 60s", "MQTTLESS_EMF_INTERVAL\n              Value: 60s"} {
		if !bytes.Contains(data, []byte(env)) {
			t.Errorf("the template does not set %s", strings.ReplaceAll(env, "\n ", ""))
		}
	}
}

// The bill prices the delivery the broker runs by default.
func TestDefaultsDelivery(t *testing.T) {
	if want := config.Default("delivery"); Defaults.Delivery != want {
		t.Errorf("Defaults.Delivery %q, -delivery's default %q", Defaults.Delivery, want)
	}
}
