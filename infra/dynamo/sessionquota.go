package dynamo

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mqttless/mqttless/core/session"
)

// Session counters, for session.SessionQuota: the item
// (sessionCountPK, countSK) counts the sessions of the table in n, and
// (identityCountPK(identity), countSK) those of one identity. They change
// in the transaction that creates a session, takes one over for another
// identity, or deletes one (Connect, DeleteSession), and the condition on
// an increment keeps the limit, so the limits hold for the whole table,
// whichever machine writes. A session item they count carries cnt (set on
// the first write that counted it), so that sessions written before the
// counters were kept are counted when next connected, never subtracted
// unseen.
//
// DynamoDB's TTL deletes a session item a day after its expiry
// (sessionItem.setOwnership) without changing the counters; Due finds an
// expired session long before, and the handler deletes it with
// DeleteSession, so the counters stay exact unless the handlers that run
// Due stop for a day. A counter left high then refuses CONNECTs early; it
// is corrected by hand (set n) until a recount exists.
//
// Each new session writes the one table-wide counter: DynamoDB takes about
// 1,000 writes a second on one item, which bounds the rate of new
// sessions (not of CONNECTs that resume one).
const (
	sessionCountPK  = "SC"
	identityCountPf = "SC#"
	countSK         = "N"
)

func identityCountPK(identity string) string { return identityCountPf + identity }

// Connect implements session.Store, as ConnectWithin with no limits.
func (st *Store) Connect(ctx context.Context, s *session.Session, clean bool, now int64) (*session.Session, error) {
	return st.ConnectWithin(ctx, s, clean, now, session.SessionLimits{})
}

// counterOp adds delta to the counter n of item pk; an increment with
// limit > 0 is conditioned on n being below limit.
func counterOp(table, pk string, delta int64, limit int) types.TransactWriteItem {
	u := &types.Update{TableName: &table, Key: key(pk, countSK), UpdateExpression: aws.String("ADD #n :d"),
		ExpressionAttributeNames:  map[string]string{"#n": "n"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":d": num(delta)}}
	if delta > 0 && limit > 0 {
		u.ConditionExpression = aws.String("attribute_not_exists(#n) OR #n < :max")
		u.ExpressionAttributeValues[":max"] = num(int64(limit))
	}
	return types.TransactWriteItem{Update: u}
}

// sessionCountOps returns the counter updates of a Connect by identity
// that replaces the session item cur (nil for none), within lim: none
// when cur is counted and keeps its identity.
func sessionCountOps(table string, cur *sessionItem, identity string, lim session.SessionLimits) []types.TransactWriteItem {
	switch {
	case cur == nil:
		return []types.TransactWriteItem{
			counterOp(table, sessionCountPK, 1, lim.Sessions),
			counterOp(table, identityCountPK(identity), 1, lim.Identity),
		}
	case !cur.Cnt:
		// Written before the counters were kept: counted now. It exists,
		// so only a change of identity is held to a limit.
		idLimit := 0
		if cur.Ident != identity {
			idLimit = lim.Identity
		}
		return []types.TransactWriteItem{
			counterOp(table, sessionCountPK, 1, 0),
			counterOp(table, identityCountPK(identity), 1, idLimit),
		}
	case cur.Ident != identity:
		return []types.TransactWriteItem{
			counterOp(table, identityCountPK(cur.Ident), -1, 0),
			counterOp(table, identityCountPK(identity), 1, lim.Identity),
		}
	}
	return nil
}

// writeCounted runs the session update u, with the counter updates counts
// in one transaction when there are any. It returns a
// ConditionalCheckFailedException when u's condition failed (with the
// item as it stands, for ownWrite, when u ran alone) or the transaction
// met another (a race to try again), and an error wrapping
// session.ErrQuotaExceeded when a counter's did.
func (st *Store) writeCounted(ctx context.Context, u *types.Update, counts []types.TransactWriteItem) error {
	if len(counts) == 0 {
		_, err := st.update(ctx, &dynamodb.UpdateItemInput{Key: u.Key, UpdateExpression: u.UpdateExpression,
			ConditionExpression: u.ConditionExpression, ExpressionAttributeNames: u.ExpressionAttributeNames,
			ExpressionAttributeValues:           u.ExpressionAttributeValues,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld})
		return err
	}
	return st.transactCounted(ctx, append([]types.TransactWriteItem{{Update: u}}, counts...))
}

// transactCounted runs ops, whose first item is the session's write and
// the rest counter updates, as writeCounted describes.
func (st *Store) transactCounted(ctx context.Context, ops []types.TransactWriteItem) error {
	err := st.transact(ctx, ops)
	reasons := canceled(err)
	if reasons == nil {
		return err
	}
	for i := 1; i < len(ops); i++ {
		if failedAt(reasons, i) && !failedAt(reasons, 0) {
			return fmt.Errorf("dynamo: session counter %d of the write: %w", i, session.ErrQuotaExceeded)
		}
	}
	return &types.ConditionalCheckFailedException{Message: aws.String("dynamo: session write raced: " + err.Error())}
}

// deleteCounted runs the delete d of the session item cur, with the
// decrements of its counters when they count it. It is a transaction
// either way, for its idempotency token (resend.go): a DeleteItem resent
// after its answer was lost would fail its condition on its own deletion,
// and DeleteSession would then skip the purge.
func (st *Store) deleteCounted(ctx context.Context, cur *sessionItem, d *types.Delete) error {
	ops := []types.TransactWriteItem{{Delete: d}}
	if cur.Cnt {
		ops = append(ops, counterOp(st.table, sessionCountPK, -1, 0), counterOp(st.table, identityCountPK(cur.Ident), -1, 0))
	}
	return st.transactCounted(ctx, ops)
}
