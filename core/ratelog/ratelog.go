// Package ratelog bounds how many log lines a stream of like events makes:
// a Limiter allows one line per key per interval and counts the events it
// held back, for the next line to report. Log lines that a client can
// cause at will (a message dropped, a request refused) go through one, so
// that the log grows with time, not with what the client sends.
//
// The package has no clock: callers pass the time.
package ratelog

import (
	"sync"
	"time"
	"unicode/utf8"
)

// Limiter allows one event per key per interval. It remembers at most
// maxKeys keys; beyond them, events share one overflow key. It is safe for
// concurrent use; mu guards keys.
type Limiter struct {
	every   time.Duration
	maxKeys int

	mu   sync.Mutex
	keys map[string]*entry
}

type entry struct {
	last       time.Time // when an event was last allowed
	suppressed int       // events held back since
}

// overflow is the key events share when the Limiter holds maxKeys keys.
const overflow = "\x00overflow"

// New returns a Limiter allowing one event per key every interval, over at
// most maxKeys keys (at least 1).
func New(every time.Duration, maxKeys int) *Limiter {
	return &Limiter{every: every, maxKeys: max(maxKeys, 1), keys: map[string]*entry{}}
}

// Allow reports whether an event of key at now may be logged, and how many
// events of key it held back since the last one it allowed, which that
// line should report.
func (l *Limiter) Allow(key string, now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.keys[key]
	if e == nil {
		if len(l.keys) >= l.maxKeys {
			l.prune(now)
		}
		if len(l.keys) >= l.maxKeys {
			key = overflow
			e = l.keys[key]
		}
		if e == nil {
			l.keys[key] = &entry{last: now}
			return true, 0
		}
	}
	if now.Sub(e.last) < l.every {
		e.suppressed++
		return false, 0
	}
	n := e.suppressed
	e.last, e.suppressed = now, 0
	return true, n
}

// prune forgets the keys whose interval has passed. The count of events
// held back under a forgotten key is lost; its next event is allowed, as
// it would have been.
func (l *Limiter) prune(now time.Time) {
	for k, e := range l.keys {
		if now.Sub(e.last) >= l.every {
			delete(l.keys, k)
		}
	}
}

// Truncate returns s cut to at most n bytes, on a rune boundary, with "…"
// appended when it was cut: a client id or topic in a log line, which a
// client may make 65,535 bytes long.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
