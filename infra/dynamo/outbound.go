package dynamo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mqttless/mqttless/core/session"
)

// Limits of one TransactWriteItems call, with room to spare.
const (
	maxTxItems = 100
	maxTxBytes = 3 << 20
)

// Enqueue implements session.Store: one transaction per chunk of messages
// puts their items and advances the session's seq and nq, conditioned on
// the seq read and on room in the queue; a lost race is retried. When the
// queue looks full and DynamoDB may have deleted expired messages of it
// (the session's qx has passed), nq is first counted afresh (recount).
func (st *Store) Enqueue(ctx context.Context, clientID string, msgs []*session.Outbound, limit session.QueueLimit, conn string, window int) (int, []*session.Outbound, error) {
	maxQueued := limit.Messages
	items := make([]map[string]types.AttributeValue, len(msgs))
	for i, o := range msgs {
		it := toOutItem(o)
		it.PK = sessionPK(clientID)
		av, err := attributevalue.MarshalMap(it)
		if err != nil {
			return 0, nil, fmt.Errorf("dynamo: encode outbound message: %w", err)
		}
		if itemSize(av)+64 > MaxItemSize {
			return 0, nil, fmt.Errorf("dynamo: enqueue for %q: %w", clientID, ErrItemTooLarge)
		}
		items[i] = av
	}
	accepted := 0
	done := false
	recounted := false
	var last *sessionItem // the session as the last transaction left it
	for try := 0; try < maxTries; {
		cur, err := st.readSession(ctx, clientID)
		if err != nil {
			return accepted, nil, fmt.Errorf("dynamo: enqueue for %q: %w", clientID, err)
		}
		if cur == nil {
			return accepted, nil, fmt.Errorf("dynamo: enqueue for %q: %w", clientID, session.ErrNotFound)
		}
		full := maxQueued-cur.NQ < len(msgs)-accepted || (limit.Bytes > 0 && cur.NB >= int64(limit.Bytes))
		if now := time.Now().Unix(); full && !recounted && ttlPassed(cur.QX, now) {
			recounted = true
			if err := st.recount(ctx, clientID, cur, now); err != nil {
				return accepted, nil, err
			}
			continue
		}
		n := min(len(msgs)-accepted, maxQueued-cur.NQ, maxTxItems-1)
		if n <= 0 {
			done = true
			break
		}
		// The bytes bound: a message is taken while the queue holds fewer
		// than limit.Bytes.
		nb := max(cur.NB, 0)
		for i := 0; i < n; i++ {
			if limit.Bytes > 0 && nb >= int64(limit.Bytes) {
				n = i
				break
			}
			nb += int64(msgs[accepted+i].Message.Size())
		}
		if n <= 0 {
			done = true
			break
		}
		ops := []types.TransactWriteItem{{}}
		size := 0
		for i := 0; i < n; i++ {
			av := items[accepted+i]
			seq := cur.Seq + uint64(i) + 1
			av[attrSK] = str(outSK(cur.Gen, seq))
			av["seq"] = num(int64(seq))
			av["st"] = num(int64(session.Queued))
			delete(av, "pid")
			if size += itemSize(av); size > maxTxBytes && i > 0 {
				n = i
				break
			}
			ops = append(ops, types.TransactWriteItem{Put: &types.Put{TableName: &st.table, Item: av}})
		}
		// qx stays at most the earliest ttl queued; an empty queue starts
		// it afresh.
		qx := cur.QX
		if cur.NQ <= 0 {
			qx = 0
		}
		for i := 0; i < n; i++ {
			if t := msgTTL(msgs[accepted+i].Message.ExpiresAt); t != 0 && (qx == 0 || t < qx) {
				qx = t
			}
		}
		added := int64(0)
		for i := 0; i < n; i++ {
			added += int64(msgs[accepted+i].Message.Size())
		}
		e := newExpr()
		e.set("seq", num(int64(cur.Seq)+int64(n)))
		e.setExpr(e.n("nq") + " = " + e.n("nq") + " + " + e.v(num(int64(n))))
		e.setExpr(e.n("nb") + " = if_not_exists(" + e.n("nb") + ", " + e.v(num(0)) + ") + " + e.v(num(added)))
		if qx != 0 {
			e.set("qx", num(qx))
		} else if cur.QX != 0 {
			e.remove("qx")
		}
		cond := fmt.Sprintf("%s = %s AND %s = %s AND %s <= %s", e.n("gen"), e.v(num(cur.Gen)),
			e.n("seq"), e.v(num(int64(cur.Seq))), e.n("nq"), e.v(num(int64(maxQueued-n))))
		ops[0] = types.TransactWriteItem{Update: &types.Update{
			TableName: &st.table, Key: key(sessionPK(clientID), sessionSK), UpdateExpression: e.update(),
			ConditionExpression: &cond, ExpressionAttributeNames: e.names, ExpressionAttributeValues: e.values,
		}}
		err = st.transact(ctx, ops[:n+1])
		if canceled(err) != nil {
			if err := backoff(ctx, try); err != nil {
				return accepted, nil, err
			}
			try++
			continue
		}
		if err != nil {
			return accepted, nil, fmt.Errorf("dynamo: enqueue for %q: %w", clientID, err)
		}
		accepted += n
		cur.Seq += uint64(n)
		cur.NQ += n
		cur.NB += added
		cur.QX = qx
		last = cur
	}
	if !done {
		return accepted, nil, fmt.Errorf("dynamo: enqueue for %q: %w", clientID, errContended)
	}
	if window <= 0 {
		return accepted, nil, nil
	}
	d, err := st.dispatch(ctx, clientID, conn, window, last)
	return accepted, d, err
}

