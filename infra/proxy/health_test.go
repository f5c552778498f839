package proxy_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mqttless/mqttless/infra/proxy"
)

// The health check says ok until Shutdown, then 503.
func TestHealthHandler(t *testing.T) {
	srv, err := proxy.New(proxy.Config{}, &fakeInvoker{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := srv.HealthHandler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != "ok" {
		t.Fatalf("before shutdown: %d %q", rec.Code, rec.Body)
	}
	shutdown(t, srv)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("after shutdown: %d", rec.Code)
	}
}
