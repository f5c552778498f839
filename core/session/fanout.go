package session

import (
	"math/rand/v2"
	"slices"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/topic"
)

// target is one session a message goes to, with the options of the
// subscriptions that matched.
type target struct {
	clientID string
	qos      byte
	rap      bool // Retain As Published
	subIDs   []uint32
}

// fanOut delivers m to every matching subscription and returns the count
// of the sessions it went to, which is final once the call has flushed the
// enqueues fanOut defers (see flush.go). Overlapping subscriptions of one
// client give one delivery at the highest QoS they grant, carrying every
// matching subscription identifier ([MQTT-3.3.4-2] (3.1.1:
// [MQTT-3.3.5-1]), [MQTT-3.3.4-3], [MQTT-3.3.4-4]). Each shared
// subscription group gets one delivery, to a member chosen at random,
// online members first (section 4.8.2).
func (c *call) fanOut(m *Message) (*fanout, error) {
	f := &fanout{}
	subs, read, err := c.readMatches(m)
	if err != nil {
		return f, err
	}
	if len(subs) == 0 {
		return f, nil
	}
	var targets []target
	byClient := map[string]int{}
	var shared map[string][]*Subscription  // group\x00filter -> members
	var streams map[string][]*Subscription // filter -> subscriptions, delivery v2 (v2.go)
	for i := range subs {
		s := &subs[i]
		if group, inner, ok, _ := topic.ParseShared(s.Filter); ok {
			if shared == nil {
				shared = map[string][]*Subscription{}
			}
			key := group + "\x00" + inner
			shared[key] = append(shared[key], s)
			continue
		}
		if c.h.v2() && m.QoS > 0 {
			if streams == nil {
				streams = map[string][]*Subscription{}
			}
			streams[s.Filter] = append(streams[s.Filter], s)
			continue
		}
		if s.NoLocal && s.ClientID == m.Publisher {
			continue // [MQTT-3.8.3-3]
		}
		targets = addTarget(targets, byClient, s)
	}
	ids := make([]string, 0, len(targets)+len(shared))
	for _, t := range targets {
		ids = append(ids, t.clientID)
	}
	for _, members := range shared {
		for _, s := range members {
			ids = append(ids, s.ClientID)
		}
	}
	var chunked map[string][]*Subscription // filter -> subscriptions, fanned out in chunks (chunk.go)
	for filter, members := range streams {
		if c.h.chunking(len(members)) {
			if chunked == nil {
				chunked = map[string][]*Subscription{}
			}
			chunked[filter] = members
			continue
		}
		for _, s := range members {
			ids = append(ids, s.ClientID)
		}
	}
	sessions := read
	if sessions == nil {
		if sessions, err = c.sessionsOf(ids); err != nil {
			return f, err
		}
	}
	// A shared group delivers to one member (section 4.8.2); fairness is by
	// uniform random choice among the members online, or among all of them
	// when none is.
	for _, members := range shared {
		var online []*Subscription
		for _, s := range members {
			if ss := sessions[s.ClientID]; ss != nil && ss.Online() {
				online = append(online, s)
			}
		}
		pool := online
		if len(pool) == 0 {
			pool = members
		}
		pick := pool[rand.IntN(len(pool))]
		targets = append(targets, target{clientID: pick.ClientID, qos: pick.QoS, rap: pick.RetainAsPublished,
			subIDs: subIDList(pick.SubID)})
	}
	if len(streams) > 0 {
		if err := c.fanOutStreams(m, streams, chunked, sessions, f); err != nil {
			return f, err
		}
	}
	for i := range targets {
		s := sessions[targets[i].clientID]
		if s == nil {
			continue // a subscription outliving its session; it is removed with the session
		}
		ok, err := c.mayDeliver(s, m)
		if err != nil {
			return f, err
		}
		if !ok {
			continue
		}
		c.deliverTo(s, &targets[i], m, f)
	}
	return f, nil
}

// readMatches returns the subscriptions matching m's topic and, when the
// store is a MatchReader, the sessions of their clients (nil otherwise:
// fanOut reads them with sessionsOf). A MatchReader is asked once per topic
// and QoS in a call.
func (c *call) readMatches(m *Message) ([]Subscription, map[string]*Session, error) {
	mr, ok := c.h.store.(MatchReader)
	if !ok {
		subs, err := c.match(m.Topic)
		return subs, nil, err
	}
	key := matchKey{m.Topic, m.QoS}
	if r, ok := c.matchReads[key]; ok {
		return r.subs, r.sessions, nil
	}
	chunkAbove := 0
	if c.h.v2() && m.QoS > 0 && c.h.chunks != nil {
		chunkAbove = c.h.cfg.ChunkSize // their sessions are the chunks' to read
	}
	subs, sessions, err := mr.MatchSessions(c.ctx, m.Topic, m.QoS, chunkAbove)
	if err != nil {
		return nil, nil, err
	}
	if sessions == nil {
		sessions = map[string]*Session{}
	}
	if c.matchReads == nil {
		c.matchReads = map[matchKey]matchRead{}
	}
	c.matchReads[key] = matchRead{subs, sessions}
	return subs, sessions, nil
}

// matchKey and matchRead are what a MatchReader returned in this call.
type matchKey struct {
	topic string
	qos   byte
}

type matchRead struct {
	subs     []Subscription
	sessions map[string]*Session
}

