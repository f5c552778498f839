package dynamo

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mqttless/mqttless/core/session"
)

// expr builds an update or condition expression's names and values. Every
// attribute name goes through a placeholder, so reserved words are safe.
type expr struct {
	names  map[string]string
	values map[string]types.AttributeValue
	sets   []string
	rems   []string
	adds   []string
}

func newExpr() *expr {
	return &expr{names: map[string]string{}, values: map[string]types.AttributeValue{}}
}

// n returns the placeholder of attribute name a.
func (e *expr) n(a string) string {
	p := "#" + a
	e.names[p] = a
	return p
}

// v returns the placeholder of value av.
func (e *expr) v(av types.AttributeValue) string {
	p := fmt.Sprintf(":v%d", len(e.values))
	e.values[p] = av
	return p
}

func (e *expr) set(a string, av types.AttributeValue) { e.sets = append(e.sets, e.n(a)+" = "+e.v(av)) }
func (e *expr) setExpr(s string)                      { e.sets = append(e.sets, s) }
func (e *expr) remove(a string)                       { e.rems = append(e.rems, e.n(a)) }
func (e *expr) add(a string, d int64)                 { e.adds = append(e.adds, e.n(a)+" "+e.v(num(d))) }

// setFrom sets each of attrs to its value in item, or removes it when item
// lacks it.
func (e *expr) setFrom(item map[string]types.AttributeValue, attrs ...string) {
	for _, a := range attrs {
		if v, ok := item[a]; ok {
			e.set(a, v)
		} else {
			e.remove(a)
		}
	}
}

// update returns the update expression.
func (e *expr) update() *string {
	var parts []string
	if len(e.sets) > 0 {
		parts = append(parts, "SET "+strings.Join(e.sets, ", "))
	}
	if len(e.rems) > 0 {
		parts = append(parts, "REMOVE "+strings.Join(e.rems, ", "))
	}
	if len(e.adds) > 0 {
		parts = append(parts, "ADD "+strings.Join(e.adds, ", "))
	}
	return aws.String(strings.Join(parts, " "))
}

func (e *expr) namesOrNil() map[string]string {
	if len(e.names) == 0 {
		return nil
	}
	return e.names
}

func (e *expr) valuesOrNil() map[string]types.AttributeValue {
	if len(e.values) == 0 {
		return nil
	}
	return e.values
}

// readSession returns the session item of clientID, or nil when there is
// none.
func (st *Store) readSession(ctx context.Context, clientID string) (*sessionItem, error) {
	item, err := st.getItem(ctx, sessionPK(clientID), sessionSK)
	if err != nil || item == nil {
		if err == nil {
			st.gens.forget(clientID)
		}
		return nil, err
	}
	it, err := decodeSession(item)
	if err == nil {
		st.gens.put(clientID, it.Gen)
		st.located.put(clientID, it, time.Now())
	}
	return it, err
}

// genItems returns the items of kind k of generation gen of clientID's
// session, in sort key order: at most limit (0 for all), with only the
// attributes proj names when it names any.
func (st *Store) genItems(ctx context.Context, clientID string, gen int64, k genKind, limit int, proj ...string) ([]map[string]types.AttributeValue, error) {
	in := &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("#pk = :pk AND begins_with(#sk, :p)"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#sk": attrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(sessionPK(clientID)), ":p": str(genKindPrefix(gen, k))},
	}
	if len(proj) > 0 {
		e := newExpr()
		names := make([]string, len(proj))
		for i, a := range proj {
			names[i] = e.n(a)
		}
		maps.Copy(in.ExpressionAttributeNames, e.names)
		in.ProjectionExpression = aws.String(strings.Join(names, ", "))
	}
	return st.query(ctx, in, limit)
}

// currentItems reads clientID's session and returns the items of kind k of
// its current generation; none when there is no session.
func (st *Store) currentItems(ctx context.Context, clientID string, k genKind) ([]map[string]types.AttributeValue, error) {
	cur, err := st.readSession(ctx, clientID)
	if err != nil || cur == nil {
		return nil, err
	}
	return st.genItems(ctx, clientID, cur.Gen, k, 0)
}

func decodeSession(item map[string]types.AttributeValue) (*sessionItem, error) {
	var it sessionItem
	if err := attributevalue.UnmarshalMap(item, &it); err != nil {
		return nil, fmt.Errorf("dynamo: decode session item: %w", err)
	}
	return &it, nil
}

