package dynamo

// Writes the SDK sends again. When a connection drops while the answer to
// a write is on its way, the write has been made, and the SDK, seeing a
// connection error, sends it again. A conditional write's condition then
// fails on the first send's own change, and the call would report a race
// it lost, "not found" or a fence, although it succeeded. Transactions
// are safe (the SDK gives each call an idempotency token, kept across its
// resends). Single-item writes use one of two steps:
//
//   - a write token: the write sets w to a random token of its call and
//     asks for the item as it stands when the condition fails
//     (ReturnValuesOnConditionCheckFailure ALL_OLD); an item that carries
//     the call's token is the call's own write (ownWrite). Exact, and for
//     writes whose condition only one caller may pass (SetOffline,
//     ClearWill, Connect, EndLease, Append).
//   - a send log (sendLog), for deletes, which leave no item to carry a
//     token: it records whether an attempt of the call went without an
//     answer. A failed condition after such an attempt is taken as the
//     call's own deletion (Forget, whose end state is the same whoever
//     deleted).

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// attrToken is the attribute of a write token.
const attrToken = "w"

// newToken returns a random write token.
func newToken() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// ownWrite reports whether err is a failed condition on an item whose
// write token is token: the call's own write, sent again.
func ownWrite(err error, token string) bool {
	var e *types.ConditionalCheckFailedException
	if !errors.As(err, &e) {
		return false
	}
	w, ok := e.Item[attrToken].(*types.AttributeValueMemberS)
	return ok && w.Value == token
}

// sendLog records, for one call, whether one of its attempts was sent
// and got no answer (it may have been carried out). Its option adds it
// to the call's middleware after the SDK's retry loop, so that it sees
// every attempt.
type sendLog struct {
	unanswered atomic.Bool
}

// option is the sendLog's option for the call.
func (l *sendLog) option(o *dynamodb.Options) {
	o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
		return s.Finalize.Insert(l, "Retry", middleware.After)
	})
}

// ID implements middleware.FinalizeMiddleware.
func (l *sendLog) ID() string { return "mqttless.sendLog" }

// HandleFinalize implements middleware.FinalizeMiddleware.
func (l *sendLog) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
	out, md, err := next.HandleFinalize(ctx, in)
	var se *smithyhttp.RequestSendError
	if errors.As(err, &se) {
		l.unanswered.Store(true)
	}
	return out, md, err
}
