package lambdafn_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mqttless/mqttless/infra/lambdafn"
)

// nlbIdleTimeout is the Network Load Balancer's idle timeout for TCP
// flows, in seconds: fixed at 350 on TLS listeners, the default on TCP
// ones. A connection quiet for longer is dropped without a word.
const nlbIdleTimeout = 350

// withCert is a certificate, the ordinary production deploy.
var withCert = map[string]string{"CertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/abc"}

// container returns the proxy container's environment and secrets.
func container(s *stack) (env, secrets map[string]any) {
	s.t.Helper()
	defs := list(s.props("ProxyTaskDefinition")["ContainerDefinitions"])
	if len(defs) != 1 {
		s.t.Fatalf("%d containers, want the proxy alone", len(defs))
	}
	env, secrets = map[string]any{}, map[string]any{}
	for _, e := range list(defs[0]["Environment"]) {
		env[e["Name"].(string)] = e["Value"]
	}
	for _, e := range list(defs[0]["Secrets"]) {
		secrets[e["Name"].(string)] = e["ValueFrom"]
	}
	return env, secrets
}

// listenerPorts returns the load balancer's listeners by port, with their
// protocol.
func listenerPorts(s *stack) map[string]string {
	out := map[string]string{}
	for _, name := range s.ofType("AWS::ElasticLoadBalancingV2::Listener") {
		p := s.props(name)
		out[fmt.Sprint(p["Port"])] = fmt.Sprint(p["Protocol"])
	}
	return out
}

// Devices reach the broker over TLS unless plaintext is asked for: with a
// certificate, 8883 and 443 are TLS listeners and nothing listens on 1883,
// nor admits it from the internet; without a certificate the deploy is
// refused (no listener would be left) unless PlaintextMqtt=true opens 1883.
// In every case the proxies' security group admits MQTT from the load
// balancer's security group only, never from an address range: a client
// cannot bypass the load balancer to a task's public IP.
func TestTemplateNoPlaintextByDefault(t *testing.T) {
	s := newStack(t, withCert)
	if got := listenerPorts(s); !maps(got, map[string]string{"8883": "TLS", "443": "TLS"}) {
		t.Errorf("listeners with a certificate: %v, want TLS on 8883 and 443 only", got)
	}
	for _, in := range list(s.props("LoadBalancerSecurityGroup")["SecurityGroupIngress"]) {
		if fmt.Sprint(in["FromPort"]) == "1883" {
			t.Errorf("the load balancer admits 1883 from %v by default", in["CidrIp"])
		}
	}
	if fails := newStack(t, nil).ruleFailures(); len(fails) != 1 || !strings.Contains(fails[0], "PlaintextMqtt=true") {
		t.Errorf("no certificate, no plaintext: rule failures %q, want the deploy refused naming PlaintextMqtt", fails)
	}
	plain := newStack(t, map[string]string{"PlaintextMqtt": "true"})
	if fails := plain.ruleFailures(); len(fails) != 0 {
		t.Errorf("PlaintextMqtt=true refused: %q", fails)
	}
	if got := listenerPorts(plain); !maps(got, map[string]string{"1883": "TCP"}) {
		t.Errorf("listeners with PlaintextMqtt=true: %v, want TCP 1883", got)
	}
	mtls := newStack(t, map[string]string{"MutualTlsSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:m"})
	if got := listenerPorts(mtls); !maps(got, map[string]string{"8883": "TCP"}) {
		t.Errorf("listeners with mutual TLS: %v, want 8883 passed through as TCP", got)
	}
	env, secrets := container(mtls)
	if env["MQTTLESS_TLS_ADDR"] != "0.0.0.0:8883" || env["MQTTLESS_TLS_REQUIRE_CLIENT_CERT"] != "true" ||
		secrets["MQTTLESS_TLS_CERT"] == nil || secrets["MQTTLESS_TLS_KEY"] == nil || secrets["MQTTLESS_TLS_CLIENT_CA"] == nil {
		t.Errorf("mutual TLS: the proxies' own TLS listener is not set up: env %v, secrets %v", env, secrets)
	}
	for _, st := range []*stack{s, plain, mtls} {
		for _, in := range list(st.props("ProxySecurityGroup")["SecurityGroupIngress"]) {
			port := fmt.Sprint(in["FromPort"])
			if port == "9883" || port == "9090" && in["CidrIp"] != nil {
				continue // deliveries from the functions; scrapes from the VPC
			}
			if in["CidrIp"] != nil || fmt.Sprint(in["SourceSecurityGroupId"]) != "map[Ref:LoadBalancerSecurityGroup]" {
				t.Errorf("the proxies admit port %s from %v%v, not from the load balancer alone", port, in["CidrIp"], in["SourceSecurityGroupId"])
			}
			if in["CidrIp"] == "0.0.0.0/0" {
				t.Errorf("the proxies admit port %s from the internet", port)
			}
		}
		if sgs := fmt.Sprint(st.props("LoadBalancer")["SecurityGroups"]); sgs != "[map[Ref:LoadBalancerSecurityGroup]]" {
			t.Errorf("the load balancer's security groups: %s", sgs)
		}
	}
}