// ConnectWithin implements session.SessionQuota (and Connect, with no
// limits). It reads the session item and writes
// it back conditioned on its rev; when the old session is cleared, the
// write moves the session to a new generation, which hides everything the
// old one held at once, and the old generation's items are deleted after.
// Whether s.Identity may take the session (session.Session.MayConnect) is
// decided on the item read: the condition on its rev (or on there being
// no item) makes the write fail, and Connect read again, when another
// Connect changed the item in between, so that the check and the takeover
// are one step. When the write creates a session or changes its identity
// it is a transaction with the session counters (sessionquota.go), whose
// conditions keep lim.
func (st *Store) ConnectWithin(ctx context.Context, s *session.Session, clean bool, now int64, lim session.SessionLimits) (*session.Session, error) {
	for try := 0; try < maxTries; try++ {
		cur, err := st.readSession(ctx, s.ClientID)
		if err != nil {
			return nil, fmt.Errorf("dynamo: connect %q: %w", s.ClientID, err)
		}
		ns := *s
		ns.ExpiresAt, ns.WillAt = 0, 0
		var next sessionItem
		next.setOwnership(&ns)
		av, err := attributevalue.MarshalMap(next)
		if err != nil {
			return nil, fmt.Errorf("dynamo: encode session %q: %w", s.ClientID, err)
		}
		if itemSize(av) > MaxItemSize-200 {
			return nil, fmt.Errorf("dynamo: session %q with its will: %w", s.ClientID, ErrItemTooLarge)
		}
		e := newExpr()
		e.setFrom(av, ownership...)
		var prev *session.Session
		var cond string
		clear, gen := false, int64(0)
		if cur == nil {
			cond = "attribute_not_exists(" + e.n(attrPK) + ")"
			gen = max(now, 1)
			e.set("gen", num(gen))
			e.set("rev", num(1))
			for _, a := range []string{"seq", "nq", "nf", "nb"} {
				e.set(a, num(0))
			}
			e.set("pos", emptyMap())
		} else {
			prev = cur.session()
			if !prev.MayConnect(s.Identity, now) {
				return nil, fmt.Errorf("dynamo: connect %q as %q: %w", s.ClientID, s.Identity, session.ErrNotOwner)
			}
			cond = e.n("rev") + " = " + e.v(num(cur.Rev))
			e.set("rev", num(cur.Rev+1))
			if clean || !prev.Kept(s.Identity, now) {
				clear, gen = true, max(cur.Gen+1, now)
				e.set("gen", num(gen))
				e.set("nq", num(0))
				e.set("nf", num(0))
				e.set("nb", num(0))
				e.remove("qx")
				e.set("pos", emptyMap()) // positions go with the subscriptions
			}
		}
		counts := sessionCountOps(st.table, cur, s.Identity, lim)
		if len(counts) > 0 {
			e.set("cnt", &types.AttributeValueMemberBOOL{Value: true})
		}
		token := newToken()
		e.set(attrToken, str(token))
		err = st.writeCounted(ctx, &types.Update{
			TableName: &st.table, Key: key(sessionPK(s.ClientID), sessionSK), UpdateExpression: e.update(),
			ConditionExpression: &cond, ExpressionAttributeNames: e.names, ExpressionAttributeValues: e.values,
		}, counts)
		if errors.Is(err, session.ErrQuotaExceeded) {
			return nil, fmt.Errorf("dynamo: connect %q as %q: %w", s.ClientID, s.Identity, err)
		}
		if ownWrite(err, token) {
			// Resent (resend.go): the write was made, on cur.
			st.log.Debug("dynamo: connect found its own write: the SDK resent it", "client", s.ClientID)
			err = nil
		}
		if condFailed(err) {
			st.log.Debug("dynamo: connect lost a race", "client", s.ClientID)
			if err := backoff(ctx, try); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("dynamo: connect %q: %w", s.ClientID, err)
		}
		st.forgetSession(s.ClientID)
		if cur == nil || clear {
			st.gens.put(s.ClientID, gen)
		}
		if clear {
			if err := st.purge(ctx, s.ClientID, genBound(gen)); err != nil {
				// The old generation is already invisible; what is left is
				// removed by the next clean-up of this session.
				st.log.Warn("dynamo: clean-up of a cleared session failed", "client", s.ClientID, "err", err)
			}
		}
		return prev, nil
	}
	return nil, fmt.Errorf("dynamo: connect %q: %w", s.ClientID, errContended)
}

