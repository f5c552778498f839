package session

import (
	"context"
	"fmt"
)

// Fan-out in chunks (delivery v2, issue 16; docs/architecture.md "Fan-out
// in chunks").
//
// A QoS 1 or 2 message is appended once to the sub-stream of each filter
// that matches it (v2.go); that append is the fan-out's durable plan. The
// entry then has to reach the online sessions of the filter's subscribers.
// For a filter with at most ChunkSize subscriptions the publish call does
// it itself (fanOutStreams). For a larger one the call reads none of their
// sessions: it cuts the subscribers' client ids into chunks of ChunkSize
// and hands each chunk, as a KindChunk event carrying the entry, to the
// Handler's ChunkRunner, which runs it apart from the call (Lambda: an
// asynchronous invocation of the publish function itself). The PUBACK or
// PUBREC waits for the append and for the runner to have accepted every
// chunk [MQTT-4.3.2-2] [MQTT-4.3.3-2], not for the deliveries.
//
// A chunk reads its clients' sessions and sends the entry to the
// connection of each online one, as a StreamDelivery (or a skip, for a
// session its access rules deny, or its own message under No Local
// [MQTT-3.8.3-3]). Chunks are idempotent: a proxy's window takes an offset
// once per connection and drops one at or below what it handed out
// (Window.Offer), so a chunk that failed part-way and runs again writes
// nothing twice. An offline session needs nothing: its streams hold the
// entry, read when it connects again. A chunk that never runs leaves its
// online sessions a gap that their windows fill from the stream when the
// next entry comes (Window.Gaps, KindCatchUp) or at their next connection.

// DefaultChunkSize is the most subscriptions of one filter whose delivery
// runs in the publish call; a filter with more is fanned out in chunks of
// this many (Config.ChunkSize).
const DefaultChunkSize = 512

// ChunkRunner runs KindChunk events apart from the call that made them.
type ChunkRunner interface {
	// RunChunks accepts evs to be handled (Handler.Handle, with the
	// reply's deliveries made) apart from this call, each retried when its
	// handling fails. It returns once each is accepted: for Lambda's
	// asynchronous Invoke, queued by Lambda. An error means some may not
	// have been; the publish call then fails, and its PUBACK or PUBREC is
	// not sent, so the client sends the PUBLISH again.
	RunChunks(ctx context.Context, evs []*Event) error
}

// WithChunks makes the handler fan out the delivery v2 entries of a filter
// with more than Config.ChunkSize subscriptions in chunks that r runs.
// Without it every delivery is made in the publish call.
func WithChunks(r ChunkRunner) Option { return func(h *Handler) { h.chunks = r } }

// WithEarlyDelivery makes the handler hand the delivery v2 entries of a
// publish call whose messages are all QoS 1 to deliver as soon as a
// StreamShower store has given them their offsets, before their commit:
// the subscribers' windows get them while the publisher's PUBACK waits
// for the commit (what a crash before the commit loses was not
// acknowledged, and its publisher sends it again; a subscriber may then
// get it twice, as QoS 1 allows [MQTT-4.3.2]). QoS 2 messages are never
// shown early: after such a crash their offsets, and so the packet
// identifiers a subscriber saw, would carry other messages, which the
// subscriber would take for the one it has [MQTT-4.3.3]. deliver runs on
// a goroutine of its own and must deliver in-process (the all-in-one
// broker's proxy); entries to the calling connection stay in its reply.
func WithEarlyDelivery(deliver func(ctx context.Context, ds []Delivery)) Option {
	return func(h *Handler) { h.early = deliver }
}

// Chunk is the work of one KindChunk event: the entry at Offset of
// sub-stream Stream, for the online sessions of Clients.
type Chunk struct {
	Stream StreamID `json:"stream"`
	Offset uint64   `json:"offset"`
	// Message is the entry's message; nil for one over chunkMessageBytes,
	// which the chunk reads from the stream (an event's size is bounded:
	// Lambda takes 256 KB in an asynchronous invocation).
	Message *Message `json:"msg,omitempty"`
	// Clients are the client ids of the subscriptions this chunk serves.
	Clients []string `json:"clients"`
	// Skip are those of Clients that get the offset as a skip: the
	// publisher's own subscription under No Local [MQTT-3.8.3-3].
	Skip []string `json:"skip,omitempty"`
}

