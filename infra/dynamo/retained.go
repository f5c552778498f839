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
)

// countOps returns the updates by delta of the counters of every proper
// prefix of a topic's levels.
func (st *Store) countOps(levels []string, delta int64) []types.TransactWriteItem {
	var ops []types.TransactWriteItem
	for i := 0; i < len(levels)-1; i++ {
		e := newExpr()
		e.add("n", delta)
		ops = append(ops, types.TransactWriteItem{Update: &types.Update{
			TableName: &st.table, Key: key(retainedPK(levels[:i]), retainedCountSK(levels[i])),
			UpdateExpression: e.update(), ExpressionAttributeNames: e.names, ExpressionAttributeValues: e.values,
		}})
	}
	return ops
}

// pruneCounts deletes the retained trie counters of the proper prefixes of
// a topic's levels that fell to 0, from the deepest up: one DeleteItem per
// counter, conditioned on n = 0 (a missing counter passes), stopping at
// the first that still counts messages, since its ancestors count them
// too. A SetRetained that counted one meanwhile keeps it, and one
// recreates it with its ADD.
func (st *Store) pruneCounts(ctx context.Context, levels []string) error {
	for i := len(levels) - 2; i >= 0; i-- {
		err := st.del(ctx, &dynamodb.DeleteItemInput{
			Key:                       key(retainedPK(levels[:i]), retainedCountSK(levels[i])),
			ConditionExpression:       aws.String("attribute_not_exists(#n) OR #n = :zero"),
			ExpressionAttributeNames:  map[string]string{"#n": "n"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":zero": num(0)},
		})
		if condFailed(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("dynamo: prune the retained trie at %q: %w", strings.Join(levels, "/"), err)
		}
	}
	return nil
}

// SetRetained implements session.Store. Replacing a message is one
// conditional put; adding or removing one is a transaction with the
// counters of the topic's ancestors.
func (st *Store) SetRetained(ctx context.Context, m *session.Message) error {
	levels := strings.Split(m.Topic, "/")
	if len(levels) > maxFilterLevels {
		return fmt.Errorf("dynamo: retained topic %.40q... has more than %d levels", m.Topic, maxFilterLevels)
	}
	pk, sk := retainedPK(levels[:len(levels)-1]), retainedMsgSK(levels[len(levels)-1])
	it := retainedItem{PK: pk, SK: sk, Msg: toMsgItem(m), TTL: msgTTL(m.ExpiresAt)}
	av, err := attributevalue.MarshalMap(it)
	if err != nil {
		return fmt.Errorf("dynamo: encode retained message: %w", err)
	}
	if itemSize(av) > MaxItemSize {
		return fmt.Errorf("dynamo: retained message on %.40q: %w", m.Topic, ErrItemTooLarge)
	}
	names := map[string]string{"#pk": attrPK}
	for try := 0; try < maxTries; try++ {
		old, err := st.getItem(ctx, pk, sk)
		if err != nil {
			return fmt.Errorf("dynamo: retained message on %q: %w", m.Topic, err)
		}
		var ops []types.TransactWriteItem
		switch {
		case len(m.Payload) == 0 && old == nil:
			return nil
		case len(m.Payload) == 0:
			ops = append([]types.TransactWriteItem{{Delete: &types.Delete{TableName: &st.table, Key: key(pk, sk),
				ConditionExpression: aws.String("attribute_exists(#pk)"), ExpressionAttributeNames: names}}},
				st.countOps(levels, -1)...)
		case old != nil:
			ops = []types.TransactWriteItem{{Put: &types.Put{TableName: &st.table, Item: av,
				ConditionExpression: aws.String("attribute_exists(#pk)"), ExpressionAttributeNames: names}}}
		default:
			ops = append([]types.TransactWriteItem{{Put: &types.Put{TableName: &st.table, Item: av,
				ConditionExpression: aws.String("attribute_not_exists(#pk)"), ExpressionAttributeNames: names}}},
				st.countOps(levels, 1)...)
		}
		if len(ops) == 1 {
			err = st.single(ctx, ops[0])
		} else {
			err = st.transact(ctx, ops)
		}
		if condFailed(err) || canceled(err) != nil {
			if err := backoff(ctx, try); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("dynamo: retained message on %q: %w", m.Topic, err)
		}
		if len(m.Payload) == 0 {
			if err := st.pruneCounts(ctx, levels); err != nil {
				// The message is gone; an empty counter left is harmless.
				st.log.Warn("dynamo: pruning the retained trie failed", "topic", m.Topic, "err", err)
			}
		}
		return nil
	}
	return fmt.Errorf("dynamo: retained message on %q: %w", m.Topic, errContended)
}

