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
		{[]string{"-no-such-flag"}, nil, "no-such-flag"},
		{[]string{"extra"}, nil, `"extra"`},
	} {
		_, err := allinone.ParseConfig(tc.args, env(tc.env), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseConfig(%v, %v) = %v, want an error naming %s", tc.args, tc.env, err, tc.want)
		}
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
