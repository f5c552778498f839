// Package chunkrun runs the chunks of delivery v2's large fan-outs
// (session.ChunkRunner, core/session/chunk.go) apart from the publish call
// that made them: Lambda hands each to an asynchronous invocation of the
// publish function itself (Lambda), and a process that runs its handlers
// itself (the all-in-one broker, and the functions under the Lambda
// Runtime Interface Emulator, which cannot queue asynchronous invocations)
// runs each in a goroutine of its own (Process).
//
// Both keep Lambda's rules for an asynchronous event: it is accepted at
// once, handled later, and handled again, twice at most, when its handling
// fails. A chunk is idempotent (a proxy's window takes an offset once), so
// a handling that failed part-way and runs again sends nothing twice.
package chunkrun

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/mqttless/mqttless/core/session"
)

// Handle handles one KindChunk event and makes its reply's deliveries.
type Handle func(ctx context.Context, ev *session.Event) error

// Retries is how many times a failed chunk is handled again, as Lambda
// retries an asynchronous event.
const Retries = 2

// Process runs chunks in goroutines of this process, at most parallel at
// once, each handling within timeout. What it accepted and had not
// handled is lost if the process dies: the online sessions it was for
// then get the entry from their streams at their next entry's gap or
// their next connection (core/session/chunk.go).
type Process struct {
	log     *slog.Logger
	timeout time.Duration
	backoff time.Duration
	sem     chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex // guards handle
	handle  Handle
}

// NewProcess returns a Process that handles at most parallel chunks at once,
// each within timeout. Bind must be called before the first RunChunks.
func NewProcess(parallel int, timeout time.Duration, log *slog.Logger) *Process {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Process{log: log, timeout: timeout, backoff: 200 * time.Millisecond, sem: make(chan struct{}, max(parallel, 1))}
}

// Bind sets how chunks are handled: the handler that made them (and its
// deliveries), known only once it is built.
func (p *Process) Bind(h Handle) {
	p.mu.Lock()
	p.handle = h
	p.mu.Unlock()
}

// RunChunks implements session.ChunkRunner: it starts a goroutine per event
// and returns at once.
func (p *Process) RunChunks(_ context.Context, evs []*session.Event) error {
	p.mu.Lock()
	h := p.handle
	p.mu.Unlock()
	for _, ev := range evs {
		p.wg.Go(func() { p.run(h, ev) })
	}
	return nil
}

// run handles ev, again up to Retries times when it fails.
func (p *Process) run(h Handle, ev *session.Event) {
	var err error
	for attempt := range Retries + 1 {
		if attempt > 0 {
			time.Sleep(p.backoff << (attempt - 1))
		}
		p.sem <- struct{}{}
		ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
		err = h(ctx, ev)
		cancel()
		<-p.sem
		if err == nil {
			return
		}
		p.log.Warn("fan-out chunk failed", "attempt", attempt+1, "filter", ev.Chunk.Stream.Filter, "offset", ev.Chunk.Offset, "clients", len(ev.Chunk.Clients), "err", err)
	}
	p.log.Error("fan-out chunk given up: its online sessions get the entry from their streams at their next gap or connection",
		"filter", ev.Chunk.Stream.Filter, "offset", ev.Chunk.Offset, "clients", len(ev.Chunk.Clients), "err", err)
}

// Wait returns once every chunk accepted so far is handled or given up.
func (p *Process) Wait() { p.wg.Wait() }

var _ session.ChunkRunner = (*Process)(nil)
