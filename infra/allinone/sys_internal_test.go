package allinone

import (
	"testing"

	"github.com/mqttless/mqttless/infra/config"
)

// The $SYS prefix is $SYS/broker for the all-in-one broker; each proxy of
// the serverless path publishes its own counts under its own prefix, so
// that proxies do not overwrite each other's.
func TestSysPrefix(t *testing.T) {
	for _, c := range []struct {
		cfg  config.Config
		id   string
		want string
	}{
		{config.Config{Lambda: config.Lambda{Invoker: "local"}}, "local", "$SYS/broker"},
		{config.Config{Lambda: config.Lambda{Invoker: "lambda"}}, "http://10.0.1.7:9883", "$SYS/broker/proxies/10.0.1.7_9883"},
		{config.Config{Lambda: config.Lambda{Invoker: "lambda"}, Proxy: config.Proxy{SysPrefix: "$SYS/eu"}}, "http://10.0.1.7:9883", "$SYS/eu"},
	} {
		if got := sysPrefix(c.cfg, c.id); got != c.want {
			t.Errorf("sysPrefix(%+v, %q) = %q, want %q", c.cfg, c.id, got, c.want)
		}
	}
}
