package allinone_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mqttless/mqttless/infra/allinone"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// A bad setting stops start-up with a message that names it, as a flag and
// as its environment variable.
func TestParseConfigNamesBadSetting(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"-max-queued", "abc"}, nil, "-max-queued (MQTTLESS_MAX_QUEUED)"},
		{[]string{"-max-queued", "0"}, nil, "-max-queued"},
		{[]string{"-max-keepalive", "70000"}, nil, "-max-keepalive"},
		{[]string{"-max-packet-size", "10"}, nil, "-max-packet-size"},
		{[]string{"-receive-max", "0"}, nil, "-receive-max"},
		{[]string{"-tick", "-1s"}, nil, "-tick"},
		{[]string{"-connect-timeout", "soon"}, nil, "-connect-timeout"},
		{[]string{"-store", "redis"}, nil, "-store"},
		{[]string{"-log-level", "loud"}, nil, "-log-level"},
		{[]string{"-log-format", "xml"}, nil, "-log-format"},
		{[]string{"-queue-qos0", "maybe"}, nil, "-queue-qos0"},
		{nil, map[string]string{"MQTTLESS_TOPIC_ALIAS_MAX": "x"}, "-topic-alias-max (MQTTLESS_TOPIC_ALIAS_MAX)"},
		{[]string{"-invoke-timeout", "0s"}, nil, "-invoke-timeout"},
		{[]string{"-invoker", "grpc"}, nil, "-invoker"},
		{[]string{"-invoker", "lambda", "-delivery-addr", "127.0.0.1:9883", "-delivery-secret", "0123456789abcdef", "-lambda-concurrency", "0"}, nil, "-lambda-concurrency"},
		{[]string{"-invoker", "lambda"}, nil, "-delivery-addr"},
		{[]string{"-invoker", "lambda", "-delivery-addr", "127.0.0.1:9883", "-delivery-secret", "0123456789abcdef", "-lambda-functions", "connect=c"}, nil, "-lambda-functions"},
		{[]string{"-invoker", "lambda", "-delivery-addr", "127.0.0.1:9883", "-delivery-secret", "0123456789abcdef", "-lambda-functions", "connect=c,publish=p,subscribe=s,session=x@ftp://h"}, nil, "-lambda-functions"},
		{[]string{"-delivery-addr", "127.0.0.1:9883", "-delivery-secret", "short"}, nil, "-delivery-secret (MQTTLESS_DELIVERY_SECRET)"},
		{[]string{"-delivery-addr", "127.0.0.1:9883", "-delivery-secret", "0123456789abcdef", "-delivery-url", "10.0.0.1:9883"}, nil, "-delivery-url"},
		{[]string{"-no-such-flag"}, nil, "no-such-flag"},
		{[]string{"extra"}, nil, `"extra"`},
	} {
		_, err := allinone.ParseConfig(tc.args, env(tc.env), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseConfig(%v, %v) = %v, want an error naming %s", tc.args, tc.env, err, tc.want)
		}
	}
}

// TestParseConfigLambda checks the settings of -invoker lambda: the
// function list with pools and emulator endpoints, and the delivery URL
// that is also the proxy's id.
func TestParseConfigLambda(t *testing.T) {
	cfg, err := allinone.ParseConfig([]string{"-invoker", "lambda", "-delivery-addr", "127.0.0.1:9883",
		"-lambda-functions", "connect=function@http://127.0.0.1:9001,connect=function@http://127.0.0.1:9002,publish=p,subscribe=s,session=x"},
		env(map[string]string{"MQTTLESS_DELIVERY_SECRET": "0123456789abcdef"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DeliveryURL != "http://127.0.0.1:9883" || string(cfg.DeliverySecret) != "0123456789abcdef" {
		t.Errorf("delivery URL %q, secret %q", cfg.DeliveryURL, cfg.DeliverySecret)
	}
	if got := cfg.Functions["connect"]; len(got) != 2 || got[1].Endpoint != "http://127.0.0.1:9002" || got[1].Name != "function" {
		t.Errorf("connect pool = %+v, want two emulator targets", got)
	}
	if got := cfg.Functions["session"]; len(got) != 1 || got[0].Name != "x" || got[0].Endpoint != "" {
		t.Errorf("session = %+v", got)
	}
}

// Flags win over the environment, and both override the defaults.
func TestParseConfigSources(t *testing.T) {
	cfg, err := allinone.ParseConfig([]string{"-max-queued", "7"},
		env(map[string]string{"MQTTLESS_MAX_QUEUED": "5", "MQTTLESS_TICK": "250ms", "MQTTLESS_QUEUE_QOS0": "true"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Session.MaxQueued != 7 || cfg.Tick != 250*time.Millisecond || !cfg.Session.QueueQoS0 {
		t.Fatalf("got MaxQueued %d, Tick %v, QueueQoS0 %v", cfg.Session.MaxQueued, cfg.Tick, cfg.Session.QueueQoS0)
	}
	if cfg.Addr != "127.0.0.1:1883" || cfg.Store != "bolt" {
		t.Fatalf("defaults: addr %q store %q", cfg.Addr, cfg.Store)
	}
	if _, err := allinone.ParseConfig([]string{"-h"}, env(nil), io.Discard); !errors.Is(err, allinone.ErrUsage) {
		t.Fatalf("-h gave %v, want ErrUsage", err)
	}
}
