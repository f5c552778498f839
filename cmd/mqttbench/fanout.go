package main

// mqttbench fanout: QoS 1 fan-out to many subscribers (issue 16, "Figures:
// Fan-out"; "Fan-out" in README.md; make bench-fanout runs it on the local
// serverless stack, localstack/fanout.sh).
//
// -subs subscribers, split evenly over -addrs (subscriber i on
// -addrs[i mod n]), connect with persistent sessions (MQTT 3.1.1, clean
// session 0), at most -connect-parallel at a time and -connect-rate a
// second, and each subscribes to -topic at QoS 1: one filter shared by all,
// a broadcast. A subscriber refused or closed before its SUBACK tries again
// after 200 ms, doubling up to 5 s, with jitter. Once every SUBACK is in,
// a publisher on -pub-addr (clean session) sends -messages QoS 1 messages,
// one at a time: it waits for the PUBACK (at most -puback-timeout), then
// until every subscriber has the message or -wait from its send has passed,
// then sends the next. A subscriber whose connection ends reconnects to its
// session (clean session 0) and carries on counting.
//
// Per message it reports the time to PUBACK, the time from the send to
// the last subscriber's first receipt, how many subscribers received it,
// and the duplicates: a second receipt of a message by one subscriber,
// counted apart by whether it had DUP set (a redelivery the protocol
// allows, [MQTT-3.3.1-1]) or not (the broker sent it twice as new). The
// FANOUT | line sums it up (fanout_report.go). It fails when a message did
// not reach every subscriber, had no PUBACK, or was duplicated without DUP.
//
// Goroutines: one per subscriber owns its connection (reads, PUBACKs,
// reconnects); the run's goroutine owns the publisher. fanoutTally is
// shared, under its lock.

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttless/mqttless/core/packet"
)

type fanoutOptions struct {
	addrs           []string
	pubAddr         string
	subs, messages  int
	topic, prefix   string
	connectRate     float64
	connectParallel int
	pubackTimeout   time.Duration
	wait, settle    time.Duration
	setupTimeout    time.Duration
	payload         int
}

func parseFanout(args []string, stderr io.Writer) (*fanoutOptions, error) {
	o := &fanoutOptions{}
	fs := flag.NewFlagSet("mqttbench fanout", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addrs := fs.String("addrs", "127.0.0.1:1883,127.0.0.1:1884", "the proxies the subscribers are split over, comma separated")
	fs.StringVar(&o.pubAddr, "pub-addr", "", "where the publisher connects; empty: the first of -addrs")
	fs.IntVar(&o.subs, "subs", 1000, "subscribers")
	fs.IntVar(&o.messages, "messages", 5, "QoS 1 messages, sent one at a time")
	fs.StringVar(&o.topic, "topic", "fanout/broadcast", "the topic every subscriber subscribes to and the publisher publishes on")
	fs.StringVar(&o.prefix, "prefix", "fanout", "client identifiers: <prefix>-s<i> and <prefix>-pub")
	fs.Float64Var(&o.connectRate, "connect-rate", 50, "CONNECT attempts a second, at most")
	fs.IntVar(&o.connectParallel, "connect-parallel", 32, "subscribers connecting and subscribing at a time, at most")
	fs.DurationVar(&o.pubackTimeout, "puback-timeout", 90*time.Second, "how long the publisher waits for a PUBACK")
	fs.DurationVar(&o.wait, "wait", 90*time.Second, "how long after its send a message may take to reach every subscriber")
	fs.DurationVar(&o.settle, "settle", 5*time.Second, "how long to wait after the last message for late duplicates")
	fs.DurationVar(&o.setupTimeout, "setup-timeout", 30*time.Minute, "how long connecting and subscribing may take")
	fs.IntVar(&o.payload, "payload", 64, "payload bytes")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	for a := range strings.SplitSeq(*addrs, ",") {
		if a = strings.TrimSpace(a); a != "" {
			o.addrs = append(o.addrs, a)
		}
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("fanout: unexpected argument %q", fs.Arg(0))
	case len(o.addrs) == 0:
		return nil, errors.New("fanout: -addrs is empty")
	case o.subs < 1 || o.subs > 1<<20 || o.messages < 1 || o.messages > 65535:
		return nil, errors.New("fanout: -subs and -messages must be positive (-messages at most 65535)")
	case o.connectRate <= 0 || o.connectParallel < 1 || o.pubackTimeout <= 0 || o.wait <= 0 || o.setupTimeout <= 0:
		return nil, errors.New("fanout: rates, counts and durations must be positive")
	case o.payload < stampLen:
		return nil, fmt.Errorf("fanout: -payload must be at least %d bytes", stampLen)
	}
	if o.pubAddr == "" {
		o.pubAddr = o.addrs[0]
	}
	return o, nil
}

// pacer spaces events at least interval apart; its lock guards next.
type pacer struct {
	mu       sync.Mutex
	next     time.Time
	interval time.Duration
}

// wait returns when the caller's turn comes, or ctx's error.
func (p *pacer) wait(ctx context.Context) error {
	p.mu.Lock()
	t := time.Now()
	if p.next.After(t) {
		t = p.next
	}
	p.next = t.Add(p.interval)
	p.mu.Unlock()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Until(t)):
		return nil
	}
}

