package dynamo

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mqttless/mqttless/core/session"
)

// The store steps of delivery v2 (session.StreamStore; docs/architecture.md,
// "Delivery v2", which gives their cost):
//
//   - Append: one PutItem of the entry at head+1, conditioned on
//     attribute_not_exists(pk); head comes from this Store's cache of the
//     heads it wrote or read, else from a strongly consistent Query of the
//     last entry. A failed condition (another appender came first) reads
//     the head again and retries. A put that fails leaves no entry, so
//     offsets are dense. The entry carries the append's token (w), and
//     the put returns the item that failed its condition: when that is
//     this append's own (the SDK resent a put whose answer was lost, and
//     the resend found the first one's entry), the append is done, not
//     made again at the next offset, which would deliver the message
//     twice.
//   - ReadStream: one Query of the sub-stream's partition above after.
//   - Heads: per sub-stream, a Query of its last entry.
//   - SavePositions: one UpdateItem of the session item, SET pos.<key> per
//     sub-stream, conditioned on conn (the fence); pos is created by
//     Connect for new and cleared sessions, and by the first save of a
//     session item that lacks it.
//   - Positions: the session item, less the entries of filters the
//     session's generation does not subscribe to (one Query of its
//     subscriptions). Subscribe and Unsubscribe remove a filter's entries
//     (subs.go), so a late save can only be the same connection's, which
//     the proxy serialises with its SUBSCRIBE and UNSUBSCRIBE: the filter
//     check is the backstop.

var _ session.StreamStore = (*Store)(nil)

// WithStreamRetention gives stream entries a ttl of d after their append:
// at least the longest session expiry plus the sweep's delay, so that no
// session still holding a position below an entry outlives it, and far
// longer than headCacheAge. A message's own expiry does not shorten it
// (the window drops an expired message when it would send it
// [MQTT-3.3.2-5]): an entry that vanished early would leave a hole at an
// offset below the head that an Append with an older head could fill, out
// of order. 0 keeps entries until deleted.
func WithStreamRetention(d time.Duration) Option {
	return func(st *Store) { st.streamRetention = d }
}

// headCacheAge is how long a cached head serves Append before it is read
// again: far below any retention, so that the offset after a cached head
// is either taken (the condition fails and the head is read) or never
// was, never one whose entry the ttl removed.
const headCacheAge = time.Hour

// clockOffsetShift places a sub-stream that has no entry (streamBase):
// its offsets continue from (Unix milliseconds << clockOffsetShift). No
// head item is written per message, so once retention has removed every
// entry of a quiet sub-stream the last offset it gave is unknown;
// beginning from the clock keeps the new offsets above every earlier one
// (session.StreamStore: an offset is never given twice) as long as fewer
// than 4,096 entries a millisecond were appended, far above a partition's
// 1,000 writes a second. Such an offset is about 7.3×10^15, well inside a
// uint64 and the 16 hex digits of the sort key.
const clockOffsetShift = 12

// streamBase returns the offset after which a sub-stream that has no
// entry continues. Appends racing on an empty sub-stream must agree on
// one base (two would interleave two runs of offsets), so the base is
// kept in the sub-stream's base item (sort key streamBaseSK, no ttl),
// written with a condition: a new base from the clock only when there is
// none, or when the one recorded is older than the retention (every entry
// of its run has gone: a sub-stream is empty with a younger base only
// while the appends racing on it have not landed yet). Otherwise the
// recorded base holds, and the condition on the entry's put sorts the
// racers out. One write and, for the losers, one read, only when a
// sub-stream begins; nothing per message.
func (st *Store) streamBase(ctx context.Context, id session.StreamID, now time.Time) (uint64, error) {
	pk := streamPK(id.Shard, id.Filter)
	cond := "attribute_not_exists(#b)"
	vals := map[string]types.AttributeValue{
		":b": num(int64(uint64(now.UnixMilli()) << clockOffsetShift)), ":at": num(now.Unix()),
	}
	if st.streamRetention > 0 {
		cond += " OR #at < :old"
		vals[":old"] = num(now.Add(-st.streamRetention).Unix())
	}
	_, err := st.update(ctx, &dynamodb.UpdateItemInput{Key: key(pk, streamBaseSK),
		UpdateExpression:          aws.String("SET #b = :b, #at = :at"),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  map[string]string{"#b": "base", "#at": "at"},
		ExpressionAttributeValues: vals})
	if err == nil {
		return uint64(now.UnixMilli()) << clockOffsetShift, nil
	}
	if !condFailed(err) {
		return 0, fmt.Errorf("dynamo: begin %q: %w", pk, err)
	}
	it, err := st.getItem(ctx, pk, streamBaseSK)
	if err != nil {
		return 0, fmt.Errorf("dynamo: read the base of %q: %w", pk, err)
	}
	b, _, ok := parseBase(it)
	if !ok {
		return 0, fmt.Errorf("dynamo: base item of %q without a base", pk)
	}
	return b, nil
}

