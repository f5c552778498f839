package session

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/mqttless/mqttless/core/topic"
)

// This file is the handlers' half of delivery v2 (Config.Delivery "v2";
// docs/architecture.md, "Delivery v2", "Wiring (step 4)"). A QoS 1 or 2
// PUBLISH is appended once to the sub-stream of each distinct non-shared
// filter that matches it, before the PUBACK/PUBREC; the online sessions of
// those filters are sent the entry (StreamDelivery), those it is not for a
// skip; offline sessions are written nothing. The proxy runs one Window per
// connection (infra/proxy/window.go): the CONNACK tells it what to follow
// and where to resume (StreamWork), a SUBACK what it starts following at
// the heads, an UNSUBACK what it stops following; it takes the
// acknowledgements of the window's packet identifiers itself and saves
// positions through KindPositions events; a gap that no delivery fills is
// read through a KindCatchUp event. Shared subscriptions, QoS 0 messages
// and retained messages stay on v1's per-session queues, whose packet
// identifiers are 1 to -max-inflight (PIDPlan.Reserved).

// StreamShards is the sub-streams per filter (S in the design). Fixed at 1
// in this step; -stream-shards makes it a setting later. It is part of the
// stored format (ShardOf) and of the packet identifier plan.
const StreamShards = 1

// streamHold is how many entries a window holds per sub-stream, and reads
// at once in a resume or a catch-up: past it, entries are read again when
// the window has room (Window.Gaps).
const streamHold = 256

// StreamWork is delivery v2's part of a reply for the event's connection,
// applied by the proxy in this order: Window, Unfollows, Follows, Entries.
type StreamWork struct {
	// Window starts the connection's window (the CONNACK of a v2 handler).
	Window *WindowSpec `json:"window,omitempty"`
	// Unfollows are the sub-streams of filters unsubscribed.
	Unfollows []StreamID `json:"unfollows,omitempty"`
	// Follows are the sub-streams to follow: a session's subscriptions at
	// connect, with their resume, or new subscriptions at their heads.
	Follows []Follow `json:"follows,omitempty"`
	// Entries are for sub-streams the window follows (a delivery to this
	// connection, or a catch-up).
	Entries []StreamDelivery `json:"entries,omitempty"`
	// Saved is set by a KindPositions event whose positions are durable.
	Saved bool `json:"saved,omitempty"`
	// Resume ends the window's pause (WindowSpec.Paused): the messages v1
	// queued for the session are done.
	Resume bool `json:"resume,omitempty"`
}

// Then returns the work of w followed by that of next, as the proxy
// applies them in turn (a packet event split into runs of one function
// group each, infra/lambdainvoke): a later Window replaces an earlier
// one, the lists follow each other. Either may be nil.
func (w *StreamWork) Then(next *StreamWork) *StreamWork {
	if next == nil {
		return w
	}
	if w == nil {
		return next
	}
	out := *w
	if next.Window != nil {
		out.Window = next.Window
	}
	out.Unfollows = append(slices.Clip(out.Unfollows), next.Unfollows...)
	out.Follows = append(slices.Clip(out.Follows), next.Follows...)
	out.Entries = append(slices.Clip(out.Entries), next.Entries...)
	out.Saved = out.Saved || next.Saved
	out.Resume = out.Resume || next.Resume
	return &out
}

// WindowSpec is what the proxy needs to run a connection's Window.
type WindowSpec struct {
	Plan PIDPlan `json:"plan"`
	// Max is the QoS 1 and 2 messages in flight at most: the client's
	// Receive Maximum capped at -max-inflight [MQTT-3.3.4-9].
	Max int `json:"max"`
	// Hold is the entries held per sub-stream (NewWindow).
	Hold int `json:"hold"`
	// Paused starts the window paused (Window.Pause) until a reply's
	// StreamWork.Resume: the session has messages v1 queued for it.
	Paused bool `json:"paused,omitempty"`
}

