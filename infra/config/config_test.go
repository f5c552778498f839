package config_test

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mqttless/mqttless/infra/config"
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
		{[]string{"-lease-period", "100ms"}, nil, "-lease-period"},
		{[]string{"-lease-period", "11m"}, nil, "-lease-period"},
		{[]string{"-delivery-timeout", "0s"}, nil, "-delivery-timeout"},
		{[]string{"-delivery-timeout", "1m"}, nil, "-delivery-timeout"},
		{[]string{"-connect-timeout", "soon"}, nil, "-connect-timeout"},
		{[]string{"-store", "redis"}, nil, "-store"},
		{[]string{"-log-level", "loud"}, nil, "-log-level"},
		{[]string{"-log-format", "xml"}, nil, "-log-format"},
		{[]string{"-queue-qos0", "maybe"}, nil, "-queue-qos0"},
		{[]string{"-delivery", "v3"}, nil, "-delivery"},
		{nil, map[string]string{"MQTTLESS_TOPIC_ALIAS_MAX": "x"}, "-topic-alias-max (MQTTLESS_TOPIC_ALIAS_MAX)"},
		{[]string{"-invoke-timeout", "0s"}, nil, "-invoke-timeout"},
		{[]string{"-invoker", "grpc"}, nil, "-invoker"},
		{[]string{"-invoker", "lambda", "-delivery-addr", "127.0.0.1:9883", "-delivery-secret", "0123456789abcdef", "-lambda-concurrency", "0"}, nil, "-lambda-concurrency"},
		{[]string{"-invoker", "lambda"}, nil, "-delivery-addr"},
		{[]string{"-invoker", "lambda", "-delivery-addr", "127.0.0.1:9883", "-delivery-secret", "0123456789abcdef", "-lambda-functions", "connect=c"}, nil, "-lambda-functions"},
		{[]string{"-invoker", "lambda", "-delivery-addr", "127.0.0.1:9883", "-delivery-secret", "0123456789abcdef", "-lambda-functions", "connect=c,publish=p,subscribe=s,session=x@ftp://h"}, nil, "-lambda-functions"},
		{[]string{"-delivery-addr", "127.0.0.1:9883", "-delivery-secret", "short"}, nil, "-delivery-secret (MQTTLESS_DELIVERY_SECRET)"},
		{[]string{"-delivery-addr", "127.0.0.1:9883", "-delivery-secret", "0123456789abcdef", "-delivery-url", "10.0.0.1:9883"}, nil, "-delivery-url"},
		{[]string{"-allow-anonymous", "sometimes"}, nil, "-allow-anonymous (MQTTLESS_ALLOW_ANONYMOUS)"},
		{nil, map[string]string{"MQTTLESS_CERT_IDENTITY": "cn"}, "-cert-identity (MQTTLESS_CERT_IDENTITY)"},
		{[]string{"-auth-cache", "-1s"}, nil, "-auth-cache"},
		{[]string{"-auth-cache", "often"}, nil, "-auth-cache"},
		{[]string{"-client-ids", "%c-*"}, nil, "-client-ids"},
		{[]string{"-auth-backoff", "-1s"}, nil, "-auth-backoff"},
		{[]string{"-auth-backoff-max", "0"}, nil, "-auth-backoff-max"},
		{nil, map[string]string{"MQTTLESS_MAX_PASSWORD_CHECKS": "-1"}, "-max-password-checks (MQTTLESS_MAX_PASSWORD_CHECKS)"},
		{[]string{"-max-alias-bytes", "0"}, nil, "-max-alias-bytes"},
		{[]string{"-tls-addr", ":8883"}, nil, "-tls-cert (MQTTLESS_TLS_CERT)"},
		{[]string{"-tls-addr", ":8883", "-tls-cert", "c.pem"}, nil, "-tls-key (MQTTLESS_TLS_KEY)"},
		{[]string{"-wss-addr", ":8443", "-tls-key", "k.pem"}, nil, "-tls-cert"},
		{[]string{"-tls-require-client-cert", "yes"}, nil, "-tls-require-client-cert"},
		{[]string{"-tls-addr", ":8883", "-tls-cert", "c.pem", "-tls-key", "k.pem", "-tls-require-client-cert", "true"}, nil, "-tls-client-ca"},
		{[]string{"-tls-addr", ":8883", "-tls-cert", "c.pem", "-tls-key", "k.pem", "-cert-identity", "true"}, nil, "-tls-client-ca"},
		// TLS files without a listener that uses them (issue 18).
		{[]string{"-tls-cert", "c.pem", "-tls-key", "k.pem"}, nil, "-tls-cert (MQTTLESS_TLS_CERT)"},
		{nil, map[string]string{"MQTTLESS_TLS_KEY": "k.pem"}, "-tls-key (MQTTLESS_TLS_KEY)"},
		{[]string{"-ws-addr", ":8080", "-tls-client-ca", "ca.pem"}, nil, "-tls-client-ca (MQTTLESS_TLS_CLIENT_CA)"},
		{[]string{"-tls-require-client-cert", "true"}, nil, "-tls-require-client-cert (MQTTLESS_TLS_REQUIRE_CLIENT_CERT)"},
		{[]string{"-max-topic-length", "0"}, nil, "-max-topic-length"},
		{[]string{"-max-topic-length", "65536"}, nil, "-max-topic-length"},
		{[]string{"-max-topic-levels", "0"}, nil, "-max-topic-levels"},
		{nil, map[string]string{"MQTTLESS_MAX_SUBSCRIPTIONS": "-5"}, "-max-subscriptions (MQTTLESS_MAX_SUBSCRIPTIONS)"},
		{[]string{"-max-publish-rate", "-1"}, nil, "-max-publish-rate"},
		{[]string{"-max-publish-rate", "NaN"}, nil, "-max-publish-rate"},
		{[]string{"-max-conn-rate", "fast"}, nil, "-max-conn-rate (MQTTLESS_MAX_CONN_RATE)"},
		{[]string{"-max-conn-rate", "+Inf"}, nil, "-max-conn-rate"},
		{[]string{"-sys-interval", "-10s"}, nil, "-sys-interval"},
		{[]string{"-sys-prefix", "$SYS/#"}, nil, "-sys-prefix"},
		{[]string{"-sys-prefix", "broker/stats"}, nil, "-sys-prefix"},
		{[]string{"-no-such-flag"}, nil, "no-such-flag"},
		{[]string{"extra"}, nil, `"extra"`},
	} {
		_, err := config.Parse(tc.args, env(tc.env), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseConfig(%v, %v) = %v, want an error naming %s", tc.args, tc.env, err, tc.want)
		}
	}
}