// posItem is a position as the session item's pos map holds it.
type posItem struct {
	N int      `dynamodbav:"n"`
	A uint64   `dynamodbav:"a"`
	R []uint64 `dynamodbav:"r,omitempty"`
}

// streamHeads caches the last offset this Store wrote or read per
// sub-stream: a hint for Append, which a failed condition corrects.
type streamHeads struct {
	mu sync.Mutex
	m  map[session.StreamID]cachedHead
}

type cachedHead struct {
	offset uint64
	at     time.Time // when it was learned
}

// maxHeads bounds the cache; it starts over when full.
const maxHeads = 10_000

// get returns the cached head of id unless it is older than headCacheAge.
func (h *streamHeads) get(id session.StreamID, now time.Time) (uint64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.m[id]
	if !ok || now.Sub(c.at) > headCacheAge {
		return 0, false
	}
	return c.offset, true
}

func (h *streamHeads) put(id session.StreamID, o uint64, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil || len(h.m) >= maxHeads {
		h.m = map[session.StreamID]cachedHead{}
	}
	if c, ok := h.m[id]; ok && c.offset > o {
		o = c.offset
	}
	h.m[id] = cachedHead{offset: o, at: now}
}

// Append implements session.StreamStore.
func (st *Store) Append(ctx context.Context, id session.StreamID, msg *session.Message) (uint64, error) {
	mav, err := attributevalue.Marshal(toMsgItem(msg))
	if err != nil {
		return 0, fmt.Errorf("dynamo: encode stream entry: %w", err)
	}
	pk := streamPK(id.Shard, id.Filter)
	token := newToken()
	head, ok := st.heads.get(id, time.Now())
	for try := 0; try < maxTries; try++ {
		if !ok {
			if head, err = st.head(ctx, id); err != nil {
				return 0, fmt.Errorf("dynamo: append to %q: %w", pk, err)
			}
			if head == 0 {
				if head, err = st.baseOf(ctx, id, time.Now()); err != nil {
					return 0, err
				}
			}
		}
		item := map[string]types.AttributeValue{attrPK: str(pk), attrSK: str(streamSK(head + 1)), "msg": mav, attrToken: str(token)}
		if st.streamRetention > 0 {
			item["ttl"] = num(time.Now().Add(st.streamRetention).Unix())
		}
		if itemSize(item) > MaxItemSize {
			return 0, fmt.Errorf("dynamo: append to %q: %w", pk, ErrItemTooLarge)
		}
		_, err = st.put(ctx, &dynamodb.PutItemInput{Item: item,
			ConditionExpression:                 aws.String("attribute_not_exists(#pk)"),
			ExpressionAttributeNames:            map[string]string{"#pk": attrPK},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld})
		if ownWrite(err, token) {
			st.log.Debug("append found its own entry: the SDK resent the put", "stream", pk, "offset", head+1)
			err = nil
		}
		if condFailed(err) {
			ok = false // another appender came first: read the head again
			if err := backoff(ctx, try); err != nil {
				return 0, err
			}
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("dynamo: append to %q: %w", pk, err)
		}
		st.heads.put(id, head+1, time.Now())
		return head + 1, nil
	}
	return 0, fmt.Errorf("dynamo: append to %q: %w", pk, errContended)
}

// head reads the last offset of id (0 when it has no entry) and caches it.
func (st *Store) head(ctx context.Context, id session.StreamID) (uint64, error) {
	items, err := st.query(ctx, &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :o)"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#sk": attrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(streamPK(id.Shard, id.Filter)), ":o": str(streamSKPrefix)},
		ScanIndexForward:          aws.Bool(false),
		ProjectionExpression:      aws.String("#sk"),
	}, 1)
	if err != nil || len(items) == 0 {
		return 0, err
	}
	o, ok := parseStreamSK(skOf(items[0]))
	if !ok {
		return 0, fmt.Errorf("dynamo: stream entry with sort key %q", skOf(items[0]))
	}
	st.heads.put(id, o, time.Now())
	return o, nil
}

