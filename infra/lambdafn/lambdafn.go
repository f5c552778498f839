// Package lambdafn is the composition root of the handler functions: each
// Lambda main in functions/ calls Start with its group. A function runs the
// shared core handlers on the DynamoDB store, posts deliveries for other
// proxies to their delivery endpoints (delivery.Relay), and refuses events
// that belong to another function.
package lambdafn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/config"
	"github.com/mqttless/mqttless/infra/delivery"
	"github.com/mqttless/mqttless/infra/dynamo"
	"github.com/mqttless/mqttless/infra/invocation"
)

// ErrMisrouted is an event sent to the wrong function.
var ErrMisrouted = errors.New("lambdafn: event belongs to another function")

// Function is one handler function.
type Function struct {
	group   invocation.Group
	relay   *delivery.Relay
	log     *slog.Logger
	metrics *metrics      // nil: no metrics
	tick    time.Duration // the period of the scheduled sweep's passes (sweep.go)
	// failOnce arms one injected chunk failure (chunks.go); nil: none.
	failOnce *atomic.Bool
}

// New builds the function of group g from the environment: the handler
// settings as MQTTLESS_<FLAG> variables (the names cmd/mqttless documents
// for its flags, such as MQTTLESS_MAX_QUEUED and MQTTLESS_ALLOW_ANONYMOUS),
// the table as MQTTLESS_TABLE, the delivery secret as
// MQTTLESS_DELIVERY_SECRET or else fetched from AWS Secrets Manager at
// MQTTLESS_DELIVERY_SECRET_ARN (WithDeliverySecret), and DynamoDB through
// the standard AWS configuration (AWS_ENDPOINT_URL for emulators). A bad
// setting fails with an error that names it.
func New(ctx context.Context, g invocation.Group, getenv func(string) string, log *slog.Logger) (*Function, error) {
	cfg, err := Config(ctx, getenv)
	if err != nil {
		return nil, err
	}
	return NewFromConfig(ctx, g, cfg, log)
}

// Config reads the functions' configuration from getenv, as New does, with
// the store always DynamoDB.
func Config(ctx context.Context, getenv func(string) string) (config.Config, error) {
	getenv, err := WithDeliverySecret(ctx, getenv, FetchSecret)
	if err != nil {
		return config.Config{}, err
	}
	env := func(name string) string {
		if name == "MQTTLESS_STORE" {
			return "dynamo"
		}
		return getenv(name)
	}
	return config.Parse(nil, env, io.Discard)
}

