package config_test

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mqttless/mqttless/infra/config"
)

// The settings the SAM template gives the proxies: a second delivery
// secret during a rotation, and EMF metrics on stdout. A bad value stops
// start-up naming the setting.
func TestDeploySettings(t *testing.T) {
	base := []string{"-invoker", "lambda", "-delivery-addr", "127.0.0.1:9883", "-metrics-addr", "127.0.0.1:9090"}
	cfg, err := config.Parse(base, env(map[string]string{
		"MQTTLESS_DELIVERY_SECRET": "0123456789abcdef", "MQTTLESS_DELIVERY_SECRET_PREVIOUS": "fedcba9876543210",
		"MQTTLESS_EMF_INTERVAL": "1m", "MQTTLESS_EMF_SERVICE": "s-proxy",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(cfg.Delivery.PreviousSecret, []byte("fedcba9876543210")) || cfg.Listen.EMFInterval != time.Minute || cfg.Listen.EMFService != "s-proxy" {
		t.Errorf("got %+v %+v", cfg.Delivery, cfg.Listen)
	}
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
	}{
		"delivery-secret-previous": {base, map[string]string{"MQTTLESS_DELIVERY_SECRET": "0123456789abcdef", "MQTTLESS_DELIVERY_SECRET_PREVIOUS": "short"}},
		"emf-interval":             {[]string{"-emf-interval", "1m"}, nil},
	} {
		_, err := config.Parse(tc.args, env(tc.env), io.Discard)
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%v %v: err = %v, want one naming %s", tc.args, tc.env, err, name)
		}
	}
}