// ReadStream implements session.StreamStore.
func (st *Store) ReadStream(ctx context.Context, id session.StreamID, after uint64, limit int) ([]session.StreamEntry, error) {
	if after == math.MaxUint64 || limit <= 0 {
		return nil, nil
	}
	items, err := st.query(ctx, &dynamodb.QueryInput{
		KeyConditionExpression:   aws.String("#pk = :pk AND #sk BETWEEN :lo AND :hi"),
		ExpressionAttributeNames: map[string]string{"#pk": attrPK, "#sk": attrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": str(streamPK(id.Shard, id.Filter)), ":lo": str(streamSK(after + 1)), ":hi": str(streamSK(math.MaxUint64)),
		},
	}, limit)
	if err != nil {
		return nil, fmt.Errorf("dynamo: read stream %q: %w", streamPK(id.Shard, id.Filter), err)
	}
	out := make([]session.StreamEntry, 0, len(items))
	for _, item := range items {
		o, ok := parseStreamSK(skOf(item))
		if !ok {
			return nil, fmt.Errorf("dynamo: stream entry with sort key %q", skOf(item))
		}
		var m msgItem
		if err := attributevalue.Unmarshal(item["msg"], &m); err != nil {
			return nil, fmt.Errorf("dynamo: decode stream entry %d: %w", o, err)
		}
		out = append(out, session.StreamEntry{Offset: o, Message: m.message()})
	}
	return out, nil
}

// Heads implements session.StreamStore.
func (st *Store) Heads(ctx context.Context, ids []session.StreamID) (map[session.StreamID]uint64, error) {
	out := make(map[session.StreamID]uint64, len(ids))
	for _, id := range ids {
		o, err := st.head(ctx, id)
		if err == nil && o == 0 {
			// No entry: the base its first entry will follow.
			o, err = st.baseOf(ctx, id, time.Now())
		}
		if err != nil {
			return nil, fmt.Errorf("dynamo: head of %q: %w", streamPK(id.Shard, id.Filter), err)
		}
		out[id] = o
	}
	return out, nil
}

// baseOf returns the base of a sub-stream that has no entry: the one its
// base item records while that is younger than the retention (one read),
// else a new one (streamBase).
func (st *Store) baseOf(ctx context.Context, id session.StreamID, now time.Time) (uint64, error) {
	it, err := st.getItem(ctx, streamPK(id.Shard, id.Filter), streamBaseSK)
	if err != nil {
		return 0, fmt.Errorf("dynamo: read the base of %q: %w", streamPK(id.Shard, id.Filter), err)
	}
	if b, at, ok := parseBase(it); ok && (st.streamRetention <= 0 || at >= now.Add(-st.streamRetention).Unix()) {
		return b, nil
	}
	return st.streamBase(ctx, id, now)
}

// parseBase reads a base item: its base and when it was set.
func parseBase(it map[string]types.AttributeValue) (base uint64, at int64, ok bool) {
	b, okB := it["base"].(*types.AttributeValueMemberN)
	a, okA := it["at"].(*types.AttributeValueMemberN)
	if !okB || !okA {
		return 0, 0, false
	}
	base, errB := strconv.ParseUint(b.Value, 10, 64)
	at, errA := strconv.ParseInt(a.Value, 10, 64)
	return base, at, errB == nil && errA == nil
}