// TestParseConfigLambda checks the settings of -invoker lambda: the
// function list with pools and emulator endpoints, and the delivery URL
// that is also the proxy's id.
func TestParseConfigLambda(t *testing.T) {
	cfg, err := config.Parse([]string{"-invoker", "lambda", "-delivery-addr", "127.0.0.1:9883",
		"-lambda-functions", "connect=function@http://127.0.0.1:9001,connect=function@http://127.0.0.1:9002,publish=p,subscribe=s,session=x"},
		env(map[string]string{"MQTTLESS_DELIVERY_SECRET": "0123456789abcdef"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Delivery.URL != "http://127.0.0.1:9883" || string(cfg.Delivery.Secret) != "0123456789abcdef" {
		t.Errorf("delivery URL %q, secret %q", cfg.Delivery.URL, cfg.Delivery.Secret)
	}
	if got := cfg.Lambda.Functions["connect"]; len(got) != 2 || got[1].Endpoint != "http://127.0.0.1:9002" || got[1].Name != "function" {
		t.Errorf("connect pool = %+v, want two emulator targets", got)
	}
	if got := cfg.Lambda.Functions["session"]; len(got) != 1 || got[0].Name != "x" || got[0].Endpoint != "" {
		t.Errorf("session = %+v", got)
	}
}

// Flags win over the environment, and both override the defaults.
func TestParseConfigSources(t *testing.T) {
	cfg, err := config.Parse([]string{"-max-queued", "7"},
		env(map[string]string{"MQTTLESS_MAX_QUEUED": "5", "MQTTLESS_TICK": "250ms", "MQTTLESS_QUEUE_QOS0": "true"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Session.MaxQueued != 7 || cfg.Proxy.Tick != 250*time.Millisecond || !cfg.Session.QueueQoS0 {
		t.Fatalf("got MaxQueued %d, Tick %v, QueueQoS0 %v", cfg.Session.MaxQueued, cfg.Proxy.Tick, cfg.Session.QueueQoS0)
	}
	if cfg.Listen.Addr != "127.0.0.1:1883" || cfg.Store.Kind != "bolt" {
		t.Fatalf("defaults: addr %q store %q", cfg.Listen.Addr, cfg.Store.Kind)
	}
	// A flag overrides a bad variable: only the value that counts is checked.
	if c, err := config.Parse([]string{"-max-queued", "7"}, env(map[string]string{"MQTTLESS_MAX_QUEUED": "many"}), io.Discard); err != nil || c.Session.MaxQueued != 7 {
		t.Fatalf("-max-queued 7 over MQTTLESS_MAX_QUEUED=many: %d, %v", c.Session.MaxQueued, err)
	}
	if _, err := config.Parse([]string{"-h"}, env(nil), io.Discard); !errors.Is(err, config.ErrUsage) {
		t.Fatalf("-h gave %v, want ErrUsage", err)
	}
}

// TestParseConfigSecurity checks the defaults and the parsing of the
// settings of authentication, TLS, WebSockets, metrics and limits.
func TestParseConfigSecurity(t *testing.T) {
	c, err := config.Parse(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Auth.AllowAnonymous || c.Auth.CertIdentity || c.Auth.Cache != 10*time.Second {
		t.Errorf("auth defaults: anonymous %v, cert identity %v, cache %v", c.Auth.AllowAnonymous, c.Auth.CertIdentity, c.Auth.Cache)
	}
	if c.Listen.TLSAddr != "" || c.Listen.WSAddr != "" || c.Listen.WSSAddr != "" || c.Listen.MetricsAddr != "" || c.Listen.TLSRequireClientCert {
		t.Errorf("listeners are on by default: %q %q %q %q", c.Listen.TLSAddr, c.Listen.WSAddr, c.Listen.WSSAddr, c.Listen.MetricsAddr)
	}
	if c.Session.MaxTopicLength != 65535 || c.Session.MaxTopicLevels != 64 || c.Session.MaxSubscriptions != 1000 {
		t.Errorf("topic limits %d, %d, %d", c.Session.MaxTopicLength, c.Session.MaxTopicLevels, c.Session.MaxSubscriptions)
	}
	if c.Proxy.MaxPublishRate != 1000 || c.Proxy.MaxConnRate != 100 || c.Proxy.SysInterval != 10*time.Second || c.Proxy.SysPrefix != "" {
		t.Errorf("rates %v, %v; $SYS every %v under %q", c.Proxy.MaxPublishRate, c.Proxy.MaxConnRate, c.Proxy.SysInterval, c.Proxy.SysPrefix)
	}
	c, err = config.Parse([]string{"-allow-anonymous=false", "-tls-addr", ":8883", "-wss-addr", ":8443",
		"-tls-cert", "c.pem", "-tls-key", "k.pem", "-tls-client-ca", "ca.pem", "-tls-require-client-cert", "true",
		"-ws-addr", ":8080", "-metrics-addr", ":9100", "-max-topic-length", "256", "-max-topic-levels", "8",
		"-max-subscriptions", "10", "-max-publish-rate", "0.5", "-max-conn-rate", "0", "-sys-interval", "0", "-auth-cache", "0"},
		env(map[string]string{"MQTTLESS_CERT_IDENTITY": "true", "MQTTLESS_SYS_PREFIX": "$SYS/edge", "MQTTLESS_CLIENT_IDS": "%u-*"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Auth.AllowAnonymous || !c.Auth.CertIdentity || c.Auth.Cache != 0 || c.Listen.TLSAddr != ":8883" || c.Listen.WSSAddr != ":8443" ||
		c.Listen.TLSCert != "c.pem" || c.Listen.TLSKey != "k.pem" || c.Listen.TLSClientCA != "ca.pem" || !c.Listen.TLSRequireClientCert ||
		c.Listen.WSAddr != ":8080" || c.Listen.MetricsAddr != ":9100" || c.Auth.ClientIDs != "%u-*" ||
		c.Auth.Options(nil).ClientIDs != "%u-*" {
		t.Errorf("got %+v", c)
	}
	if c.Session.MaxTopicLength != 256 || c.Session.MaxTopicLevels != 8 || c.Session.MaxSubscriptions != 10 ||
		c.Proxy.MaxPublishRate != 0.5 || c.Proxy.MaxConnRate != 0 || c.Proxy.SysInterval != 0 || c.Proxy.SysPrefix != "$SYS/edge" {
		t.Errorf("limits: got %+v", c)
	}
	// The password checks' rationing: on by default, -auth-backoff 0 off,
	// -auth-cache 0 reads the rules every time, -auth-credential-cache 0
	// caches no credentials; the credentials' cache outlasts the rules'.
	if o := c.Auth.Options(nil); o.CacheTTL >= 0 || o.CredentialTTL != 10*time.Minute {
		t.Errorf("-auth-cache 0: CacheTTL %v, want off (negative); CredentialTTL %v, want the default 10m", o.CacheTTL, o.CredentialTTL)
	}
	c, err = config.Parse([]string{"-auth-credential-cache", "0"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o := c.Auth.Options(nil); o.CredentialTTL >= 0 {
		t.Errorf("-auth-credential-cache 0: CredentialTTL %v, want off (negative)", o.CredentialTTL)
	}
	c, err = config.Parse([]string{"-auth-backoff", "0"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o := c.Auth.Options(nil); o.FailureBackoff >= 0 {
		t.Errorf("-auth-backoff 0: FailureBackoff %v, want off", o.FailureBackoff)
	}
	c, err = config.Parse(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o := c.Auth.Options(nil); o.FailureBackoff != time.Second || o.MaxFailureBackoff != time.Minute || o.MaxPasswordChecks != 0 || o.CacheTTL != 10*time.Second {
		t.Errorf("default auth options %+v", o)
	}
	if c.Session.MaxAliasBytes != 64<<10 {
		t.Errorf("-max-alias-bytes default %d, want 65536", c.Session.MaxAliasBytes)
	}
	// The handler functions of -invoker lambda take -cert-identity without
	// a TLS listener of their own.
	if _, err := config.Parse(nil, env(map[string]string{"MQTTLESS_STORE": "dynamo", "MQTTLESS_CERT_IDENTITY": "true"}), io.Discard); err != nil {
		t.Errorf("-cert-identity without a listener: %v", err)
	}
}

// A true-or-false setting may be given bare (true), with =VALUE, or with
// the value as the next argument; a bad value is still named.
func TestParseConfigBooleans(t *testing.T) {
	for _, tc := range []struct {
		args                        []string
		anonymous, certID, queueQoS bool
	}{
		{[]string{"-cert-identity", "-allow-anonymous=false"}, false, true, false},
		{[]string{"-cert-identity", "true", "-allow-anonymous", "false", "-queue-qos0"}, false, true, true},
		{[]string{"-queue-qos0", "-addr", "127.0.0.1:1"}, true, false, true},
		{[]string{"--allow-anonymous=0", "-queue-qos0", "false"}, false, false, false},
	} {
		c, err := config.Parse(tc.args, env(nil), io.Discard)
		if err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		if c.Auth.AllowAnonymous != tc.anonymous || c.Auth.CertIdentity != tc.certID || c.Session.QueueQoS0 != tc.queueQoS {
			t.Errorf("%v: anonymous %v, cert identity %v, queue QoS 0 %v", tc.args, c.Auth.AllowAnonymous, c.Auth.CertIdentity, c.Session.QueueQoS0)
		}
	}
	if _, err := config.Parse([]string{"-cert-identity", "maybe"}, env(nil), io.Discard); err == nil || !strings.Contains(err.Error(), "-cert-identity") {
		t.Errorf("-cert-identity maybe: err = %v, want one naming -cert-identity", err)
	}
	if _, err := config.Parse([]string{"-create-table", "true", "-store", "dynamo"}, env(nil), io.Discard); err != nil {
		t.Errorf("-create-table true: %v", err)
	}
}

// -fsync false applies to the embedded store only: elsewhere it stops
// start-up, naming the setting.
func TestFsyncOnlyBolt(t *testing.T) {
	c, err := config.Parse([]string{"-fsync=false"}, func(string) string { return "" }, io.Discard)
	if err != nil || c.Store.Fsync {
		t.Fatalf("-fsync=false with bolt: %v, fsync %v", err, c.Store.Fsync)
	}
	if _, err := config.Parse([]string{"-store", "memory", "-fsync=false"}, func(string) string { return "" }, io.Discard); err == nil || !strings.Contains(err.Error(), "-fsync") {
		t.Fatalf("-fsync=false with -store memory: %v, want a refusal naming -fsync", err)
	}
}