// Follow is one sub-stream for the window to follow (Window.Follow), the
// entries to offer it and the offsets to skip.
type Follow struct {
	Stream   StreamID     `json:"stream"`
	Sub      Subscription `json:"sub"`
	Position Position     `json:"position"`
	// DupTo: offsets up to it may have been sent on an earlier connection.
	DupTo uint64 `json:"dupTo,omitempty"`
	// Head is the last offset of the sub-stream when it was read: entries
	// up to it that Entries do not hold are read with a catch-up
	// (Window.Behind).
	Head    uint64        `json:"head,omitempty"`
	Entries []StreamEntry `json:"entries,omitempty"`
	Skips   []uint64      `json:"skips,omitempty"`
	// GoneBelow, when set, is the first entry a read found above an
	// offset it expected: the offsets between are gone (Window.Gone).
	GoneBelow uint64 `json:"goneBelow,omitempty"`
}

// StreamDelivery is entries of one sub-stream for a connection's window,
// and offsets of it that are not for the session (denied by its access
// rules) (Window.Offer, Window.Skip).
type StreamDelivery struct {
	Stream  StreamID      `json:"stream"`
	Entries []StreamEntry `json:"entries,omitempty"`
	Skips   []uint64      `json:"skips,omitempty"`
	// GoneBelow: as Follow's, for a catch-up.
	GoneBelow uint64 `json:"goneBelow,omitempty"`
}

// goneBelow returns the offset of the first of entries, read after after,
// when it is not after+1: the offsets between no longer exist (past their
// retention, or a sub-stream that began again above them, StreamStore),
// since a store never leaves a hole below an entry it has; 0 otherwise.
func goneBelow(entries []StreamEntry, after uint64) uint64 {
	if len(entries) > 0 && entries[0].Offset > after+1 {
		return entries[0].Offset
	}
	return 0
}

// StreamPosition is one sub-stream's position, as events carry them
// (Positions is a map with a struct key, which JSON cannot carry).
type StreamPosition struct {
	Stream   StreamID `json:"stream"`
	Position Position `json:"position"`
}

// PositionList returns pos as a list in sub-stream order.
func PositionList(pos Positions) []StreamPosition {
	out := make([]StreamPosition, 0, len(pos))
	for id, p := range pos {
		out = append(out, StreamPosition{Stream: id, Position: p})
	}
	slices.SortFunc(out, func(a, b StreamPosition) int {
		return cmp.Or(cmp.Compare(a.Stream.Filter, b.Stream.Filter), cmp.Compare(a.Stream.Shard, b.Stream.Shard))
	})
	return out
}

// v2 reports whether the handler delivers by streams.
func (h *Handler) v2() bool { return h.cfg.Delivery == DeliveryV2 }

// streamStore returns the store's stream steps (New checks the store has
// them under v2).
func (c *call) streamStore() StreamStore { return c.h.store.(StreamStore) }

// work returns the reply's StreamWork, adding it.
func (c *call) work() *StreamWork {
	if c.reply.Stream == nil {
		c.reply.Stream = &StreamWork{}
	}
	return c.reply.Stream
}

// streamsOf returns the sub-streams of subscription s: none for a shared one.
func streamsOf(s *Subscription) []StreamID {
	if _, _, shared, _ := topic.ParseShared(s.Filter); shared {
		return nil
	}
	ids := make([]StreamID, StreamShards)
	for shard := range ids {
		ids[shard] = StreamID{Filter: s.Filter, Shard: shard}
	}
	return ids
}