// SavePositions implements session.StreamStore.
func (st *Store) SavePositions(ctx context.Context, clientID, conn string, pos session.Positions) error {
	if conn == "" {
		return fmt.Errorf("dynamo: positions of %q, no connection: %w", clientID, session.ErrFenced)
	}
	if len(pos) == 0 {
		_, err := st.owned(ctx, clientID, conn)
		return err
	}
	names := map[string]string{"#pos": "pos", "#conn": "conn"}
	values := map[string]types.AttributeValue{":conn": str(conn)}
	all := map[string]types.AttributeValue{}
	var sets []string
	i := 0
	for id, p := range pos {
		av, err := attributevalue.Marshal(posItem{N: p.Number, A: p.Acked, R: p.Released})
		if err != nil {
			return fmt.Errorf("dynamo: encode position: %w", err)
		}
		k := posKey(id.Shard, id.Filter)
		all[k] = av
		n, v := "#k"+strconv.Itoa(i), ":p"+strconv.Itoa(i)
		names[n], values[v] = k, av
		sets = append(sets, "#pos."+n+" = "+v)
		i++
	}
	key := key(sessionPK(clientID), sessionSK)
	for try := 0; try < maxTries; try++ {
		_, err := st.update(ctx, &dynamodb.UpdateItemInput{Key: key,
			UpdateExpression:    aws.String("SET " + strings.Join(sets, ", ")),
			ConditionExpression: aws.String("#conn = :conn"), ExpressionAttributeNames: names, ExpressionAttributeValues: values})
		if err == nil {
			return nil
		}
		if condFailed(err) {
			return fmt.Errorf("dynamo: positions of %q from %q: %w", clientID, conn, session.ErrFenced)
		}
		if !isInvalidPath(err) {
			return fmt.Errorf("dynamo: positions of %q: %w", clientID, err)
		}
		// The session item has no pos map yet: create it with these.
		_, err = st.update(ctx, &dynamodb.UpdateItemInput{Key: key,
			UpdateExpression:          aws.String("SET #pos = :all"),
			ConditionExpression:       aws.String("#conn = :conn AND attribute_not_exists(#pos)"),
			ExpressionAttributeNames:  map[string]string{"#pos": "pos", "#conn": "conn"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":conn": str(conn), ":all": &types.AttributeValueMemberM{Value: all}}})
		if err == nil {
			return nil
		}
		if !condFailed(err) {
			return fmt.Errorf("dynamo: positions of %q: %w", clientID, err)
		}
		if err := backoff(ctx, try); err != nil { // fenced, or another save created pos: the first form tells
			return err
		}
	}
	return fmt.Errorf("dynamo: positions of %q: %w", clientID, errContended)
}

// isInvalidPath reports whether err is DynamoDB's refusal of a document
// path that does not exist (SET of a key in a map attribute that is
// missing).
func isInvalidPath(err error) bool {
	var api interface{ ErrorCode() string }
	return errors.As(err, &api) && api.ErrorCode() == "ValidationException"
}

// Positions implements session.StreamStore.
func (st *Store) Positions(ctx context.Context, clientID string) (session.Positions, error) {
	cur, err := st.readSession(ctx, clientID)
	if err != nil || cur == nil || len(cur.Pos) == 0 {
		if err != nil {
			return nil, fmt.Errorf("dynamo: positions of %q: %w", clientID, err)
		}
		return session.Positions{}, nil
	}
	subs, err := st.genItems(ctx, clientID, cur.Gen, kindSub, 0, "f")
	if err != nil {
		return nil, fmt.Errorf("dynamo: positions of %q: %w", clientID, err)
	}
	subscribed := make(map[string]bool, len(subs))
	for _, it := range subs {
		if f, ok := it["f"].(*types.AttributeValueMemberS); ok {
			subscribed[f.Value] = true
		}
	}
	out := session.Positions{}
	for k, p := range cur.Pos {
		shard, filter, ok := parsePosKey(k)
		if !ok || !subscribed[filter] {
			continue
		}
		out[session.StreamID{Filter: filter, Shard: shard}] = session.Position{Number: p.N, Acked: p.A, Released: p.R}
	}
	return out, nil
}

// posKeysOf returns the keys of it's pos map that belong to filter.
func posKeysOf(it *sessionItem, filter string) []string {
	var out []string
	for k := range it.Pos {
		if _, f, ok := parsePosKey(k); ok && f == filter {
			out = append(out, k)
		}
	}
	return out
}

// emptyMap is an empty map attribute.
func emptyMap() types.AttributeValue {
	return &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{}}
}

// fenceDropping is the fence of a Subscribe or Unsubscribe of filter by conn
// at generation gen: a ConditionCheck of the session item, or, when cur
// holds positions of filter, an Update with the same condition that
// removes them (a new subscription starts with none; an old one's go with
// it).
func (st *Store) fenceDropping(cur *sessionItem, clientID, conn string, gen int64, filter string) types.TransactWriteItem {
	keys := posKeysOf(cur, filter)
	if len(keys) == 0 {
		return st.fence(clientID, conn, gen)
	}
	names := map[string]string{"#conn": "conn", "#gen": "gen", "#pos": "pos"}
	rems := make([]string, len(keys))
	for i, k := range keys {
		n := "#k" + strconv.Itoa(i)
		names[n] = k
		rems[i] = "#pos." + n
	}
	return types.TransactWriteItem{Update: &types.Update{
		TableName: &st.table, Key: key(sessionPK(clientID), sessionSK),
		UpdateExpression:          aws.String("REMOVE " + strings.Join(rems, ", ")),
		ConditionExpression:       aws.String("#conn = :conn AND #gen = :gen"),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: map[string]types.AttributeValue{":conn": str(conn), ":gen": num(gen)},
	}}
}
