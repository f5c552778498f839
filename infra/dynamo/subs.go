package dynamo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/core/topic"
)

// maxFilterLevels bounds the levels of a filter or topic the tries hold:
// a subscription's transaction writes one trie node per level, and a
// transaction holds at most 100 items.
const maxFilterLevels = 96

// innerFilter returns the filter a subscription is matched by: without its
// $share/{group}/ prefix. Its trie node holds the subscription's topic
// side, and its match epoch counts the changes to it.
func innerFilter(filter string) string {
	if _, inner, ok, _ := topic.ParseShared(filter); ok {
		return inner
	}
	return filter
}

// nodeOps returns the updates of the trie nodes of every prefix of filter
// (without $share) by delta: n on all, h on the filter's own node.
func (st *Store) nodeOps(filter string, delta int64) []types.TransactWriteItem {
	levels := strings.Split(filter, "/")
	ops := make([]types.TransactWriteItem, 0, len(levels))
	for i := range levels {
		e := newExpr()
		e.add("n", delta)
		if i == len(levels)-1 {
			e.add("h", delta)
		}
		ops = append(ops, types.TransactWriteItem{Update: &types.Update{
			TableName: &st.table, Key: key(nodePK(strings.Join(levels[:i+1], "/")), nodeSK),
			UpdateExpression: e.update(), ExpressionAttributeNames: e.names, ExpressionAttributeValues: e.values,
		}})
	}
	return ops
}

// pruneNodes deletes the subscription trie nodes of filter (without
// $share) whose count fell to 0, from the filter's own node up: one
// DeleteItem per node, conditioned on n = 0 (a missing node passes), so a
// Subscribe that counted a node meanwhile keeps it, and one recreates it
// with its ADD. It stops at the first node still counting subscriptions:
// its ancestors count them too.
func (st *Store) pruneNodes(ctx context.Context, filter string) error {
	levels := strings.Split(filter, "/")
	for i := len(levels); i > 0; i-- {
		err := st.del(ctx, &dynamodb.DeleteItemInput{
			Key:                       key(nodePK(strings.Join(levels[:i], "/")), nodeSK),
			ConditionExpression:       aws.String("attribute_not_exists(#n) OR #n = :zero"),
			ExpressionAttributeNames:  map[string]string{"#n": "n"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":zero": num(0)},
		})
		if condFailed(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("dynamo: prune the subscription trie at %q: %w", filter, err)
		}
	}
	return nil
}

// fence is the ConditionCheck that conn owns clientID's session at
// generation gen.
func (st *Store) fence(clientID, conn string, gen int64) types.TransactWriteItem {
	return types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName: &st.table, Key: key(sessionPK(clientID), sessionSK),
		ConditionExpression:       aws.String("#conn = :conn AND #gen = :gen"),
		ExpressionAttributeNames:  map[string]string{"#conn": "conn", "#gen": "gen"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":conn": str(conn), ":gen": num(gen)},
	}}
}

// owned returns the session item of clientID when conn owns it, or
// ErrFenced.
func (st *Store) owned(ctx context.Context, clientID, conn string) (*sessionItem, error) {
	if conn == "" {
		return nil, fmt.Errorf("dynamo: session %q, no connection: %w", clientID, session.ErrFenced)
	}
	cur, err := st.readSession(ctx, clientID)
	if err != nil {
		return nil, fmt.Errorf("dynamo: session %q: %w", clientID, err)
	}
	if cur == nil || cur.Conn != conn {
		return nil, fmt.Errorf("dynamo: session %q, connection %q: %w", clientID, conn, session.ErrFenced)
	}
	return cur, nil
}

// checkFilter refuses filters the tries cannot hold.
func checkFilter(filter string) error {
	if strings.Count(filter, "/") >= maxFilterLevels {
		return fmt.Errorf("dynamo: filter %.40q... has more than %d levels", filter, maxFilterLevels)
	}
	if len(filter) > 900 {
		return fmt.Errorf("dynamo: filter %.40q... is longer than 900 bytes, the most a key holds", filter)
	}
	return nil
}