// Dispatch implements session.Store. Each round reads the session and the
// oldest queued messages, and moves those that fit the window in flight in
// one transaction: the queued item is deleted, the in-flight item put under
// its packet identifier (derived from its Seq) on the condition that no
// in-flight message holds it, and the session's nq and nf change on the
// condition that the window still has room. A round that loses a race is
// retried. The update is also conditioned on the session's conn being
// conn (when not empty): a round for a connection that no longer holds
// the session moves nothing, and the call returns ErrFenced (see
// session.Store.Dispatch). A message's packet identifier is derived from its Seq, (seq-1)
// mod max + 1 (max 65535, or LimitPacketIDs'); when an older in-flight
// message still holds it (the Seqs in flight span more than max), the
// put's condition fails and the next free identifier is tried.
func (st *Store) Dispatch(ctx context.Context, clientID, conn string, window int) ([]*session.Outbound, error) {
	return st.dispatch(ctx, clientID, conn, window, nil)
}

// dispatchRounds moves queued messages in flight, round after round, and
// returns them; on an error, with those of the rounds before it.
func (st *Store) dispatchRounds(ctx context.Context, clientID, conn string, window int, cur *sessionItem) ([]*session.Outbound, error) {
	maxPID := st.pidMax()
	window = min(window, int(maxPID))
	var sent []*session.Outbound
	held := map[uint16]bool{} // packet ids found in flight by a failed put
	recounted, reread := false, false
	for try := 0; try < maxTries; {
		if cur == nil || try > 0 || len(sent) > 0 || reread {
			reread = false
			var err error
			if cur, err = st.readSession(ctx, clientID); err != nil {
				return sent, fmt.Errorf("dynamo: dispatch for %q: %w", clientID, err)
			}
		}
		if cur != nil && conn != "" && cur.Conn != conn {
			return sent, fmt.Errorf("dynamo: dispatch for %q to connection %q: %w", clientID, conn, session.ErrFenced)
		}
		if cur == nil || cur.NQ <= 0 {
			return sent, nil
		}
		pk := sessionPK(clientID)
		items, err := st.genItems(ctx, clientID, cur.Gen, kindQueued, 48)
		if err != nil {
			return sent, fmt.Errorf("dynamo: dispatch for %q: %w", clientID, err)
		}
		now := time.Now().Unix()
		if len(items) < 48 && len(items) < cur.NQ && ttlPassed(cur.QX, now) && !recounted {
			// The whole queue is fewer messages than nq says, and
			// DynamoDB may have deleted expired ones (qx has passed).
			// Before qx it cannot have: the messages missing were moved
			// by a dispatch since cur was read (cur may be Enqueue's
			// view), and the round goes on with those found, under its
			// conditions.
			recounted, reread = true, true
			if err := st.recount(ctx, clientID, cur, now); err != nil {
				return sent, err
			}
			continue
		}
		ops := []types.TransactWriteItem{{}}
		var take []*session.Outbound
		var putAt []int // index in ops of each in-flight put, by take index; -1 for QoS 0
		nf, qos12 := cur.NF, 0
		removed := 0      // queued items deleted
		removedBytes := 0 // their sz
		full := false
		planned := map[uint16]bool{}
		var after uint64 // session.Outbound.After of the next put in flight
		if cur.NF > 0 {
			after = cur.HF
		}
		for _, item := range items {
			var it outItem
			if err := attributevalue.UnmarshalMap(item, &it); err != nil {
				return sent, fmt.Errorf("dynamo: decode outbound message: %w", err)
			}
			if len(ops)+2 > maxTxItems {
				break
			}
			del := types.TransactWriteItem{Delete: &types.Delete{TableName: &st.table, Key: key(pk, outSK(cur.Gen, it.Seq)),
				ConditionExpression: aws.String("attribute_exists(#pk)"), ExpressionAttributeNames: map[string]string{"#pk": attrPK}}}
			if ttlPassed(it.TTL, now) {
				// Expired a while ago and not sent: deleted, as DynamoDB
				// would [MQTT-3.3.2-5].
				ops = append(ops, del)
				removed++
				removedBytes += it.Sz
				continue
			}
			if it.QoS == 0 {
				removed++
				removedBytes += it.Sz
				ops = append(ops, del)
				take = append(take, it.outbound())
				putAt = append(putAt, -1)
				continue
			}
			if nf >= window {
				full = true
				break
			}
			pid := packetID(it.Seq, maxPID)
			for held[pid] || planned[pid] {
				pid = pid%maxPID + 1
			}
			planned[pid] = true
			it.PID, it.St = pid, uint8(session.Sent)
			it.SK = flightSK(cur.Gen, it.PID)
			it.TTL = 0 // a delivery once started completes
			av, err := attributevalue.MarshalMap(it)
			if err != nil {
				return sent, fmt.Errorf("dynamo: encode outbound message: %w", err)
			}
			ops = append(ops, del, types.TransactWriteItem{Put: &types.Put{TableName: &st.table, Item: av,
				ConditionExpression: aws.String("attribute_not_exists(#pk)"), ExpressionAttributeNames: map[string]string{"#pk": attrPK}}})
			o := it.outbound()
			o.After, after = after, it.Seq
			take = append(take, o)
			putAt = append(putAt, len(ops)-1)
			nf++
			qos12++
			removed++
			removedBytes += it.Sz
		}
		if removed == 0 {
			return sent, nil
		}
		e := newExpr()
		e.setExpr(e.n("nq") + " = " + e.n("nq") + " - " + e.v(num(int64(removed))))
		e.setExpr(e.n("nf") + " = " + e.n("nf") + " + " + e.v(num(int64(qos12))))
		e.setExpr(e.n("nb") + " = if_not_exists(" + e.n("nb") + ", " + e.v(num(0)) + ") - " + e.v(num(int64(removedBytes))))
		cond := fmt.Sprintf("%s = %s AND %s <= %s", e.n("gen"), e.v(num(cur.Gen)), e.n("nf"), e.v(num(int64(window-qos12))))
		if conn != "" {
			// The fence: a takeover since cur was read fails the round,
			// and the next round's read sees it.
			cond += fmt.Sprintf(" AND %s = %s", e.n("conn"), e.v(str(conn)))
		}
		if qos12 > 0 {
			e.set("hf", num(int64(after)))
			// The After values came from cur's hf: a dispatch that put
			// another message in flight since (cur may be Enqueue's
			// read) fails the condition, and the round is read again.
			if cur.HF == 0 {
				cond += fmt.Sprintf(" AND (attribute_not_exists(%s) OR %s = %s)", e.n("hf"), e.n("hf"), e.v(num(0)))
			} else {
				cond += fmt.Sprintf(" AND %s = %s", e.n("hf"), e.v(num(int64(cur.HF))))
			}
		}
		ops[0] = types.TransactWriteItem{Update: &types.Update{
			TableName: &st.table, Key: key(pk, sessionSK), UpdateExpression: e.update(),
			ConditionExpression: &cond, ExpressionAttributeNames: e.names, ExpressionAttributeValues: e.values,
		}}
		// The round's outcome must be known: messages it put in flight
		// and did not return would never be sent.
		err = st.transactKnown(ctx, ops)
		if reasons := canceled(err); reasons != nil {
			for i, at := range putAt {
				if at >= 0 && failedAt(reasons, at) {
					held[take[i].PacketID] = true // still in flight
				}
			}
			if err := backoff(ctx, try); err != nil {
				return sent, err
			}
			try++
			continue
		}
		if err != nil {
			return sent, fmt.Errorf("dynamo: dispatch for %q: %w", clientID, err)
		}
		sent = append(sent, take...)
		if full || cur.NQ <= removed {
			return sent, nil
		}
		reread = true
	}
	if len(sent) > 0 {
		return sent, nil
	}
	return nil, fmt.Errorf("dynamo: dispatch for %q: %w", clientID, errContended)
}

