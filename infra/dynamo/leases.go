package dynamo

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mqttless/mqttless/core/session"
)

// The leases of the proxies live in one partition, one item each:
//
//	lease    pk L, sk <proxy>
//	    until (Unix ms), ended (set by EndLease), unreachable (set by
//	    MarkUnreachable), ttl (a day after until); RenewLease replaces the
//	    item, which clears ended and unreachable
//
// The fleet is small (one item per proxy task), and Leases is one Query of
// that partition.
const (
	leasePK = "L"
	// leaseKeep is how long after it lapses a lease is kept: TTL removes
	// it then, so that the ids of replaced tasks do not pile up.
	leaseKeep = 24 * 3600
)

func leaseTTL(until int64) types.AttributeValue { return num(until/1000 + leaseKeep) }

// RenewLease implements session.Store.
func (st *Store) RenewLease(ctx context.Context, proxy string, until int64) error {
	_, err := st.put(ctx, &dynamodb.PutItemInput{Item: map[string]types.AttributeValue{
		"pk": str(leasePK), "sk": str(proxy), "until": num(until), "ttl": leaseTTL(until),
	}})
	if err != nil {
		return fmt.Errorf("dynamo: renew the lease of %q: %w", proxy, err)
	}
	return nil
}

// Leases implements session.Store.
func (st *Store) Leases(ctx context.Context) ([]session.Lease, error) {
	items, err := st.query(ctx, &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(leasePK)},
	}, 0)
	if err != nil {
		return nil, fmt.Errorf("dynamo: leases: %w", err)
	}
	out := make([]session.Lease, 0, len(items))
	for _, it := range items {
		l := session.Lease{Proxy: skOf(it)}
		if u, ok := it["until"].(*types.AttributeValueMemberN); ok {
			if l.Until, err = strconv.ParseInt(u.Value, 10, 64); err != nil {
				return nil, fmt.Errorf("dynamo: lease of %q: until %q: %w", l.Proxy, u.Value, err)
			}
		}
		if e, ok := it["ended"].(*types.AttributeValueMemberBOOL); ok {
			l.Ended = e.Value
		}
		if e, ok := it["unreachable"].(*types.AttributeValueMemberBOOL); ok {
			l.Unreachable = e.Value
		}
		out = append(out, l)
	}
	return out, nil
}

// EndLease implements session.Store: one update conditioned on until and
// on the lease not ended, with a write token (resend.go), so that of
// several callers exactly one ends it.
func (st *Store) EndLease(ctx context.Context, proxy string, until int64) error {
	token := newToken()
	_, err := st.update(ctx, &dynamodb.UpdateItemInput{
		Key:                                 key(leasePK, proxy),
		UpdateExpression:                    aws.String("SET ended = :t, #w = :w"),
		ConditionExpression:                 aws.String("#u = :u AND attribute_not_exists(ended)"),
		ExpressionAttributeNames:            map[string]string{"#u": "until", "#w": attrToken},
		ExpressionAttributeValues:           map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}, ":u": num(until), ":w": str(token)},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	if ownWrite(err, token) {
		err = nil // resent (resend.go): the lease was ended by this call
	}
	if condFailed(err) {
		return fmt.Errorf("dynamo: lease of %q until %d: %w", proxy, until, session.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("dynamo: end the lease of %q: %w", proxy, err)
	}
	return nil
}

// MarkUnreachable implements session.Store.
func (st *Store) MarkUnreachable(ctx context.Context, proxy string, until int64) error {
	_, err := st.update(ctx, &dynamodb.UpdateItemInput{
		Key:                       key(leasePK, proxy),
		UpdateExpression:          aws.String("SET unreachable = :t"),
		ConditionExpression:       aws.String("#u = :u"),
		ExpressionAttributeNames:  map[string]string{"#u": "until"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":t": &types.AttributeValueMemberBOOL{Value: true}, ":u": num(until)},
	})
	if condFailed(err) {
		return fmt.Errorf("dynamo: lease of %q until %d: %w", proxy, until, session.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("dynamo: mark the lease of %q unreachable: %w", proxy, err)
	}
	return nil
}