// Subscribe implements session.Store: per filter, one transaction of the
// fence, both sides of the subscription and, when it is new, the trie
// counters.
func (st *Store) Subscribe(ctx context.Context, clientID, conn string, subs []session.Subscription) ([]bool, error) {
	cur, err := st.owned(ctx, clientID, conn)
	if err != nil {
		return nil, err
	}
	for i := range subs {
		if err := checkFilter(subs[i].Filter); err != nil {
			return nil, err
		}
	}
	existed := make([]bool, len(subs))
	for i := range subs {
		s := subs[i]
		s.ClientID = clientID
		if existed[i], err = st.subscribe(ctx, cur, conn, &s); err != nil {
			return nil, err
		}
	}
	return existed, nil
}

func (st *Store) subscribe(ctx context.Context, cur *sessionItem, conn string, s *session.Subscription) (bool, error) {
	gen := cur.Gen
	inner := innerFilter(s.Filter)
	side := toSubItem(s, gen)
	side.PK, side.SK = sessionPK(s.ClientID), subSK(gen, s.Filter)
	topicSide := side
	topicSide.PK, topicSide.SK = nodePK(inner), topicSideSK(s.Filter, gen, s.ClientID)
	sideAV, err := attributevalue.MarshalMap(side)
	if err != nil {
		return false, fmt.Errorf("dynamo: encode subscription: %w", err)
	}
	topicAV, err := attributevalue.MarshalMap(topicSide)
	if err != nil {
		return false, fmt.Errorf("dynamo: encode subscription: %w", err)
	}
	for try := 0; try < maxTries; try++ {
		old, err := st.getItem(ctx, side.PK, side.SK)
		if err != nil {
			return false, fmt.Errorf("dynamo: subscribe %q: %w", s.ClientID, err)
		}
		existed := old != nil
		cond := "attribute_not_exists(#pk)"
		if existed {
			cond = "attribute_exists(#pk)"
		}
		fence := st.fence(s.ClientID, conn, gen)
		if !existed {
			fence = st.fenceDropping(cur, s.ClientID, conn, gen, s.Filter)
		}
		ops := []types.TransactWriteItem{
			fence,
			{Put: &types.Put{TableName: &st.table, Item: sideAV, ConditionExpression: &cond,
				ExpressionAttributeNames: map[string]string{"#pk": attrPK}}},
			{Put: &types.Put{TableName: &st.table, Item: topicAV}},
		}
		ops = append(ops, st.bumpEpoch(inner))
		if !existed {
			ops = append(ops, st.nodeOps(inner, 1)...)
		}
		err = st.transact(ctx, ops)
		if reasons := canceled(err); reasons != nil {
			if failedAt(reasons, 0) {
				return false, fmt.Errorf("dynamo: subscribe %q from %q: %w", s.ClientID, conn, session.ErrFenced)
			}
			if err := backoff(ctx, try); err != nil {
				return false, err
			}
			continue
		}
		if err != nil {
			return false, fmt.Errorf("dynamo: subscribe %q: %w", s.ClientID, err)
		}
		return existed, nil
	}
	return false, fmt.Errorf("dynamo: subscribe %q: %w", s.ClientID, errContended)
}

// Unsubscribe implements session.Store: per filter that exists, one
// transaction of the fence, both sides of the subscription and the trie
// counters.
func (st *Store) Unsubscribe(ctx context.Context, clientID, conn string, filters []string) ([]bool, error) {
	cur, err := st.owned(ctx, clientID, conn)
	if err != nil {
		return nil, err
	}
	existed := make([]bool, len(filters))
	for i, f := range filters {
		if existed[i], err = st.unsubscribe(ctx, cur, clientID, conn, f); err != nil {
			return nil, err
		}
	}
	return existed, nil
}

