package dynamo

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mqttless/mqttless/core/session"
)

// gen returns the current generation of clientID's session, or ErrNotFound.
func (st *Store) gen(ctx context.Context, clientID string) (int64, error) {
	cur, err := st.readSession(ctx, clientID)
	if err != nil {
		return 0, fmt.Errorf("dynamo: session %q: %w", clientID, err)
	}
	if cur == nil {
		return 0, fmt.Errorf("dynamo: session %q: %w", clientID, session.ErrNotFound)
	}
	return cur.Gen, nil
}

// Receiving implements session.Store: a read of the generation and a query
// of its I# keys.
func (st *Store) Receiving(ctx context.Context, clientID string) (int, error) {
	gen, err := st.gen(ctx, clientID)
	if errors.Is(err, session.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	items, err := st.genItems(ctx, clientID, gen, kindInbound, 0, attrSK)
	if err != nil {
		return 0, fmt.Errorf("dynamo: receiving of %q: %w", clientID, err)
	}
	return len(items), nil
}

// Receive implements session.Store: a put conditioned on the identifier
// being free, returning the item that holds it otherwise.
func (st *Store) Receive(ctx context.Context, clientID string, in *session.Inbound) (*session.Inbound, error) {
	gen, err := st.gen(ctx, clientID)
	if err != nil {
		return nil, err
	}
	it := toInItem(in)
	it.PK, it.SK = sessionPK(clientID), inboundSK(gen, in.PacketID)
	av, err := attributevalue.MarshalMap(it)
	if err != nil {
		return nil, fmt.Errorf("dynamo: encode inbound message: %w", err)
	}
	if itemSize(av) > MaxItemSize {
		return nil, fmt.Errorf("dynamo: receive for %q: %w", clientID, ErrItemTooLarge)
	}
	_, err = st.put(ctx, &dynamodb.PutItemInput{
		Item: av, ConditionExpression: aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames:            map[string]string{"#pk": attrPK},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if err == nil {
		return nil, nil
	}
	if !condFailed(err) {
		return nil, fmt.Errorf("dynamo: receive for %q: %w", clientID, err)
	}
	var cf *types.ConditionalCheckFailedException
	old := map[string]types.AttributeValue(nil)
	if asCond(err, &cf) {
		old = cf.Item
	}
	if old == nil {
		if old, err = st.getItem(ctx, it.PK, it.SK); err != nil {
			return nil, fmt.Errorf("dynamo: receive for %q: %w", clientID, err)
		}
		if old == nil {
			return nil, fmt.Errorf("dynamo: receive for %q: %w", clientID, errContended)
		}
	}
	var prev inItem
	if err := attributevalue.UnmarshalMap(old, &prev); err != nil {
		return nil, fmt.Errorf("dynamo: decode inbound message: %w", err)
	}
	return prev.inbound(), nil
}

// MarkFannedOut implements session.Store.
func (st *Store) MarkFannedOut(ctx context.Context, clientID string, packetID uint16) error {
	gen, err := st.gen(ctx, clientID)
	if err != nil {
		return err
	}
	_, err = st.update(ctx, &dynamodb.UpdateItemInput{
		Key:                       key(sessionPK(clientID), inboundSK(gen, packetID)),
		UpdateExpression:          aws.String("SET #r = :t"),
		ConditionExpression:       aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames:  map[string]string{"#r": "routed", "#pk": attrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}},
	})
	if condFailed(err) {
		return fmt.Errorf("dynamo: %q inbound packet %d: %w", clientID, packetID, session.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("dynamo: mark %q packet %d routed: %w", clientID, packetID, err)
	}
	return nil
}

// Forget implements session.Store.
func (st *Store) Forget(ctx context.Context, clientID string, packetID uint16) error {
	gen, err := st.gen(ctx, clientID)
	if err != nil {
		return err
	}
	err = st.del(ctx, &dynamodb.DeleteItemInput{
		Key:                      key(sessionPK(clientID), inboundSK(gen, packetID)),
		ConditionExpression:      aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": attrPK},
	})
	if condFailed(err) {
		return fmt.Errorf("dynamo: %q inbound packet %d: %w", clientID, packetID, session.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("dynamo: forget %q packet %d: %w", clientID, packetID, err)
	}
	return nil
}
