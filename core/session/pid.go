package session

import "fmt"

// PIDPlan maps delivery v2's (subscription slot, offset) to packet
// identifiers, so that a message resent on a later connection, after any
// crash, keeps the identifier it was first sent with [MQTT-4.4.0-1]
// without a write per delivery (docs/architecture.md, "Packet identifiers
// follow from durable state"). Identifiers 1 to Reserved stay for the
// per-member queues of shared subscriptions; the rest are cut into Slots
// slices of Span identifiers, one per (subscription number, sub-stream).
type PIDPlan struct {
	Reserved int // identifiers 1..Reserved: shared subscriptions
	Shards   int // sub-streams per filter
	Slots    int // subscriptions × sub-streams
	Span     int // identifiers per slot
}

// NewPIDPlan returns the plan for a window of maxInflight, sessions of at
// most maxSubscriptions subscriptions and shards sub-streams per filter. A
// plan whose span is below maxInflight (one sub-stream could not fill the
// window) is an error that names the settings.
func NewPIDPlan(maxInflight, maxSubscriptions, shards int) (PIDPlan, error) {
	if maxInflight < 1 || maxSubscriptions < 1 || shards < 1 {
		return PIDPlan{}, fmt.Errorf("session: packet identifiers: -max-inflight %d, -max-subscriptions %d and the sub-streams %d must each be at least 1",
			maxInflight, maxSubscriptions, shards)
	}
	slots := maxSubscriptions * shards
	span := (65535 - maxInflight) / slots
	if span < maxInflight {
		return PIDPlan{}, fmt.Errorf("session: packet identifiers: -max-inflight %d × (-max-subscriptions %d × sub-streams %d) leaves %d identifiers a subscription, fewer than -max-inflight; lower one of them",
			maxInflight, maxSubscriptions, shards, span)
	}
	return PIDPlan{Reserved: maxInflight, Shards: shards, Slots: slots, Span: span}, nil
}

// Slot returns the slot of subscription number n (0-based, below
// maxSubscriptions) and sub-stream shard.
func (p PIDPlan) Slot(n, shard int) int { return n*p.Shards + shard }

// ID returns the packet identifier of the message at offset in slot.
func (p PIDPlan) ID(slot int, offset uint64) uint16 {
	return uint16(1 + p.Reserved + slot*p.Span + int(offset%uint64(p.Span)))
}

// Sendable reports whether offset may go in flight while oldest is the
// lowest unacknowledged offset of its sub-stream: two offsets in flight
// share an identifier only when they are Span or more apart.
func (p PIDPlan) Sendable(oldest, offset uint64) bool {
	return offset >= oldest && offset-oldest < uint64(p.Span)
}

// Owns reports whether pid is one of the plan's slots (a delivery v2
// message), not one of the identifiers 1 to Reserved of the per-member
// queues.
func (p PIDPlan) Owns(pid uint16) bool { return int(pid) > p.Reserved }

// PacketIDLimiter is a Store whose per-session queues (Dispatch) can keep
// the packet identifiers they assign within 1 to max, so that delivery
// v2's PIDPlan has the rest: shared subscriptions (and retained and queued
// QoS 0 messages) keep v1's queues beside the streams. New calls
// LimitPacketIDs(MaxInflight) under Delivery "v2", and refuses a store
// without it. A Dispatch window is then at most max.
type PacketIDLimiter interface {
	LimitPacketIDs(max uint16)
}
