package lambdafn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/chunkrun"
	"github.com/mqttless/mqttless/infra/config"
)

// chunkRunner returns the runner of the chunks of delivery v2's large
// fan-outs (-fanout-runner), nil when there is none, and, for "process",
// the Process to bind to the function once it is built.
func chunkRunner(ctx context.Context, cfg config.Config, log *slog.Logger) (session.ChunkRunner, *chunkrun.Process, error) {
	if cfg.Session.Delivery != session.DeliveryV2 {
		return nil, nil, nil
	}
	switch cfg.Lambda.ChunkRunner {
	case "lambda":
		name := os.Getenv("AWS_LAMBDA_FUNCTION_NAME")
		if name == "" {
			// Not in Lambda (a test, a tool): no function to invoke, so
			// every delivery is made in the publish call.
			log.Warn("-fanout-runner lambda outside Lambda (AWS_LAMBDA_FUNCTION_NAME unset): fan-outs run in the publish call")
			return nil, nil, nil
		}
		awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("-fanout-runner lambda: load AWS configuration: %w", err)
		}
		return chunkrun.NewLambda(awsCfg, name, os.Getenv("AWS_ENDPOINT_URL_LAMBDA")), nil, nil
	case "process":
		p := chunkrun.NewProcess(16, cfg.Proxy.InvokeTimeout, log)
		return p, p, nil
	}
	return nil, nil, nil
}

// failOnce is MQTTLESS_FANOUT_FAIL_ONCE=1 (make bench-fanout
// FANOUT_FAIL_ONCE=1): the first chunk of more than one client this
// process handles fails once, mid-way, after delivering to the first half
// of its clients, so that its retry shows whether anything arrives twice.
// A fault injection for the benchmark; never set in a deployment.
func failOnceFromEnv() *atomic.Bool {
	b := new(atomic.Bool)
	b.Store(os.Getenv("MQTTLESS_FANOUT_FAIL_ONCE") == "1")
	return b
}

// errInjected is the failure of failOnce.
var errInjected = errors.New("lambdafn: injected fan-out chunk failure (MQTTLESS_FANOUT_FAIL_ONCE)")

// handleChunk handles a KindChunk event, failing it mid-way once when
// failOnce is armed.
func (f *Function) handleChunk(ctx context.Context, ev *session.Event) (*session.Reply, error) {
	ch := ev.Chunk
	if ch == nil || len(ch.Clients) < 2 || f.failOnce == nil || !f.failOnce.CompareAndSwap(true, false) {
		return f.relay.Handle(ctx, ev)
	}
	half := *ev
	part := *ch
	part.Clients = ch.Clients[:len(ch.Clients)/2]
	half.Chunk = &part
	if _, err := f.relay.Handle(ctx, &half); err != nil {
		return nil, err
	}
	f.log.Warn("failing a fan-out chunk mid-way, once (MQTTLESS_FANOUT_FAIL_ONCE)", "delivered", len(part.Clients), "clients", len(ch.Clients))
	return nil, errInjected
}
