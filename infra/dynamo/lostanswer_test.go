package dynamo_test

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// loseAnswer is an HTTP client that loses the answer to the first call of
// one of the operations ops whose body contains match: the call reaches the table, and
// the SDK, seeing a connection error, sends it again (as when moto or a
// network drops a connection while the answer is on its way).
type loseAnswer struct {
	next  dynamodb.HTTPClient
	ops   []string
	match []byte
	lost  atomic.Bool
}

// loseAnswerClient returns a client of the test run's table whose first
// call of one of ops with match in its body loses its answer.
func loseAnswerClient(match string, ops ...string) (*dynamodb.Client, *loseAnswer) {
	la := &loseAnswer{match: []byte(match)}
	for _, op := range ops {
		la.ops = append(la.ops, "DynamoDB_20120810."+op)
	}
	client := dynamodb.New(db.Options(), func(o *dynamodb.Options) {
		la.next = o.HTTPClient
		o.HTTPClient = la
	})
	return client, la
}

type lostConn struct{}

func (lostConn) Error() string         { return "connection reset by peer (test)" }
func (lostConn) ConnectionError() bool { return true }

func (l *loseAnswer) Do(req *http.Request) (*http.Response, error) {
	if !slices.Contains(l.ops, req.Header.Get("X-Amz-Target")) || l.lost.Load() {
		return l.next.Do(req)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	resp, err := l.next.Do(req)
	if err != nil || !bytes.Contains(body, l.match) || !l.lost.CompareAndSwap(false, true) {
		return resp, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return nil, lostConn{}
}
