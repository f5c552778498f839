package config_test

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/config"
	"github.com/mqttless/mqttless/infra/memstore"
)

// -max-store-bytes is counted by the embedded stores only: its default
// holds there, is off with -store dynamo (and so in the functions, whose
// store is always DynamoDB), and set with -store dynamo it stops start-up
// with a message that names it.
func TestParseConfigStoreBytes(t *testing.T) {
	c, err := config.Parse(nil, env(nil), io.Discard)
	if err != nil || c.Session.MaxStoreBytes != session.DefaultMaxStoreBytes {
		t.Fatalf("default: %d, %v; want %d", c.Session.MaxStoreBytes, err, session.DefaultMaxStoreBytes)
	}
	c, err = config.Parse([]string{"-store", "dynamo"}, env(nil), io.Discard)
	if err != nil || c.Session.MaxStoreBytes != 0 {
		t.Fatalf("-store dynamo: %d, %v; want 0 (off)", c.Session.MaxStoreBytes, err)
	}
	for _, e := range []map[string]string{nil, {"MQTTLESS_MAX_STORE_BYTES": "1000000"}} {
		args := []string{"-store", "dynamo"}
		if e == nil {
			args = append(args, "-max-store-bytes", "1000000")
		}
		_, err := config.Parse(args, env(e), io.Discard)
		if err == nil || !strings.Contains(err.Error(), "-max-store-bytes") {
			t.Errorf("%v %v: err = %v, want one naming -max-store-bytes", args, e, err)
		}
	}

	// A store that keeps no count is refused the setting by NewHandler.
	c, err = config.Parse([]string{"-store", "memory", "-max-store-bytes", "1000"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if h, err := c.NewHandler(memstore.New(), slog.New(slog.DiscardHandler)); err != nil || h.Config().MaxStoreBytes != 1000 {
		t.Errorf("memory store: %v", err)
	}
	type uncounted struct{ session.Store }
	if _, err := c.NewHandler(uncounted{memstore.New()}, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "-max-store-bytes") {
		t.Errorf("a store without the count: err = %v, want one naming -max-store-bytes", err)
	}
}

// -delivery v2 needs a store with streams: on another, start-up stops with
// a message that names the setting; a bad value is refused by Parse.
func TestDeliveryV2NeedsStreams(t *testing.T) {
	c, err := config.Parse([]string{"-store", "memory", "-delivery", "v2"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if h, err := c.NewHandler(memstore.New(), slog.New(slog.DiscardHandler)); err != nil || h.Config().Delivery != session.DeliveryV2 {
		t.Fatalf("memory store: %v", err)
	}
	type noStreams struct {
		session.Store
		session.StoreBytesCounter
	}
	ms := memstore.New()
	if _, err := c.NewHandler(noStreams{ms, ms}, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "-delivery") {
		t.Errorf("a store without streams: err = %v, want one naming -delivery", err)
	}
	c, err = config.Parse([]string{"-delivery", "v2", "-max-inflight", "1000"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.NewHandler(memstore.New(), slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "-delivery") || !strings.Contains(err.Error(), "-max-inflight") {
		t.Errorf("-max-inflight past the identifier plan: err = %v, want one naming -delivery and -max-inflight", err)
	}
}