// single runs one put or delete of a transaction on its own: a plain
// conditional write costs half a transactional one.
func (st *Store) single(ctx context.Context, op types.TransactWriteItem) error {
	if p := op.Put; p != nil {
		_, err := st.put(ctx, &dynamodb.PutItemInput{Item: p.Item, ConditionExpression: p.ConditionExpression,
			ExpressionAttributeNames: p.ExpressionAttributeNames, ExpressionAttributeValues: p.ExpressionAttributeValues})
		return err
	}
	d := op.Delete
	return st.del(ctx, &dynamodb.DeleteItemInput{Key: d.Key, ConditionExpression: d.ConditionExpression,
		ExpressionAttributeNames: d.ExpressionAttributeNames, ExpressionAttributeValues: d.ExpressionAttributeValues})
}

// Retained implements session.Store: a walk of the retained trie along
// filter. A literal level reads the items it names (BatchGetItem), a '+'
// queries the children of each node, a '#' the subtree below each node,
// descending only where a counter says there are messages below. A
// message whose ttl has passed is left out and deleted (dropRetained), and
// a counter found above what its node holds is corrected (heal).
func (st *Store) Retained(ctx context.Context, filter string) ([]*session.Message, error) {
	fl := strings.Split(filter, "/")
	var out []*session.Message
	counts := map[string]int64{} // the counters read, by the key of their node
	now := time.Now().Unix()
	add := func(item map[string]types.AttributeValue) error {
		var it retainedItem
		if err := attributevalue.UnmarshalMap(item, &it); err != nil {
			return fmt.Errorf("dynamo: decode retained message: %w", err)
		}
		if ttlPassed(it.TTL, now) {
			st.dropRetained(ctx, &it)
			return nil
		}
		m := it.Msg.message()
		out = append(out, &m)
		return nil
	}
	frontier := [][]string{{}} // prefixes (levels) matched so far
	for i, f := range fl {
		wantMsg := i == len(fl)-1 || fl[i+1] == "#"
		// [MQTT-4.7.2-1]: wildcards at the first level skip $ topics.
		skip := func(level string) bool { return i == 0 && strings.HasPrefix(level, "$") }
		var next [][]string
		switch f {
		case "#":
			for _, p := range frontier {
				if err := st.subtree(ctx, p, skip, add, counts); err != nil {
					return nil, err
				}
			}
			return out, nil
		case "+":
			for _, p := range frontier {
				items, err := st.children(ctx, p, counts)
				if err != nil {
					return nil, err
				}
				for _, item := range items {
					isMsg, level := parseRetainedSK(skOf(item))
					if skip(level) {
						continue
					}
					if isMsg && wantMsg {
						if err := add(item); err != nil {
							return nil, err
						}
					} else if !isMsg && count(item) > 0 {
						next = append(next, append(p[:len(p):len(p)], level))
					}
				}
			}
		default:
			var keys []map[string]types.AttributeValue
			for _, p := range frontier {
				keys = append(keys, key(retainedPK(p), retainedCountSK(f)))
				if wantMsg {
					keys = append(keys, key(retainedPK(p), retainedMsgSK(f)))
				}
			}
			items, err := st.batchGet(ctx, keys, "")
			if err != nil {
				return nil, fmt.Errorf("dynamo: retained messages of %q: %w", filter, err)
			}
			for _, item := range items {
				if isMsg, _ := parseRetainedSK(skOf(item)); isMsg {
					if err := add(item); err != nil {
						return nil, err
					}
				} else if n := count(item); n > 0 {
					child := append(levelsOfRetainedPK(pkOf(item)), f)
					counts[retainedPK(child)] = n
					next = append(next, child)
				}
			}
		}
		frontier = next
		if len(frontier) == 0 {
			break
		}
	}
	return out, nil
}

// count returns the counter n of an item, 0 when it has none.
func count(item map[string]types.AttributeValue) int64 {
	var it struct {
		N int64 `dynamodbav:"n"`
	}
	_ = attributevalue.UnmarshalMap(item, &it)
	return it.N
}

