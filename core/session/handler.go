package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/mqttless/mqttless/core/auth"
	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/ratelog"
)

// Handler applies the MQTT rules to events from the proxy. It keeps nothing
// between calls: all state is in its Store and in the connection state the
// proxy carries. A Handler is safe for concurrent use.
type Handler struct {
	store Store
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	auth  *auth.Checker // nil: everything allowed, every client anonymous
	drops *drops        // messages dropped on full queues (drops.go)
	// refusals limits the log lines of refusals (refusal.go); it is safe
	// for concurrent use.
	refusals *ratelog.Limiter
	// chunks runs the chunks of large delivery v2 fan-outs (chunk.go);
	// nil: every delivery is made in the publish call.
	chunks ChunkRunner
	// early delivers QoS 1 stream entries before their commit
	// (WithEarlyDelivery); nil: with the reply.
	early func(ctx context.Context, ds []Delivery)
}

// Option adjusts a Handler.
type Option func(*Handler)

// WithClock makes the handler read the time from now, for tests.
func WithClock(now func() time.Time) Option { return func(h *Handler) { h.now = now } }

// WithAuth makes the handler authenticate each CONNECT and authorize each
// PUBLISH, SUBSCRIBE and will message with c (see authz.go). Without it
// every client is anonymous and everything is allowed, except publishing
// to $SYS topics, which only the broker does.
func WithAuth(c *auth.Checker) Option { return func(h *Handler) { h.auth = c } }

