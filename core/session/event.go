package session

import "github.com/mqttless/mqttless/core/packet"

// Kind says what an Event reports.
type Kind string

// Event kinds.
const (
	// KindPackets carries frames the client sent, in order. The first frame
	// of a connection is its CONNECT.
	KindPackets Kind = "packets"
	// KindLost reports that a connection ended. The proxy sends it for every
	// connection whose CONNECT was accepted, whether the client, the network
	// or the broker ended it; the handler decides what the end means. A
	// draining proxy of a fleet sends none for the connections it closes:
	// it settles their sessions in bulk (KindDrain).
	KindLost Kind = "lost"
	// KindTick asks for the work that waits for time (Handler.Sweep): due
	// wills, expired sessions and the sessions of proxies whose lease
	// lapsed. Proxy and Conn are unused.
	KindTick Kind = "tick"
	// KindSweep asks for one Handler.Sweep: the sessions of proxies whose
	// lease lapsed, due wills and expired sessions. KindTick, its older
	// name, does the same. The scheduled sweep function (infra/lambdafn)
	// repeats it every -tick until shortly before its deadline.
	KindSweep Kind = "sweep"
	// KindLease renews the lease of the proxy named in Proxy for LeaseMs
	// (Handler.RenewLease).
	KindLease Kind = "lease"
	// KindRecover reports that the proxy named in Proxy restarted after a
	// crash: the connections it held are gone (Handler.Recover).
	KindRecover Kind = "recover"
	// KindDrain reports that the proxy named in Proxy is draining (on
	// SIGTERM): it closed its connections, and asks the handlers to end
	// the sessions it still owns in bulk rather than one lost event each
	// (Handler.Drain). One event is one bounded pass; Reply.More asks for
	// another.
	KindDrain Kind = "drain"
	// KindSys asks the handler to publish the broker's statistics in Sys
	// as retained QoS 0 messages from the broker itself ($SYS topics).
	// Conn is unused.
	KindSys Kind = "sys"
	// KindRetained asks the handler to continue sending the connection the
	// retained messages of its SUBSCRIBEs (ConnState.Retained). The proxy
	// sends it when ConnState.RetainedMore is set and the connection's
	// send queue is empty.
	KindRetained Kind = "retained"
	// KindUndelivered hands back deliveries the proxy named in Proxy was
	// given in a reply for connections it no longer holds (Deliveries):
	// the handler settles them as it does those a delivery endpoint
	// reports gone (Handler.Undelivered), sending them to the session's
	// current connection or queueing them. Conn is unused.
	KindUndelivered Kind = "undelivered"
	// KindPositions saves the delivery v2 positions of the connection's
	// session (Event.Positions), fenced on Conn (v2.go). The proxy sends it
	// as its window asks (every few acknowledgements, after a while, before
	// a QoS 2 PUBREL, at the end of the connection).
	KindPositions Kind = "positions"
	// KindCatchUp asks for the entries of the sub-streams in Event.Gaps
	// (Reply.Stream.Entries): the connection's window found a gap that no
	// delivery filled within the proxy's order wait (v2.go).
	KindCatchUp Kind = "catchup"
	// KindChunk delivers one chunk of a large delivery v2 fan-out
	// (Event.Chunk, chunk.go) to the online sessions it names. The
	// handlers make it themselves (ChunkRunner); Proxy and Conn are unused.
	KindChunk Kind = "chunk"
)

// Event is what the proxy sends a handler: the payload of one Lambda
// invocation. Frames are raw MQTT packets, base64 in JSON.
type Event struct {
	Kind Kind `json:"kind"`
	// Proxy identifies the proxy that holds the connection; deliveries to
	// the connection are addressed to it.
	Proxy string `json:"proxy"`
	// Conn identifies the connection, unique across proxies and time.
	Conn string `json:"conn"`
	// Remote is the client's network address, for logs.
	Remote string `json:"remote,omitempty"`
	// CertIdentity is the subject common name of the client certificate
	// the proxy verified on this connection (mutual TLS), or empty. Only
	// the proxy sets it; the handler may take it as the username.
	CertIdentity string `json:"certIdentity,omitempty"`
	// State is the connection state from the previous Reply, returned
	// unchanged; empty before CONNECT.
	State *ConnState `json:"state,omitempty"`
	// Packets are the frames to handle, in the order they arrived.
	Packets [][]byte `json:"packets,omitempty"`
	// SendRoom is how many bytes the connection's send queue can take at
	// once, as the proxy saw it when it sent the event; 0 when the proxy
	// does not say. Retained messages are sent within it (retained.go).
	SendRoom int `json:"sendRoom,omitempty"`
	// LeaseMs is the period of a KindLease event, in milliseconds.
	LeaseMs int64 `json:"leaseMs,omitempty"`
	// Sys holds the statistics of a KindSys event.
	Sys []SysValue `json:"sys,omitempty"`
	// Deliveries are the deliveries of a KindUndelivered event.
	Deliveries []Delivery `json:"deliveries,omitempty"`
	// Positions are the positions a KindPositions event saves.
	Positions []StreamPosition `json:"positions,omitempty"`
	// Gaps are the sub-streams a KindCatchUp event reads.
	Gaps []Gap `json:"gaps,omitempty"`
	// Chunk is the work of a KindChunk event.
	Chunk *Chunk `json:"chunk,omitempty"`
}

// SysValue is one broker statistic: its topic, under $SYS/, and its value
// as text.
type SysValue struct {
	Topic string `json:"topic"`
	Value string `json:"value"`
}