// purge deletes the items of clientID's partition whose sort keys are
// generation items below upper, with the topic side of their
// subscriptions.
func (st *Store) purge(ctx context.Context, clientID, upper string) error {
	items, err := st.query(ctx, &dynamodb.QueryInput{
		KeyConditionExpression:    aws.String("#pk = :pk AND #sk BETWEEN :lo AND :hi"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#sk": attrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": str(sessionPK(clientID)), ":lo": str(genFirst), ":hi": str(upper)},
	}, 0)
	if err != nil {
		return fmt.Errorf("dynamo: purge %q: %w", clientID, err)
	}
	keys := make([]map[string]types.AttributeValue, 0, len(items))
	for _, item := range items {
		if kindOfGenSK(skOf(item)) == kindSub {
			var sub subItem
			if err := attributevalue.UnmarshalMap(item, &sub); err != nil {
				return fmt.Errorf("dynamo: decode subscription: %w", err)
			}
			if err := st.removeTopicSide(ctx, &sub); err != nil {
				return err
			}
		}
		keys = append(keys, keyOf(item))
	}
	if err := st.batchDelete(ctx, keys); err != nil {
		return fmt.Errorf("dynamo: purge %q: %w", clientID, err)
	}
	return nil
}

// Session implements session.Store.
func (st *Store) Session(ctx context.Context, clientID string) (*session.Session, error) {
	it, err := st.readSession(ctx, clientID)
	if err != nil {
		return nil, fmt.Errorf("dynamo: session %q: %w", clientID, err)
	}
	if it == nil {
		return nil, fmt.Errorf("dynamo: session %q: %w", clientID, session.ErrNotFound)
	}
	return it.session(), nil
}

// Sessions implements session.Store with BatchGetItem. A session item that
// Match read within recentFor is used instead of reading it again, once:
// the fan-out calls Sessions for the clients Match just returned.
func (st *Store) Sessions(ctx context.Context, clientIDs []string) (map[string]*session.Session, error) {
	out := make(map[string]*session.Session, len(clientIDs))
	keys := make([]map[string]types.AttributeValue, 0, len(clientIDs))
	seen := map[string]bool{}
	now := time.Now()
	for _, id := range clientIDs {
		if !seen[id] {
			seen[id] = true
			if it := st.recent.take(id, now); it != nil {
				s := it.session()
				s.Will = nil // session.Store: Sessions returns no wills
				out[id] = s
				continue
			}
			keys = append(keys, key(sessionPK(id), sessionSK))
		}
	}
	if len(keys) == 0 {
		return out, nil
	}
	items, err := st.batchGet(ctx, keys, "")
	if err != nil {
		return nil, fmt.Errorf("dynamo: sessions: %w", err)
	}
	for _, item := range items {
		it, err := decodeSession(item)
		if err != nil {
			return nil, err
		}
		s := it.session()
		s.Will = nil // session.Store: Sessions returns no wills
		out[s.ClientID] = s
	}
	return out, nil
}

// SetOffline implements session.Store: one update conditioned on conn,
// with a write token (resend.go).
func (st *Store) SetOffline(ctx context.Context, clientID, conn string, o session.Offline) error {
	if conn == "" {
		return fmt.Errorf("dynamo: set %q offline from no connection: %w", clientID, session.ErrFenced)
	}
	var next sessionItem
	next.setOwnership(&session.Session{
		ClientID: clientID, ExpiryInterval: o.ExpiryInterval, ExpiresAt: o.ExpiresAt, Will: o.Will, WillAt: o.WillAt,
	})
	av, err := attributevalue.MarshalMap(next)
	if err != nil {
		return fmt.Errorf("dynamo: encode session %q: %w", clientID, err)
	}
	e := newExpr()
	e.setFrom(av, "conn", "proxy", "owner", "exp", "expAt", "will", "willAt", "dueP", "dueAt", "ttl")
	e.setExpr(e.n("rev") + " = " + e.n("rev") + " + " + e.v(num(1)))
	token := newToken()
	e.set(attrToken, str(token))
	cond := e.n("conn") + " = " + e.v(str(conn))
	_, err = st.update(ctx, &dynamodb.UpdateItemInput{
		Key: key(sessionPK(clientID), sessionSK), UpdateExpression: e.update(),
		ConditionExpression: &cond, ExpressionAttributeNames: e.names, ExpressionAttributeValues: e.values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	st.forgetSession(clientID)
	if ownWrite(err, token) {
		err = nil // resent (resend.go): the session went offline by this call
	}
	if condFailed(err) {
		return fmt.Errorf("dynamo: set %q offline from %q: %w", clientID, conn, session.ErrFenced)
	}
	if err != nil {
		return fmt.Errorf("dynamo: set %q offline: %w", clientID, err)
	}
	return nil
}

// DeleteSession implements session.Store: the session item goes first,
// conditioned on its rev, which hides everything else (with the session
// counters when it was counted); then the rest of the partition is
// deleted.
func (st *Store) DeleteSession(ctx context.Context, clientID, conn string) error {
	for try := 0; try < maxTries; try++ {
		cur, err := st.readSession(ctx, clientID)
		if err != nil {
			return fmt.Errorf("dynamo: delete session %q: %w", clientID, err)
		}
		if cur == nil {
			return fmt.Errorf("dynamo: delete session %q: %w", clientID, session.ErrNotFound)
		}
		if cur.Conn != conn {
			return fmt.Errorf("dynamo: delete session %q from %q: %w", clientID, conn, session.ErrFenced)
		}
		err = st.deleteCounted(ctx, cur, &types.Delete{
			TableName:                 &st.table,
			Key:                       key(sessionPK(clientID), sessionSK),
			ConditionExpression:       aws.String("#rev = :rev"),
			ExpressionAttributeNames:  map[string]string{"#rev": "rev"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":rev": num(cur.Rev)},
		})
		if condFailed(err) {
			if err := backoff(ctx, try); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("dynamo: delete session %q: %w", clientID, err)
		}
		st.gens.forget(clientID)
		st.forgetSession(clientID)
		return st.purge(ctx, clientID, genEnd)
	}
	return fmt.Errorf("dynamo: delete session %q: %w", clientID, errContended)
}

// Due implements session.Store with a query of each shard of the due
// index. The index is eventually consistent: a session can show up a
// moment late, or be acted on by the caller's conditional writes after it
// changed.
func (st *Store) Due(ctx context.Context, now int64, limit int) ([]*session.Session, error) {
	var out []*session.Session
	for shard := 0; shard < dueShards && len(out) < limit; shard++ {
		items, err := st.query(ctx, &dynamodb.QueryInput{
			IndexName:                 aws.String(indexDue),
			KeyConditionExpression:    aws.String("#p = :p AND #at <= :now"),
			ExpressionAttributeNames:  map[string]string{"#p": "dueP", "#at": "dueAt"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":p": str(dueShardKey(shard)), ":now": num(now)},
		}, limit-len(out))
		if err != nil {
			return nil, fmt.Errorf("dynamo: due sessions: %w", err)
		}
		for _, item := range items {
			it, err := decodeSession(item)
			if err != nil {
				return nil, err
			}
			s := it.session()
			if !s.Online() && (s.WillAt != 0 && s.WillAt <= now || s.ExpiresAt != 0 && s.ExpiresAt <= now) {
				out = append(out, s)
			}
		}
	}
	return out, nil
}

// Owned implements session.Store with a query of the owner index, which is
// eventually consistent.
func (st *Store) Owned(ctx context.Context, proxy string, limit int) ([]*session.Session, error) {
	items, err := st.query(ctx, &dynamodb.QueryInput{
		IndexName:                 aws.String(indexOwner),
		KeyConditionExpression:    aws.String("#o = :o"),
		ExpressionAttributeNames:  map[string]string{"#o": "owner"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":o": str(ownerKey(proxy))},
	}, limit)
	if err != nil {
		return nil, fmt.Errorf("dynamo: sessions of proxy %q: %w", proxy, err)
	}
	var out []*session.Session
	for _, item := range items {
		it, err := decodeSession(item)
		if err != nil {
			return nil, err
		}
		if s := it.session(); s.Online() && s.Proxy == proxy {
			out = append(out, s)
		}
	}
	return out, nil
}

// ClearWill implements session.Store: a read, then an update conditioned
// on the rev read, with a write token (resend.go).
func (st *Store) ClearWill(ctx context.Context, clientID string, willAt int64) error {
	for try := 0; try < maxTries; try++ {
		cur, err := st.readSession(ctx, clientID)
		if err != nil {
			return fmt.Errorf("dynamo: clear will of %q: %w", clientID, err)
		}
		if cur == nil || cur.Conn != "" || cur.Will == nil || cur.WillAt != willAt {
			return fmt.Errorf("dynamo: pending will of %q: %w", clientID, session.ErrNotFound)
		}
		s := cur.session()
		s.Will, s.WillAt = nil, 0
		var next sessionItem
		next.setOwnership(s)
		av, err := attributevalue.MarshalMap(next)
		if err != nil {
			return fmt.Errorf("dynamo: encode session %q: %w", clientID, err)
		}
		e := newExpr()
		e.setFrom(av, "will", "willAt", "dueP", "dueAt", "ttl")
		e.set("rev", num(cur.Rev+1))
		token := newToken()
		e.set(attrToken, str(token))
		cond := e.n("rev") + " = " + e.v(num(cur.Rev))
		_, err = st.update(ctx, &dynamodb.UpdateItemInput{
			Key: key(sessionPK(clientID), sessionSK), UpdateExpression: e.update(),
			ConditionExpression: &cond, ExpressionAttributeNames: e.names, ExpressionAttributeValues: e.values,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		})
		if ownWrite(err, token) {
			err = nil // resent (resend.go): the will was cleared by this call
		}
		if condFailed(err) {
			if err := backoff(ctx, try); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("dynamo: clear will of %q: %w", clientID, err)
		}
		st.forgetSession(clientID)
		return nil
	}
	return fmt.Errorf("dynamo: clear will of %q: %w", clientID, errContended)
}