// recount sets the session's nq to the queued items that exist, after
// DynamoDB's TTL deleted some without changing nq, and deletes those whose
// ttl has passed by now (expired messages whose delivery has not started
// [MQTT-3.3.2-5]; DynamoDB would delete them anyway): one transaction of
// the deletes (at most 99) and an update of nq and qx conditioned on the
// gen, seq and nq read in cur. Every transaction the read of cur saw is
// visible to the query that follows it, and one after it changes seq (an
// enqueue) or nq (a dispatch) and fails the condition, so nq never ends
// below the messages queued. A lost race is left to the caller, which
// reads the session again.
func (st *Store) recount(ctx context.Context, clientID string, cur *sessionItem, now int64) error {
	pk := sessionPK(clientID)
	items, err := st.genItems(ctx, clientID, cur.Gen, kindQueued, 0, attrPK, attrSK, "ttl", "sz")
	if err != nil {
		return fmt.Errorf("dynamo: count the queue of %q: %w", clientID, err)
	}
	ops := []types.TransactWriteItem{{}}
	live, qx, nb := 0, int64(0), int64(0)
	for _, item := range items {
		var it struct {
			TTL int64 `dynamodbav:"ttl"`
			Sz  int64 `dynamodbav:"sz"`
		}
		if err := attributevalue.UnmarshalMap(item, &it); err != nil {
			return fmt.Errorf("dynamo: decode outbound message: %w", err)
		}
		if ttlPassed(it.TTL, now) && len(ops) < maxTxItems {
			// No condition: the session's condition keeps every other
			// writer off the queue, and DynamoDB deleting it first is
			// the same.
			ops = append(ops, types.TransactWriteItem{Delete: &types.Delete{TableName: &st.table,
				Key: keyOf(item)}})
			continue
		}
		live++
		nb += it.Sz
		if it.TTL != 0 && (qx == 0 || it.TTL < qx) {
			qx = it.TTL
		}
	}
	if live == cur.NQ && nb == cur.NB && len(ops) == 1 && qx == cur.QX {
		return nil
	}
	st.log.Debug("dynamo: recount of a queue", "client", clientID, "nq", cur.NQ, "live", live, "expired", len(ops)-1)
	e := newExpr()
	e.set("nq", num(int64(live)))
	e.set("nb", num(nb))
	if qx != 0 {
		e.set("qx", num(qx))
	} else {
		e.remove("qx")
	}
	cond := fmt.Sprintf("%s = %s AND %s = %s AND %s = %s", e.n("gen"), e.v(num(cur.Gen)),
		e.n("seq"), e.v(num(int64(cur.Seq))), e.n("nq"), e.v(num(int64(cur.NQ))))
	ops[0] = types.TransactWriteItem{Update: &types.Update{
		TableName: &st.table, Key: key(pk, sessionSK), UpdateExpression: e.update(),
		ConditionExpression: &cond, ExpressionAttributeNames: e.names, ExpressionAttributeValues: e.values,
	}}
	if len(ops) == 1 {
		_, err = st.update(ctx, &dynamodb.UpdateItemInput{Key: ops[0].Update.Key, UpdateExpression: ops[0].Update.UpdateExpression,
			ConditionExpression: &cond, ExpressionAttributeNames: e.names, ExpressionAttributeValues: e.values})
	} else {
		err = st.transact(ctx, ops)
	}
	if condFailed(err) || canceled(err) != nil {
		st.log.Debug("dynamo: recount lost a race", "client", clientID)
		return nil
	}
	if err != nil {
		return fmt.Errorf("dynamo: count the queue of %q: %w", clientID, err)
	}
	return nil
}

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
func (st *Store) Acknowledge(ctx context.Context, clientID, conn string, packetID uint16) error {
	return st.finish(ctx, clientID, conn, packetID, 1, session.Sent)
}