func maps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// The largest keep alive the broker grants is below the load balancer's
// idle timeout, so that a client's PINGREQ always comes before its flow
// is dropped; both the CONNECT handler (the functions) and the proxies get
// it, and the parameter cannot be raised to the timeout.
func TestTemplateKeepAliveBelowIdleTimeout(t *testing.T) {
	s := newStack(t, withCert)
	p := s.Raw["Parameters"].(map[string]any)["MaxKeepAlive"].(map[string]any)
	if def, most := num(t, p["Default"]), num(t, p["MaxValue"]); def >= nlbIdleTimeout || most >= nlbIdleTimeout || def > most {
		t.Errorf("MaxKeepAlive default %d, most %d: want both below the idle timeout %d s", def, most, nlbIdleTimeout)
	}
	env, _ := container(s)
	fnEnv := s.Globals["Function"].(map[string]any)["Environment"].(map[string]any)["Variables"].(map[string]any)
	for who, v := range map[string]any{"proxies": env["MQTTLESS_MAX_KEEPALIVE"], "functions": fnEnv["MQTTLESS_MAX_KEEPALIVE"]} {
		if n := num(t, v); n >= nlbIdleTimeout {
			t.Errorf("the %s' MQTTLESS_MAX_KEEPALIVE is %d, want below %d", who, n, nlbIdleTimeout)
		}
	}
	for _, name := range s.ofType("AWS::ElasticLoadBalancingV2::Listener") {
		for _, a := range list(s.props(name)["ListenerAttributes"]) {
			if a["Key"] == "tcp.idle_timeout.seconds" && num(t, a["Value"]) <= num(t, env["MQTTLESS_MAX_KEEPALIVE"]) {
				t.Errorf("%s: idle timeout %v at or below the keep alive", name, a["Value"])
			}
		}
	}
}

// The table and the delivery secret survive a deleted stack or a
// replacement: every user, session and retained message is in the table.
func TestTemplateRetainsState(t *testing.T) {
	s := newStack(t, withCert)
	stateful := append(s.ofType("AWS::DynamoDB::Table"), s.ofType("AWS::SecretsManager::Secret")...)
	if !slices.Contains(stateful, "Table") || !slices.Contains(stateful, "DeliverySecret") {
		t.Fatalf("stateful resources %v, want Table and DeliverySecret among them", stateful)
	}
	for _, name := range stateful {
		r := s.Resources[name]
		if r["DeletionPolicy"] != "Retain" || r["UpdateReplacePolicy"] != "Retain" {
			t.Errorf("%s: DeletionPolicy %v, UpdateReplacePolicy %v; want Retain for both", name, r["DeletionPolicy"], r["UpdateReplacePolicy"])
		}
	}
}

// Every function has a maximum concurrency (reserved), which the proxies
// cannot outrun at their most: ProxyMaxCount proxies with
// ProxyLambdaConcurrency invocations each in flight; the lease function
// has a reservation of its own, at least one renewal per proxy, so that a
// storm in the others cannot throttle a renewal; and the functions'
// reservations leave the 100 unreserved executions Lambda demands of an
// account's default quota of 1,000.
func TestTemplateConcurrencyLimits(t *testing.T) {
	s := newStack(t, withCert)
	limit := num(t, s.Globals["Function"].(map[string]any)["ReservedConcurrentExecutions"])
	if limit <= 0 {
		t.Fatalf("the functions' ReservedConcurrentExecutions is %d by default", limit)
	}
	proxies := num(t, s.params["ProxyMaxCount"])
	env, _ := container(s)
	perProxy := num(t, env["MQTTLESS_LAMBDA_CONCURRENCY"])
	if proxies*perProxy > limit {
		t.Errorf("%d proxies x %d invocations in flight = %d, over the functions' limit %d: events would be throttled", proxies, perProxy, proxies*perProxy, limit)
	}
	lease := num(t, s.props("LeaseFunction")["ReservedConcurrentExecutions"])
	if lease < proxies {
		t.Errorf("the lease function reserves %d, under one renewal for each of %d proxies", lease, proxies)
	}
	if n := len(s.ofType("AWS::Serverless::Function")) - 1; n*limit+lease > 1000-100 {
		t.Errorf("%d functions x %d reserved and the lease function's %d leave less than 100 of the default quota of 1,000 unreserved", n, limit, lease)
	}
	for _, name := range functionResources {
		if _, own := s.props(name)["ReservedConcurrentExecutions"]; own {
			t.Errorf("%s sets its own concurrency; the Globals' limit is the one tested", name)
		}
	}
	unlimited := newStack(t, map[string]string{"FunctionMaxConcurrency": "0"})
	if _, ok := unlimited.Globals["Function"].(map[string]any)["ReservedConcurrentExecutions"]; ok {
		t.Error("FunctionMaxConcurrency=0 still reserves concurrency")
	}
	if _, ok := unlimited.props("LeaseFunction")["ReservedConcurrentExecutions"]; ok {
		t.Error("FunctionMaxConcurrency=0 still reserves the lease function's concurrency")
	}
}

