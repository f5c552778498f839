package dynamo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mqttless/mqttless/core/session"
)

var _ session.Store = (*Store)(nil)

// ErrItemTooLarge is a message whose item would exceed DynamoDB's 400 KB
// item limit. The broker avoids it by keeping -max-packet-size at or below
// MaxPacketSize.
var ErrItemTooLarge = errors.New("dynamo: item exceeds DynamoDB's 400 KB limit")

// MaxPacketSize is the largest -max-packet-size a broker on this store may
// accept: every message such a packet carries, with its item's other
// attributes, fits in one item.
const MaxPacketSize = 384 * 1024

// DefaultTable is the table name when MQTTLESS_TABLE is not set.
const DefaultTable = "mqttless"

// Store is a session.Store on one DynamoDB table. It is safe for
// concurrent use.
type Store struct {
	db    *dynamodb.Client
	table string
	log   *slog.Logger
	// pidLimit bounds the packet ids the queues assign (LimitPacketIDs;
	// 0 for 65535). Set before the store serves.
	pidLimit atomic.Uint32

	mu       sync.Mutex
	consumed Capacity

	gens    genCache
	recent  recentSessions
	matches matchCache
	located locatedSessions

	heads           streamHeads   // delivery v2 (streams.go)
	streamRetention time.Duration // WithStreamRetention
}

// recentSessions holds the session items Match read to check generations,
// for the Sessions call that the fan-out makes right after it for the same
// clients: an entry serves one Sessions call, within recentFor of its
// read, and this Store's own writes of the session drop it.
type recentSessions struct {
	mu sync.Mutex
	m  map[string]recentSession
}

type recentSession struct {
	it *sessionItem
	at time.Time
}

// recentFor is how long a session item Match read may stand in for a read
// by Sessions. The fan-out uses what Sessions returns after its own reads
// and writes anyway (see Match in the package documentation); this only
// bounds how much older it can be.
const recentFor = 100 * time.Millisecond

// maxRecent bounds the entries; the map starts over when full.
const maxRecent = 10_000

func (c *recentSessions) put(clientID string, it *sessionItem, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxRecent {
		c.m = make(map[string]recentSession)
	}
	c.m[clientID] = recentSession{it, at}
}

// take returns the item of clientID read within recentFor of now, and
// drops it.
func (c *recentSessions) take(clientID string, now time.Time) *sessionItem {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.m[clientID]
	if !ok {
		return nil
	}
	delete(c.m, clientID)
	if now.Sub(r.at) > recentFor || now.Before(r.at) {
		return nil
	}
	return r.it
}

func (c *recentSessions) forget(clientID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, clientID)
}

// genCache remembers the generations of sessions this Store read, so that
// an acknowledgement need not read the session first: its transaction
// checks the generation, and a failure reads it afresh.
type genCache struct {
	mu sync.Mutex
	m  map[string]int64
}

// maxCachedGens bounds the cache; it starts over when full.
const maxCachedGens = 100_000

func (c *genCache) get(clientID string) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	g, ok := c.m[clientID]
	return g, ok
}

func (c *genCache) put(clientID string, gen int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedGens {
		c.m = make(map[string]int64)
	}
	c.m[clientID] = gen
}

func (c *genCache) forget(clientID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, clientID)
}

// Capacity is capacity consumed.
type Capacity struct {
	// Read and Write are the capacity units the endpoint reported
	// (ReturnConsumedCapacity TOTAL).
	Read, Write float64
	// EstRead and EstWrite are estimated from the sizes of the items read
	// and written by DynamoDB's published rules: a strongly consistent read
	// costs 1 unit per 4 KB of each item (a query: of the items together;
	// half for the eventually consistent index queries), a write 1 unit per
	// 1 KB, twice that in a transaction. Updates and deletes are counted as
	// 1 KB items, and a failed conditional write as 1 unit.
	EstRead, EstWrite float64
	Calls             int // API calls made
}

