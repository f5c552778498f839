package session

import (
	"errors"
	"fmt"

	"github.com/mqttless/mqttless/core/auth"
	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/topic"
)

// Config holds the broker's protocol limits. The zero value of a field
// means its default, given in brackets.
type Config struct {
	// MaxKeepAlive caps the keep alive, in seconds [65535]. A 5.0 client
	// asking for more, or for 0, is told the cap as Server Keep Alive; a
	// 3.1.1 client asking for more is refused with return code 2, as
	// Mosquitto does.
	MaxKeepAlive uint16
	// MaxSessionExpiry caps the Session Expiry Interval in seconds [3600,
	// as AWS IoT Core's default]. A 5.0 client asking for more (0xFFFFFFFF,
	// never, included) is told this value in the CONNACK (section
	// 3.2.2.3.2), and a persistent 3.1.1 session (Clean Session 0) gets it,
	// so that no session outlives its client for ever unless the operator
	// sets NeverExpires.
	MaxSessionExpiry uint32
	// ReceiveMax is the server's Receive Maximum: the QoS 1 and 2
	// PUBLISH packets a client may have unacknowledged [100, AWS IoT Core's
	// limit of unacknowledged messages]. It also bounds the QoS 2 messages
	// held awaiting their PUBREL: one more is answered with DISCONNECT 0x93
	// [MQTT-3.3.4-7], or a close at 3.1.1.
	ReceiveMax uint16
	// MaxSessions bounds the sessions the store holds [10000]. A CONNECT
	// that would create one more is refused with 0x97 (Quota exceeded), at
	// 3.1.1 with return code 3 (Server unavailable); resuming or taking
	// over an existing session is always allowed. The store checks it in
	// the same atomic step that writes the session (SessionQuota), so
	// concurrent CONNECTs cannot pass it; on DynamoDB it holds for the
	// whole table, every machine together.
	MaxSessions int
	// MaxUserSessions bounds the sessions of one identity
	// (Session.Identity: a user or a certificate identity; the anonymous
	// clients, which share one identity, count against MaxSessions only)
	// [1000], refused as MaxSessions is. Taking over another identity's
	// session (an anonymous or expired one) counts as a new one.
	MaxUserSessions int
	// MaxWillSize bounds a will message, in bytes: topic, payload and
	// properties [65536]. A CONNECT with a larger will is refused with 0x97
	// (Quota exceeded; the packet is within Maximum Packet Size, so 0x95
	// does not apply), at 3.1.1 with return code 3 (Server unavailable).
	MaxWillSize int
	// MaxQueuedBytes bounds the bytes (Message.Size) of the queued
	// messages of one session, not counting those in flight [4 MiB]. As
	// with MaxQueued, messages past it are dropped; the message that
	// crosses it is still taken, so a message as large as MaxPacketSize
	// can always be queued.
	MaxQueuedBytes int
	// MaxStoreBytes bounds the bytes (Message.Size) of the queued messages
	// of all sessions together [DefaultMaxStoreBytes], refused as
	// MaxQueuedBytes is (QueueLimit.StoreBytes). It holds on a store that
	// is a StoreBytesCounter; New sets it to 0 on any other store, and
	// the settings refuse -max-store-bytes there (infra/config).
	MaxStoreBytes int64
	// MaxInflight is how many QoS 1 and 2 messages the server has in
	// flight to one client [20]: the window of a 3.1.1 client, which
	// announces no Receive Maximum, and the cap on a 5.0 client's Receive
	// Maximum (the window is the lower of the two), as Mosquitto's
	// max_inflight_messages.
	MaxInflight uint16
	// MaxQueued bounds the queued messages of one session, not counting
	// those in flight [1000]. Messages past it are dropped.
	MaxQueued int
	// QueueQoS0 queues QoS 0 messages for offline clients [false].
	QueueQoS0 bool
	// Delivery chooses how QoS 1 and 2 messages reach non-shared
	// subscriptions ["v1"]: "v1" queues them per subscriber in the store
	// (Enqueue, Dispatch); "v2" appends them once per matching filter to
	// the store's streams and lets the proxy's window (Window) send them
	// (docs/architecture.md, "Delivery v2"; v2.go). v2 needs a store that
	// is a StreamStore. The zero value keeps v1 while both exist, so that
	// code building a Handler directly keeps its behaviour; the brokers'
	// -delivery (infra/config) defaults to v2.
	Delivery string
	// ChunkSize is the most subscriptions of one filter whose delivery v2
	// entries the publish call sends itself [DefaultChunkSize]; past it
	// they go in chunks of this many, run by the Handler's ChunkRunner
	// (WithChunks; chunk.go). Without a runner it is unused.
	ChunkSize int
	// MaxPacketSize is the largest packet the server accepts, announced as
	// Maximum Packet Size [1 MiB].
	MaxPacketSize uint32
	// TopicAliasMax is the server's Topic Alias Maximum: the aliases a
	// client may set [10].
	TopicAliasMax uint16
	// MaxAliasBytes bounds the bytes of the topic names a connection's
	// topic aliases hold together [65536]; the connection state carries
	// them to the handlers on every event. An alias that would pass it
	// closes the connection, as an invalid alias (DISCONNECT 0x94).
	MaxAliasBytes int
	// MaxClientIDLen bounds client identifiers, in bytes [65535].
	MaxClientIDLen int
	// MaxTopicLength bounds topic names and filters, in bytes [65535]. A
	// longer name in a PUBLISH closes the connection (DISCONNECT 0x90 at
	// 5.0); a longer filter in a SUBSCRIBE fails alone (0x8F at 5.0, 0x80
	// at 3.1.1); a longer will topic refuses the CONNECT.
	MaxTopicLength int
	// MaxTopicLevels bounds the levels of topic names and filters (of the
	// filter inside a shared subscription), answered as MaxTopicLength
	// [64].
	MaxTopicLevels int
	// MaxSubscriptions bounds the subscriptions of one session [1000]. The
	// filters of a SUBSCRIBE that would add past it fail with 0x97 (Quota
	// exceeded) at 5.0, 0x80 at 3.1.1; replacing a subscription is always
	// allowed. Checking costs a Store.Subscriptions read for each
	// SUBSCRIBE with a filter to store.
	MaxSubscriptions int
	// MaxRetained bounds the retained messages the store holds
	// [DefaultMaxRetained]; MaxRetainedBytes bounds their bytes, by
	// Message.Size [DefaultMaxRetainedBytes]. A retained PUBLISH past
	// either is refused (see retained.go).
	MaxRetained      int
	MaxRetainedBytes int64
	// MaxUserRetained bounds the retained messages recorded with one
	// identity (the publisher's Session.Identity; a will's, its session's)
	// [DefaultMaxUserRetained]; MaxUserRetainedBytes their bytes
	// [DefaultMaxUserRetainedBytes]. Refused as MaxRetained is; replacing
	// or clearing a message frees what it held for the identity that
	// published it. The anonymous clients, who share one identity, are
	// held to MaxRetained and MaxRetainedBytes only, as they are to
	// MaxSessions only: one anonymous quota would be shared by every
	// anonymous device.
	MaxUserRetained      int
	MaxUserRetainedBytes int64
	// Packet is what the codec accepts beyond the specification: the User
	// Properties one packet may carry, in count and bytes
	// [packet.MaxUserProperties, packet.MaxUserPropertyBytes; the zero
	// value is the defaults]. Every packet the handlers decode is held to
	// it; one over it is refused as packet.ErrUserProperties says (0x97).
	Packet packet.Limits
}