// match returns the subscriptions matching topic name, read from the store
// once per call: the messages of one event that share a topic (a batch
// from a busy publisher) are fanned out with one Store.Match. A SUBSCRIBE or
// UNSUBSCRIBE in the event drops what was read.
func (c *call) match(name string) ([]Subscription, error) {
	if subs, ok := c.matches[name]; ok {
		return subs, nil
	}
	subs, err := c.h.store.Match(c.ctx, name)
	if err != nil {
		return nil, err
	}
	if c.matches == nil {
		c.matches = map[string][]Subscription{}
	}
	c.matches[name] = subs
	return subs, nil
}

// sessionsOf returns the sessions of ids that exist, reading from the
// store only those the call has not read yet.
func (c *call) sessionsOf(ids []string) (map[string]*Session, error) {
	out := make(map[string]*Session, len(ids))
	var missing []string
	for _, id := range ids {
		if s, ok := c.sessions[id]; ok {
			if s != nil {
				out[id] = s
			}
			continue
		}
		missing = append(missing, id)
	}
	if len(missing) == 0 {
		return out, nil
	}
	got, err := c.h.store.Sessions(c.ctx, missing)
	if err != nil {
		return nil, err
	}
	if c.sessions == nil {
		c.sessions = make(map[string]*Session, len(missing))
	}
	for _, id := range missing {
		c.sessions[id] = got[id] // nil records a session that does not exist
		if got[id] != nil {
			out[id] = got[id]
		}
	}
	return out, nil
}

func subIDList(id uint32) []uint32 {
	if id == 0 {
		return nil
	}
	return []uint32{id}
}

// addTarget merges subscription s into the target of its client.
func addTarget(targets []target, byClient map[string]int, s *Subscription) []target {
	i, ok := byClient[s.ClientID]
	if !ok {
		byClient[s.ClientID] = len(targets)
		return append(targets, target{clientID: s.ClientID, qos: s.QoS, rap: s.RetainAsPublished,
			subIDs: subIDList(s.SubID)})
	}
	t := &targets[i]
	t.qos = max(t.qos, s.QoS)
	t.rap = t.rap || s.RetainAsPublished
	if s.SubID != 0 && !slices.Contains(t.subIDs, s.SubID) {
		t.subIDs = append(t.subIDs, s.SubID)
	}
	return targets
}

// deliverTo sends m to session s, or defers its enqueue to the flush,
// counting it in f once it is sent or queued. The delivered QoS is the lower
// of the message's and the subscription's [MQTT-3.8.4-8]; the retain flag
// is kept only under Retain As Published [MQTT-3.3.1-12] [MQTT-3.3.1-13].
func (c *call) deliverTo(s *Session, t *target, m *Message, f *fanout) {
	o := Forwarded(m, t.qos, t.rap, t.subIDs)
	qos := o.QoS
	if s.Version < packet.V5 {
		o.SubIDs = nil
	}
	if !c.fits(o, s.Version, s.MaxPacketSize) {
		return // too large for the client: dropped as if sent [MQTT-3.1.2-25]
	}
	if qos == 0 {
		if s.Online() {
			if b := c.encodeOut(o, false, s.Version, 0); b != nil {
				if p := c.pendingBy[s.ClientID]; p != nil {
					// Behind a message of this call still to be enqueued.
					p.items = append(p.items, pendingItem{frame: b})
				} else {
					c.deliver(s, b)
				}
			}
			f.n++
			return
		}
		if !c.h.cfg.QueueQoS0 || s.ExpiryInterval == 0 {
			return
		}
	}
	c.queueOut(s, o, f)
}

// Forwarded returns m as it goes to a subscription of QoS subQoS with
// Retain As Published rap and subscription identifiers subIDs: at the lower
// of the two QoS [MQTT-3.8.4-8], with the retain flag
// of the PUBLISH only under Retain As Published [MQTT-3.3.1-12]
// [MQTT-3.3.1-13].
func Forwarded(m *Message, subQoS byte, rap bool, subIDs []uint32) *Outbound {
	return &Outbound{QoS: min(m.QoS, subQoS), Retain: m.Retain && rap, SubIDs: subIDs, Message: *m}
}

// publishWill publishes the will message of a session of identity:
// retained if it asks to be [MQTT-3.1.2-14] [MQTT-3.1.2-15] (3.1.1:
// [MQTT-3.1.2-16] [MQTT-3.1.2-17]), recorded with identity, then to every
// matching subscription (section 3.1.2.5).
func (c *call) publishWill(w *Will, identity string) error {
	m := w.Message
	if w.Expiry != 0 {
		// The Message Expiry Interval counts from publication (section 3.1.3.2.4).
		m.ExpiresAt = c.nowMs() + int64(w.Expiry)*1000
	}
	if m.Expired(c.now) {
		return nil
	}
	return c.publishMessage(&m, identity)
}

// publishMessage publishes a message no PUBLISH packet carries (a will, or
// a $SYS value of the broker's): it stores it as the topic's retained
// message when it has the retain flag, then fans it out to every matching
// subscription. A will past the retained limits (its session's identity's
// included) is published but not retained; the broker's $SYS values
// (identity "") are not held to them.
func (c *call) publishMessage(m *Message, identity string) error {
	if m.Retain {
		lim := c.h.cfg.retainedLimits(identity)
		if c.ev.Kind == KindSys {
			lim = RetainedLimits{}
		}
		if _, err := c.retain(m, identity, lim); err != nil {
			return err
		}
	}
	_, err := c.fanOut(m)
	return err
}
