package dynamo

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mqttless/mqttless/core/session"
)

// retainedProj lists a trie node's items without their messages.
const retainedProj = "pk, sk, n"

// retainedReadBatch is how many messages a page walk reads at once.
const retainedReadBatch = 16

// RetainedPage implements session.Store: a depth-first walk of the
// retained trie along filter, in level order (topics compared level by
// level, each level by its bytes, a topic before the topics below it). It
// skips the subtrees that end before after and stops once the page is
// full. A literal level reads the two items it names (BatchGetItem), a '+'
// or '#' lists a node's children (Query), both without the messages, and
// the walk descends only where a counter says there are messages below.
// The messages of the page are read with BatchGetItem, a few at a time; a
// message whose ttl has passed is left out and deleted (dropRetained), and
// a counter found above what its node holds is corrected (heal).
func (st *Store) RetainedPage(ctx context.Context, filter, after string, maxCount, maxBytes int) ([]*session.Message, error) {
	w := &retainedWalk{st: st, ctx: ctx, fl: strings.Split(filter, "/"), maxCount: maxCount, maxBytes: maxBytes, now: time.Now().Unix()}
	if after != "" {
		w.after = strings.Split(after, "/")
	}
	err := w.node(nil, 0, 0)
	if err == nil {
		err = w.read()
	}
	if err != nil {
		return nil, fmt.Errorf("dynamo: retained messages of %q after %q: %w", filter, after, err)
	}
	return w.out, nil
}

// retainedWalk is the state of one RetainedPage.
type retainedWalk struct {
	st       *Store
	ctx      context.Context
	fl       []string // the filter's levels
	after    []string // nil: from the start
	maxCount int
	maxBytes int
	now      int64 // Unix s, for ttl

	out     []*session.Message
	bytes   int
	pending [][]string // topics (levels) to read, in order
	full    bool
}

// child is a level under a trie node: whether it holds a message, and the
// messages its counter counts below it.
type child struct {
	level string
	msg   bool
	n     int64
}

// isAfter reports whether the topic q comes after the walk's start.
func (w *retainedWalk) isAfter(q []string) bool {
	return w.after == nil || slices.Compare(q, w.after) > 0
}

// skipBelow reports whether every topic below q comes before the walk's
// start (is at most after).
func (w *retainedWalk) skipBelow(q []string) bool {
	return w.after != nil && slices.Compare(q, w.after[:min(len(q), len(w.after))]) < 0
}

// node walks the children of prefix p for filter level i; n is the
// counter read for p (0 when unknown).
func (w *retainedWalk) node(p []string, i int, n int64) error {
	f := w.fl[i]
	if f == "#" {
		return w.subtree(p, i == 0, n)
	}
	var kids []child
	var err error
	if f == "+" {
		kids, err = w.st.listChildren(w.ctx, p, n)
	} else {
		kids, err = w.st.literalChild(w.ctx, p, f)
	}
	if err != nil {
		return err
	}
	wantMsg := i == len(w.fl)-1 || w.fl[i+1] == "#"
	for _, k := range kids {
		if f == "+" && i == 0 && strings.HasPrefix(k.level, "$") {
			continue // [MQTT-4.7.2-1]
		}
		q := append(p[:len(p):len(p)], k.level)
		if k.msg && wantMsg && w.isAfter(q) {
			if err := w.emit(q); err != nil || w.full {
				return err
			}
		}
		if k.n > 0 && i+1 < len(w.fl) && !w.skipBelow(q) {
			if err := w.node(q, i+1, k.n); err != nil || w.full {
				return err
			}
		}
	}
	return nil
}

// subtree walks every topic below p, skipping first levels that start
// with '$' when skipDollar is set ([MQTT-4.7.2-1]).
func (w *retainedWalk) subtree(p []string, skipDollar bool, n int64) error {
	kids, err := w.st.listChildren(w.ctx, p, n)
	if err != nil {
		return err
	}
	for _, k := range kids {
		if skipDollar && strings.HasPrefix(k.level, "$") {
			continue
		}
		q := append(p[:len(p):len(p)], k.level)
		if k.msg && w.isAfter(q) {
			if err := w.emit(q); err != nil || w.full {
				return err
			}
		}
		if k.n > 0 && !w.skipBelow(q) {
			if err := w.subtree(q, false, k.n); err != nil || w.full {
				return err
			}
		}
	}
	return nil
}

