package config_test

import (
	"io"
	"strings"
	"testing"

	"github.com/mqttless/mqttless/infra/config"
	"github.com/mqttless/mqttless/infra/dynamo"
)

// -store dynamo keeps every message in one 400 KB item: it lowers the
// default -max-packet-size to fit, and refuses a larger one, naming it.
func TestParseConfigDynamoPacketSize(t *testing.T) {
	c, err := config.Parse([]string{"-store", "dynamo"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Session.MaxPacketSize != dynamo.MaxPacketSize || c.Store.Table != "mqttless" {
		t.Errorf("max packet size %d, table %q; want %d, mqttless", c.Session.MaxPacketSize, c.Store.Table, dynamo.MaxPacketSize)
	}
	c, err = config.Parse([]string{"-store", "dynamo", "-max-packet-size", "300000"}, env(map[string]string{"MQTTLESS_TABLE": "t1"}), io.Discard)
	if err != nil || c.Session.MaxPacketSize != 300000 || c.Store.Table != "t1" {
		t.Errorf("got %d, %q, %v; want 300000, t1", c.Session.MaxPacketSize, c.Store.Table, err)
	}
	for _, args := range [][]string{
		{"-store", "dynamo", "-max-packet-size", "1048576"},
		{"-max-packet-size", "500000", "-store", "dynamo"},
	} {
		_, err := config.Parse(args, env(nil), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "-max-packet-size (MQTTLESS_MAX_PACKET_SIZE)") {
			t.Errorf("%v: err = %v, want one naming -max-packet-size", args, err)
		}
	}
	_, err = config.Parse([]string{"-store", "dynamo"}, env(map[string]string{"MQTTLESS_MAX_PACKET_SIZE": "2000000"}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "-max-packet-size") {
		t.Errorf("env MQTTLESS_MAX_PACKET_SIZE=2000000: err = %v, want one naming -max-packet-size", err)
	}
}
