package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttless/mqttless/core/packet"
)

// metric describes one figure a scenario reports.
type metric struct {
	key    string
	unit   string
	higher bool // higher is better
}

// result is what one scenario run measured.
type result struct {
	values  map[string]float64 // by metric key
	genCPU  float64            // the generator's CPU, % of one core, over the window
	lost    int64              // sent − received
	hasLost bool               // lost applies to the scenario
}

// scenario is one load scenario.
type scenario struct {
	name    string
	title   string
	metrics []metric
	run     func(ctx context.Context, o *options, t *target) (result, error)
}

var scenarios = []scenario{
	{"S1", "fan-in: QoS 0 publishers → 1 wildcard subscriber", []metric{{"msg/s", "msg/s", true}}, runS1},
	{"S2", "QoS 1: publishers → 1 QoS 1 subscriber, 16 in flight each", []metric{{"msg/s", "msg/s", true}, {"p50", "ms", false}, {"p99", "ms", false}}, runS2},
	{"S3", "fan-out: 1 publisher at 100 msg/s → subscribers of one topic", []metric{{"deliveries/s", "/s", true}, {"p50", "ms", false}, {"p99", "ms", false}}, runS3},
	{"S4", "idle connections, each subscribed to its own topic", []metric{{"KiB/conn", "KiB", false}, {"RSS", "MiB", false}, {"connect all", "s", false}}, runS4},
	{"S5", "connect rate: CONNECT, CONNACK, DISCONNECT, clean session", []metric{{"conn/s", "/s", true}}, runS5},
}

// localIP spreads connections over source addresses 127.1.x.y so that
// many short or many parallel connections do not run out of ports.
func localIP(i int) net.IP {
	return net.IPv4(127, 1, byte(i/250%250), byte(i%250+1))
}

// window measures a load window: wall time, received count and the
// generator's CPU time.
type window struct {
	start    time.Time
	cpu0     time.Duration
	recv0    int64
	wall     time.Duration
	received int64
	cpu      float64
}

func openWindow(recv *atomic.Int64) *window {
	return &window{start: time.Now(), cpu0: cpuTime(), recv0: recv.Load()}
}

func (w *window) close(recv *atomic.Int64) {
	w.wall = time.Since(w.start)
	w.received = recv.Load() - w.recv0
	w.cpu = cpuPercent(cpuTime()-w.cpu0, w.wall)
}

// drain waits until received reaches want or stops growing for idle.
func drain(recv *atomic.Int64, want int64, idle, limit time.Duration) {
	end := time.Now().Add(limit)
	last, lastChange := recv.Load(), time.Now()
	for time.Now().Before(end) {
		n := recv.Load()
		if n >= want {
			return
		}
		if n != last {
			last, lastChange = n, time.Now()
		} else if time.Since(lastChange) > idle {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// connectAll opens n clients with ids prefix-i using o.workers goroutines;
// setup, when set, runs on each new client (such as a SUBSCRIBE).
func connectAll(ctx context.Context, o *options, t *target, n int, prefix string, bufSize int, setup func(i int, c *client) error) ([]*client, error) {
	cs := make([]*client, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, o.workers)
	for w := range o.workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				c, err := dial(ctx, t.addr, fmt.Sprintf("%s-%d", prefix, i), dialOpts{local: localIP(i), bufSize: bufSize})
				if err == nil && setup != nil {
					if err = setup(i, c); err != nil {
						c.nc.Close()
					}
				}
				if err != nil {
					errs[w] = fmt.Errorf("client %d of %d: %w", i, n, err)
					next.Store(int64(n))
					return
				}
				cs[i] = c
			}
		})
	}
	wg.Wait()
	if err := errors.Join(append(errs, ctx.Err())...); err != nil {
		closeAll(cs)
		return nil, err
	}
	return cs, nil
}

func closeAll(cs []*client) {
	for _, c := range cs {
		if c != nil {
			c.nc.Close()
		}
	}
}

