package dynamo_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/dynamo"
)

// cutAfter is an HTTP client that cancels the context of the calls it
// serves once n calls of the operation op have been served, as a
// function's deadline does when it runs out in the middle of a Store call;
// with lose, the n-th call's answer is lost too (the deadline came while
// DynamoDB, or the emulator, was applying it).
type cutAfter struct {
	inner  dynamodb.HTTPClient
	op     string
	n      int
	lose   bool
	cancel context.CancelFunc
}

func (c *cutAfter) Do(r *http.Request) (*http.Response, error) {
	resp, err := c.inner.Do(r)
	if err != nil || resp.StatusCode != http.StatusOK || !strings.HasSuffix(r.Header.Get("X-Amz-Target"), "."+c.op) {
		return resp, err
	}
	// The answer is read in full first: the call itself succeeds.
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if c.n--; c.n == 0 {
		c.cancel()
		if c.lose {
			return nil, r.Context().Err()
		}
	}
	return resp, nil
}

// TestDispatchCutShort: a Dispatch whose context ends after it put
// messages in flight (a function's deadline, under a backlog that takes
// several rounds, or while its transaction is being applied) returns those
// messages, without an error, so that the caller sends them: a message put
// in flight and not returned is never sent to the connection, and fills a
// place of its window until the client reconnects; with a few of them the
// queue is no longer dispatched. What Dispatch (and Enqueue with a window)
// returns is exactly what it put in flight.
func TestDispatchCutShort(t *testing.T) {
	skipWithoutTable(t)
	// A backlog longer than a round (48 messages) and a window that
	// takes it all: Dispatch needs several rounds.
	const window, backlog = 100, 60
	for _, c := range []struct{ viaEnqueue, lose bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
		viaEnqueue := c.viaEnqueue
		t.Run(fmt.Sprintf("enqueue=%v,answer-lost=%v", viaEnqueue, c.lose), func(t *testing.T) {
			ctx := t.Context()
			st := dynamo.New(db, table)
			client := fmt.Sprintf("cut-%v-%v-%d", viaEnqueue, c.lose, time.Now().UnixNano())
			s := &session.Session{ClientID: client, Identity: "u", Proxy: "p", Conn: "c1", Version: packet.V5,
				ExpiryInterval: 3600, ReceiveMax: window, MaxPacketSize: 1 << 20}
			if _, err := st.Connect(ctx, s, true, time.Now().UnixMilli()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.DeleteSession(context.Background(), client, "") })
			msgs := make([]*session.Outbound, backlog)
			for i := range msgs {
				msgs[i] = &session.Outbound{QoS: 1, Message: session.Message{Topic: "t", Payload: fmt.Appendf(nil, "m%d", i), QoS: 1}}
			}
			last := msgs[len(msgs)-1]
			if !viaEnqueue {
				if _, _, err := st.Enqueue(ctx, client, msgs, session.QueueLimit{Messages: 100}, "", 0); err != nil {
					t.Fatal(err)
				}
			} else {
				if _, _, err := st.Enqueue(ctx, client, msgs[:len(msgs)-1], session.QueueLimit{Messages: 100}, "", 0); err != nil {
					t.Fatal(err)
				}
			}
			cctx, cancel := context.WithCancel(ctx)
			defer cancel()
			cut := dynamodb.New(db.Options(), func(o *dynamodb.Options) {
				// Enqueue's own transaction comes first.
				n := 1
				if viaEnqueue {
					n = 2
				}
				o.HTTPClient = &cutAfter{inner: o.HTTPClient, op: "TransactWriteItems", n: n, lose: c.lose, cancel: cancel}
			})
			cst := dynamo.New(cut, table)
			var got []*session.Outbound
			var err error
			if viaEnqueue {
				var n int
				n, got, err = cst.Enqueue(cctx, client, []*session.Outbound{last}, session.QueueLimit{Messages: 100}, "", window)
				if n != 1 {
					t.Logf("enqueue accepted %d (err %v)", n, err)
				}
			} else {
				got, err = cst.Dispatch(cctx, client, "", window)
			}
			in, ierr := st.Inflight(ctx, client)
			if ierr != nil {
				t.Fatal(ierr)
			}
			pids := func(os []*session.Outbound) []uint16 {
				var ids []uint16
				for _, o := range os {
					if o.QoS > 0 {
						ids = append(ids, o.PacketID)
					}
				}
				slices.Sort(ids)
				return ids
			}
			t.Logf("returned %d messages (err %v); %d in flight", len(got), err, len(in))
			if len(in) > 0 && (err != nil || !slices.Equal(pids(got), pids(in))) {
				t.Errorf("returned packet ids %v with err %v, in flight %v: messages in flight that the caller will not send", pids(got), err, pids(in))
			}
		})
	}
}