// Delivery values.
const (
	DeliveryV1 = "v1"
	DeliveryV2 = "v2"
)

// Defaults.
const (
	DefaultMaxInflight      = 20
	DefaultMaxQueued        = 1000
	DefaultMaxPacketSize    = 1 << 20
	DefaultTopicAliasMax    = 10
	DefaultMaxAliasBytes    = 64 << 10
	DefaultMaxTopicLevels   = 64
	DefaultMaxSubscriptions = 1000
	DefaultMaxSessionExpiry = 3600
	DefaultReceiveMax       = 100
	DefaultMaxSessions      = 10000
	DefaultMaxUserSessions  = 1000
	DefaultMaxWillSize      = 64 << 10
	DefaultMaxQueuedBytes   = 4 << 20
	DefaultMaxRetained      = 100_000
	DefaultMaxRetainedBytes = 128 << 20
	// One identity may hold a tenth of DefaultMaxRetained and an eighth
	// of DefaultMaxRetainedBytes.
	DefaultMaxUserRetained      = 10_000
	DefaultMaxUserRetainedBytes = 16 << 20
	// DefaultMaxStoreBytes is the default MaxStoreBytes: 1 GiB of queued
	// messages, on disk (bolt) or in memory.
	DefaultMaxStoreBytes = 1 << 30
)