// emit adds topic q to the page, reading the messages when enough wait.
func (w *retainedWalk) emit(q []string) error {
	w.pending = append(w.pending, q)
	if len(w.out)+len(w.pending) >= w.maxCount || len(w.pending) >= retainedReadBatch {
		return w.read()
	}
	return nil
}

// read reads the pending messages and adds them to the page in order
// while it has room, marking the walk full once it has none.
func (w *retainedWalk) read() error {
	if len(w.pending) == 0 {
		return nil
	}
	keys := make([]map[string]types.AttributeValue, len(w.pending))
	for i, q := range w.pending {
		keys[i] = key(retainedPK(q[:len(q)-1]), retainedMsgSK(q[len(q)-1]))
	}
	pending := w.pending
	w.pending = nil
	items, err := w.st.batchGet(w.ctx, keys, "")
	if err != nil {
		return err
	}
	byTopic := make(map[string]*retainedItem, len(items))
	for _, item := range items {
		it := new(retainedItem)
		if err := attributevalue.UnmarshalMap(item, it); err != nil {
			return fmt.Errorf("decode retained message: %w", err)
		}
		byTopic[it.Msg.Topic] = it
	}
	for _, q := range pending {
		it := byTopic[strings.Join(q, "/")]
		if it == nil {
			continue // removed since the listing
		}
		if ttlPassed(it.TTL, w.now) {
			w.st.dropRetained(w.ctx, it)
			continue
		}
		m := it.Msg.message()
		if len(w.out) >= w.maxCount || (len(w.out) > 0 && w.bytes+m.Size() > w.maxBytes) {
			w.full = true
			return nil
		}
		w.out = append(w.out, &m)
		w.bytes += m.Size()
	}
	if len(w.out) >= w.maxCount || w.bytes >= w.maxBytes {
		w.full = true
	}
	return nil
}

// literalChild returns level under prefix p as a child, when it holds a
// message or has messages below it.
func (st *Store) literalChild(ctx context.Context, p []string, level string) ([]child, error) {
	items, err := st.batchGet(ctx, []map[string]types.AttributeValue{
		key(retainedPK(p), retainedCountSK(level)), key(retainedPK(p), retainedMsgSK(level)),
	}, retainedProj)
	if err != nil {
		return nil, fmt.Errorf("retained trie: %w", err)
	}
	k := child{level: level}
	for _, item := range items {
		if isMsg, _ := parseRetainedSK(skOf(item)); isMsg {
			k.msg = true
		} else {
			k.n = count(item)
		}
	}
	if !k.msg && k.n <= 0 {
		return nil, nil
	}
	return []child{k}, nil
}

// listChildren returns the children of the retained trie node of prefix
// p, sorted by level, without their messages; n is the counter read for
// p, healed when the node holds fewer messages.
func (st *Store) listChildren(ctx context.Context, p []string, n int64) ([]child, error) {
	items, err := st.query(ctx, &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ProjectionExpression:      aws.String("#pk, sk, n"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(retainedPK(p))},
	}, 0)
	if err != nil {
		return nil, fmt.Errorf("retained trie: %w", err)
	}
	byLevel := map[string]*child{}
	var kids []*child
	held := int64(0) // what the items of p's node count
	for _, item := range items {
		isMsg, level := parseRetainedSK(skOf(item))
		k := byLevel[level]
		if k == nil {
			k = &child{level: level}
			byLevel[level] = k
			kids = append(kids, k)
		}
		if isMsg {
			k.msg = true
			held++
		} else if c := count(item); c > 0 {
			k.n = c
			held += c
		}
	}
	if len(p) > 0 && n > 0 && held < n {
		st.heal(ctx, p, n, held)
	}
	slices.SortFunc(kids, func(a, b *child) int { return strings.Compare(a.level, b.level) })
	out := make([]child, len(kids))
	for i, k := range kids {
		out[i] = *k
	}
	return out, nil
}