// Complete implements session.Store.
func (st *Store) Complete(ctx context.Context, clientID, conn string, packetID uint16) error {
	return st.finish(ctx, clientID, conn, packetID, 2, session.Released)
}

// finish deletes the in-flight message of packetID at qos in state, and
// counts it out of the session's nf, in one transaction. The session's
// update is conditioned on its gen (cached, or read) and, when conn is not
// empty, on its conn (the fence of session.Store.Acknowledge): a takeover
// after the read, or since the cached gen, fails the transaction, and the
// read that follows returns ErrFenced. The fence costs no read nor write
// unit: it is a condition of the write the acknowledgement makes anyway.
func (st *Store) finish(ctx context.Context, clientID, conn string, packetID uint16, qos byte, state session.OutState) error {
	gen, cached := st.gens.get(clientID)
	sessCond := "#gen = :gen"
	names := map[string]string{"#nf": "nf", "#gen": "gen"}
	if conn != "" {
		sessCond += " AND #conn = :conn"
		names["#conn"] = "conn"
	}
	for try := 0; try < maxTries; try++ {
		if !cached {
			var err error
			if gen, err = st.genFor(ctx, clientID, conn); err != nil {
				return fmt.Errorf("dynamo: acknowledge packet %d: %w", packetID, err)
			}
		}
		values := map[string]types.AttributeValue{":one": num(1), ":gen": num(gen)}
		if conn != "" {
			values[":conn"] = str(conn)
		}
		pk := sessionPK(clientID)
		err := st.transact(ctx, []types.TransactWriteItem{
			{Delete: &types.Delete{TableName: &st.table, Key: key(pk, flightSK(gen, packetID)),
				ConditionExpression:       aws.String("#qos = :qos AND #st = :st"),
				ExpressionAttributeNames:  map[string]string{"#qos": "qos", "#st": "st"},
				ExpressionAttributeValues: map[string]types.AttributeValue{":qos": num(int64(qos)), ":st": num(int64(state))}}},
			{Update: &types.Update{TableName: &st.table, Key: key(pk, sessionSK),
				UpdateExpression:          aws.String("SET #nf = #nf - :one"),
				ConditionExpression:       aws.String(sessCond),
				ExpressionAttributeNames:  names,
				ExpressionAttributeValues: values}},
		})
		if reasons := canceled(err); reasons != nil {
			if cached {
				cached = false // the generation or the connection may have changed: read them
				continue
			}
			if failedAt(reasons, 1) && conn != "" {
				// The session changed since the read (a takeover): the
				// next read tells, before a missing message does.
				if err := backoff(ctx, try); err != nil {
					return err
				}
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

// genFor returns the current generation of clientID's session for a write
// of connection conn: ErrFenced when conn is not empty and not the
// session's connection (session.Store.Receive, Acknowledge). The write goes to the
// generation read with the connection, so a clean start after the read
// leaves it in the old generation, where nothing sees it.
func (st *Store) genFor(ctx context.Context, clientID, conn string) (int64, error) {
	cur, err := st.readSession(ctx, clientID)
	if err != nil {
		return 0, fmt.Errorf("dynamo: session %q: %w", clientID, err)
	}
	if cur == nil {
		return 0, fmt.Errorf("dynamo: session %q: %w", clientID, session.ErrNotFound)
	}
	if conn != "" && cur.Conn != conn {
		return 0, fmt.Errorf("dynamo: session %q, connection %q: %w", clientID, conn, session.ErrFenced)
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

// Release implements session.Store: a read of the session, which checks
// the fence on conn, and one conditional update of the in-flight item. The
// update is not conditioned on conn (the session item is not written), yet
// a takeover between the read and the update changes nothing of another
// session: a clean start moves the session to a new generation, whose
// items the update's key does not name, and a session kept across the
// takeover is the client's, whose repeated PUBREC finds the message
// Released all the same (the connection that took over resends what is in
// flight).
func (st *Store) Release(ctx context.Context, clientID, conn string, packetID uint16) error {
	gen, err := st.genFor(ctx, clientID, conn)
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

// Receive implements session.Store: a put conditioned on the identifier
// being free, returning the item that holds it otherwise.
func (st *Store) Receive(ctx context.Context, clientID, conn string, in *session.Inbound) (*session.Inbound, error) {
	gen, err := st.genFor(ctx, clientID, conn)
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
	ex := prev.inbound()
	if r := in.Message.Receipt; r != "" && ex.Message.Receipt == r {
		// Resent (resend.go): the item is this call's own, its Receipt
		// being random to each receipt of a message.
		return nil, nil
	}
	return ex, nil
}

// MarkFannedOut implements session.Store.
func (st *Store) MarkFannedOut(ctx context.Context, clientID, conn string, packetID uint16) error {
	gen, err := st.genFor(ctx, clientID, conn)
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

// Forget implements session.Store: one DeleteItem conditioned on
// attribute_exists, with a send log (resend.go).
func (st *Store) Forget(ctx context.Context, clientID, conn string, packetID uint16) error {
	gen, err := st.genFor(ctx, clientID, conn)
	if err != nil {
		return err
	}
	var sends sendLog
	err = st.del(ctx, &dynamodb.DeleteItemInput{
		Key:                      key(sessionPK(clientID), inboundSK(gen, packetID)),
		ConditionExpression:      aws.String("attribute_exists(#pk)"),
		ExpressionAttributeNames: map[string]string{"#pk": attrPK},
	}, sends.option)
	if condFailed(err) && sends.unanswered.Load() {
		// Resent (resend.go): the message is forgotten, by this call or
		// by another PUBREL of the packet.
		err = nil
	}
	if condFailed(err) {
		return fmt.Errorf("dynamo: %q inbound packet %d: %w", clientID, packetID, session.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("dynamo: forget %q packet %d: %w", clientID, packetID, err)
	}
	return nil
}