// NewFromConfig builds the function of group g with cfg: the handlers
// (config.Config.NewHandler: the limits, and the authentication and access rules
// over the users and rules of the same table) on the DynamoDB table
// cfg.Store.Table. A nil log discards the logs.
func NewFromConfig(ctx context.Context, g invocation.Group, cfg config.Config, log *slog.Logger) (*Function, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db, err := dynamo.NewClient(ctx)
	if err != nil {
		return nil, err
	}
	st := dynamo.New(db, cfg.Store.Table, dynamo.WithLogger(log), dynamo.WithStreamRetention(cfg.Store.StreamRetention))
	runner, proc, err := chunkRunner(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	var extra []session.Option
	if runner != nil {
		extra = append(extra, session.WithChunks(runner))
	}
	h, err := cfg.NewHandler(st, log, extra...)
	if err != nil {
		return nil, err
	}
	client, err := delivery.NewClient(cfg.Delivery.Secret, cfg.Delivery.Timeout)
	if err != nil {
		return nil, fmt.Errorf("MQTTLESS_DELIVERY_SECRET: %w", err)
	}
	f := NewFunction(g, delivery.NewRelay(h, client, log).WithLeases(st), log)
	f.tick = cfg.Proxy.Tick
	f.failOnce = failOnceFromEnv()
	if proc != nil {
		proc.Bind(func(ctx context.Context, ev *session.Event) error {
			_, err := f.Handle(ctx, ev)
			return err
		})
	}
	return f, nil
}

// NewFunction returns the function of group g over relay, for callers
// that compose the handler themselves (tests and benchmarks).
func NewFunction(g invocation.Group, relay *delivery.Relay, log *slog.Logger) *Function {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Function{group: g, relay: relay, log: log}
}

// Handle is the Lambda handler: it handles one event from a proxy. An
// error fails the invocation; the proxy then closes that connection.
func (f *Function) Handle(ctx context.Context, ev *session.Event) (*session.Reply, error) {
	if !f.group.Accepts(ev) {
		return nil, fmt.Errorf("%w: %s got a %s event of %d frames", ErrMisrouted, f.group, ev.Kind, len(ev.Packets))
	}
	var reply *session.Reply
	var err error
	switch ev.Kind {
	case session.KindSweep:
		reply, err = f.sweep(ctx, ev)
	case session.KindChunk:
		reply, err = f.handleChunk(ctx, ev)
	default:
		reply, err = f.relay.Handle(ctx, ev)
	}
	if err != nil {
		f.log.Error("handler failed", "conn", ev.Conn, "kind", ev.Kind, "err", err)
	}
	return reply, err
}

// maxParallel bounds the events of one batched invocation handled at once.
const maxParallel = 16

// Invoke is the Lambda handler: it takes a bare session.Event, answered
// with a session.Reply, or a invocation.Batch of several connections'
// events, handled concurrently and answered with a invocation.BatchReply
// in which each event's failure is its own. An error fails the whole
// invocation: a payload that is neither, or a single event's failure.
func (f *Function) Invoke(ctx context.Context, payload json.RawMessage) (any, error) {
	var b invocation.Batch
	if err := json.Unmarshal(payload, &b); err != nil {
		return nil, fmt.Errorf("lambdafn: bad payload: %w", err)
	}
	if b.Events == nil {
		var ev session.Event
		if err := json.Unmarshal(payload, &ev); err != nil {
			return nil, fmt.Errorf("lambdafn: bad payload: %w", err)
		}
		r, err := f.Handle(ctx, &ev)
		res := invocation.Result{}
		if err != nil {
			res.Error = err.Error()
		}
		f.record([]invocation.Result{res})
		return r, err
	}
	out := invocation.BatchReply{Replies: make([]invocation.Result, len(b.Events))}
	defer func() { f.record(out.Replies) }()
	sem := make(chan struct{}, maxParallel)
	var wg sync.WaitGroup
	for i, ev := range b.Events {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if ev == nil {
				out.Replies[i].Error = "lambdafn: null event"
				return
			}
			r, err := f.Handle(ctx, ev)
			out.Replies[i].Reply = r
			if err != nil {
				out.Replies[i].Error = err.Error()
			}
		})
	}
	wg.Wait()
	return out, nil
}

// Start builds the function of group g and serves Lambda invocations; it
// returns only when the configuration is bad. It logs in JSON, as CloudWatch
// Logs reads best, whatever MQTTLESS_LOG_FORMAT says, at the level of
// MQTTLESS_LOG_LEVEL.
func Start(g invocation.Group) error {
	ctx := context.Background()
	cfg, err := Config(ctx, os.Getenv)
	if err != nil {
		return err
	}
	log := NewLogger(os.Stderr, cfg)
	f, err := NewFromConfig(ctx, g, cfg, log)
	if err != nil {
		return err
	}
	cfg.Auth.WarnAnonymous(log)
	f.WithMetrics(os.Stdout, os.Getenv("AWS_LAMBDA_FUNCTION_NAME"))
	lambda.Start(f.Invoke)
	return nil
}

// NewLogger returns the functions' logger: JSON on w, at cfg.Log.Level.
func NewLogger(w io.Writer, cfg config.Config) *slog.Logger {
	return config.Log{Level: cfg.Log.Level, Format: "json"}.NewLogger(w)
}