// fanoutConnect connects id through addr with clean session clean and
// waits for a successful CONNACK within d.
func fanoutConnect(ctx context.Context, addr, id string, clean bool, d time.Duration) (*client, error) {
	dl := net.Dialer{Timeout: d}
	nc, err := dl.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	br := bufio.NewReaderSize(nc, 4<<10)
	c := &client{nc: nc, br: br, fr: packet.NewFrameReader(br, 1<<20), bw: bufio.NewWriterSize(nc, 4<<10)}
	nc.SetDeadline(time.Now().Add(d))
	if err := c.write(&packet.Connect{ClientID: id, CleanStart: clean, KeepAlive: 3600}); err != nil {
		nc.Close()
		return nil, err
	}
	if err := c.flush(); err != nil {
		nc.Close()
		return nil, fmt.Errorf("write: %w", err)
	}
	f, err := c.read()
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("no CONNACK: %w", readErr(err))
	}
	var ack packet.Connack
	if err := ack.Decode(f, packet.V311); err != nil || ack.ReasonCode != 0 {
		nc.Close()
		return nil, fmt.Errorf("CONNACK return code %d", ack.ReasonCode)
	}
	nc.SetDeadline(time.Time{})
	return c, nil
}

// readErr names a read's failure without the addresses.
func readErr(err error) error {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return errors.New("timed out")
	case errors.Is(err, io.EOF):
		return errors.New("closed")
	}
	return err
}

// fanoutSub is one subscriber. Its goroutine owns c; mu guards c only for
// close, which the run calls at the end.
type fanoutSub struct {
	i    int
	id   string
	addr string
	mu   sync.Mutex
	c    *client
}

func (s *fanoutSub) set(c *client) {
	s.mu.Lock()
	s.c = c
	s.mu.Unlock()
}

func (s *fanoutSub) close() {
	s.mu.Lock()
	if s.c != nil {
		s.c.nc.Close()
	}
	s.mu.Unlock()
}

// subscribe sends SUBSCRIBE for topic at QoS 1 and waits for a SUBACK
// granting QoS 1 within d.
func (s *fanoutSub) subscribe(c *client, topic string, d time.Duration) error {
	if err := c.write(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: topic, QoS: 1}}}); err != nil {
		return err
	}
	if err := c.flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	c.nc.SetReadDeadline(time.Now().Add(d))
	defer c.nc.SetReadDeadline(time.Time{})
	f, err := c.read()
	if err != nil {
		return fmt.Errorf("no SUBACK: %w", readErr(err))
	}
	var ack packet.Suback
	if err := ack.Decode(f, packet.V311); err != nil || len(ack.ReasonCodes) != 1 || ack.ReasonCodes[0] != 1 {
		return fmt.Errorf("SUBACK %v %v", ack.ReasonCodes, err)
	}
	return nil
}