// Sub returns c - o.
func (c Capacity) Sub(o Capacity) Capacity {
	return Capacity{c.Read - o.Read, c.Write - o.Write, c.EstRead - o.EstRead, c.EstWrite - o.EstWrite, c.Calls - o.Calls}
}

// units returns the capacity units of size bytes at unit bytes a unit.
func units(size, unit int) float64 { return float64(max(1, (size+unit-1)/unit)) }

// readUnits returns the estimated read units of reading items one by one.
func readUnits(items []map[string]types.AttributeValue, missing int) float64 {
	u := float64(missing)
	for _, it := range items {
		u += units(itemSize(it), 4096)
	}
	return u
}

// Option configures a Store.
type Option func(*Store)

// WithLogger makes the Store log to l (at debug level: lost races and
// clean-ups).
func WithLogger(l *slog.Logger) Option { return func(st *Store) { st.log = l } }

// New returns a Store on table through client db.
func New(db *dynamodb.Client, table string, opts ...Option) *Store {
	st := &Store{db: db, table: table, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(st)
	}
	return st
}

// idleConnsPerHost is how many idle connections to DynamoDB a client
// keeps. The SDK's default, 10, closes a connection after use whenever
// more than 10 calls ran at once (a group commit, a sweep's 16 sessions,
// a chunk runner), and the next call pays a new TLS handshake.
const idleConnsPerHost = 64

// NewClient returns a DynamoDB client configured from the environment: the
// standard credential chain, AWS_REGION, and AWS_ENDPOINT_URL for a local
// emulator. Throttling and transient errors are retried by the SDK's
// standard retryer, with up to 10 attempts.
func NewClient(ctx context.Context) (*dynamodb.Client, error) {
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
		tr.MaxIdleConns = idleConnsPerHost
		tr.MaxIdleConnsPerHost = idleConnsPerHost
	})
	cfg, err := config.LoadDefaultConfig(ctx, config.WithHTTPClient(httpClient), config.WithRetryer(func() aws.Retryer {
		r := retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 10
			o.MaxBackoff = 5 * time.Second
		})
		// A plain write that meets an ongoing transaction on its item, and
		// a transaction resent with the token of one still running
		// (transactKnown).
		return retry.AddWithErrorCodes(r, "TransactionConflictException", "TransactionInProgressException")
	}))
	if err != nil {
		return nil, fmt.Errorf("dynamo: load AWS configuration: %w", err)
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) {
		// Emulators such as moto send CRC32 headers the SDK disagrees with.
		o.DisableValidateResponseChecksum = os.Getenv("AWS_ENDPOINT_URL") != ""
	}), nil
}

// TableFromEnv returns MQTTLESS_TABLE, or DefaultTable when it is unset.
func TableFromEnv() string {
	if t := os.Getenv("MQTTLESS_TABLE"); t != "" {
		return t
	}
	return DefaultTable
}

// Table returns the name of the Store's table.
func (st *Store) Table() string { return st.table }

// Consumed returns the capacity consumed by the Store's calls so far.
func (st *Store) Consumed() Capacity {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.consumed
}

// read and write are the kinds of capacity an API call consumes.
const (
	read = iota
	write
)

// track adds the capacity a call reports and the estimate of it.
func (st *Store) track(kind int, est float64, ccs ...types.ConsumedCapacity) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.consumed.Calls++
	if kind == read {
		st.consumed.EstRead += est
	} else {
		st.consumed.EstWrite += est
	}
	for _, cc := range ccs {
		r, w := aws.ToFloat64(cc.ReadCapacityUnits), aws.ToFloat64(cc.WriteCapacityUnits)
		if r == 0 && w == 0 {
			if kind == read {
				r = aws.ToFloat64(cc.CapacityUnits)
			} else {
				w = aws.ToFloat64(cc.CapacityUnits)
			}
		}
		st.consumed.Read += r
		st.consumed.Write += w
	}
}

func one(cc *types.ConsumedCapacity) []types.ConsumedCapacity {
	if cc == nil {
		return nil
	}
	return []types.ConsumedCapacity{*cc}
}