// connectStreams starts the connection's window after the CONNACK: a
// resumed session follows every non-shared subscription from its saved
// positions, its unacknowledged entries resent [MQTT-4.4.0-1].
//
// Migration from v1 (docs/architecture.md, "Migration"): a session that
// still has messages v1 put in flight or queued (resent and dispatched by
// resume, before this) and a subscription that has read nothing of its
// streams (one made under v1, or whose streams held nothing yet) gets a
// paused window: v1's messages are older than every stream entry, so
// they all go first [MQTT-4.6.0-6], and v1's in-flight identifiers, which
// may lie in the PIDPlan's slots, are never used twice at once. The
// window resumes once nothing of v1 is left in flight (resumeStreams).
func (c *call) connectStreams(present bool) error {
	plan, err := c.h.cfg.pidPlan()
	if err != nil {
		return err
	}
	spec := &WindowSpec{Plan: plan, Max: int(c.st.ReceiveMax), Hold: streamHold}
	c.work().Window = spec
	c.st.HoldStreams = false
	if !present {
		return nil
	}
	subs, err := c.h.store.Subscriptions(c.ctx, c.st.ClientID)
	if err != nil {
		return err
	}
	unread, err := c.follow(subs, nil, true)
	if err != nil || !unread {
		return err
	}
	inflight, err := c.h.store.Inflight(c.ctx, c.st.ClientID)
	if err != nil {
		return err
	}
	if len(inflight) > 0 {
		spec.Paused = true
		c.st.HoldStreams = true
		c.stateChanged = true
	}
	return nil
}

// resumeStreams ends the pause of a migrated session's window
// (connectStreams) once its acknowledgements and the dispatch after them
// left nothing of v1 in flight: the dispatch puts queued messages in
// flight while there is room, so none is queued either. Messages queued
// later (shared subscriptions, retained) are newer than the streams'
// entries the window held, or of other streams, so the window need not
// wait for them.
func (c *call) resumeStreams() error {
	if c.st == nil || !c.st.HoldStreams || c.reply.Close {
		return nil
	}
	inflight, err := c.h.store.Inflight(c.ctx, c.st.ClientID)
	if err != nil || len(inflight) > 0 {
		return err
	}
	c.st.HoldStreams = false
	c.stateChanged = true
	c.work().Resume = true
	return nil
}

// follow adds Follows for subs to the reply. existed[i] says subs[i]
// replaced a subscription of the same filter (a SUBSCRIBE; nil at
// connect). A subscription without a position (new, or made under v1)
// gets the smallest free number; a new one starts at the heads of its
// sub-streams, one made before the streams reads them from the start
// (docs/architecture.md, "Migration"). resume reads the entries after the
// saved positions, at most -max-queued behind the head (CatchUpFrom).
// unread reports a subscription that has acknowledged nothing of its
// streams (no position, or one at 0).
func (c *call) follow(subs []Subscription, existed []bool, resume bool) (unread bool, err error) {
	var ids []StreamID
	for i := range subs {
		ids = append(ids, streamsOf(&subs[i])...)
	}
	if len(ids) == 0 {
		return false, nil
	}
	ss := c.streamStore()
	pos, err := ss.Positions(c.ctx, c.st.ClientID)
	if err != nil {
		return false, err
	}
	heads, err := ss.Heads(c.ctx, ids)
	if err != nil {
		return false, err
	}
	plan, err := c.h.cfg.pidPlan()
	if err != nil {
		return false, err
	}
	used := map[int]bool{}
	for _, p := range pos {
		used[p.Number] = true
	}
	save := Positions{}
	w := c.work()
	for i := range subs {
		s := &subs[i]
		sids := streamsOf(s)
		if len(sids) == 0 {
			continue
		}
		number, had := -1, false
		if p, ok := pos[sids[0]]; ok {
			number, had = p.Number, true
		}
		if !had {
			number = 0
			for used[number] {
				number++
			}
			used[number] = true
		}
		fresh := existed != nil && !existed[i] // a new subscription: from the head
		for _, id := range sids {
			head := heads[id]
			p, ok := pos[id]
			if !ok || fresh {
				p = Position{Number: number}
				if fresh {
					p.Acked = head
				}
				save[id] = p
			}
			f := Follow{Stream: id, Sub: *s, Position: p, Head: head}
			if p.Acked == 0 && len(p.Released) == 0 {
				unread = true
			}
			if resume || !ok {
				if err := c.resumeFollow(ss, &f, head, plan); err != nil {
					return false, err
				}
				if !ok {
					f.DupTo = 0 // nothing of it was ever sent [MQTT-3.3.1-1]
				}
				if f.Position.Acked != p.Acked && p.Acked != 0 {
					// A position at 0 is kept while the session may be
					// migrating from v1 (connectStreams): the window saves
					// what it acknowledges.
					save[id] = f.Position
				}
			}
			w.Follows = append(w.Follows, f)
		}
	}
	if len(save) > 0 {
		if err := ss.SavePositions(c.ctx, c.st.ClientID, c.ev.Conn, save); err != nil {
			return false, c.storeErr(err)
		}
	}
	return unread, nil
}

