package dynamo

import (
	"context"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mqttless/mqttless/core/session"
)

// Inflight implements session.Store.
func (st *Store) Inflight(ctx context.Context, clientID string) ([]*session.Outbound, error) {
	items, err := st.currentItems(ctx, clientID, kindInflight)
	if err != nil {
		return nil, fmt.Errorf("dynamo: in flight for %q: %w", clientID, err)
	}
	var out []*session.Outbound
	for _, item := range items {
		var it outItem
		if err := attributevalue.UnmarshalMap(item, &it); err != nil {
			return nil, fmt.Errorf("dynamo: decode outbound message: %w", err)
		}
		out = append(out, it.outbound())
	}
	slices.SortFunc(out, func(a, b *session.Outbound) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	return out, nil
}

// Acknowledge implements session.Store.
func (st *Store) Acknowledge(ctx context.Context, clientID string, packetID uint16) error {
	return st.finish(ctx, clientID, packetID, 1, session.Sent)
}

// Complete implements session.Store.
func (st *Store) Complete(ctx context.Context, clientID string, packetID uint16) error {
	return st.finish(ctx, clientID, packetID, 2, session.Released)
}

// finish deletes the in-flight message of packetID at qos in state, and
// counts it out of the session's nf, in one transaction.
func (st *Store) finish(ctx context.Context, clientID string, packetID uint16, qos byte, state session.OutState) error {
	gen, cached := st.gens.get(clientID)
	for try := 0; try < maxTries; try++ {
		if !cached {
			cur, err := st.readSession(ctx, clientID)
			if err != nil {
				return fmt.Errorf("dynamo: acknowledge %q packet %d: %w", clientID, packetID, err)
			}
			if cur == nil {
				return fmt.Errorf("dynamo: %q packet %d: %w", clientID, packetID, session.ErrNotFound)
			}
			gen = cur.Gen
		}
		pk := sessionPK(clientID)
		err := st.transact(ctx, []types.TransactWriteItem{
			{Delete: &types.Delete{TableName: &st.table, Key: key(pk, flightSK(gen, packetID)),
				ConditionExpression:       aws.String("#qos = :qos AND #st = :st"),
				ExpressionAttributeNames:  map[string]string{"#qos": "qos", "#st": "st"},
				ExpressionAttributeValues: map[string]types.AttributeValue{":qos": num(int64(qos)), ":st": num(int64(state))}}},
			{Update: &types.Update{TableName: &st.table, Key: key(pk, sessionSK),
				UpdateExpression:          aws.String("SET #nf = #nf - :one"),
				ConditionExpression:       aws.String("#gen = :gen"),
				ExpressionAttributeNames:  map[string]string{"#nf": "nf", "#gen": "gen"},
				ExpressionAttributeValues: map[string]types.AttributeValue{":one": num(1), ":gen": num(gen)}}},
		})
		if reasons := canceled(err); reasons != nil {
			if cached {
				cached = false // the generation may have changed: read it
				continue
			}
			if failedAt(reasons, 0) {
				return fmt.Errorf("dynamo: %q packet %d: %w", clientID, packetID, session.ErrNotFound)
			}
			if err := backoff(ctx, try); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("dynamo: acknowledge %q packet %d: %w", clientID, packetID, err)
		}
		return nil
	}
	return fmt.Errorf("dynamo: acknowledge %q packet %d: %w", clientID, packetID, errContended)
}

// Release implements session.Store: one conditional update.
func (st *Store) Release(ctx context.Context, clientID string, packetID uint16) error {
	gen, err := st.gen(ctx, clientID)
	if err != nil {
		return err
	}
	_, err = st.update(ctx, &dynamodb.UpdateItemInput{
		Key:                       key(sessionPK(clientID), flightSK(gen, packetID)),
		UpdateExpression:          aws.String("SET #st = :rel"),
		ConditionExpression:       aws.String("#qos = :two AND (#st = :sent OR #st = :rel)"),
		ExpressionAttributeNames:  map[string]string{"#qos": "qos", "#st": "st"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":two": num(2), ":sent": num(int64(session.Sent)), ":rel": num(int64(session.Released))},
	})
	if condFailed(err) {
		return fmt.Errorf("dynamo: %q packet %d: %w", clientID, packetID, session.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("dynamo: release %q packet %d: %w", clientID, packetID, err)
	}
	return nil
}