const total = types.ReturnConsumedCapacityTotal

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: fmt.Sprint(n)}
}

// getItem reads one item, strongly consistent; it returns nil when there is
// none.
func (st *Store) getItem(ctx context.Context, pk, sk string) (map[string]types.AttributeValue, error) {
	out, err := st.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: &st.table, Key: key(pk, sk), ConsistentRead: aws.Bool(true), ReturnConsumedCapacity: total,
	})
	if err != nil {
		return nil, err
	}
	st.track(read, readUnits([]map[string]types.AttributeValue{out.Item}, 0), one(out.ConsumedCapacity)...)
	return out.Item, nil
}

// batchGet reads items by key, strongly consistent, 100 keys a call,
// retrying unprocessed keys. proj, when set, is a projection expression.
func (st *Store) batchGet(ctx context.Context, keys []map[string]types.AttributeValue, proj string) ([]map[string]types.AttributeValue, error) {
	var items []map[string]types.AttributeValue
	for len(keys) > 0 {
		n := min(len(keys), 100)
		ka := types.KeysAndAttributes{Keys: keys[:n], ConsistentRead: aws.Bool(true)}
		if proj != "" {
			ka.ProjectionExpression = aws.String(proj)
		}
		keys = keys[n:]
		req := map[string]types.KeysAndAttributes{st.table: ka}
		for try := 0; len(req) > 0; try++ {
			out, err := st.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req, ReturnConsumedCapacity: total})
			if err != nil {
				return nil, err
			}
			got := out.Responses[st.table]
			unproc := len(out.UnprocessedKeys[st.table].Keys)
			st.track(read, readUnits(got, max(0, len(req[st.table].Keys)-unproc-len(got))), out.ConsumedCapacity...)
			items = append(items, got...)
			req = out.UnprocessedKeys
			if len(req) > 0 {
				if err := backoff(ctx, try); err != nil {
					return nil, err
				}
			}
		}
	}
	return items, nil
}