// Reply is what a handler returns for an Event.
type Reply struct {
	// Packets are frames to write to the event's connection, in order.
	Packets [][]byte `json:"packets,omitempty"`
	// Order places the QoS 1 and 2 PUBLISH frames of Packets in their
	// session's order (see Order).
	Order []Order `json:"order,omitempty"`
	// Deliveries are frames for other connections.
	Deliveries []Delivery `json:"deliveries,omitempty"`
	// Close asks the proxy to close the connection after writing Packets.
	Close bool `json:"close,omitempty"`
	// State replaces the connection state; nil leaves it unchanged.
	State *ConnState `json:"state,omitempty"`
	// Refused are the reasons of what the handlers refused in this call
	// (refusal.go): of a refused CONNECT (a Refused* value, one), and of
	// each denied PUBLISH or SUBSCRIBE filter (DeniedPublish,
	// DeniedSubscribe), for the proxy's metrics. The handlers logged them.
	Refused []string `json:"refused,omitempty"`
	// Stream is delivery v2's work for the event's connection (v2.go);
	// nil under v1 and when there is none.
	Stream *StreamWork `json:"stream,omitempty"`
	// More is set on the reply of a KindDrain event whose pass stopped
	// before it ended every session the proxy owned (or published every
	// will due): another KindDrain event goes on from there.
	More bool `json:"more,omitempty"`
}

// Delivery is frames for one connection held by some proxy, or a request to
// close it (after its frames) when a session is taken over.
type Delivery struct {
	Proxy string `json:"proxy"`
	Conn  string `json:"conn"`
	// Client is the client id of the session the connection holds, so
	// that a delivery that finds the connection gone can be queued
	// (Handler.Undelivered).
	Client  string   `json:"client,omitempty"`
	Packets [][]byte `json:"packets,omitempty"`
	// Order places the QoS 1 and 2 PUBLISH frames of Packets in their
	// session's order (see Order).
	Order []Order `json:"order,omitempty"`
	Close bool    `json:"close,omitempty"`
	// Streams are delivery v2's entries for the connection's window,
	// offered after Packets (v2.go). A delivery that finds its connection
	// gone needs nothing for them: the session reads its streams when it
	// connects again.
	Streams []StreamDelivery `json:"streams,omitempty"`
}

// ConnState is the state of one connection that handlers need between
// calls. The proxy keeps it opaque, except for the fields it needs to run
// the connection: ClientID, Version, KeepAlive, TopicAliasMax and
// RetainedMore.
type ConnState struct {
	ClientID string         `json:"clientId"`
	Version  packet.Version `json:"version"`
	// Username is the user the CONNECT authenticated as (see WithAuth),
	// empty for an anonymous client; access checks use it.
	Username string `json:"username,omitempty"`
	// Identity is who the client is (auth.Identity.String), the identity
	// its session belongs to; each handler call checks that it still
	// stands (a removed user's connection is closed). Empty in the state
	// of a connection accepted by an older version.
	Identity string `json:"identity,omitempty"`
	// Bound is set when the client id is bound to the identity
	// (auth.Identity.MatchClientID): only then do access rules that name
	// a client id, or use %c, apply to the client.
	Bound bool `json:"bound,omitempty"`
	// KeepAlive is the keep alive in seconds the proxy enforces (the
	// client's, or the server's when it overrides it); 0 disables it.
	KeepAlive uint16 `json:"keepAlive"`
	// TopicAliasMax is the client's Topic Alias Maximum: how many aliases
	// the proxy may use on PUBLISH frames it sends to the client.
	TopicAliasMax uint16 `json:"topicAliasMax,omitempty"`
	// SessionExpiry is the Session Expiry Interval in force, which a
	// DISCONNECT may change.
	SessionExpiry uint32 `json:"sessionExpiry"`
	// ReceiveMax is the outbound window: the client's Receive Maximum
	// capped at Config.MaxInflight. MaxPacketSize is the client's limit.
	ReceiveMax    uint16 `json:"receiveMax"`
	MaxPacketSize uint32 `json:"maxPacket,omitempty"`
	// ProblemInfo is false when the client asked for no reason strings and
	// user properties outside PUBLISH, CONNACK and DISCONNECT [MQTT-3.1.2-29].
	ProblemInfo bool `json:"problemInfo"`
	// Aliases maps the topic aliases the client set to their topics
	// (section 3.3.2.3.4); aliases live as long as the connection
	// [MQTT-3.3.2-7].
	Aliases map[uint16]string `json:"aliases,omitempty"`
	// Pending counts the QoS 2 messages received on this connection whose
	// PUBREL has not come yet, against the server's Receive Maximum.
	Pending uint16 `json:"pending,omitempty"`
	// Retained are the scans of retained messages still to send for this
	// connection's SUBSCRIBEs, in order; RetainedMore asks the proxy for a
	// KindRetained event once its send queue is empty (see retained.go).
	Retained     []RetainedScan `json:"retained,omitempty"`
	RetainedMore bool           `json:"retainedMore,omitempty"`
	// Disconnected is set once the client sent DISCONNECT, so that the
	// following KindLost event does not publish the will.
	Disconnected bool `json:"disconnected,omitempty"`
	// HoldStreams is set while delivery v2's window of the connection is
	// paused for the messages v1 had queued for the session (v2.go,
	// connectStreams); acknowledgements that leave nothing of v1 in
	// flight resume it.
	HoldStreams bool `json:"holdStreams,omitempty"`
}