func (st *Store) unsubscribe(ctx context.Context, cur *sessionItem, clientID, conn string, filter string) (bool, error) {
	gen := cur.Gen
	pk, sk := sessionPK(clientID), subSK(gen, filter)
	for try := 0; try < maxTries; try++ {
		old, err := st.getItem(ctx, pk, sk)
		if err != nil {
			return false, fmt.Errorf("dynamo: unsubscribe %q: %w", clientID, err)
		}
		if old == nil {
			return false, nil
		}
		inner := innerFilter(filter)
		ops := []types.TransactWriteItem{
			st.fenceDropping(cur, clientID, conn, gen, filter),
			{Delete: &types.Delete{TableName: &st.table, Key: key(pk, sk), ConditionExpression: aws.String("attribute_exists(#pk)"),
				ExpressionAttributeNames: map[string]string{"#pk": attrPK}}},
			{Delete: &types.Delete{TableName: &st.table, Key: key(nodePK(inner), topicSideSK(filter, gen, clientID))}},
			st.bumpEpoch(inner),
		}
		ops = append(ops, st.nodeOps(inner, -1)...)
		err = st.transact(ctx, ops)
		if reasons := canceled(err); reasons != nil {
			if failedAt(reasons, 0) {
				return false, fmt.Errorf("dynamo: unsubscribe %q from %q: %w", clientID, conn, session.ErrFenced)
			}
			if err := backoff(ctx, try); err != nil {
				return false, err
			}
			continue
		}
		if err != nil {
			return false, fmt.Errorf("dynamo: unsubscribe %q: %w", clientID, err)
		}
		if err := st.pruneNodes(ctx, inner); err != nil {
			// The subscription is gone; an empty node left is harmless.
			st.log.Warn("dynamo: pruning the subscription trie failed", "filter", inner, "err", err)
		}
		return true, nil
	}
	return false, fmt.Errorf("dynamo: unsubscribe %q: %w", clientID, errContended)
}

// removeTopicSide removes the topic side of a subscription of a generation
// being purged, with its trie counters and a move of its match epoch; the
// session side goes with the purge.
func (st *Store) removeTopicSide(ctx context.Context, sub *subItem) error {
	inner := innerFilter(sub.Filter)
	for try := 0; try < maxTries; try++ {
		ops := []types.TransactWriteItem{
			{Delete: &types.Delete{TableName: &st.table, Key: key(nodePK(inner), topicSideSK(sub.Filter, sub.Gen, sub.Client)),
				ConditionExpression: aws.String("attribute_exists(#pk)"), ExpressionAttributeNames: map[string]string{"#pk": attrPK}}},
			st.bumpEpoch(inner),
		}
		ops = append(ops, st.nodeOps(inner, -1)...)
		err := st.transact(ctx, ops)
		if reasons := canceled(err); reasons != nil {
			if failedAt(reasons, 0) {
				return nil // removed already
			}
			if err := backoff(ctx, try); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("dynamo: remove the topic side of %q %q: %w", sub.Client, sub.Filter, err)
		}
		if err := st.pruneNodes(ctx, inner); err != nil {
			st.log.Warn("dynamo: pruning the subscription trie failed", "filter", inner, "err", err)
		}
		return nil
	}
	return fmt.Errorf("dynamo: remove the topic side of %q: %w", sub.Client, errContended)
}

// Subscriptions implements session.Store.
func (st *Store) Subscriptions(ctx context.Context, clientID string) ([]session.Subscription, error) {
	items, err := st.currentItems(ctx, clientID, kindSub)
	if err != nil {
		return nil, fmt.Errorf("dynamo: subscriptions of %q: %w", clientID, err)
	}
	out := make([]session.Subscription, 0, len(items))
	for _, item := range items {
		var it subItem
		if err := attributevalue.UnmarshalMap(item, &it); err != nil {
			return nil, fmt.Errorf("dynamo: decode subscription: %w", err)
		}
		out = append(out, it.subscription())
	}
	return out, nil
}

// Match implements session.Store: it finds the topic-side items of the
// filters that match the topic (from the match cache when the topic's
// epochs have not moved, see matchcache.go, or by walking the trie) and
// keeps those of each client's current generation, read fresh.
func (st *Store) Match(ctx context.Context, name string) ([]session.Subscription, error) {
	if strings.Count(name, "/") > maxFilterLevels {
		return nil, nil // no filter has that many levels
	}
	matches, err := st.matchesOf(ctx, name)
	if err != nil || len(matches) == 0 {
		return nil, err
	}
	gens, err := st.generations(ctx, matches)
	if err != nil {
		return nil, fmt.Errorf("dynamo: match %q: %w", name, err)
	}
	var out []session.Subscription
	for _, r := range matches {
		if g, ok := gens[r.Client]; ok && g == r.Gen {
			out = append(out, r.subscription())
		}
	}
	return out, nil
}