// resumeFollow reads what f's sub-stream holds after its position, up to
// head, into f: the entries (those the session may not receive as skips),
// what the read found gone (GoneBelow: offsets below the first entry no
// longer exist), and, for a session more than -max-queued behind, a
// position moved past its oldest entries, which are counted as dropped
// (CatchUpFrom). The backlog is counted from the first entry that exists,
// not from the position: a sub-stream may have begun again far above it
// (StreamStore), and offsets that never existed are not dropped messages.
func (c *call) resumeFollow(ss StreamStore, f *Follow, head uint64, plan PIDPlan) error {
	p := f.Position
	f.DupTo = min(head, p.Acked+uint64(plan.Span))
	if head <= p.Acked {
		return nil
	}
	entries, err := ss.ReadStream(c.ctx, f.Stream, p.Acked, streamHold)
	if err != nil {
		return err
	}
	from := p.Acked // the last offset before the first that exists
	if g := goneBelow(entries, p.Acked); g > 0 {
		from = g - 1
	}
	if after, dropped := CatchUpFrom(from, head, c.h.cfg.MaxQueued); dropped > 0 {
		// -max-queued: the oldest are skipped, counted as dropped.
		c.dropped(&Session{ClientID: c.st.ClientID}, f.Stream.Filter, int(dropped))
		p.Acked = after
		p.Released = slices.DeleteFunc(slices.Clone(p.Released), func(o uint64) bool { return o <= after })
		f.Position = p
		f.DupTo = min(head, p.Acked+uint64(plan.Span))
		if entries, err = ss.ReadStream(c.ctx, f.Stream, p.Acked, streamHold); err != nil {
			return err
		}
	}
	f.GoneBelow = goneBelow(entries, p.Acked)
	f.Entries, f.Skips, err = c.mayReceiveEntries(entries)
	return err
}

// mayReceiveEntries splits entries read for this connection's session into those
// its access rules let it receive and the offsets of the others.
func (c *call) mayReceiveEntries(entries []StreamEntry) ([]StreamEntry, []uint64, error) {
	if c.h.auth == nil {
		return entries, nil, nil
	}
	self := &Session{ClientID: c.st.ClientID, Identity: c.st.Identity, Bound: c.st.Bound, Conn: c.ev.Conn, Version: c.st.Version}
	keep := entries[:0:0]
	var skips []uint64
	for _, e := range entries {
		ok, err := c.mayDeliver(self, &e.Message)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			keep = append(keep, e)
		} else {
			skips = append(skips, e.Offset)
		}
	}
	return keep, skips, nil
}

// unfollow adds the sub-streams of the filters unsubscribed to the reply.
func (c *call) unfollow(filters []string, existed []bool) {
	for i, f := range filters {
		if i < len(existed) && !existed[i] {
			continue
		}
		s := Subscription{Filter: f}
		if ids := streamsOf(&s); len(ids) > 0 {
			c.work().Unfollows = append(c.work().Unfollows, ids...)
		}
	}
}