// ErrConfig is a configuration value out of range; the message names it.
var ErrConfig = errors.New("session: invalid configuration")

// DefaultConfig returns the limits that the zero Config stands for, each
// field set to its default.
func DefaultConfig() Config {
	c, _ := Config{}.withDefaults() // the zero Config is valid
	return c
}

// withDefaults returns c with zero fields set to their defaults, or an
// error wrapping ErrConfig that names the first bad setting.
func (c Config) withDefaults() (Config, error) {
	if c.MaxKeepAlive == 0 {
		c.MaxKeepAlive = 65535
	}
	if c.MaxSessionExpiry == 0 {
		c.MaxSessionExpiry = DefaultMaxSessionExpiry
	}
	if c.ReceiveMax == 0 {
		c.ReceiveMax = DefaultReceiveMax
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = DefaultMaxInflight
	}
	if c.ChunkSize == 0 {
		c.ChunkSize = DefaultChunkSize
	}
	if c.ChunkSize < 0 {
		return c, fmt.Errorf("%w: ChunkSize %d is negative", ErrConfig, c.ChunkSize)
	}
	if c.MaxPacketSize == 0 {
		c.MaxPacketSize = DefaultMaxPacketSize
	}
	if c.MaxPacketSize < 64 || c.MaxPacketSize > 268_435_460 {
		return c, fmt.Errorf("%w: MaxPacketSize %d is outside 64 to 268435460", ErrConfig, c.MaxPacketSize)
	}
	if c.MaxStoreBytes == 0 {
		c.MaxStoreBytes = DefaultMaxStoreBytes
	}
	if c.MaxStoreBytes < 0 {
		return c, fmt.Errorf("%w: MaxStoreBytes %d is negative", ErrConfig, c.MaxStoreBytes)
	}
	if c.Packet.UserProperties == 0 {
		c.Packet.UserProperties = packet.MaxUserProperties
	}
	if c.Packet.UserPropertyBytes == 0 {
		c.Packet.UserPropertyBytes = packet.MaxUserPropertyBytes
	}
	if c.Packet.UserProperties < 0 || c.Packet.UserPropertyBytes < 0 {
		return c, fmt.Errorf("%w: Packet %+v is negative", ErrConfig, c.Packet)
	}
	if c.TopicAliasMax == 0 {
		c.TopicAliasMax = DefaultTopicAliasMax
	}
	if c.MaxClientIDLen == 0 {
		c.MaxClientIDLen = 65535
	}
	if c.MaxClientIDLen < 23 || c.MaxClientIDLen > 65535 {
		return c, fmt.Errorf("%w: MaxClientIDLen %d is outside 23 to 65535", ErrConfig, c.MaxClientIDLen)
	}
	if c.MaxTopicLength == 0 {
		c.MaxTopicLength = 65535
	}
	if c.MaxTopicLength < 1 || c.MaxTopicLength > 65535 {
		return c, fmt.Errorf("%w: MaxTopicLength %d is outside 1 to 65535", ErrConfig, c.MaxTopicLength)
	}
	if c.MaxTopicLevels == 0 {
		c.MaxTopicLevels = DefaultMaxTopicLevels
	}
	if c.MaxTopicLevels < 1 {
		return c, fmt.Errorf("%w: MaxTopicLevels %d is negative", ErrConfig, c.MaxTopicLevels)
	}
	if c.MaxSubscriptions == 0 {
		c.MaxSubscriptions = DefaultMaxSubscriptions
	}
	if c.MaxSubscriptions < 1 {
		return c, fmt.Errorf("%w: MaxSubscriptions %d is negative", ErrConfig, c.MaxSubscriptions)
	}
	switch c.Delivery {
	case "":
		c.Delivery = DeliveryV1
	case DeliveryV1:
	case DeliveryV2:
		if _, err := c.pidPlan(); err != nil {
			return c, fmt.Errorf("%w: %w", ErrConfig, err)
		}
	default:
		return c, fmt.Errorf("%w: Delivery %q is neither %q nor %q", ErrConfig, c.Delivery, DeliveryV1, DeliveryV2)
	}
	// The counts and sizes below: 0 takes the default, a negative value is
	// refused.
	for _, f := range []struct {
		name string
		p    *int
		def  int
	}{
		{"MaxSessions", &c.MaxSessions, DefaultMaxSessions},
		{"MaxUserSessions", &c.MaxUserSessions, DefaultMaxUserSessions},
		{"MaxWillSize", &c.MaxWillSize, DefaultMaxWillSize},
		{"MaxQueuedBytes", &c.MaxQueuedBytes, DefaultMaxQueuedBytes},
		{"MaxQueued", &c.MaxQueued, DefaultMaxQueued},
		{"MaxAliasBytes", &c.MaxAliasBytes, DefaultMaxAliasBytes},
		{"MaxRetained", &c.MaxRetained, DefaultMaxRetained},
		{"MaxUserRetained", &c.MaxUserRetained, DefaultMaxUserRetained},
	} {
		if *f.p == 0 {
			*f.p = f.def
		}
		if *f.p < 0 {
			return c, fmt.Errorf("%w: %s %d is negative", ErrConfig, f.name, *f.p)
		}
	}
	if c.MaxRetainedBytes == 0 {
		c.MaxRetainedBytes = DefaultMaxRetainedBytes
	}
	if c.MaxRetainedBytes < 0 {
		return c, fmt.Errorf("%w: MaxRetainedBytes %d is negative", ErrConfig, c.MaxRetainedBytes)
	}
	if c.MaxUserRetainedBytes == 0 {
		c.MaxUserRetainedBytes = DefaultMaxUserRetainedBytes
	}
	if c.MaxUserRetainedBytes < 0 {
		return c, fmt.Errorf("%w: MaxUserRetainedBytes %d is negative", ErrConfig, c.MaxUserRetainedBytes)
	}
	return c, nil
}

