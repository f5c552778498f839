package proxy

import "net/http"

// HealthHandler returns the health check for a load balancer: 200 "ok"
// while the proxy takes connections, 503 once Shutdown was called, so
// that the load balancer stops sending clients while the proxy drains.
func (s *Server) HealthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if s.shuttingDown() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("shutting down\n"))
			return
		}
		w.Write([]byte("ok\n"))
	})
}
