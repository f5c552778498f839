package session_test

import (
	"bytes"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/session"
)

// syncBuffer is a log destination safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) lines(substr string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, l := range strings.Split(b.buf.String(), "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return out
}

// Messages dropped on a full session queue are all counted, but logged
// once per session per interval, with the count held back and the client
// id and topic cut short (issue 14, medium 3).
func TestDroppedMessagesLogRateLimited(t *testing.T) {
	var log syncBuffer
	e := newEnv(t, session.Config{MaxQueued: 1})
	e.log = slog.New(slog.NewTextHandler(&log, nil))
	e.h = e.newHandler()
	long := strings.Repeat("s", 1000)
	s, _, _ := e.connect(v5, long, persistent())
	s.sub(sub("t/#", 1))
	s.disconnect()
	pub, _, _ := e.connect(v5, "pub")
	topic := "t/" + strings.Repeat("x", 1000)
	const sent = 200
	for i := range sent {
		pub.send(publish(v5, topic, "m", qos(1, uint16(i+1))))
	}
	// One message queued, the rest dropped.
	if got := e.h.Dropped(); got != sent-1 {
		t.Errorf("Dropped() = %d, want %d", got, sent-1)
	}
	lines := log.lines("messages dropped")
	if len(lines) != 1 {
		t.Fatalf("%d log lines for %d drops, want 1:\n%s", len(lines), sent-1, strings.Join(lines, "\n"))
	}
	if len(lines[0]) > 400 {
		t.Errorf("a log line of %d bytes: client id and topic not cut", len(lines[0]))
	}
	// After the interval, the next drop is logged with the count held back.
	e.clock.Advance(time.Minute)
	pub.send(publish(v5, topic, "m", qos(1, 1)))
	lines = log.lines("messages dropped")
	if len(lines) != 2 || !strings.Contains(lines[1], "dropped_unlogged="+strconv.Itoa(sent-2)) {
		t.Fatalf("after the interval, lines:\n%s\nwant a second reporting %d held back", strings.Join(lines, "\n"), sent-2)
	}
}
