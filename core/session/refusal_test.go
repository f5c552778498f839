package session_test

import (
	"golang.org/x/crypto/bcrypt"

	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/auth"
	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
)

// logLines is a JSON log of the handler, at the default level (info).
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// lines returns the lines whose msg is msg, decoded.
func (l *logLines) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// Each refusal an operator must see is logged at info (the default level)
// with its reason, and returned to the proxy in Reply.Refused: a wrong
// password, an unknown user, an anonymous client, a 3.1.1 keep alive above
// -max-keepalive, a denied SUBSCRIBE and a denied PUBLISH.
func TestRefusalsLoggedAtInfo(t *testing.T) {
	var log logLines
	e := newEnv(t, session.Config{MaxKeepAlive: 90})
	e.log = slog.New(slog.NewJSONHandler(&log, nil))
	hash := mustHash(t, "pw")
	as := &authStore{users: map[string]*auth.User{"alice": {Name: "alice", Hash: hash}},
		rules: []auth.Rule{rule(auth.Both, "devices/%u/#")}}
	e.opts = []session.Option{session.WithAuth(auth.NewChecker(as, auth.Options{}))}
	e.h = e.newHandler()

	for _, tc := range []struct {
		connect []connectOpt
		why     string
	}{
		{[]connectOpt{login("alice", "wrong")}, session.RefusedWrongPassword},
		{[]connectOpt{login("mallory", "pw")}, session.RefusedUnknownUser},
		{nil, session.RefusedAnonymous},
		{[]connectOpt{login("alice", "pw"), func(p *packet.Connect) { p.KeepAlive = 120 }}, session.RefusedKeepAlive},
	} {
		c := e.open(packet.V311)
		r := c.send(connect(packet.V311, "c-"+tc.why, tc.connect...))
		if len(r.Refused) != 1 || r.Refused[0] != tc.why {
			t.Errorf("%s: reply.Refused %q", tc.why, r.Refused)
		}
		lines := log.lines(t, "connection refused")
		if len(lines) == 0 || lines[len(lines)-1]["reason"] != tc.why || lines[len(lines)-1]["level"] != "INFO" {
			t.Fatalf("%s: no info line for it; lines %v", tc.why, lines)
		}
	}
	if l := log.lines(t, "connection refused"); l[3]["detail"] != "keep alive 120 above -max-keepalive 90" {
		t.Errorf("keep alive line: detail %q", l[3]["detail"])
	}

	c := e.open(packet.V5)
	c.send(connect(packet.V5, "alice-1", login("alice", "pw")))
	r := c.send(subscribe(packet.V5, 1, packet.Subscription{Filter: "devices/bob/#"}, packet.Subscription{Filter: "devices/alice/#"}))
	if len(r.Refused) != 1 || r.Refused[0] != session.DeniedSubscribe {
		t.Errorf("denied SUBSCRIBE: reply.Refused %q", r.Refused)
	}
	r = c.send(publish(packet.V5, "devices/bob/x", "no", qos(1, 2)))
	if len(r.Refused) != 1 || r.Refused[0] != session.DeniedPublish {
		t.Errorf("denied PUBLISH: reply.Refused %q", r.Refused)
	}
	if l := log.lines(t, "subscribe denied"); len(l) != 1 || l[0]["topic"] != "devices/bob/#" || l[0]["user"] != "alice" {
		t.Errorf("subscribe denied lines %v", l)
	}
	if l := log.lines(t, "publish denied"); len(l) != 1 || l[0]["topic"] != "devices/bob/x" || l[0]["level"] != "INFO" {
		t.Errorf("publish denied lines %v", l)
	}
}

// Under a flood, a reason is logged once per interval (10 s); the next
// line counts the refusals not logged since, and every refusal still
// reaches the proxy.
func TestRefusalLogRateLimited(t *testing.T) {
	var log logLines
	e, _ := authEnv(t, session.Config{}, auth.Options{}, nil)
	e.log = slog.New(slog.NewJSONHandler(&log, nil))
	e.h = e.newHandler()
	refused := 0
	flood := func(n int) {
		for range n {
			c := e.open(packet.V311)
			r := c.send(connect(packet.V311, "anon"))
			refused += len(r.Refused)
		}
	}
	flood(100)
	if n := len(log.lines(t, "connection refused")); n != 1 {
		t.Fatalf("100 refusals within an interval: %d lines, want 1", n)
	}
	e.clock.Advance(11 * time.Second)
	flood(1)
	lines := log.lines(t, "connection refused")
	if len(lines) != 2 || lines[1]["not_logged"] != float64(99) {
		t.Fatalf("the line after the interval: %v, want not_logged 99", lines)
	}
	if refused != 101 {
		t.Errorf("reply.Refused counted %d refusals, want 101", refused)
	}
}

func mustHash(t *testing.T, pw string) []byte {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
