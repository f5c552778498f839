package dynamo

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mqttless/mqttless/core/session"
)

// SeedSubscriptions writes n subscriptions, of clients prefix-<i> to
// prefix/<i>/status, straight into the table with BatchWriteItem: their
// topic-side items and trie nodes, as Subscribe leaves them (without the
// sessions, which the fan-out reads only for matching subscriptions). It is
// for the cost benchmark, which needs a table holding many subscriptions.
func (st *Store) SeedSubscriptions(ctx context.Context, prefix string, n int) error {
	var reqs []types.WriteRequest
	flush := func(force bool) error {
		for len(reqs) >= 25 || force && len(reqs) > 0 {
			k := min(len(reqs), 25)
			req := map[string][]types.WriteRequest{st.table: reqs[:k]}
			for len(req) > 0 {
				out, err := st.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: req})
				if err != nil {
					return err
				}
				req = out.UnprocessedItems
			}
			reqs = reqs[k:]
		}
		return nil
	}
	put := func(v any) error {
		av, err := attributevalue.MarshalMap(v)
		if err != nil {
			return err
		}
		reqs = append(reqs, types.WriteRequest{PutRequest: &types.PutRequest{Item: av}})
		return flush(false)
	}
	for i := range n {
		client, filter := fmt.Sprintf("%s-%d", prefix, i), fmt.Sprintf("%s/%d/status", prefix, i)
		r := toSubItem(&session.Subscription{ClientID: client, Filter: filter, QoS: 1}, 1)
		r.PK, r.SK = nodePK(filter), topicSideSK(filter, 1, client)
		if err := put(r); err != nil {
			return err
		}
		if err := put(nodeItem{PK: nodePK(fmt.Sprintf("%s/%d", prefix, i)), SK: nodeSK, N: 1}); err != nil {
			return err
		}
		if err := put(nodeItem{PK: nodePK(filter), SK: nodeSK, N: 1, H: 1}); err != nil {
			return err
		}
	}
	if err := flush(true); err != nil {
		return err
	}
	_, err := st.update(ctx, &dynamodb.UpdateItemInput{
		Key: key(nodePK(prefix), nodeSK), UpdateExpression: strp("ADD #n :n"),
		ExpressionAttributeNames: map[string]string{"#n": "n"}, ExpressionAttributeValues: map[string]types.AttributeValue{":n": num(int64(n))},
	})
	return err
}

func strp(s string) *string { return &s }

// Counters returns the nq and nf counters of clientID's session item.
func (st *Store) Counters(ctx context.Context, clientID string) (nq, nf int, err error) {
	cur, err := st.readSession(ctx, clientID)
	if err != nil || cur == nil {
		return 0, 0, fmt.Errorf("dynamo: counters of %q: %v", clientID, err)
	}
	return cur.NQ, cur.NF, nil
}

// Partition returns every item of clientID's partition but the session
// item: queued items have "#O#" in their sort keys, in-flight ones "#F#".
func (st *Store) Partition(ctx context.Context, clientID string) ([]map[string]types.AttributeValue, error) {
	return st.query(ctx, &dynamodb.QueryInput{
		KeyConditionExpression:    strp("#pk = :pk AND #sk > :s"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#sk": attrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(sessionPK(clientID)), ":s": str(sessionSK)},
	}, 0)
}

// Item returns the item of pk and sk, or nil.
func (st *Store) Item(ctx context.Context, pk, sk string) (map[string]types.AttributeValue, error) {
	return st.getItem(ctx, pk, sk)
}

// DispatchAfterRead is Dispatch whose first round uses a read of the
// session made before between runs (as Enqueue's dispatch uses Enqueue's
// read): for a test of a takeover in between.
func (st *Store) DispatchAfterRead(ctx context.Context, clientID, conn string, window int, between func()) ([]*session.Outbound, error) {
	cur, err := st.readSession(ctx, clientID)
	if err != nil {
		return nil, err
	}
	between()
	return st.dispatch(ctx, clientID, conn, window, cur)
}

// SetQueueSeq sets the seq of clientID's session item, the number of the
// last message its queue took: the next one enqueued gets seq+1, and with
// it packet identifier (seq mod 65535)+1 (Dispatch). It is for
// storetest.WithPacketIDsFrom.
func (st *Store) SetQueueSeq(ctx context.Context, clientID string, seq uint64) error {
	_, err := st.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &st.table, Key: key(sessionPK(clientID), sessionSK),
		UpdateExpression:          aws.String("SET #seq = :seq"),
		ConditionExpression:       aws.String("attribute_exists(#seq)"),
		ExpressionAttributeNames:  map[string]string{"#seq": "seq"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":seq": num(int64(seq))},
	})
	return err
}
