package dynamo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mqttless/mqttless/core/session"
)

// dispatch is Dispatch, whose first round uses cur (when not nil) instead
// of reading the session: the transaction's conditions check it all the
// same. It returns either the messages it put in flight or an error, never
// both: a round that fails after others put messages in flight (the
// caller's deadline, under a backlog that takes several rounds) ends the
// call with those messages, since its caller sends what it returns only
// when there is no error, and a message in flight that is never sent holds
// a place of the window until the client reconnects.
func (st *Store) dispatch(ctx context.Context, clientID, conn string, window int, cur *sessionItem) ([]*session.Outbound, error) {
	sent, err := st.dispatchRounds(ctx, clientID, conn, window, cur)
	if err != nil && len(sent) > 0 {
		st.log.Warn("dynamo: dispatch cut short; returning what it put in flight", "client", clientID, "sent", len(sent), "err", err)
		return sent, nil
	}
	return sent, err
}

// settleTimeout bounds the resend with which transactKnown learns the
// outcome of a transaction whose answer it did not get.
const settleTimeout = 3 * time.Second

// settleGrace is how long past the deadline of the caller's context the
// resend may still run. In a Lambda function that deadline is the
// handler's, which the relay sets up to 2 s before the invocation's own
// (delivery.handlerContext) to post the deliveries the handler made: the
// resend takes at most a quarter of that time, so that what it learns
// (messages put in flight) can still be delivered before the function is
// ended.
const settleGrace = 500 * time.Millisecond

// settleDeadline returns when the resend of transactKnown, starting at
// now, must end: settleTimeout later, or settleGrace past ctx's deadline
// when that comes first.
func settleDeadline(ctx context.Context, now time.Time) time.Time {
	end := now.Add(settleTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Add(settleGrace).Before(end) {
		end = dl.Add(settleGrace)
	}
	return end
}

// transactKnown is transact for a write whose outcome the caller must
// know: Dispatch, whose transaction puts messages in flight that only its
// caller will send. A call that ends without an answer (the caller's
// deadline, a broken connection) may still have been applied: DynamoDB,
// or the emulator behind a queue of requests, goes on with a request its
// client gave up on. transactKnown then sends the same transaction again
// with the same ClientRequestToken, under a context that ctx's end does
// not cancel (see settleDeadline: at most settleTimeout, and at most
// settleGrace past ctx's deadline): DynamoDB answers success without
// writing again when the first was applied (tokens are kept 10 minutes),
// and applies it or cancels it on its conditions otherwise, so that either
// way the answer says whether the writes are in the table.
//
// When the resend gets no answer either within that time, the outcome is
// unknown and transactKnown returns an error (wrapping the first call's),
// never success: the transaction may or may not have been applied. For a
// dispatch round that means messages may be in flight that nobody sends;
// they are resent when the client next connects [MQTT-4.4.0-1], and until
// then they hold places of its window.
func (st *Store) transactKnown(ctx context.Context, items []types.TransactWriteItem) error {
	var b [16]byte
	_, _ = rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	err := st.transactToken(ctx, items, &token)
	if err == nil || canceled(err) != nil {
		return err
	}
	sctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), settleDeadline(ctx, time.Now()))
	defer cancel()
	serr := st.transactToken(sctx, items, &token)
	if serr == nil || canceled(serr) != nil {
		st.log.Debug("dynamo: a transaction without an answer settled by its resend", "applied", serr == nil, "err", err)
		return serr
	}
	st.log.Warn("dynamo: the outcome of a transaction is unknown: neither it nor its resend got an answer", "err", err, "resend", serr)
	return fmt.Errorf("dynamo: transaction outcome unknown (resend: %v): %w", serr, err)
}
