package dynamo

import (
	"context"
	"fmt"
	"strings"

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

// SetRetained implements session.Store. Replacing a message by one of
// the same size and identity is one conditional put; adding, removing or
// resizing one, or changing its identity, is a transaction with the
// counters of the topic's ancestors (adding or removing), the totals item
// (totalsOp) and the totals of the identities concerned (identityOps),
// whose conditions keep the store within lim.
func (st *Store) SetRetained(ctx context.Context, m *session.Message, lim session.RetainedLimits) error {
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
	size := int64(m.Size())
	names := map[string]string{"#pk": attrPK}
	for try := 0; try < maxTries; try++ {
		old, err := st.getItem(ctx, pk, sk)
		if err != nil {
			return fmt.Errorf("dynamo: retained message on %q: %w", m.Topic, err)
		}
		var (
			oldSize  int64
			oldIdent string
		)
		if old != nil {
			var oi retainedItem
			if err := attributevalue.UnmarshalMap(old, &oi); err != nil {
				return fmt.Errorf("dynamo: decode retained message on %q: %w", m.Topic, err)
			}
			om := oi.Msg.message()
			oldSize, oldIdent = int64(om.Size()), om.Identity
		}
		var ops []types.TransactWriteItem
		var dn, db int64
		switch {
		case len(m.Payload) == 0 && old == nil:
			return nil
		case len(m.Payload) == 0:
			cond, names, values := sameRetained(oldIdent)
			ops = append([]types.TransactWriteItem{{Delete: &types.Delete{TableName: &st.table, Key: key(pk, sk),
				ConditionExpression: cond, ExpressionAttributeNames: names, ExpressionAttributeValues: values}}},
				st.countOps(levels, -1)...)
			dn, db = -1, -oldSize
		case old != nil:
			cond, names, values := sameRetained(oldIdent)
			ops = []types.TransactWriteItem{{Put: &types.Put{TableName: &st.table, Item: av,
				ConditionExpression: cond, ExpressionAttributeNames: names, ExpressionAttributeValues: values}}}
			db = size - oldSize
		default:
			ops = append([]types.TransactWriteItem{{Put: &types.Put{TableName: &st.table, Item: av,
				ConditionExpression: aws.String("attribute_not_exists(#pk)"), ExpressionAttributeNames: names}}},
				st.countOps(levels, 1)...)
			dn, db = 1, size
		}
		if db > 0 && lim.Bytes > 0 && db > lim.Bytes {
			return fmt.Errorf("dynamo: retained message on %q: %d bytes: %w", m.Topic, size, session.ErrQuotaExceeded)
		}
		totals := len(ops)
		if dn != 0 || db != 0 {
			ops = append(ops, st.totalsOp(dn, db, lim))
		}
		if len(m.Payload) == 0 {
			ops = append(ops, st.identityOp(oldIdent, -1, -oldSize, lim))
		} else {
			ops = append(ops, st.identityOps(old != nil, oldIdent, oldSize, m.Identity, size, lim)...)
		}
		if len(ops) == 1 {
			err = st.single(ctx, ops[0])
		} else {
			err = st.transact(ctx, ops)
		}
		if reasons := canceled(err); reasons != nil && failedFrom(reasons, totals) {
			return fmt.Errorf("dynamo: retained message on %q: %w", m.Topic, session.ErrQuotaExceeded)
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

// totalsOp adds dn messages and db bytes to the retained totals item. When
// it grows them, its condition keeps them within lim: n below lim.Count
// before a message is added, b at most lim.Bytes after.
func (st *Store) totalsOp(dn, db int64, lim session.RetainedLimits) types.TransactWriteItem {
	return st.addTotalsOp(retainedTotalsPK, dn, db, lim.Count, lim.Bytes)
}

// addTotalsOp adds dn messages and db bytes to the totals item of
// partition pk (n and b), within maxN messages and maxB bytes when it grows
// them (0: no limit), as totalsOp describes.
func (st *Store) addTotalsOp(pk string, dn, db int64, maxN int, maxB int64) types.TransactWriteItem {
	names := map[string]string{"#n": "n", "#b": "b"}
	values := map[string]types.AttributeValue{":dn": num(dn), ":db": num(db)}
	var conds []string
	if dn > 0 && maxN > 0 {
		conds = append(conds, "(attribute_not_exists(#n) OR #n < :maxn)")
		values[":maxn"] = num(int64(maxN))
	}
	if db > 0 && maxB > 0 {
		conds = append(conds, "(attribute_not_exists(#b) OR #b <= :room)")
		values[":room"] = num(maxB - db)
	}
	u := &types.Update{TableName: &st.table, Key: key(pk, retainedTotalsSK),
		UpdateExpression: aws.String("ADD #n :dn, #b :db"), ExpressionAttributeNames: names, ExpressionAttributeValues: values}
	if len(conds) > 0 {
		u.ConditionExpression = aws.String(strings.Join(conds, " AND "))
	}
	return types.TransactWriteItem{Update: u}
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

// count returns the counter n of an item, 0 when it has none.
func count(item map[string]types.AttributeValue) int64 {
	var it struct {
		N int64 `dynamodbav:"n"`
	}
	_ = attributevalue.UnmarshalMap(item, &it)
	return it.N
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
	m := it.Msg.message()
	ops := append([]types.TransactWriteItem{{Delete: &types.Delete{TableName: &st.table, Key: key(it.PK, it.SK),
		ConditionExpression: aws.String("#ttl = :ttl"), ExpressionAttributeNames: map[string]string{"#ttl": "ttl"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":ttl": num(it.TTL)}}}},
		st.countOps(levels, -1)...)
	ops = append(ops, st.totalsOp(-1, -int64(m.Size()), session.RetainedLimits{}),
		st.identityOp(m.Identity, -1, -int64(m.Size()), session.RetainedLimits{}))
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
