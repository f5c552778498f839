package session

import (
	"context"
	"hash/fnv"
)

// This file holds the store steps of delivery v2 (docs/architecture.md,
// "Delivery v2"): a QoS 1/2 message is appended once to the stream of each
// distinct subscription filter that matches its topic, and each session
// keeps, per filter and sub-stream, how far it has acknowledged. Nothing is
// written per delivery. The window rules that use these steps live in core;
// a store keeps only the atomic steps below (StreamStore).

// StreamID names one sub-stream: the stream of a subscription filter (never
// a shared one: shared subscriptions keep per-member queues), split into
// sub-streams by a hash of the topic name (ShardOf), so that a topic's
// messages are always in one sub-stream, in publish order [MQTT-4.6.0-6].
type StreamID struct {
	Filter string
	Shard  int
}

// ShardOf returns the sub-stream, among shards, that holds the messages of
// topic: FNV-1a of the topic name modulo shards (0 when shards <= 1). It is
// the one rule that places a message; changing it moves topics between
// sub-streams, so it is part of the stored format.
func ShardOf(topic string, shards int) int {
	if shards <= 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(topic))
	return int(h.Sum32() % uint32(shards))
}

// StreamEntry is one message of a sub-stream, at its offset.
type StreamEntry struct {
	Offset  uint64
	Message Message
}

// Position is a session's progress on one sub-stream.
type Position struct {
	// Number is the subscription's number in its session, the same for
	// every sub-stream of its filter: it places the subscription's packet
	// identifiers (PIDPlan), so it is durable with the position. The
	// window gives a new subscription the smallest number its session does
	// not use (Window.FreeNumber).
	Number int
	// Acked is the offset up to which every message of the sub-stream is
	// acknowledged (PUBACK, or PUBCOMP at QoS 2), or was not the session's
	// (published before it subscribed, denied, its own under No Local); 0
	// is before the first entry.
	Acked uint64
	// Released are the QoS 2 offsets above Acked whose PUBREC came: after a
	// crash they get PUBREL again, never PUBLISH [MQTT-4.4.0-1]. Ascending.
	Released []uint64
}

// Positions are a session's positions, by sub-stream.
type Positions map[StreamID]Position

// StreamStore is the Store steps of delivery v2. Readings of the contract
// (core/session/storetest, "Streams"):
//
//   - Offsets of a sub-stream only grow and are dense: Append gives the
//     entry the offset after the last one, whatever runs concurrently, and
//     never leaves a gap. Sub-streams are independent.
//   - A sub-stream with no entry (a new one, or one whose entries all
//     passed their retention) may begin at any offset of at least 1 above
//     every offset it gave before: memstore and bbolt count from 1 and
//     never reset, DynamoDB (which keeps no head item) begins from the
//     clock. So a reader that finds the first entry above the offset it
//     expected takes the offsets between as gone, as it does for entries
//     past their retention; an offset is never given twice, so a session's
//     position never hides a new message.
//   - ReadStream of a sub-stream with no entry finds nothing and is not an
//     error. Heads is the last offset a sub-stream gave or, for one with
//     no entry, the offset its next entry will follow (0 for memstore and
//     bbolt; DynamoDB's base, below), so that a subscription starting at
//     a head gets the next entry with no gap.
//   - Positions belong to a subscription: Positions returns only those of
//     filters the session subscribes to (a save that raced an Unsubscribe
//     may be kept by the store, never returned), a Subscribe that makes a
//     new subscription starts it with none, and Unsubscribe, a Connect
//     that clears the session and DeleteSession remove them.
//   - SavePositions sets each sub-stream it names and leaves the others as
//     they were. It is fenced on conn as every write of a connection is.
//   - Values are copied deeply both ways, as everywhere in the Store.
type StreamStore interface {
	// Append adds msg at the end of the sub-stream id and returns its
	// offset.
	Append(ctx context.Context, id StreamID, msg *Message) (uint64, error)
	// ReadStream returns the entries of id with offsets above after, in
	// offset order, at most limit of them.
	ReadStream(ctx context.Context, id StreamID, after uint64, limit int) ([]StreamEntry, error)
	// Heads returns the head of each of ids: its last offset, or the one
	// its next entry follows.
	Heads(ctx context.Context, ids []StreamID) (map[StreamID]uint64, error)
	// SavePositions records pos for clientID's session, written by its
	// connection conn: ErrFenced when conn does not own the session.
	SavePositions(ctx context.Context, clientID, conn string, pos Positions) error
	// Positions returns clientID's positions (none for a session that does
	// not exist).
	Positions(ctx context.Context, clientID string) (Positions, error)
}

// StreamAppend is one append of an AppendBatch: Msg at the end of ID.
type StreamAppend struct {
	ID  StreamID
	Msg *Message
}

// StreamBatcher is a StreamStore that appends several entries with one
// durable write: the messages of one event (up to 64 PUBLISH packets of a
// connection) then cost one commit instead of one each, as v1's Enqueue
// of a run does. Without it the handlers call Append for each, in order.
// Readings of the contract (storetest, "Streams/AppendBatch"):
//
//   - The offsets are those Appends of the batch, one after another in
//     its order, would give: within a sub-stream they follow each other in
//     batch order, whatever runs concurrently.
//   - All are appended or, on an error, none.
type StreamBatcher interface {
	AppendBatch(ctx context.Context, batch []StreamAppend) ([]uint64, error)
}

// StreamShower is a StreamBatcher that can show a batch's offsets before
// the batch is durable: AppendBatchShown calls shown, at most once and
// before it returns, with the offsets it returns on success, once they are
// assigned and no other write can take them; the batch's commit may still
// be under way. The handlers then deliver the batch's QoS 1 entries to
// their online subscribers at once (Handler.WithEarlyDelivery), while the
// publisher's PUBACK still waits for AppendBatchShown's return. Readings
// of the contract (storetest, "Streams/AppendBatchShown"):
//
//   - What AppendBatch promises, AppendBatchShown does too.
//   - Offsets shown are never given to another entry: a commit that fails
//     after shown was called leaves the store refusing every later write
//     (bbolt: the group commit is broken), and a crash before it loses the
//     batch together with every later write, a position saved after the
//     delivery included (it commits after the batch).
//   - shown may not be called at all (the store then delivers nothing
//     early); a caller must not block in it.
type StreamShower interface {
	AppendBatchShown(ctx context.Context, batch []StreamAppend, shown func(offs []uint64)) ([]uint64, error)
}

// StreamTrimmer is a StreamStore that removes entries past their retention
// itself, in the sweep (Handler.Sweep), rather than by a ttl of its
// database (DynamoDB's): bbolt. TrimStreams removes up to limit entries
// past retention at now (Unix ms) from the front of every sub-stream,
// never leaving a hole below an entry, and returns how many.
type StreamTrimmer interface {
	TrimStreams(ctx context.Context, now int64, limit int) (int, error)
}