// fanoutRun is one run's shared state.
type fanoutRun struct {
	o        *fanoutOptions
	tally    *fanoutTally
	pace     *pacer
	stopping atomic.Bool
	lost     atomic.Int64 // subscriber connections that ended during the run
	strays   atomic.Int64 // PUBLISH frames that carried no message of this run
	mu       sync.Mutex
	reasons  map[string]int // failed attempts, by reason
}

func (r *fanoutRun) failed(why string) {
	r.mu.Lock()
	r.reasons[why]++
	r.mu.Unlock()
}

// attach connects s (clean session 0) and, when subscribe is set,
// subscribes it, retrying with backoff until it succeeds or ctx ends.
func (r *fanoutRun) attach(ctx context.Context, s *fanoutSub, subscribe bool) error {
	backoff := 200 * time.Millisecond
	for {
		if err := r.pace.wait(ctx); err != nil {
			return err
		}
		c, err := fanoutConnect(ctx, s.addr, s.id, false, 60*time.Second)
		if err == nil && subscribe {
			if err = s.subscribe(c, r.o.topic, 60*time.Second); err != nil {
				c.nc.Close()
			}
		}
		if err == nil {
			s.set(c)
			return nil
		}
		r.failed(err.Error())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff + rand.N(backoff)):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// receive reads s's connection until the run stops, counting each
// message and acknowledging it; when the connection ends it reconnects to
// the session.
func (r *fanoutRun) receive(ctx context.Context, s *fanoutSub) {
	for {
		c := s.c
		for {
			f, err := c.read()
			if err != nil {
				break
			}
			qos, id, payload, ok := parsePublish(f)
			if !ok {
				continue // PINGRESP and the like
			}
			st, ok := getStamp(payload)
			if !ok || !r.tally.receive(s.i, int(st.seq), f[0]&0x08 != 0, now()) {
				r.strays.Add(1)
			}
			if qos == 1 {
				c.write(&packet.Puback{PacketID: id})
				if !c.buffered() {
					c.flush()
				}
			}
		}
		c.nc.Close()
		if r.stopping.Load() || ctx.Err() != nil {
			return
		}
		r.lost.Add(1)
		if r.attach(ctx, s, false) != nil {
			return
		}
	}
}

// runFanout is the fanout mode's composition root.
func runFanout(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parseFanout(args, os.Stderr)
	if err != nil {
		return err
	}
	limit := raiseFileLimit()
	fmt.Fprintf(stdout, "mqttbench fanout %s\n", strings.Join(args, " "))
	if limit > 0 && limit < uint64(o.subs)+64 {
		return fmt.Errorf("fanout: %d subscribers need more than the %d open files allowed (ulimit -n)", o.subs, limit)
	}
	r := &fanoutRun{o: o, tally: newFanoutTally(o.subs, o.messages, len(o.addrs)),
		pace: &pacer{interval: time.Duration(float64(time.Second) / o.connectRate)}, reasons: map[string]int{}}
	subs := make([]*fanoutSub, o.subs)
	for i := range subs {
		subs[i] = &fanoutSub{i: i, id: fmt.Sprintf("%s-s%d", o.prefix, i), addr: o.addrs[i%len(o.addrs)]}
	}
	defer func() {
		r.stopping.Store(true)
		for _, s := range subs {
			s.close()
		}
	}()

	// Every subscriber connected and subscribed.
	begin := time.Now()
	sctx, cancel := context.WithTimeout(ctx, o.setupTimeout)
	defer cancel()
	sem := make(chan struct{}, o.connectParallel)
	var wg sync.WaitGroup
	var done atomic.Int64
	for _, s := range subs {
		select {
		case sem <- struct{}{}:
		case <-sctx.Done():
		}
		if sctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if r.attach(sctx, s, true) == nil {
				if n := done.Add(1); n%500 == 0 {
					fmt.Fprintf(stdout, "  %d subscribed (%v)\n", n, time.Since(begin).Round(time.Second))
				}
			}
		})
	}
	wg.Wait()
	r.printReasons(stdout)
	if n := done.Load(); n < int64(o.subs) {
		return fmt.Errorf("fanout: %d of %d subscribers subscribed within -setup-timeout %v", n, o.subs, o.setupTimeout)
	}
	fmt.Fprintf(stdout, "subscribed %d subscribers (persistent sessions, QoS 1, %q) over %s in %v\n",
		o.subs, o.topic, strings.Join(o.addrs, " "), time.Since(begin).Round(time.Millisecond))
	for _, s := range subs {
		wg.Go(func() { r.receive(ctx, s) })
	}

	// The messages, one at a time.
	r.publish(ctx, stdout)
	select {
	case <-ctx.Done():
	case <-time.After(o.settle):
	}
	r.stopping.Store(true)
	for _, s := range subs {
		s.close()
	}
	wg.Wait()
	fmt.Fprintf(stdout, "subscriber connections lost during the run: %d; PUBLISH frames not of this run: %d\n", r.lost.Load(), r.strays.Load())
	return reportFanout(stdout, o.subs, r.tally.results())
}

