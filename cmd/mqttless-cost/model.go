package main

import (
	"math"
)

// Deployment is what template.yaml deploys at its defaults, which the bill
// prices (model_test.go checks these against the template).
type Deployment struct {
	ProxyMinCount, ProxyMaxCount int
	ConnectionsPerTask           int     // ProxyConnectionsPerTask: autoscaling's aim
	TaskVCPU, TaskGB             float64 // ProxyCpu 512, ProxyMemory 1024
	Zones                        int     // the load balancer's and the endpoint's zones
	FunctionMemoryGB             float64 // FunctionMemorySize 128
	SweepSeconds                 float64 // MQTTLESS_TICK of the scheduled sweep: a pass this often
	SweepRunSeconds              float64 // each scheduled (once a minute) sweep invocation runs this long
	LeasePeriodSeconds           float64 // -lease-period: a proxy renews every third of it
	SysIntervalSeconds           float64 // MQTTLESS_SYS_INTERVAL
	EMFIntervalSeconds           float64 // MQTTLESS_EMF_INTERVAL
	Alarms                       int     // metrics read by the template's alarms, autoscaling's included
	CustomMetrics                int     // EMF metrics: 2 per function, 5 of the proxies
	// Delivery is -delivery's default (model_test.go checks it against
	// infra/config): which QoS 1 figures apply.
	Delivery string
}

// Defaults is template.yaml at its defaults.
var Defaults = Deployment{
	ProxyMinCount: 2, ProxyMaxCount: 10, ConnectionsPerTask: 20000,
	TaskVCPU: 0.5, TaskGB: 1, Zones: 2, FunctionMemoryGB: 0.125,
	SweepSeconds: 1, SweepRunSeconds: 60, LeasePeriodSeconds: 10,
	SysIntervalSeconds: 60, EMFIntervalSeconds: 60,
	// HandlerErrors 4, Throttles 6, EventErrors 4, Duration 4, the lease
	// function's 2 (LeaseFunction, issue 15),
	// ProxyProblems 2, UnhealthyProxies 1, ProxyCount 1; the target
	// tracking policies' own alarms: CPU 2 x 1, connections 2 x 2.
	Alarms:        30,
	CustomMetrics: 4*2 + 5,
	Delivery:      "v2",
}

// PerMessage is what one published message costs on the serverless path,
// as the benchmarks measured it.
type PerMessage struct {
	Invocations, RRU, WRU, GBSeconds float64
	Source                           string
}

// Add returns p + o, with both sources.
func (p PerMessage) Add(o PerMessage) PerMessage {
	return PerMessage{p.Invocations + o.Invocations, p.RRU + o.RRU, p.WRU + o.WRU, p.GBSeconds + o.GBSeconds, p.Source + "; " + o.Source}
}

