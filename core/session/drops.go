package session

import (
	"sync/atomic"
	"time"

	"github.com/mqttless/mqttless/core/ratelog"
)

// A client can fill its own session's queue and go on publishing, or
// publish to a session that does not read: every message dropped on a full
// queue is counted, but logged at most once per session per dropLogEvery,
// with the count since, and with the client id and topic cut to
// dropLogField bytes, so that what is logged grows with time and sessions,
// not with what clients send (issue 14, medium 3).
const (
	dropLogEvery = 10 * time.Second
	dropLogKeys  = 256 // sessions logged separately; beyond, they share one line
	dropLogField = 64
)

// drops counts the messages a Handler dropped on full session queues, and
// limits the lines that report them.
type drops struct {
	n     atomic.Uint64
	limit *ratelog.Limiter
}

func newDrops() *drops { return &drops{limit: ratelog.New(dropLogEvery, dropLogKeys)} }

// Dropped returns how many messages the handler dropped on full session
// queues since it started [Config.MaxQueued].
func (h *Handler) Dropped() uint64 { return h.drops.n.Load() }

// dropped counts n messages dropped on the full queue of s, topic the
// first of them, and logs them unless a line for s went out within
// dropLogEvery.
func (c *call) dropped(s *Session, topic string, n int) {
	c.h.drops.n.Add(uint64(n))
	id := ratelog.Truncate(s.ClientID, dropLogField)
	ok, suppressed := c.h.drops.limit.Allow(id, c.now)
	if !ok {
		return
	}
	c.h.log.Warn("session queue full, messages dropped", "client", id,
		"topic", ratelog.Truncate(topic, dropLogField), "dropped", n, "dropped_unlogged", suppressed)
}
