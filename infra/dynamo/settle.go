package dynamo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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

// transactKnown is transact for a write whose outcome the caller must
// know: Dispatch, whose transaction puts messages in flight that only its
// caller will send. A call that ends without an answer (the caller's
// deadline, a broken connection) may still have been applied: DynamoDB,
// or the emulator behind a queue of requests, goes on with a request its
// client gave up on. transactKnown then sends the same transaction again
// with the same ClientRequestToken, under a context that ctx's end does
// not cancel (at most settleTimeout): DynamoDB answers success without
// writing again when the first was applied (tokens are kept 10 minutes),
// and applies it or cancels it on its conditions otherwise, so that either
// way the answer says whether the writes are in the table. Only when the
// resend gets no answer either is the outcome left unknown (the error
// returned is the first call's).
func (st *Store) transactKnown(ctx context.Context, items []types.TransactWriteItem) error {
	var b [16]byte
	_, _ = rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	err := st.transactToken(ctx, items, &token)
	if err == nil || canceled(err) != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	serr := st.transactToken(sctx, items, &token)
	if serr == nil || canceled(serr) != nil {
		st.log.Debug("dynamo: a transaction without an answer settled by its resend", "applied", serr == nil, "err", err)
		return serr
	}
	return err
}
