package invocation

import "github.com/mqttless/mqttless/core/session"

// Batch is the payload of an invocation that carries the events of
// several connections, at most one per connection, so that each
// connection's events stay in order. A function answers it with a
// BatchReply; an invocation with a single event carries the bare
// session.Event and gets a bare session.Reply.
type Batch struct {
	Events []*session.Event `json:"batch"`
}

// BatchReply answers a Batch: one Result per event, in order.
type BatchReply struct {
	Replies []Result `json:"replies"`
}

// Result is the outcome of one event of a Batch. Error set means the
// handlers failed for that event (its connection alone is closed); Reply
// then holds what was done before the failure, if anything.
type Result struct {
	Reply *session.Reply `json:"reply,omitempty"`
	Error string         `json:"error,omitempty"`
}