// fanOutStreams appends m once to the sub-stream of each filter in
// byFilter (its non-shared subscriptions that match m) and sends the entry
// to each online session of them: an entry, or a skip for a session its
// access rules deny, or its own message under No Local [MQTT-3.8.3-3].
// Offline sessions are written nothing: their positions and the streams
// hold the message. The appends are deferred to the call's flush, which
// writes all the appends of the call at once (StreamBatcher) before the
// PUBACKs and PUBRECs that wait for it [MQTT-4.3.2-2] [MQTT-4.3.3-2]; f
// counts the sessions now, which the appends do not change.
func (c *call) fanOutStreams(m *Message, byFilter, chunked map[string][]*Subscription, sessions map[string]*Session, f *fanout) error {
	filters := make([]string, 0, len(byFilter))
	for filter := range byFilter {
		filters = append(filters, filter)
	}
	slices.Sort(filters)
	counted := map[string]bool{}
	for _, filter := range filters {
		pa := pendingAppend{StreamAppend: StreamAppend{ID: StreamID{Filter: filter, Shard: ShardOf(m.Topic, StreamShards)}, Msg: m}}
		if subs := chunked[filter]; subs != nil {
			// Their sessions are read by the chunks; a subscription counts
			// as matched without its access rules [MQTT-3.3.2-4] being
			// checked here (0x10 is for no subscriber at all).
			pa.chunk = subs
			f.n += len(subs)
			c.appends = append(c.appends, pa)
			continue
		}
		for _, sub := range byFilter[filter] {
			s := sessions[sub.ClientID]
			if s == nil {
				continue // a subscription outliving its session
			}
			ok := !(sub.NoLocal && sub.ClientID == m.Publisher) // [MQTT-3.8.3-3]
			if ok {
				var err error
				if ok, err = c.mayDeliver(s, m); err != nil {
					return err
				}
			}
			if ok && !counted[s.ClientID] {
				counted[s.ClientID] = true
				f.n++
			}
			if s.Online() {
				pa.to = append(pa.to, streamTarget{s: s, ok: ok})
			}
		}
		c.appends = append(c.appends, pa)
	}
	return nil
}

// pendingAppend is an append fanOutStreams deferred to the flush, and the
// online sessions its entry (or a skip, not ok) then goes to.
type pendingAppend struct {
	StreamAppend
	to []streamTarget
	// chunk are the subscriptions whose delivery runs in chunks (chunk.go)
	// once the entry is appended.
	chunk []*Subscription
}

type streamTarget struct {
	s  *Session
	ok bool
}

// flushAppends writes the call's deferred appends, in call order, with
// one StreamBatcher.AppendBatch when the store has it, and hands each
// entry to the online sessions it is for.
func (c *call) flushAppends() error {
	if len(c.appends) == 0 {
		return nil
	}
	all := c.appends
	c.appends = nil
	// A resend's entries that the failed call appended already are
	// delivered from their offsets, not appended again.
	allOffs, found, err := c.appendedBefore(all)
	if err != nil {
		return err
	}
	pending := all
	if len(found) > 0 {
		pending = nil
		for i, pa := range all {
			if !found[i] {
				pending = append(pending, pa)
			}
		}
	}
	offs, shown, err := c.appendPending(pending)
	if err != nil {
		return err
	}
	if len(found) > 0 {
		j := 0
		for i := range all {
			if !found[i] {
				allOffs[i] = offs[j]
				j++
			}
		}
		pending, offs = all, allOffs
	}
	var chunks []*Event
	for i, pa := range pending {
		if pa.chunk != nil {
			chunks = append(chunks, chunkEvents(pa.ID, offs[i], pa.Msg, pa.chunk, c.h.cfg.ChunkSize)...)
			continue
		}
		early := shown && (found == nil || !found[i])
		placeEntry(pa, offs[i], func(s *Session) *StreamDelivery {
			if early && s.Conn != c.ev.Conn {
				return nil // delivered early
			}
			return c.streamDelivery(s, pa.ID)
		})
	}
	if len(chunks) > 0 {
		// Accepted before the PUBACKs and PUBRECs the flush writes next.
		if err := c.h.chunks.RunChunks(c.ctx, chunks); err != nil {
			return fmt.Errorf("session: run %d fan-out chunks: %w", len(chunks), err)
		}
	}
	return nil
}

// resendScan bounds how far back from a sub-stream's head appendedBefore
// looks for a resent QoS 2 message's entry: a resend comes once its
// client has reconnected, and an entry with more than this many others
// appended after it on its sub-stream meanwhile is appended again (a
// duplicate, as before receipts).
const resendScan = 1000