// The measured figures, per published message. make bench-lambda
// (infra/lambdafn/cost_test.go, runs of 2026-11-25 and 2026-12-02, README "Serverless
// cost": per 1,000 messages of 100 B; 128 MB arm64 functions, duration
// modelled as 2 ms + 6 ms per DynamoDB call + 4 ms when posting), and make
// bench-dynamo (infra/dynamo/cost_test.go, the same run, README "DynamoDB
// cost") for what a match cache miss adds.
var (
	warmQoS0Fan1 = PerMessage{1, 2.140, 0, 0.001545,
		"bench-lambda QoS 0, 1 subscriber, 1 PUBLISH per invocation: 1000 invocations, 2140 RRU, 1.545 GB-s per 1,000"}
	warmQoS1Fan1 = PerMessage{2, 7.140, 14, 0.007795,
		"bench-lambda QoS 1, 1 subscriber, 1 per invocation, PUBACK one per invocation: 2000 invocations, 7140 RRU, 14000 WRU, 7.795 GB-s per 1,000"}
	// Run of 2026-12-02 (make bench-lambda COST_MESSAGES=100, the same
	// figures as 2026-11-25 for the rows both have): 10 messages to 1,000
	// subscribers, the first of which walks the trie (its reads are spread
	// over the 10: a longer run reads less per message).
	warmQoS0Fan1000 = PerMessage{1, 7.700, 0, 0.001950,
		"bench-lambda (2026-12-02) QoS 0, 1000 subscribers, 1 per invocation: 1000 invocations, 7700 RRU, 1.950 GB-s per 1,000"}
	// A PUBLISH to a topic its function instance has not matched yet
	// reads the topic's shared match, which another instance's walk
	// stored (infra/dynamo/sharedmatch.go), and its subscriber's session:
	// 4 RRU in 3 calls instead of 2 RRU in 1 (bench-dynamo of 2026-12-03,
	// the rows "first on its topic in another instance (the shared
	// match)" and "again (match cache warm)"), so 2 RRU and 2 calls of
	// 6 ms more. The walk itself (14 RRU and 1 WRU in 8 calls) runs once
	// per topic a day (the item's ttl) or after a change of its filters,
	// not per instance: at a message a minute a topic, under 0.01 RRU a
	// message, left out.
	cacheMiss = PerMessage{0, 2, 0, 2 * 0.006 * 0.125,
		"bench-dynamo (2026-12-03) QoS 0 first on its topic in another instance (the shared match) 4 RRU / 3 calls vs warm 2 RRU / 1 call"}
	// make bench-lambda COST_DELIVERY=v2 COST_MESSAGES=100, run of
	// 2026-12-03 (README "Serverless cost"): the message written once,
	// the PUBACK taken by the proxy, positions saved every 20 PUBACKs.
	warmQoS1Fan1V2 = PerMessage{1.05, 3.080, 1.05, 0.003080,
		"bench-lambda COST_DELIVERY=v2 (2026-12-03) QoS 1, 1 subscriber, 1 per invocation, positions saved every 20 PUBACKs: 1050 invocations, 3080 RRU, 1050 WRU, 3.080 GB-s per 1,000"}
	// Not measured: a position save updates the session item, which is in
	// the owner index while the client is online.
	indexWritesQoS1V2 = PerMessage{0, 0, 0.05, 0,
		"estimate: a position save every 20 PUBACKs also writes the owner index"}
	// Not measured: moto reports no index writes. Each QoS 1 delivery
	// updates the subscriber's session item three times (queued, in
	// flight, acknowledged); the item is in the owner index (projection
	// ALL) while the client is online, so each update writes the index too.
	indexWritesQoS1 = PerMessage{0, 0, 3, 0,
		"estimate: 3 session-item updates per QoS 1 delivery, each also written to the owner index"}
	// Per sweep pass: one query of the leases and one of the due index
	// (each 0.5 RRU, eventually consistent, rounded up to 1); the pass
	// runs inside the scheduled invocation, whose GB-seconds are counted
	// whole.
	sweepPass = PerMessage{0, 2, 0, 0, "estimate: a sweep pass is 1 query of the leases and 1 of the due index"}
	// Per lease renewal: one invocation of the session function and one
	// conditional write of the proxy's lease item.
	leaseRenewal = PerMessage{1, 0, 1, (0.002 + 0.006) * 0.125, "estimate: a lease renewal is 1 invocation and 1 write"}
	// Per $SYS publication of a proxy: one invocation, about 25 retained
	// writes (template.yaml), each 1 KB in a transaction.
	sys = PerMessage{1, 0, 25 * 2, (0.002 + 25*0.006) * 0.125, "estimate: 25 retained writes per $SYS round"}
)

// Fleet is a reference fleet: devices connected all month, publishing.
type Fleet struct {
	Name           string
	Connections    int     // devices and subscribers, connected all month
	PublishesMonth float64 // PUBLISH packets from devices a month
	FanOut         int     // subscribers each PUBLISH is delivered to
	QoS            int
	Payload, Topic int // bytes
	// Misses is the share of PUBLISHes whose topic the function instance
	// has not matched yet: 1 when every device has its own topic and
	// publishes seldom (each instance sees a topic again only by chance).
	Misses float64
	// ReconnectsPerDay is how often a device connects anew.
	ReconnectsPerDay float64
	// Override, when set, replaces the measured figures: the levers of
	// "what would get there", which are not built.
	Override *PerMessage
}

// perMessage returns the measured figures that fit f under d's delivery.
func (f Fleet) perMessage(d Deployment) PerMessage {
	if f.Override != nil {
		return *f.Override
	}
	var p PerMessage
	switch {
	case f.QoS == 0 && f.FanOut <= 1:
		p = warmQoS0Fan1
	case f.QoS == 0:
		p = warmQoS0Fan1000
	case d.Delivery == "v2":
		p = warmQoS1Fan1V2.Add(indexWritesQoS1V2)
	default:
		p = warmQoS1Fan1.Add(indexWritesQoS1)
	}
	if f.Misses > 0 {
		m := cacheMiss
		m.RRU *= f.Misses
		m.GBSeconds *= f.Misses
		p = p.Add(m)
	}
	return p
}

// Line is one component of a bill.
type Line struct {
	Component string
	Quantity  string
	Price     Price
	USD       float64
}

// Bill is a month of one deployment for one fleet.
type Bill struct {
	Fixed, Variable []Line
}

// Total is the bill's sum.
func (b Bill) Total() float64 {
	t := 0.0
	for _, l := range append(append([]Line{}, b.Fixed...), b.Variable...) {
		t += l.USD
	}
	return t
}

// FixedTotal is the sum of the fixed lines.
func (b Bill) FixedTotal() float64 {
	t := 0.0
	for _, l := range b.Fixed {
		t += l.USD
	}
	return t
}

