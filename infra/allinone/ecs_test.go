package allinone_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mqttless/mqttless/infra/allinone"
	"github.com/mqttless/mqttless/infra/config"
)

// The container metadata of an awsvpc task, as the ECS task metadata
// endpoint v4 serves it (trimmed).
const ecsContainerMetadata = `{
  "DockerId": "ea32192c8553fbff06c9340478a2ff089b2bb5646fb718b4ee206641c9086d66",
  "Name": "proxy",
  "Networks": [{
    "NetworkMode": "awsvpc",
    "IPv4Addresses": ["10.42.1.17"],
    "AttachmentIndex": 0,
    "PrivateDNSName": "ip-10-42-1-17.ec2.internal"
  }]
}`

func TestECSDeliveryURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v4/abc":
			io.WriteString(w, ecsContainerMetadata)
		case "/v4/none":
			io.WriteString(w, `{"Networks":[{"NetworkMode":"awsvpc","IPv4Addresses":[]}]}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	got, err := allinone.ECSDeliveryURL(ctx, srv.Client(), srv.URL+"/v4/abc", "0.0.0.0:9883")
	if err != nil || got != "http://10.42.1.17:9883" {
		t.Fatalf("ECSDeliveryURL = %q, %v; want http://10.42.1.17:9883", got, err)
	}
	for _, tc := range []struct{ uri, addr, want string }{
		{"", "0.0.0.0:9883", "ECS_CONTAINER_METADATA_URI_V4 is not set"},
		{srv.URL + "/v4/abc", "0.0.0.0:0", "needs a fixed port"},
		{srv.URL + "/v4/none", "0.0.0.0:9883", "no IPv4 address"},
		{srv.URL + "/v4/gone", "0.0.0.0:9883", "404"},
	} {
		if _, err := allinone.ECSDeliveryURL(ctx, srv.Client(), tc.uri, tc.addr); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ECSDeliveryURL(%q, %q): %v, want an error containing %q", tc.uri, tc.addr, err, tc.want)
		}
	}
}

// -delivery-url auto-ecs passes the configuration check; Main resolves it.
func TestParseConfigDeliveryURLAutoECS(t *testing.T) {
	env := map[string]string{"MQTTLESS_DELIVERY_SECRET": "0123456789abcdef0123"}
	c, err := config.Parse([]string{"-invoker", "lambda", "-delivery-addr", "0.0.0.0:9883", "-delivery-url", "auto-ecs"},
		func(k string) string { return env[k] }, io.Discard)
	if err != nil || c.Delivery.URL != config.DeliveryURLAutoECS {
		t.Fatalf("ParseConfig: %+v, %v", c.Delivery.URL, err)
	}
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
