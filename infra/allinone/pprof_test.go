package allinone_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"github.com/mqttless/mqttless/infra/allinone"
	"github.com/mqttless/mqttless/infra/config"
)

// -pprof serves net/http/pprof while the broker runs; without it nothing
// is served.
func TestPprofFlag(t *testing.T) {
	cfg, err := config.Parse(nil, env(nil), io.Discard)
	if err != nil || cfg.Listen.Pprof != "" {
		t.Fatalf("default -pprof = %q, %v; want off", cfg.Listen.Pprof, err)
	}
	cfg, err = config.Parse([]string{"-addr", "127.0.0.1:0", "-store", "memory"},
		env(map[string]string{"MQTTLESS_PPROF": "127.0.0.1:0"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	brk, err := allinone.Start(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- brk.Run(ctx) }()
	addr := brk.PprofAddr()
	if addr == nil {
		t.Fatal("PprofAddr is nil with -pprof set")
	}
	for _, path := range []string{"/debug/pprof/heap", "/debug/pprof/goroutine?debug=1", "/debug/pprof/profile?seconds=1"} {
		resp, err := http.Get("http://" + addr.String() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(body) == 0 {
			t.Errorf("GET %s: %s, %d bytes", path, resp.Status, len(body))
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + addr.String() + "/debug/pprof/heap"); err == nil {
		t.Error("pprof still served after Run returned")
	}

	cfg.Listen.Pprof = ""
	brk, err = allinone.Start(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if brk.PprofAddr() != nil {
		t.Error("PprofAddr is set without -pprof")
	}
	ctx, cancel = context.WithCancel(context.Background())
	go func() { done <- brk.Run(ctx) }()
	cancel()
	<-done
}