// Tasks is how many proxy tasks f needs: autoscaling aims at
// ConnectionsPerTask, between ProxyMinCount and ProxyMaxCount.
func (d Deployment) Tasks(f Fleet) int {
	n := int(math.Ceil(float64(f.Connections) / float64(d.ConnectionsPerTask)))
	return min(max(n, d.ProxyMinCount), d.ProxyMaxCount)
}

// deliveryBytes is what one delivered PUBLISH puts on the wire to a
// device: the MQTT header, topic and payload, and the TLS record's
// overhead (5 B header, 16 B tag, 8 B explicit nonce at most).
func (f Fleet) deliveryBytes() float64 { return float64(f.Payload + f.Topic + 2 + 2 + 29) }

// MQTTless returns the bill of mqttless at d for f.
func MQTTless(d Deployment, f Fleet) Bill {
	var b Bill
	tasks := d.Tasks(f)
	month := float64(hoursPerMonth)
	seconds := month * 3600
	fix := func(c, q string, p Price, n float64) { b.Fixed = append(b.Fixed, Line{c, q, p, n * p.Value}) }
	vary := func(c, q string, p Price, n float64) { b.Variable = append(b.Variable, Line{c, q, p, n * p.Value}) }

	// What runs whatever the traffic: the tasks, the load balancer, the
	// addresses, the endpoint, the secret, the ticks and $SYS rounds of
	// every task, the alarms, dashboard and metrics.
	fix("Fargate proxy tasks, vCPU", f3("%d tasks x %.2f vCPU x 730 h", tasks, d.TaskVCPU), fargateVCPUHour, float64(tasks)*d.TaskVCPU*month)
	fix("Fargate proxy tasks, memory", f3("%d tasks x %.0f GB x 730 h", tasks, d.TaskGB), fargateGBHour, float64(tasks)*d.TaskGB*month)
	fix("Network Load Balancer", "730 h", nlbHour, month)
	fix("Public IPv4 addresses", f3("%d (load balancer, one a zone) + %d (tasks)", d.Zones, tasks), ipv4Hour, float64(d.Zones+tasks)*month)
	fix("Secrets Manager interface endpoint", f3("%d zones x 730 h", d.Zones), endpointAZHour, float64(d.Zones)*month)
	fix("Lambda interface endpoint (delivery v2's fan-out chunks)", f3("%d zones x 730 h", d.Zones), endpointAZHour, float64(d.Zones)*month)
	fix("Delivery secret", "1", secretMonth, 1)
	sweeps := seconds / 60 // the schedule's invocations, one a minute
	passes := seconds / d.SweepSeconds
	renewals := float64(tasks) * seconds / (d.LeasePeriodSeconds / 3)
	sysRounds := float64(tasks) * seconds / d.SysIntervalSeconds
	fix("Sweep, lease renewals and $SYS rounds (session function), requests",
		f3("1 sweep a minute; %d tasks x a renewal every %.1f s = %.1fM", tasks, d.LeasePeriodSeconds/3, renewals/1e6),
		lambdaRequest, sweeps+renewals*leaseRenewal.Invocations+sysRounds*sys.Invocations)
	fix("Sweep, lease renewals and $SYS rounds, GB-seconds", f3("the sweep runs %.0f s of each minute", d.SweepRunSeconds), lambdaGBSecond,
		sweeps*d.SweepRunSeconds*d.FunctionMemoryGB+renewals*leaseRenewal.GBSeconds+sysRounds*sys.GBSeconds)
	fix("Sweep passes, lease and due-index reads", f3("%.1fM RRU", passes*sweepPass.RRU/1e6), dynamoRead, passes*sweepPass.RRU)
	fix("Lease renewals, writes", f3("%.1fM WRU", renewals*leaseRenewal.WRU/1e6), dynamoWrite, renewals*leaseRenewal.WRU)
	fix("$SYS rounds, retained writes", f3("%d tasks x 1 a minute x 50 WRU", tasks), dynamoWrite, sysRounds*sys.WRU)
	fix("Alarms", f3("%d metrics", d.Alarms), alarmMetric, float64(d.Alarms))
	fix("Dashboard", "1", dashboardMonth, 1)
	fix("Custom metrics (EMF)", f3("%d", d.CustomMetrics), customMetric, float64(d.CustomMetrics))
	// EMF lines: each task once a minute, each function instance at most
	// once a minute (5 warm instances each assumed), ~400 B.
	emfGB := (float64(tasks) + 4*5) * seconds / d.EMFIntervalSeconds * 400 / 1e9
	fix("Logs: EMF metric lines", f3("%.2f GB", emfGB), logsIngest, emfGB)

	// What the fleet's messages cost.
	pm := f.perMessage(d)
	msgs := f.PublishesMonth
	vary("Lambda requests", f3("%.1fM", msgs*pm.Invocations/1e6), lambdaRequest, msgs*pm.Invocations)
	vary("Lambda duration", f3("%.0f GB-s", msgs*pm.GBSeconds), lambdaGBSecond, msgs*pm.GBSeconds)
	vary("DynamoDB reads", f3("%.1fM RRU", msgs*pm.RRU/1e6), dynamoRead, msgs*pm.RRU)
	vary("DynamoDB writes, index writes included", f3("%.1fM WRU", msgs*pm.WRU/1e6), dynamoWrite, msgs*pm.WRU)
	// Items over 1 KB: a 100 B message keeps every item under 1 KB; each
	// further KB of a QoS 1 message writes 4 WRU more per delivery
	// (queued, then in flight, each in a transaction); under delivery
	// v2, 1 WRU more once (the stream entry).
	extraKB := math.Max(0, math.Ceil(float64(f.Payload+f.Topic+200)/1024)-1)
	over := 0.0
	switch {
	case f.QoS > 0 && d.Delivery == "v2":
		over = msgs * extraKB
	case f.QoS > 0:
		over = msgs * float64(f.FanOut) * extraKB * 4
	}
	vary("DynamoDB writes of items over 1 KB", f3("%.0f KB over", extraKB), dynamoWrite, over)
	// Reconnects: a CONNECT writes the session (1 WRU, doubled in its
	// transaction, plus its owner index entry), and reads it.
	connects := float64(f.Connections) * f.ReconnectsPerDay * month / 24
	vary("Reconnects (CONNECT)", f3("%.1fM", connects/1e6), lambdaRequest, connects)
	vary("Reconnects, DynamoDB", f3("%.1fM x (1 RRU + 3 WRU)", connects/1e6), dynamoWrite, connects*3+connects*dynamoRead.Value/dynamoWrite.Value)
	// Storage: a session item of ~1 KB a connection.
	gb := float64(f.Connections) * 1024 / 1e9
	vary("DynamoDB storage and backups", f3("%.2f GB", gb), Price{dynamoStorage.Value + dynamoPITR.Value, "per GB-month (storage + continuous backups)", srcDynamo}, gb)
	// The load balancer's capacity units: TLS flows, new TLS connections
	// and bytes, whichever needs most.
	deliveries := msgs * float64(max(f.FanOut, 1))
	wireGB := (deliveries + msgs) * f.deliveryBytes() / 1e9
	nlcu := math.Max(float64(f.Connections)/nlcuTLSActive,
		math.Max(connects/seconds/nlcuTLSNewPerSecond, wireGB/month/nlcuGBPerHour))
	vary("Load balancer capacity units (TLS)", f3("%.2f NLCU x 730 h", nlcu), nlcuHour, nlcu*month)
	outGB := deliveries * f.deliveryBytes() / 1e9
	vary("Data transfer out to devices", f3("%.0f GB", outGB), transferOutGB, math.Max(0, outGB-freeTransferGB))
	// Between zones: half of the load balancer's traffic crosses zones
	// (cross-zone balancing), and half of the deliveries the functions
	// post go to a proxy in the other zone (bodies ~2x the frames: JSON).
	crossGB := wireGB/2 + outGB
	vary("Data between zones", f3("%.0f GB", crossGB), crossAZGB, crossGB)
	return b
}