// printReasons prints the failed attempts by reason and forgets them.
func (r *fanoutRun) printReasons(w io.Writer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, n := range r.reasons {
		fmt.Fprintf(w, "failed attempts: %d %s\n", n, k)
	}
	clear(r.reasons)
}

// publish sends the messages one at a time from one publisher, which
// reconnects (clean session) after a connection lost waiting for a PUBACK.
func (r *fanoutRun) publish(ctx context.Context, stdout io.Writer) {
	o := r.o
	var pub *client
	defer func() {
		if pub != nil {
			pub.disconnect()
		}
	}()
	payload := make([]byte, o.payload)
	for seq := 1; seq <= o.messages && ctx.Err() == nil; seq++ {
		for pub == nil && ctx.Err() == nil {
			c, err := fanoutConnect(ctx, o.pubAddr, o.prefix+"-pub", true, 60*time.Second)
			if err != nil {
				fmt.Fprintf(stdout, "publisher: %v; again in 1 s\n", err)
				time.Sleep(time.Second)
				continue
			}
			pub = c
		}
		sent := now()
		putStamp(payload, stamp{seq: int64(seq), sent: sent})
		r.tally.sent(seq, sent)
		err := pub.write(&packet.Publish{QoS: 1, Topic: o.topic, PacketID: uint16(seq), Payload: payload})
		if err == nil {
			err = pub.flush()
		}
		if err == nil {
			err = awaitPuback(pub, uint16(seq), o.pubackTimeout)
		}
		if err != nil {
			r.tally.acked(seq, 0, err.Error())
			pub.nc.Close()
			pub = nil
		} else {
			r.tally.acked(seq, time.Duration(now()-sent), "")
		}
		for !r.tally.all(seq) && time.Duration(now()-sent) < o.wait && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		rs := r.tally.results()
		m := rs[len(rs)-1]
		fmt.Fprintf(stdout, "  message %d: received by %d of %d subscribers when the wait ended, %v after its send\n", seq, m.received, o.subs, time.Duration(now()-sent).Round(time.Millisecond))
	}
}

// awaitPuback reads pub's frames until the PUBACK of id, within d.
func awaitPuback(pub *client, id uint16, d time.Duration) error {
	start := time.Now()
	pub.nc.SetReadDeadline(start.Add(d))
	defer pub.nc.SetReadDeadline(time.Time{})
	for {
		f, err := pub.read()
		if err != nil {
			return fmt.Errorf("%v after %v", readErr(err), time.Since(start).Round(time.Millisecond))
		}
		h, _, err := packet.ParseFixedHeader(f)
		if err != nil || h.Type != packet.PUBACK {
			continue
		}
		var ack packet.Puback
		if ack.Decode(f, packet.V311) == nil && ack.PacketID == id {
			return nil
		}
	}
}