// chunkMessageBytes is the largest message a chunk event carries; a larger
// one is read from its stream by each chunk.
const chunkMessageBytes = 64 << 10

// chunking reports whether the fan-out of a filter with n subscriptions
// runs in chunks.
func (h *Handler) chunking(n int) bool {
	return h.chunks != nil && h.cfg.ChunkSize > 0 && n > h.cfg.ChunkSize
}

// chunkEvents cuts the subscriptions subs of sub-stream id, whose entry
// for m is at off, into chunk events of at most size subscriptions.
func chunkEvents(id StreamID, off uint64, m *Message, subs []*Subscription, size int) []*Event {
	var evs []*Event
	for start := 0; start < len(subs); start += size {
		ch := &Chunk{Stream: id, Offset: off}
		if m.Size() <= chunkMessageBytes {
			ch.Message = m
		}
		for _, s := range subs[start:min(start+size, len(subs))] {
			ch.Clients = append(ch.Clients, s.ClientID)
			if s.NoLocal && s.ClientID == m.Publisher {
				ch.Skip = append(ch.Skip, s.ClientID) // [MQTT-3.8.3-3]
			}
		}
		evs = append(evs, &Event{Kind: KindChunk, Chunk: ch})
	}
	return evs
}

// runChunk handles KindChunk: it sends the chunk's entry to the online
// sessions of its clients, read afresh, in Reply.Deliveries.
func (c *call) runChunk() error {
	ch := c.ev.Chunk
	if ch == nil || !c.h.v2() {
		return nil
	}
	sessions, err := c.sessionsOf(ch.Clients)
	if err != nil {
		return fmt.Errorf("session: chunk of %q at %d: %w", ch.Stream.Filter, ch.Offset, err)
	}
	skip := make(map[string]bool, len(ch.Skip))
	for _, id := range ch.Skip {
		skip[id] = true
	}
	entry, err := c.chunkEntry(ch)
	if err != nil {
		return err
	}
	seen := make(map[string]bool, len(ch.Clients))
	for _, id := range ch.Clients {
		s := sessions[id]
		// An id comes twice when the match holds topic-side items of two
		// of its generations (a chunked filter's are not checked against
		// the session's generation): one entry per connection is enough.
		if s == nil || !s.Online() || seen[id] {
			continue // offline: its streams hold the entry
		}
		seen[id] = true
		ok := !skip[id]
		if ok {
			if ok, err = c.mayDeliver(s, &entry.Message); err != nil {
				return err
			}
		}
		d := c.streamDelivery(s, ch.Stream)
		if ok {
			d.Entries = append(d.Entries, entry)
		} else {
			d.Skips = append(d.Skips, ch.Offset)
		}
	}
	return nil
}

// chunkEntry returns the entry of ch: its message, or the entry read from
// the stream when the event did not carry it.
func (c *call) chunkEntry(ch *Chunk) (StreamEntry, error) {
	if ch.Message != nil {
		return StreamEntry{Offset: ch.Offset, Message: *ch.Message}, nil
	}
	entries, err := c.streamStore().ReadStream(c.ctx, ch.Stream, ch.Offset-1, 1)
	if err != nil {
		return StreamEntry{}, fmt.Errorf("session: read the entry of a chunk of %q at %d: %w", ch.Stream.Filter, ch.Offset, err)
	}
	if len(entries) == 0 || entries[0].Offset != ch.Offset {
		return StreamEntry{}, fmt.Errorf("session: the entry of a chunk of %q at %d is gone", ch.Stream.Filter, ch.Offset)
	}
	return entries[0], nil
}