// children returns every item under the retained trie node of prefix p,
// adding the counters among them to counts, and heals the counter of p
// when counts holds the value read of it.
func (st *Store) children(ctx context.Context, p []string, counts map[string]int64) ([]map[string]types.AttributeValue, error) {
	items, err := st.query(ctx, &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(retainedPK(p))},
	}, 0)
	if err != nil {
		return nil, fmt.Errorf("dynamo: retained trie: %w", err)
	}
	held := int64(0) // what the items of p's node count
	for _, item := range items {
		isMsg, level := parseRetainedSK(skOf(item))
		if isMsg {
			held++
		} else if n := count(item); n > 0 {
			held += n
			counts[retainedPK(append(p[:len(p):len(p)], level))] = n
		}
	}
	if n, ok := counts[retainedPK(p)]; ok && len(p) > 0 && held < n {
		st.heal(ctx, p, n, held)
	}
	return items, nil
}

// heal sets the counter of prefix p, read as n, to held, what the items
// of p's node count, when DynamoDB's TTL deleted retained messages below p
// without changing the counters: an update (a delete when held is 0)
// conditioned on n. The counter was read before the node's items, so they
// show every transaction that read saw; one after it changed the counter
// (every message added or removed below p does) and fails the condition.
// The counters below p are healed when a walk reads their nodes; a
// counter is never set below the messages it counts. A failure only
// leaves the counter high, which costs reads, not messages.
func (st *Store) heal(ctx context.Context, p []string, n, held int64) {
	k := key(retainedPK(p[:len(p)-1]), retainedCountSK(p[len(p)-1]))
	names := map[string]string{"#n": "n"}
	var err error
	if held == 0 {
		err = st.del(ctx, &dynamodb.DeleteItemInput{Key: k, ConditionExpression: aws.String("#n = :n"),
			ExpressionAttributeNames: names, ExpressionAttributeValues: map[string]types.AttributeValue{":n": num(n)}})
	} else {
		_, err = st.update(ctx, &dynamodb.UpdateItemInput{Key: k, UpdateExpression: aws.String("SET #n = :held"),
			ConditionExpression: aws.String("#n = :n"), ExpressionAttributeNames: names,
			ExpressionAttributeValues: map[string]types.AttributeValue{":n": num(n), ":held": num(held)}})
	}
	if err != nil && !condFailed(err) {
		st.log.Warn("dynamo: healing a retained counter failed", "prefix", strings.Join(p, "/"), "err", err)
		return
	}
	st.log.Debug("dynamo: healed a retained counter", "prefix", strings.Join(p, "/"), "n", n, "held", held, "raced", err != nil)
}

// dropRetained deletes a retained message whose ttl has passed, as
// DynamoDB's TTL would, but with the counters of its ancestors, in one
// transaction conditioned on the item still carrying that ttl (it was not
// replaced or removed meanwhile). Its message has expired
// [MQTT-3.3.2-5]. A failure leaves it to DynamoDB and heal.
func (st *Store) dropRetained(ctx context.Context, it *retainedItem) {
	levels := strings.Split(it.Msg.Topic, "/")
	ops := append([]types.TransactWriteItem{{Delete: &types.Delete{TableName: &st.table, Key: key(it.PK, it.SK),
		ConditionExpression: aws.String("#ttl = :ttl"), ExpressionAttributeNames: map[string]string{"#ttl": "ttl"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":ttl": num(it.TTL)}}}},
		st.countOps(levels, -1)...)
	if err := st.transact(ctx, ops); err != nil {
		if canceled(err) == nil {
			st.log.Warn("dynamo: deleting an expired retained message failed", "topic", it.Msg.Topic, "err", err)
		}
		return
	}
	if err := st.pruneCounts(ctx, levels); err != nil {
		st.log.Warn("dynamo: pruning the retained trie failed", "topic", it.Msg.Topic, "err", err)
	}
}

// subtree passes every retained message below prefix p to add, skipping
// the first levels skip names.
func (st *Store) subtree(ctx context.Context, p []string, skip func(string) bool, add func(map[string]types.AttributeValue) error, counts map[string]int64) error {
	items, err := st.children(ctx, p, counts)
	if err != nil {
		return err
	}
	for _, item := range items {
		isMsg, level := parseRetainedSK(skOf(item))
		if skip(level) {
			continue
		}
		if isMsg {
			if err := add(item); err != nil {
				return err
			}
		} else if count(item) > 0 {
			child := append(p[:len(p):len(p)], level)
			if err := st.subtree(ctx, child, func(string) bool { return false }, add, counts); err != nil {
				return err
			}
		}
	}
	return nil
}