// IoTCore returns AWS IoT Core's bill for f: messaging (each PUBLISH in,
// each delivery, each PUBACK from a device, in 5 KB steps, tiered) and
// connectivity (connection-minutes).
func IoTCore(f Fleet) Bill {
	per := 1 + float64(f.FanOut)
	if f.QoS > 0 {
		per += float64(f.FanOut) // the subscribers' PUBACKs
	}
	steps := math.Ceil(float64(f.Payload+f.Topic) / 5120)
	n := f.PublishesMonth * per * steps
	var b Bill
	tier1, tier2 := math.Min(n, 1e9), math.Min(math.Max(n-1e9, 0), 4e9)
	tier3 := math.Max(n-5e9, 0)
	b.Variable = append(b.Variable,
		Line{"Messaging, first billion", f3("%.0fM messages", tier1/1e6), iotMessage, tier1 * iotMessage.Value},
		Line{"Messaging, next 4 billion", f3("%.0fM", tier2/1e6), iotMessageTier2, tier2 * iotMessageTier2.Value},
		Line{"Messaging, past 5 billion", f3("%.0fM", tier3/1e6), iotMessageTier3, tier3 * iotMessageTier3.Value})
	minutes := float64(f.Connections) * hoursPerMonth * 60
	b.Variable = append(b.Variable, Line{"Connectivity", f3("%.0fM connection-minutes", minutes/1e6), iotConnectMinute, minutes * iotConnectMinute.Value})
	return b
}