// retainedLimits returns the store limits of a retained message published
// by identity: MaxRetained and MaxRetainedBytes, and MaxUserRetained and
// MaxUserRetainedBytes for a named identity (not "", the broker's own, nor
// the anonymous clients').
func (c *Config) retainedLimits(identity string) RetainedLimits {
	lim := RetainedLimits{Count: c.MaxRetained, Bytes: c.MaxRetainedBytes}
	if identity != "" && identity != auth.Anonymous {
		lim.IdentityCount, lim.IdentityBytes = c.MaxUserRetained, c.MaxUserRetainedBytes
	}
	return lim
}

// topicLimits returns the limits on topic names and filters.
func (c *Config) topicLimits() topic.Limits {
	return topic.Limits{MaxLength: c.MaxTopicLength, MaxLevels: c.MaxTopicLevels}
}

// queueLimit is the bound on one session's queue that Store.Enqueue keeps.
func (c *Config) queueLimit() QueueLimit {
	return QueueLimit{Messages: c.MaxQueued, Bytes: c.MaxQueuedBytes, StoreBytes: c.MaxStoreBytes}
}

// pidPlan is delivery v2's packet identifier plan for these settings.
func (c *Config) pidPlan() (PIDPlan, error) {
	return NewPIDPlan(int(c.MaxInflight), c.MaxSubscriptions, StreamShards)
}