// runS1 is the fan-in: o.publishers publishers send QoS 0 messages as fast
// as their backlogs allow to one subscriber of bench/s1/#.
func runS1(ctx context.Context, o *options, t *target) (result, error) {
	sub, err := dial(ctx, t.addr, "s1-sub", dialOpts{bufSize: 64 << 10})
	if err != nil {
		return result{}, err
	}
	defer sub.nc.Close()
	if err := sub.subscribe("bench/s1/#", 0); err != nil {
		return result{}, err
	}
	pubs, err := connectAll(ctx, o, t, o.publishers, "s1-pub", 64<<10, nil)
	if err != nil {
		return result{}, err
	}
	defer closeAll(pubs)
	bls := make([]*backlog, len(pubs))
	for i := range bls {
		bls[i] = newBacklog(o.backlog)
	}
	var recv atomic.Int64
	go func() {
		for {
			f, err := sub.read()
			if err != nil {
				return
			}
			if _, _, pl, ok := parsePublish(f); ok {
				if st, ok := getStamp(pl); ok && st.pub < len(bls) {
					bls[st.pub].seen(st.seq)
				}
				recv.Add(1)
			}
		}
	}()
	var sent atomic.Int64
	pctx, stopPubs := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i, c := range pubs {
		wg.Go(func() {
			bl := bls[i]
			payload := make([]byte, o.payload)
			p := &packet.Publish{Topic: fmt.Sprintf("bench/s1/%d", i), Payload: payload}
			var seq int64
			for pctx.Err() == nil {
				if !bl.wait(pctx, time.Second) {
					return
				}
				n := min(bl.room(), 64)
				for range n {
					seq++
					putStamp(payload, stamp{pub: i, seq: seq, sent: now()})
					if c.write(p) != nil {
						return
					}
				}
				bl.sent(n)
				sent.Add(n)
				if c.flush() != nil {
					return
				}
			}
		})
	}
	w := openWindow(&recv)
	t.windowStarted(ctx)
	sleep(ctx, o.duration)
	w.close(&recv)
	perr := t.windowEnded(ctx)
	stopPubs()
	wg.Wait()
	drain(&recv, sent.Load(), time.Second, 5*time.Second)
	return result{values: map[string]float64{"msg/s": rate(w.received, w.wall)}, genCPU: w.cpu,
		lost: lost(sent.Load(), recv.Load()), hasLost: true}, perr
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// runS2 is QoS 1 end to end: each publisher keeps o.inflight messages
// published but not yet received by the QoS 1 subscriber.
func runS2(ctx context.Context, o *options, t *target) (result, error) {
	sub, err := dial(ctx, t.addr, "s2-sub", dialOpts{bufSize: 64 << 10})
	if err != nil {
		return result{}, err
	}
	defer sub.nc.Close()
	if err := sub.subscribe("bench/s2/#", 1); err != nil {
		return result{}, err
	}
	pubs, err := connectAll(ctx, o, t, o.publishers, "s2-pub", 16<<10, nil)
	if err != nil {
		return result{}, err
	}
	defer closeAll(pubs)
	tokens := make([]chan struct{}, len(pubs))
	for i := range tokens {
		tokens[i] = make(chan struct{}, o.inflight)
		for range o.inflight {
			tokens[i] <- struct{}{}
		}
	}
	var recv atomic.Int64
	var lat latencies
	subDone := make(chan struct{})
	go func() {
		defer close(subDone)
		var ack []byte
		for {
			f, err := sub.read()
			if err != nil {
				return
			}
			qos, id, pl, ok := parsePublish(f)
			if !ok {
				continue
			}
			if st, ok := getStamp(pl); ok && st.pub < len(tokens) {
				lat = append(lat, now()-st.sent)
				select {
				case tokens[st.pub] <- struct{}{}:
				default:
				}
			}
			recv.Add(1)
			if qos == 1 {
				ack, _ = (&packet.Puback{PacketID: id}).Append(ack[:0], packet.V311)
				sub.bw.Write(ack)
			}
			if !sub.buffered() && sub.flush() != nil {
				return
			}
		}
	}()
	var sent atomic.Int64
	pctx, stopPubs := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for i, c := range pubs {
		go func() { // PUBACKs
			for {
				if _, err := c.read(); err != nil {
					return
				}
			}
		}()
		wg.Go(func() {
			payload := make([]byte, o.payload)
			p := &packet.Publish{QoS: 1, Topic: fmt.Sprintf("bench/s2/%d", i), Payload: payload}
			var seq int64
			for {
				select {
				case <-pctx.Done():
					return
				case <-tokens[i]:
				}
				n := 1
			more:
				for {
					select {
					case <-tokens[i]:
						n++
					default:
						break more
					}
				}
				for range n {
					seq++
					p.PacketID = uint16(seq%65535) + 1
					putStamp(payload, stamp{pub: i, seq: seq, sent: now()})
					if c.write(p) != nil {
						return
					}
				}
				sent.Add(int64(n))
				if c.flush() != nil {
					return
				}
			}
		})
	}
	w := openWindow(&recv)
	t.windowStarted(ctx)
	sleep(ctx, o.duration)
	w.close(&recv)
	perr := t.windowEnded(ctx)
	stopPubs()
	wg.Wait()
	drain(&recv, sent.Load(), 2*time.Second, 10*time.Second)
	sub.nc.Close()
	<-subDone
	all := merge([]latencies{lat})
	return result{values: map[string]float64{
		"msg/s": rate(w.received, w.wall),
		"p50":   ms(percentile(all, 50)),
		"p99":   ms(percentile(all, 99)),
	}, genCPU: w.cpu, lost: lost(sent.Load(), recv.Load()), hasLost: true}, perr
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }

// runS3 is the fan-out: one publisher at o.s3Rate msg/s (QoS 0) to
// o.subscribers subscribers of bench/s3.
func runS3(ctx context.Context, o *options, t *target) (result, error) {
	subs, err := connectAll(ctx, o, t, o.subscribers, "s3-sub", 1024, func(_ int, c *client) error {
		return c.subscribe("bench/s3", 0)
	})
	if err != nil {
		return result{}, err
	}
	defer closeAll(subs)
	pub, err := dial(ctx, t.addr, "s3-pub", dialOpts{})
	if err != nil {
		return result{}, err
	}
	defer pub.nc.Close()
	var recv atomic.Int64
	lats := make([]latencies, len(subs))
	var subWG sync.WaitGroup
	for i, c := range subs {
		subWG.Go(func() {
			for {
				f, err := c.read()
				if err != nil {
					return
				}
				if _, _, pl, ok := parsePublish(f); ok {
					if st, ok := getStamp(pl); ok {
						lats[i] = append(lats[i], now()-st.sent)
					}
					recv.Add(1)
				}
			}
		})
	}
	var sent int64
	payload := make([]byte, o.payload)
	p := &packet.Publish{Topic: "bench/s3", Payload: payload}
	w := openWindow(&recv)
	t.windowStarted(ctx)
	tick := time.NewTicker(time.Second / time.Duration(o.s3Rate))
	end := time.After(o.duration)
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-end:
			break loop
		case <-tick.C:
			sent++
			putStamp(payload, stamp{seq: sent, sent: now()})
			if err := pub.write(p); err != nil {
				break loop
			}
			if err := pub.flush(); err != nil {
				break loop
			}
		}
	}
	tick.Stop()
	w.close(&recv)
	perr := t.windowEnded(ctx)
	want := sent * int64(len(subs))
	drain(&recv, want, time.Second, 5*time.Second)
	closeAll(subs)
	subWG.Wait()
	all := merge(lats)
	return result{values: map[string]float64{
		"deliveries/s": rate(w.received, w.wall),
		"p50":          ms(percentile(all, 50)),
		"p99":          ms(percentile(all, 99)),
	}, genCPU: w.cpu, lost: lost(want, recv.Load()), hasLost: true}, perr
}

