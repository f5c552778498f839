package session_test

import (
	"context"
	"testing"

	"github.com/mqttless/mqttless/core/session"
)

// A proxy restarted after a crash ends the connections it held: each is
// handled as lost, so its will is published [MQTT-3.1.2-8] and its session
// goes offline, while sessions on other proxies are untouched.
func TestRecover(t *testing.T) {
	e := newEnv(t, session.Config{})
	watcher, _, _ := e.connectOn("proxy-W", v5, "watcher")
	watcher.sub(sub("will/#", 0))
	e.connect(v5, "a", persistent(), will("will/a", "gone", 0, false, 0))
	e.connectOn("proxy-2", v5, "b", persistent(), will("will/b", "other proxy", 0, false, 0))
	r, n, err := e.handler().Recover(context.Background(), "proxy-1")
	if err != nil || n != 1 {
		t.Fatalf("Recover = %d, %v; want 1 session", n, err)
	}
	wantPayloads(t, watcher.recv(r), "gone")
	s, err := e.store.Session(context.Background(), "a")
	if err != nil || s.Online() {
		t.Fatalf("session a after Recover: %+v, %v; want offline", s, err)
	}
	if _, n, _ := e.handler().Recover(context.Background(), "proxy-1"); n != 0 {
		t.Fatalf("second Recover handled %d sessions, want 0", n)
	}
}