// The roles grant what the proxies and tasks need and nothing wider: no
// statement in the template allows every resource, the proxies may
// invoke the five functions only, and their tasks read the delivery secret
// only (and the mutual TLS secret when there is one).
func TestTemplatePolicies(t *testing.T) {
	mtlsArn := "arn:aws:secretsmanager:us-east-1:123456789012:secret:m"
	for _, s := range []*stack{newStack(t, withCert), newStack(t, map[string]string{"MutualTlsSecretArn": mtlsArn})} {
		var walk func(path string, v any)
		walk = func(path string, v any) {
			switch v := v.(type) {
			case map[string]any:
				if r, ok := v["Resource"]; ok && (r == "*" || fmt.Sprint(r) == "[*]") {
					t.Errorf("%s allows every resource", path)
				}
				for k, x := range v {
					walk(path+"."+k, x)
				}
			case []any:
				for i, x := range v {
					walk(fmt.Sprintf("%s[%d]", path, i), x)
				}
			}
		}
		walk("Resources", map[string]any{"x": anyMap(s.Resources)})

		invoke := list(list(s.props("ProxyTaskRole")["Policies"])[0]["PolicyDocument"].(map[string]any)["Statement"])
		if len(invoke) != 1 || invoke[0]["Action"] != "lambda:InvokeFunction" || len(invoke[0]["Resource"].([]any)) != 5 {
			t.Errorf("the proxies' task role: %v, want lambda:InvokeFunction on the five functions only", invoke)
		}
		exec := list(list(s.props("ProxyExecutionRole")["Policies"])[0]["PolicyDocument"].(map[string]any)["Statement"])
		res := fmt.Sprint(exec[0]["Resource"])
		want := "map[Ref:DeliverySecret]"
		if _, mtls := s.Resources["MutualTlsListener"]; mtls {
			want = "[map[Ref:DeliverySecret] " + mtlsArn + "]"
		}
		if len(exec) != 1 || exec[0]["Action"] != "secretsmanager:GetSecretValue" || res != want {
			t.Errorf("the proxies' execution role reads %s, want %s", res, want)
		}
	}
}

