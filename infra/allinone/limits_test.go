package allinone

import (
	"io"
	"testing"

	"github.com/mqttless/mqttless/infra/config"
	"github.com/mqttless/mqttless/infra/proxy"
)

// The settings table's defaults of the proxy's limits are the proxy's own
// (infra/config does not import the proxy, so each states them).
func TestProxyLimitDefaults(t *testing.T) {
	c, err := config.Parse(nil, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []struct {
		flag       string
		got, proxy int
	}{
		{"max-connections", c.Proxy.MaxConnections, proxy.DefaultMaxConnections},
		{"max-user-connections", c.Proxy.MaxUserConnections, proxy.DefaultMaxUserConnections},
		{"max-pending-connects", c.Proxy.MaxPendingConnects, proxy.DefaultMaxPendingConnects},
		{"max-connect-size", c.Proxy.MaxConnectSize, proxy.DefaultMaxConnectSize},
		{"max-send-bytes-total", c.Proxy.MaxSendBytesTotal, proxy.DefaultMaxSendBytesTotal},
		{"max-outbound-aliases", c.Proxy.MaxOutboundAliases, proxy.DefaultMaxOutboundAliases},
		{"max-outbound-alias-bytes", c.Proxy.MaxOutboundAliasBytes, proxy.DefaultMaxOutboundAliasBytes},
	} {
		if l.got != l.proxy {
			t.Errorf("-%s defaults to %d, the proxy's default is %d", l.flag, l.got, l.proxy)
		}
	}
}