// batchDelete deletes items by key, 25 a call, retrying unprocessed ones.
func (st *Store) batchDelete(ctx context.Context, keys []map[string]types.AttributeValue) error {
	for len(keys) > 0 {
		n := min(len(keys), 25)
		reqs := make([]types.WriteRequest, n)
		for i, k := range keys[:n] {
			reqs[i] = types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: k}}
		}
		keys = keys[n:]
		req := map[string][]types.WriteRequest{st.table: reqs}
		for try := 0; len(req) > 0; try++ {
			out, err := st.db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: req, ReturnConsumedCapacity: total})
			if err != nil {
				return err
			}
			st.track(write, float64(len(req[st.table])-len(out.UnprocessedItems[st.table])), out.ConsumedCapacity...)
			req = out.UnprocessedItems
			if len(req) > 0 {
				if err := backoff(ctx, try); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// query runs in and every following page, strongly consistent unless it
// reads an index, and returns the items (at most limit when limit > 0).
func (st *Store) query(ctx context.Context, in *dynamodb.QueryInput, limit int) ([]map[string]types.AttributeValue, error) {
	in.TableName, in.ReturnConsumedCapacity = &st.table, total
	if in.IndexName == nil {
		in.ConsistentRead = aws.Bool(true)
	}
	var items []map[string]types.AttributeValue
	for {
		if limit > 0 {
			in.Limit = aws.Int32(int32(min(limit-len(items), 1000)))
		}
		out, err := st.db.Query(ctx, in)
		if err != nil {
			return nil, err
		}
		size := 0
		for _, it := range out.Items {
			size += itemSize(it)
		}
		est := units(size, 4096)
		if in.IndexName != nil {
			est /= 2
		}
		st.track(read, est, one(out.ConsumedCapacity)...)
		items = append(items, out.Items...)
		if len(out.LastEvaluatedKey) == 0 || (limit > 0 && len(items) >= limit) {
			return items, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// transact runs a TransactWriteItems (at most 100 items).
func (st *Store) transact(ctx context.Context, items []types.TransactWriteItem) error {
	return st.transactToken(ctx, items, nil)
}

// transactToken is transact with the ClientRequestToken token (the SDK
// makes one up when it is nil); see transactKnown.
func (st *Store) transactToken(ctx context.Context, items []types.TransactWriteItem, token *string) error {
	out, err := st.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items, ReturnConsumedCapacity: total, ClientRequestToken: token})
	if err != nil {
		return err
	}
	est := 0.0
	for _, it := range items {
		if it.Put != nil {
			est += 2 * units(itemSize(it.Put.Item), 1024)
		} else {
			est += 2
		}
	}
	st.track(write, est, out.ConsumedCapacity...)
	return nil
}

// put, update and del are single-item writes.
func (st *Store) put(ctx context.Context, in *dynamodb.PutItemInput) (*dynamodb.PutItemOutput, error) {
	in.TableName, in.ReturnConsumedCapacity = &st.table, total
	out, err := st.db.PutItem(ctx, in)
	if err != nil {
		st.trackFailed(err)
		return nil, err
	}
	st.track(write, units(itemSize(in.Item), 1024), one(out.ConsumedCapacity)...)
	return out, nil
}

func (st *Store) update(ctx context.Context, in *dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) {
	in.TableName, in.ReturnConsumedCapacity = &st.table, total
	out, err := st.db.UpdateItem(ctx, in)
	if err != nil {
		st.trackFailed(err)
		return nil, err
	}
	st.track(write, 1, one(out.ConsumedCapacity)...)
	return out, nil
}

func (st *Store) del(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) error {
	in.TableName, in.ReturnConsumedCapacity = &st.table, total
	out, err := st.db.DeleteItem(ctx, in, optFns...)
	if err != nil {
		st.trackFailed(err)
		return err
	}
	st.track(write, 1, one(out.ConsumedCapacity)...)
	return nil
}

// trackFailed counts a failed call; a failed condition still consumes a
// write unit, which DynamoDB does not report on the error.
func (st *Store) trackFailed(err error) {
	if condFailed(err) {
		st.track(write, 1, types.ConsumedCapacity{CapacityUnits: aws.Float64(1)})
	}
}

// condFailed reports whether err is a failed condition of a single write.
func condFailed(err error) bool {
	var e *types.ConditionalCheckFailedException
	return errors.As(err, &e)
}

// canceled returns the reasons of a canceled transaction, or nil when err
// is something else.
func canceled(err error) []types.CancellationReason {
	var e *types.TransactionCanceledException
	if errors.As(err, &e) {
		if e.CancellationReasons == nil {
			return []types.CancellationReason{}
		}
		return e.CancellationReasons
	}
	return nil
}

// failedAt reports whether the condition of item i of a canceled
// transaction failed.
func failedAt(reasons []types.CancellationReason, i int) bool {
	return i < len(reasons) && aws.ToString(reasons[i].Code) == "ConditionalCheckFailed"
}

// maxTries bounds the retries of an optimistic read-modify-write that
// keeps losing races.
const maxTries = 50

// backoff sleeps a little longer on each try of a lost race.
func backoff(ctx context.Context, try int) error {
	d := time.Duration(1+rand.IntN(1<<min(try, 6))) * time.Millisecond
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// errContended is returned when a read-modify-write lost maxTries races.
var errContended = errors.New("dynamo: too much contention, giving up")

// asCond is errors.As for a failed condition.
func asCond(err error, target **types.ConditionalCheckFailedException) bool {
	return errors.As(err, target)
}

var _ session.PacketIDLimiter = (*Store)(nil)

// LimitPacketIDs implements session.PacketIDLimiter: the queues assign
// packet ids 1..max, delivery v2's streams the ones above.
func (st *Store) LimitPacketIDs(max uint16) { st.pidLimit.Store(uint32(max)) }

// pidMax is the highest packet id the queues assign.
func (st *Store) pidMax() uint16 {
	if m := st.pidLimit.Load(); m != 0 {
		return uint16(m)
	}
	return 65535
}