// walk returns the topic-side items of the filters that match topic name: it
// walks the subscription trie level by level, one BatchGetItem per level,
// and queries the topic-side items of the nodes that match the whole topic.
func (st *Store) walk(ctx context.Context, name string) ([]subItem, error) {
	levels := strings.Split(name, "/")
	dollar := strings.HasPrefix(name, "$")
	var matched []string         // filters of nodes with subscriptions matching name
	frontier := []string{""}     // filters of the nodes matching the levels so far
	var last map[string]nodeItem // the nodes read for the last level
	for i, lv := range levels {
		join := func(p, l string) string {
			if i == 0 {
				return l
			}
			return p + "/" + l
		}
		var cands []string
		for _, p := range frontier {
			cands = append(cands, join(p, lv))
			if !(i == 0 && dollar) { // [MQTT-4.7.2-1]
				cands = append(cands, join(p, "+"), join(p, "#"))
			}
		}
		nodes, err := st.readNodes(ctx, cands)
		if err != nil {
			return nil, err
		}
		frontier = frontier[:0:0]
		for _, c := range cands {
			n, ok := nodes[c]
			if !ok || n.N <= 0 {
				continue
			}
			if strings.HasSuffix(c, "#") && (c == "#" || strings.HasSuffix(c, "/#")) {
				if n.H > 0 {
					matched = append(matched, c) // "#" matches the rest
				}
				continue
			}
			frontier = append(frontier, c)
		}
		last = nodes
		if len(frontier) == 0 {
			break
		}
	}
	if len(frontier) > 0 {
		// Filters ending at the topic's last level, and "prefix/#", which
		// matches its parent level too [MQTT-4.7.1-2].
		var hashes []string
		for _, f := range frontier {
			if last[f].H > 0 {
				matched = append(matched, f)
			}
			hashes = append(hashes, f+"/#")
		}
		nodes, err := st.readNodes(ctx, hashes)
		if err != nil {
			return nil, err
		}
		for _, h := range hashes {
			if nodes[h].H > 0 {
				matched = append(matched, h)
			}
		}
	}
	var matches []subItem
	for _, f := range matched {
		items, err := st.query(ctx, &dynamodb.QueryInput{
			KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :p)"),
			ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#sk": attrSK},
			ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(nodePK(f)), ":p": str(topicSidePrefix)},
		}, 0)
		if err != nil {
			return nil, fmt.Errorf("dynamo: match %q: %w", name, err)
		}
		for _, item := range items {
			var it subItem
			if err := attributevalue.UnmarshalMap(item, &it); err != nil {
				return nil, fmt.Errorf("dynamo: decode subscription: %w", err)
			}
			matches = append(matches, it)
		}
	}
	return matches, nil
}

// readNodes reads the subscription trie nodes of filters.
func (st *Store) readNodes(ctx context.Context, filters []string) (map[string]nodeItem, error) {
	keys := make([]map[string]types.AttributeValue, 0, len(filters))
	seen := map[string]bool{}
	for _, f := range filters {
		if !seen[f] {
			seen[f] = true
			keys = append(keys, key(nodePK(f), nodeSK))
		}
	}
	items, err := st.batchGet(ctx, keys, "")
	if err != nil {
		return nil, fmt.Errorf("dynamo: read subscription trie: %w", err)
	}
	out := make(map[string]nodeItem, len(items))
	for _, item := range items {
		var n nodeItem
		if err := attributevalue.UnmarshalMap(item, &n); err != nil {
			return nil, fmt.Errorf("dynamo: decode trie node: %w", err)
		}
		out[filterOfNodePK(n.PK)] = n
	}
	return out, nil
}

// generations returns the current generation of the sessions of the
// clients of matches; a client without a session is left out. It reads the
// whole session items (DynamoDB bills a read by the item's size, however
// little of it is projected) and keeps them for the Sessions call that
// follows (recentSessions).
func (st *Store) generations(ctx context.Context, matches []subItem) (map[string]int64, error) {
	var keys []map[string]types.AttributeValue
	seen := map[string]bool{}
	for _, r := range matches {
		if !seen[r.Client] {
			seen[r.Client] = true
			keys = append(keys, key(sessionPK(r.Client), sessionSK))
		}
	}
	items, err := st.batchGet(ctx, keys, "")
	if err != nil {
		return nil, err
	}
	at := time.Now()
	out := make(map[string]int64, len(items))
	for _, item := range items {
		it, err := decodeSession(item)
		if err != nil {
			return nil, err
		}
		id := clientOfSessionPK(it.PK)
		out[id] = it.Gen
		st.recent.put(id, it, at)
	}
	return out, nil
}