// runS4 opens o.conns connections, each subscribed to a topic of its own,
// and measures the broker's RSS growth per connection.
func runS4(ctx context.Context, o *options, t *target) (result, error) {
	time.Sleep(200 * time.Millisecond)
	rss0, err := t.rss()
	if err != nil {
		return result{}, err
	}
	var recv atomic.Int64
	w := openWindow(&recv)
	t.windowStarted(ctx)
	cs, err := connectAll(ctx, o, t, o.conns, "s4", 256, func(i int, c *client) error {
		return c.subscribe(fmt.Sprintf("bench/s4/%d", i), 1)
	})
	if err != nil {
		return result{}, err
	}
	defer closeAll(cs)
	w.close(&recv)
	for _, c := range cs { // keep only the sockets
		c.br, c.bw, c.fr, c.buf, c.out = nil, nil, nil, nil, nil
	}
	sleep(ctx, 2*time.Second)
	rss1, err := t.rss()
	if err != nil {
		return result{}, err
	}
	perr := t.windowEnded(ctx)
	return result{values: map[string]float64{
		"KiB/conn":    float64(rss1-rss0) / float64(len(cs)) / 1024,
		"RSS":         float64(rss1) / (1 << 20),
		"connect all": w.wall.Seconds(),
	}, genCPU: w.cpu}, perr
}

// runS5 measures the connect rate: o.workers workers each connect with a
// clean session, wait for CONNACK, send DISCONNECT and wait for the broker
// to close the connection, over and over.
func runS5(ctx context.Context, o *options, t *target) (result, error) {
	var failed atomic.Int64
	var recv atomic.Int64
	w := openWindow(&recv)
	t.windowStarted(ctx)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	end := w.start.Add(o.duration)
	for wk := range o.workers {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil && time.Now().Before(end); i++ {
				n := i*o.workers + wk
				c, err := dial(ctx, t.addr, fmt.Sprintf("s5-%d", wk), dialOpts{local: localIP(n), bufSize: 512})
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				c.write(&packet.Disconnect{})
				c.flush()
				c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
				for {
					if _, err := c.read(); err != nil {
						break
					}
				}
				c.nc.Close()
				recv.Add(1)
			}
		})
	}
	wg.Wait()
	w.close(&recv)
	perr := t.windowEnded(ctx)
	if f := failed.Load(); f > 0 {
		perr = errors.Join(perr, fmt.Errorf("%d connections failed, the first: %v", f, firstErr.Load()))
	}
	return result{values: map[string]float64{"conn/s": rate(w.received, w.wall)}, genCPU: w.cpu}, perr
}
