package auth

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// backoff holds the failed password checks of one kind of key (source
// addresses, or usernames) and refuses a key for a while after them: after
// free failures in a row, a key is blocked for base, then twice as long
// after each further failure, up to max. Attempts while blocked are
// refused unchecked and do not count. A key is forgotten max after its
// last failure, or on succeed (which AuthenticateFrom calls for usernames
// only).
//
// Locking: mu guards keys. keys holds at most maxKeys entries; when full,
// the entries whose time has passed are pruned, and a new key that still
// finds no room is not tracked (it is checked, like any key, under the
// password-check semaphore).
type backoff struct {
	free      int
	base, max time.Duration
	maxKeys   int

	mu   sync.Mutex
	keys map[string]*failures
}

type failures struct {
	n     int       // failures in a row
	last  time.Time // the last failure
	until time.Time // refused until then
}

// How many failures in a row a key may have before it is blocked: a user
// mistyping a password is not slowed down, nor are the other users behind
// the same address (a NAT) when one of them mistypes a few times.
const (
	freeUserFailures   = 3
	freeSourceFailures = 10
)

func newBackoff(free int, base, max time.Duration, maxKeys int) *backoff {
	return &backoff{free: free, base: base, max: max, maxKeys: maxKeys, keys: map[string]*failures{}}
}

// blocked reports whether key is refused at now.
func (b *backoff) blocked(key string, now time.Time) bool {
	if key == "" || b.base <= 0 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	f := b.keys[key]
	return f != nil && now.Before(f.until)
}

// fail records a failed check for key at now.
func (b *backoff) fail(key string, now time.Time) {
	if key == "" || b.base <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	f := b.keys[key]
	if f != nil && now.Sub(f.last) >= b.max {
		f = nil // quiet for long enough: start over
	}
	if f == nil {
		if len(b.keys) >= b.maxKeys {
			b.prune(now)
		}
		if len(b.keys) >= b.maxKeys {
			return
		}
		f = &failures{}
		b.keys[key] = f
	}
	f.n++
	f.last = now
	if f.n >= b.free {
		d := b.base << min(f.n-b.free, 30)
		if d <= 0 || d > b.max {
			d = b.max
		}
		f.until = now.Add(d)
	}
}

// succeed forgets key's failures.
func (b *backoff) succeed(key string) {
	if key == "" {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.keys, key)
}

func (b *backoff) prune(now time.Time) {
	for k, f := range b.keys {
		if now.Sub(f.last) >= b.max && !now.Before(f.until) {
			delete(b.keys, k)
		}
	}
}

// sourceKey returns the key of a client's network address ("host:port" or
// a bare host): its IP address, or for IPv6 its /64, which one host
// usually holds whole. An address that does not parse is its own key.
func sourceKey(remote string) string {
	if remote == "" {
		return ""
	}
	host := remote
	if h, _, err := net.SplitHostPort(remote); err == nil {
		host = h
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