// appendedBefore finds the entries of pending that an earlier call
// appended already: those of resent QoS 2 messages (c.resent) found, by
// their Message.Receipt, among the last resendScan entries of their
// sub-streams. It returns their offsets, at their indexes, and which were
// found (nil when none).
func (c *call) appendedBefore(pending []pendingAppend) ([]uint64, []bool, error) {
	if len(c.resent) == 0 {
		return nil, nil, nil
	}
	var ids []StreamID
	for _, pa := range pending {
		if c.resent[pa.Msg.Receipt] {
			ids = append(ids, pa.ID)
		}
	}
	if len(ids) == 0 {
		return nil, nil, nil
	}
	ss := c.streamStore()
	heads, err := ss.Heads(c.ctx, ids)
	if err != nil {
		return nil, nil, fmt.Errorf("session: heads of resent messages' sub-streams: %w", err)
	}
	offs := make([]uint64, len(pending))
	var found []bool
	for i, pa := range pending {
		if !c.resent[pa.Msg.Receipt] {
			continue
		}
		head := heads[pa.ID]
		entries, err := ss.ReadStream(c.ctx, pa.ID, head-min(head, resendScan), resendScan)
		if err != nil {
			return nil, nil, fmt.Errorf("session: read %q for a resent message: %w", pa.ID.Filter, err)
		}
		for _, e := range entries {
			if e.Message.Receipt == pa.Msg.Receipt {
				if found == nil {
					found = make([]bool, len(pending))
				}
				offs[i], found[i] = e.Offset, true
				break
			}
		}
	}
	return offs, found, nil
}

// appendPending writes pending's appends, in order, with one
// StreamBatcher.AppendBatch when the store has it (AppendBatchShown
// when its QoS 1 entries may go early), and returns their offsets and
// whether they went to other connections early.
func (c *call) appendPending(pending []pendingAppend) (offs []uint64, shown bool, err error) {
	offs = make([]uint64, len(pending))
	if len(pending) == 0 {
		return offs, false, nil
	}
	shower, early := c.h.store.(StreamShower)
	early = early && c.showEarly(pending)
	if sb, ok := c.h.store.(StreamBatcher); ok {
		batch := make([]StreamAppend, len(pending))
		for i := range pending {
			batch[i] = pending[i].StreamAppend
		}
		if early {
			var pushed sync.WaitGroup
			offs, err = shower.AppendBatchShown(c.ctx, batch, func(offs []uint64) {
				shown = true
				if ds := c.earlyDeliveries(pending, offs); len(ds) > 0 {
					pushed.Go(func() { c.h.early(context.WithoutCancel(c.ctx), ds) })
				}
			})
			// Delivered before the call returns, so before what the
			// connection's next call delivers.
			pushed.Wait()
		} else {
			offs, err = sb.AppendBatch(c.ctx, batch)
		}
		if err != nil {
			return nil, false, fmt.Errorf("session: append %d entries: %w", len(batch), err)
		}
		return offs, shown, nil
	}
	for i := range pending {
		if offs[i], err = c.streamStore().Append(c.ctx, pending[i].ID, pending[i].Msg); err != nil {
			return nil, false, fmt.Errorf("session: append to %q: %w", pending[i].ID.Filter, err)
		}
	}
	return offs, false, nil
}

// showEarly reports whether the entries of pending may be delivered
// before their commit (WithEarlyDelivery): all QoS 1, some going to
// another connection, and nothing else of the call delivered to another
// connection before them (QoS 0 frames or v1 queues in the reply, which
// goes after the commit: the subscriber gets the call's messages in
// publish order across topics and QoS, as without it).
func (c *call) showEarly(pending []pendingAppend) bool {
	if c.h.early == nil || len(c.reply.Deliveries) > 0 || len(c.pending) > 0 {
		return false
	}
	others := false
	for _, pa := range pending {
		if pa.Msg.QoS != 1 {
			return false
		}
		if pa.chunk != nil {
			continue
		}
		for _, t := range pa.to {
			others = others || t.s.Conn != c.ev.Conn
		}
	}
	return others
}