// New returns a Handler over store. It fails with an error wrapping
// ErrConfig when cfg holds a bad value.
func New(store Store, cfg Config, log *slog.Logger, opts ...Option) (*Handler, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if _, ok := store.(StoreBytesCounter); !ok {
		cfg.MaxStoreBytes = 0 // it cannot hold; infra/config refuses the setting there
	}
	if cfg.Delivery == DeliveryV2 {
		_, streams := store.(StreamStore)
		limiter, limits := store.(PacketIDLimiter)
		if !streams || !limits {
			return nil, fmt.Errorf("%w: Delivery %q needs a store with streams (StreamStore) whose queues can keep to packet identifiers 1 to MaxInflight (PacketIDLimiter)", ErrConfig, cfg.Delivery)
		}
		// The identifiers above MaxInflight are the streams' (PIDPlan).
		limiter.LimitPacketIDs(cfg.MaxInflight)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{store: store, cfg: cfg, log: log, now: time.Now, drops: newDrops(), refusals: newRefusalLog()}
	for _, o := range opts {
		o(h)
	}
	return h, nil
}

// Config returns the configuration in force, defaults filled in.
func (h *Handler) Config() Config { return h.cfg }

// tickBatch is how many sessions one KindTick event handles, for each of
// its steps (Sweep).
const tickBatch = 1000

// Handle processes one event. It returns the reply even when it also
// returns an error: the reply then holds what was done before the failure
// (frames to write, deliveries to make), and the error, always from the
// Store or the context, means the connection should be closed with
// DISCONNECT 0x80 at 5.0.
func (h *Handler) Handle(ctx context.Context, ev *Event) (*Reply, error) {
	switch ev.Kind {
	case KindTick, KindSweep:
		reply, _, err := h.Sweep(ctx, tickBatch)
		return reply, err
	case KindLease:
		return &Reply{}, h.RenewLease(ctx, ev.Proxy, time.Duration(ev.LeaseMs)*time.Millisecond)
	case KindRecover:
		reply, _, err := h.Recover(ctx, ev.Proxy)
		return reply, err
	case KindDrain:
		reply, _, err := h.Drain(ctx, ev.Proxy)
		return reply, err
	case KindSys:
		return h.PublishSys(ctx, ev.Sys)
	case KindUndelivered:
		return h.Undelivered(ctx, ev.Deliveries)
	}
	c := &call{h: h, ctx: ctx, ev: ev, now: h.now(), reply: &Reply{}}
	if ev.State != nil {
		st := *ev.State
		c.st = &st
	}
	var err error
	switch ev.Kind {
	case KindLost:
		err = c.lost()
	case KindPackets:
		if err = c.checkIdentity(); err != nil || c.reply.Close {
			break
		}
		for _, frame := range ev.Packets {
			if err = c.frame(frame); err != nil || c.reply.Close {
				break
			}
		}
	case KindRetained:
	case KindPositions:
		err = c.savePositions()
	case KindCatchUp:
		err = c.catchUp()
	case KindChunk:
		err = c.runChunk()
	default:
		err = fmt.Errorf("session: unknown event kind %q", ev.Kind)
	}
	if ferr := c.finish(); err == nil {
		err = ferr
	}
	if err == nil && (ev.Kind == KindPackets || ev.Kind == KindRetained) {
		// Scans of retained messages go on after the event's other work:
		// the acknowledgements it carried may have freed the window
		// (retained.go).
		err = c.continueRetained(ev.Kind == KindRetained)
	}
	if c.stateChanged {
		c.reply.State = c.st
	}
	return c.reply, err
}

// call is the working state of one Handle call.
type call struct {
	h            *Handler
	ctx          context.Context
	ev           *Event
	now          time.Time
	st           *ConnState // nil before CONNECT
	stateChanged bool
	reply        *Reply
	delivIdx     map[string]int // "proxy\x00conn" -> index in reply.Deliveries

	// Store work deferred to the flush (flush.go).
	pending      []*pendingOut          // per subscriber, in fan-out order
	pendingBy    map[string]*pendingOut // by client id
	acks         []pendingAck
	appends      []pendingAppend // delivery v2's stream appends (flushAppends)
	marks        []uint16        // QoS 2 packet ids to mark fanned out
	marked       map[uint16]bool // the same, as a set
	resent       map[string]bool // receipts of QoS 2 messages routed again (publish.go), whose entries may exist
	ends         []ended         // PUBACK and PUBCOMP of the current run
	needDispatch bool            // acknowledgements freed room in the window

	// What the fan-out read, kept for the rest of the call (fanout.go).
	matches    map[string][]Subscription // by topic name
	sessions   map[string]*Session       // by client id; nil: none
	matchReads map[matchKey]matchRead    // from a MatchReader store
}

func (c *call) version() packet.Version {
	if c.st == nil {
		return packet.V311
	}
	return c.st.Version
}

// send encodes p for this connection and queues it in the reply.
func (c *call) send(p packet.Packet) {
	b, err := p.Append(nil, c.version())
	if err != nil {
		// Only a bug can get here: every packet the core builds is valid.
		c.h.log.Error("encode failed", "type", p.Type(), "err", err)
		return
	}
	c.reply.Packets = append(c.reply.Packets, b)
}

// deliver queues a frame for the connection that holds session s: this
// one, or another.
func (c *call) deliver(s *Session, frame []byte) {
	if s.Conn == c.ev.Conn {
		c.reply.Packets = append(c.reply.Packets, frame)
		return
	}
	d := c.delivery(s)
	d.Packets = append(d.Packets, frame)
}

// delivery returns the reply's delivery to the connection of session s,
// adding it when there is none yet.
func (c *call) delivery(s *Session) *Delivery {
	if c.delivIdx == nil {
		c.delivIdx = make(map[string]int)
	}
	return deliveryIn(&c.reply.Deliveries, c.delivIdx, s)
}

// deliveryIn returns the Delivery to session s's connection in ds, whose
// index by proxy and connection is idx, adding it.
func deliveryIn(ds *[]Delivery, idx map[string]int, s *Session) *Delivery {
	key := s.Proxy + "\x00" + s.Conn
	if i, ok := idx[key]; ok {
		return &(*ds)[i]
	}
	idx[key] = len(*ds)
	*ds = append(*ds, Delivery{Proxy: s.Proxy, Conn: s.Conn, Client: s.ClientID})
	return &(*ds)[len(*ds)-1]
}

// disconnect ends the connection for a protocol violation or server
// decision: at 5.0 with a DISCONNECT carrying rc [MQTT-4.13.1-1], before
// that by closing alone.
func (c *call) disconnect(rc packet.ReasonCode, reason string) {
	if c.version() == packet.V5 {
		d := &packet.Disconnect{ReasonCode: rc}
		if reason != "" {
			d.Properties.ReasonString = reason
			d.Properties.Set(packet.PropReasonString)
		}
		c.send(d)
	}
	c.reply.Close = true
	c.h.log.Debug("closing connection", "conn", c.ev.Conn, "reason", rc.String(), "detail", reason)
}

// frame handles one frame from the client.
func (c *call) frame(frame []byte) error {
	if len(frame) == 0 {
		c.reply.Close = true
		return nil
	}
	t := packet.Type(frame[0] >> 4)
	if c.st == nil {
		if t != packet.CONNECT {
			c.reply.Close = true // [MQTT-3.1.0-1] the first packet must be CONNECT
			return nil
		}
		return c.connect(frame)
	}
	if t != packet.PUBACK && t != packet.PUBCOMP {
		// A run of acknowledgements ends: dispatch once for all of them.
		if err := c.flushDispatch(); err != nil {
			return err
		}
	}
	if needsFlush(t) {
		if err := c.flush(); err != nil || c.reply.Close {
			return err
		}
	}
	switch t {
	case packet.CONNECT:
		c.disconnect(packet.ProtocolError, "second CONNECT") // [MQTT-3.1.0-2]
		return nil
	case packet.PUBLISH:
		return c.publish(frame)
	case packet.PUBACK, packet.PUBREC, packet.PUBREL, packet.PUBCOMP:
		return c.ack(t, frame)
	case packet.SUBSCRIBE:
		c.matches, c.matchReads = nil, nil
		return c.subscribe(frame)
	case packet.UNSUBSCRIBE:
		c.matches, c.matchReads = nil, nil
		return c.unsubscribe(frame)
	case packet.PINGREQ:
		// The proxy answers PINGREQ itself; this path serves proxies that
		// forward it anyway [MQTT-3.12.4-1].
		if err := new(packet.Pingreq).Decode(frame, c.version()); err != nil {
			c.malformed(err)
			return nil
		}
		c.send(&packet.Pingresp{})
		return nil
	case packet.DISCONNECT:
		return c.clientDisconnect(frame)
	case packet.AUTH:
		return c.enhancedAuth(frame)
	default:
		// A server never receives CONNACK, SUBACK, UNSUBACK or PINGRESP:
		// one that parses is a Protocol Error. Type 0 is reserved and does
		// not parse: a Malformed Packet (0x81) (section 2.1.2) [MQTT-4.13.1-1].
		if _, err := packet.DecodeWith(frame, c.version(), c.h.cfg.Packet); err != nil {
			c.malformed(err)
			return nil
		}
		c.disconnect(packet.ProtocolError, "unexpected "+t.String())
		return nil
	}
}

// needsFlush reports whether the deferred store work must be done before a
// frame of type t: all but PUBLISH, the acknowledgements of outbound
// messages and PINGREQ may observe it (PUBREL forgets a QoS 2 message still
// to be marked fanned out, SUBSCRIBE enqueues retained messages, DISCONNECT
// ends the session).
func needsFlush(t packet.Type) bool {
	switch t {
	case packet.PUBLISH, packet.PUBACK, packet.PUBREC, packet.PUBCOMP, packet.PINGREQ:
		return false
	}
	return true
}

// malformed closes the connection for a packet that failed to decode, with
// the reason code the error carries.
func (c *call) malformed(err error) {
	c.disconnect(packet.ReasonCodeOf(err), err.Error())
}

// storeErr turns ErrFenced, which means this connection was taken over,
// into the close a takeover makes (DISCONNECT 0x8E at 5.0 [MQTT-3.1.4-3]):
// a call of the old connection can find the fence before the takeover's
// own DISCONNECT reaches it. Other errors pass up.
func (c *call) storeErr(err error) error {
	if errors.Is(err, ErrFenced) {
		c.disconnect(packet.SessionTakenOver, "")
		return nil
	}
	return err
}

func (c *call) nowMs() int64 { return c.now.UnixMilli() }

// newID returns a random identifier of n bytes, hex encoded.
func newID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