func anyMap(m map[string]map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// The alarms read the metrics the code writes: the functions' failed
// events (lambdafn.MetricEventErrors by lambdafn.DimensionFunction, of
// each function) and the proxies' handler errors and drops under the
// Service the proxies are given.
func TestTemplateAlarmsReadTheMetrics(t *testing.T) {
	s := newStack(t, withCert)
	seen := map[string]bool{}
	for _, m := range list(s.props("EventErrorsAlarm")["Metrics"]) {
		st, ok := m["MetricStat"].(map[string]any)
		if !ok {
			continue
		}
		metric := st["Metric"].(map[string]any)
		dims := list(metric["Dimensions"])
		if metric["Namespace"] != "mqttless" || metric["MetricName"] != lambdafn.MetricEventErrors || len(dims) != 1 || dims[0]["Name"] != lambdafn.DimensionFunction {
			t.Errorf("EventErrorsAlarm reads %v", metric)
			continue
		}
		seen[fmt.Sprint(dims[0]["Value"])] = true
	}
	for _, name := range functionResources {
		if !seen["map[Ref:"+name+"]"] {
			t.Errorf("EventErrorsAlarm does not read %s's failed events (reads %v)", name, seen)
		}
	}
	env, _ := container(s)
	if env["MQTTLESS_EMF_INTERVAL"] == nil || env["MQTTLESS_EMF_INTERVAL"] == "0" {
		t.Error("the proxies write no EMF metrics")
	}
	service := fmt.Sprint(env["MQTTLESS_EMF_SERVICE"])
	names := map[string]bool{}
	for _, m := range list(s.props("ProxyProblemsAlarm")["Metrics"]) {
		if st, ok := m["MetricStat"].(map[string]any); ok {
			metric := st["Metric"].(map[string]any)
			names[fmt.Sprint(metric["MetricName"])] = true
			if d := list(metric["Dimensions"]); len(d) != 1 || d[0]["Name"] != "Service" || fmt.Sprint(d[0]["Value"]) != service {
				t.Errorf("ProxyProblemsAlarm reads %v, the proxies write under Service %s", d, service)
			}
		}
	}
	if !names["HandlerErrors"] || !names["DroppedMessages"] {
		t.Errorf("ProxyProblemsAlarm reads %v", names)
	}
	for _, a := range []string{"DurationAlarm", "UnhealthyProxiesAlarm", "ProxyCountAlarm", "HandlerErrorsAlarm", "ThrottlesAlarm"} {
		if acts := fmt.Sprint(s.props(a)["AlarmActions"]); acts != "[map[Ref:AlarmTopic]]" {
			t.Errorf("%s notifies %s", a, acts)
		}
	}
	if _, ok := s.Resources["Dashboard"]; !ok {
		t.Error("no dashboard")
	}
}

// The dashboard graphs every function of the stack: its events, failed
// events, p99 duration and throttles, so that an operator sees the one
// that fails (the lease function's renewals included).
func TestTemplateDashboardShowsEveryFunction(t *testing.T) {
	s := newStack(t, withCert)
	body := fmt.Sprint(s.props("Dashboard")["DashboardBody"].(map[string]any)["Fn::Sub"].([]any)[0])
	fns := s.ofType("AWS::Serverless::Function")
	if len(fns) < 5 {
		t.Fatalf("the stack has functions %v", fns)
	}
	for _, fn := range fns {
		ref := "${" + fn + "}"
		if n := strings.Count(body, ref); n < 4 {
			t.Errorf("the dashboard names %s %d times, want at least 4 (events, failed events, duration, throttles)", fn, n)
		}
	}
}

// An existing VPC gets the endpoints its functions need, or the deploy is
// refused before anything is created, naming what is missing.
func TestTemplateExistingVpc(t *testing.T) {
	vpc := map[string]string{"VpcId": "vpc-1", "SubnetIds": "subnet-1,subnet-2", "CertificateArn": withCert["CertificateArn"]}
	if fails := newStack(t, vpc).ruleFailures(); len(fails) != 1 || !strings.Contains(fails[0], "FunctionRouteTableIds") {
		t.Errorf("an existing VPC without route tables: rule failures %q, want one naming FunctionRouteTableIds", fails)
	}
	vpc["FunctionRouteTableIds"] = "rtb-1"
	s := newStack(t, vpc)
	if fails := s.ruleFailures(); len(fails) != 0 {
		t.Errorf("refused: %q", fails)
	}
	if fmt.Sprint(s.props("ExistingVpcDynamoDbEndpoint")["RouteTableIds"]) != "[rtb-1]" || s.props("ExistingVpcSecretsManagerEndpoint") == nil {
		t.Error("an existing VPC gets no endpoints")
	}
	// With private DNS the endpoint answers the whole VPC: the proxy tasks
	// read their secrets through it too.
	from := map[string]bool{}
	for _, in := range list(s.props("ExistingVpcEndpointSecurityGroup")["SecurityGroupIngress"]) {
		from[fmt.Sprint(in["SourceSecurityGroupId"])] = true
	}
	if !from["map[Ref:FunctionSecurityGroup]"] || !from["map[Ref:ProxySecurityGroup]"] {
		t.Errorf("the endpoint admits %v, want the functions and the proxies", from)
	}
	vpc["VpcEndpoints"], vpc["FunctionRouteTableIds"] = "present", ""
	s = newStack(t, vpc)
	if _, ok := s.Resources["ExistingVpcSecretsManagerEndpoint"]; ok || len(s.ruleFailures()) != 0 {
		t.Errorf("VpcEndpoints=present: endpoints created or the deploy refused (%q)", s.ruleFailures())
	}
}

// A rotation of the delivery secret: first the proxies accept the pending
// secret besides the current one, then the current one besides the
// previous; off, the current one alone.
func TestTemplateSecretRotation(t *testing.T) {
	for _, tc := range []struct{ rotation, secret, previous string }{
		{"off", "map[Ref:DeliverySecret]", "<nil>"},
		{"pending", "map[Fn::Sub:${DeliverySecret}::AWSPENDING:]", "map[Ref:DeliverySecret]"},
		{"previous", "map[Ref:DeliverySecret]", "map[Fn::Sub:${DeliverySecret}::AWSPREVIOUS:]"},
	} {
		over := map[string]string{"DeliverySecretRotation": tc.rotation}
		for k, v := range withCert {
			over[k] = v
		}
		_, secrets := container(newStack(t, over))
		if got, prev := fmt.Sprint(secrets["MQTTLESS_DELIVERY_SECRET"]), fmt.Sprint(secrets["MQTTLESS_DELIVERY_SECRET_PREVIOUS"]); got != tc.secret || prev != tc.previous {
			t.Errorf("rotation %s: secret %s, previous %s; want %s and %s", tc.rotation, got, prev, tc.secret, tc.previous)
		}
	}
}