// earlyDeliveries returns the deliveries of pending's entries, at offs, to
// the online sessions of other connections than the call's, as
// flushAppends would put them in the reply. It reads pending and the
// sessions only: it runs on the store's goroutine, while the call waits.
func (c *call) earlyDeliveries(pending []pendingAppend, offs []uint64) []Delivery {
	var ds []Delivery
	idx := map[string]int{}
	for i, pa := range pending {
		if pa.chunk != nil {
			continue // the chunks deliver it (flushAppends)
		}
		placeEntry(pa, offs[i], func(s *Session) *StreamDelivery {
			if s.Conn == c.ev.Conn {
				return nil
			}
			return streamIn(&deliveryIn(&ds, idx, s).Streams, pa.ID)
		})
	}
	return ds
}

// placeEntry puts pa's entry, at offset, or its skip where it is not for
// the session (not ok), in the StreamDelivery into returns for each online
// session it goes to; nil leaves a session out.
func placeEntry(pa pendingAppend, offset uint64, into func(s *Session) *StreamDelivery) {
	for _, t := range pa.to {
		d := into(t.s)
		switch {
		case d == nil:
		case t.ok:
			d.Entries = append(d.Entries, StreamEntry{Offset: offset, Message: *pa.Msg})
		default:
			d.Skips = append(d.Skips, offset)
		}
	}
}

// streamIn returns the StreamDelivery of sub-stream id in list, adding it.
func streamIn(list *[]StreamDelivery, id StreamID) *StreamDelivery {
	for i := range *list {
		if (*list)[i].Stream == id {
			return &(*list)[i]
		}
	}
	*list = append(*list, StreamDelivery{Stream: id})
	return &(*list)[len(*list)-1]
}

// streamDelivery returns the StreamDelivery of sub-stream id to session
// s's connection (this one's reply, or a Delivery), adding it.
func (c *call) streamDelivery(s *Session, id StreamID) *StreamDelivery {
	if s.Conn == c.ev.Conn {
		return streamIn(&c.work().Entries, id)
	}
	return streamIn(&c.delivery(s).Streams, id)
}

// savePositions handles KindPositions: the connection's window saves its
// positions, fenced on the connection. A connection taken over is closed
// (storeErr); Saved tells the proxy the positions are durable.
func (c *call) savePositions() error {
	if c.st == nil || !c.h.v2() {
		return nil
	}
	pos := make(Positions, len(c.ev.Positions))
	for _, p := range c.ev.Positions {
		pos[p.Stream] = p.Position
	}
	if err := c.streamStore().SavePositions(c.ctx, c.st.ClientID, c.ev.Conn, pos); err != nil {
		if errors.Is(err, ErrFenced) {
			c.reply.Close = true // taken over: its DISCONNECT comes with the takeover
			return nil
		}
		return err
	}
	c.work().Saved = true
	return nil
}

// catchUp handles KindCatchUp: it reads the sub-streams of the event's
// gaps after where the window stands. Offsets missing at the start of a
// gap's read are gone (trimmed past -max-queued, expired) once the gap
// waited -order-wait; an early one (Window.Due) leaves them to a later
// read.
func (c *call) catchUp() error {
	if c.st == nil || !c.h.v2() {
		return nil
	}
	ss := c.streamStore()
	for _, g := range c.ev.Gaps {
		entries, err := ss.ReadStream(c.ctx, g.Stream, g.After, streamHold)
		if err != nil {
			return err
		}
		keep, skips, err := c.mayReceiveEntries(entries)
		if err != nil {
			return err
		}
		d := StreamDelivery{Stream: g.Stream, Entries: keep, Skips: skips}
		if !g.Early {
			d.GoneBelow = goneBelow(entries, g.After)
		}
		c.work().Entries = append(c.work().Entries, d)
	}
	return nil
}
