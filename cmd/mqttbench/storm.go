package main

// mqttbench storm: a CONNECT storm after a proxy drains (issue 15, item 4;
// "CONNECT storms" in README.md; make bench-connect-storm runs it on the
// local serverless stack).
//
// -clients clients with passwords (user <-user-prefix><i mod -users>, one
// password for all) connect to -addr, at most 64 at a time, each to a
// persistent session. Then the storm: -drain-cmd runs (such as a kill
// -TERM of the proxy of -addr), or without it every connection is dropped
// at once, and each client, as soon as its connection ends, reconnects
// through -reconnect-addr, retrying when it is refused or closed after
// 200 ms, doubling up to 5 s, with jitter, as a device does. It prints the time from the drain
// to every CONNACK (all, median, 99th percentile), the clients that had
// none within -timeout, and the reasons of the failed attempts.

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
	"os/exec"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqttless/mqttless/core/packet"
)

type stormOptions struct {
	addr, reconnectAddr string
	clients, users      int
	userPrefix          string
	password            string
	drainCmd            string
	timeout             time.Duration
}

func parseStorm(args []string, stderr io.Writer) (*stormOptions, error) {
	o := &stormOptions{}
	fs := flag.NewFlagSet("mqttbench storm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:1883", "the proxy the clients connect to first")
	fs.StringVar(&o.reconnectAddr, "reconnect-addr", "", "where they reconnect after the drain; empty: -addr")
	fs.IntVar(&o.clients, "clients", 2000, "clients")
	fs.IntVar(&o.users, "users", 20, "users the clients share (client i is user i mod -users): -max-user-connections bounds the clients of one user")
	fs.StringVar(&o.userPrefix, "user-prefix", "storm", "user names: the prefix and a number from 0")
	fs.StringVar(&o.password, "password", "", "the users' password (env MQTTBENCH_PASSWORD)")
	fs.StringVar(&o.drainCmd, "drain-cmd", "", "shell command that drains the proxy of -addr (such as kill -TERM PID); empty: the clients drop their connections")
	fs.DurationVar(&o.timeout, "timeout", 2*time.Minute, "how long the storm may take")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if o.password == "" {
		o.password = os.Getenv("MQTTBENCH_PASSWORD")
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("storm: unexpected argument %q", fs.Arg(0))
	case o.clients < 1 || o.users < 1 || o.timeout <= 0:
		return nil, errors.New("storm: -clients, -users and -timeout must be positive")
	case o.password == "":
		return nil, errors.New("storm: -password (or MQTTBENCH_PASSWORD) is required")
	}
	if o.reconnectAddr == "" {
		o.reconnectAddr = o.addr
	}
	return o, nil
}

// stormClient is one client's connection: its CONNECT and its wait for the
// end of the connection.
type stormClient struct {
	id, user string
	nc       net.Conn
}

// connect connects c through addr, a persistent session, and waits for
// CONNACK within d. It returns why it failed.
func (c *stormClient) connect(ctx context.Context, o *stormOptions, addr string, d time.Duration) error {
	dl := net.Dialer{Timeout: d}
	nc, err := dl.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	p := &packet.Connect{ClientID: c.id, KeepAlive: 600, UsernameFlag: true, Username: c.user,
		PasswordFlag: true, Password: []byte(o.password)}
	b, err := p.Append(nil, packet.V311)
	if err != nil {
		nc.Close()
		return err
	}
	nc.SetDeadline(time.Now().Add(d))
	if _, err := nc.Write(b); err != nil {
		nc.Close()
		return fmt.Errorf("write: %w", err)
	}
	f, err := packet.NewFrameReader(bufio.NewReader(nc), 1<<10).ReadFrame(nil)
	if err != nil {
		nc.Close()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return errors.New("no CONNACK in time")
		}
		return errors.New("closed before CONNACK")
	}
	var ack packet.Connack
	if err := ack.Decode(f, packet.V311); err != nil || ack.ReasonCode != 0 {
		nc.Close()
		return fmt.Errorf("CONNACK return code %d", ack.ReasonCode)
	}
	nc.SetDeadline(time.Time{})
	c.nc = nc
	return nil
}

// runStorm is the storm mode's composition root.
func runStorm(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parseStorm(args, os.Stderr)
	if err != nil {
		return err
	}
	raiseFileLimit()
	clients := make([]*stormClient, o.clients)
	for i := range clients {
		clients[i] = &stormClient{id: fmt.Sprintf("%s-c%d", o.userPrefix, i), user: fmt.Sprintf("%s%d", o.userPrefix, i%o.users)}
	}
	fmt.Fprintf(stdout, "mqttbench storm %s\n", strings.Join(args, " "))

	// Before: every client connected, 64 at a time.
	begin := time.Now()
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	var setupErr atomic.Value
	for _, c := range clients {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			for attempt := 0; ; attempt++ {
				err := c.connect(ctx, o, o.addr, 30*time.Second)
				if err == nil {
					return
				}
				if attempt == 20 || ctx.Err() != nil {
					setupErr.Store(fmt.Errorf("%s: %w", c.id, err))
					return
				}
				time.Sleep(200 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	if err, _ := setupErr.Load().(error); err != nil {
		return fmt.Errorf("storm: connecting the clients before the drain: %w", err)
	}
	fmt.Fprintf(stdout, "connected %d clients (%d users) through %s in %v\n", o.clients, o.users, o.addr, time.Since(begin).Round(time.Millisecond))

	// The storm: each client reconnects as soon as its connection ends.
	sctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	start := time.Now()
	took := make([]time.Duration, len(clients)) // 0: never
	var attempts atomic.Int64
	var mu sync.Mutex
	reasons := map[string]int{}
	for i, c := range clients {
		wg.Go(func() {
			_, _ = io.Copy(io.Discard, c.nc) // until the drain ends it
			c.nc.Close()
			backoff := 200 * time.Millisecond
			for sctx.Err() == nil {
				attempts.Add(1)
				err := c.connect(sctx, o, o.reconnectAddr, time.Until(deadlineOf(sctx)))
				if err == nil {
					took[i] = time.Since(start)
					c.nc.Close()
					return
				}
				mu.Lock()
				reasons[err.Error()]++
				mu.Unlock()
				select {
				case <-sctx.Done():
				case <-time.After(backoff + rand.N(backoff)):
				}
				backoff = min(2*backoff, 5*time.Second)
			}
		})
	}
	if o.drainCmd != "" {
		fmt.Fprintf(stdout, "draining: %s\n", o.drainCmd)
		cmd := exec.CommandContext(ctx, "sh", "-c", o.drainCmd)
		cmd.Stdout, cmd.Stderr = stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("storm: -drain-cmd: %w", err)
		}
	} else {
		for _, c := range clients {
			c.nc.(*net.TCPConn).CloseRead() // ends its io.Copy: the client drops the connection
		}
	}
	wg.Wait()
	return reportStorm(stdout, o, took, attempts.Load(), reasons)
}

func deadlineOf(ctx context.Context) time.Time {
	d, _ := ctx.Deadline()
	return d
}

// reportStorm prints the storm's figures and fails when a client had no
// CONNACK.
func reportStorm(w io.Writer, o *stormOptions, took []time.Duration, attempts int64, reasons map[string]int) error {
	var ok []int64
	for _, d := range took {
		if d > 0 {
			ok = append(ok, int64(d))
		}
	}
	slices.Sort(ok)
	failed := len(took) - len(ok)
	fmt.Fprintf(w, "storm through %s: %d of %d clients got CONNACK, %d connection attempts\n", o.reconnectAddr, len(ok), len(took), attempts)
	if len(ok) > 0 {
		fmt.Fprintf(w, "time from the drain to CONNACK: all %v, median %v, p99 %v\n",
			time.Duration(ok[len(ok)-1]).Round(time.Millisecond),
			time.Duration(percentile(ok, 50)).Round(time.Millisecond),
			time.Duration(percentile(ok, 99)).Round(time.Millisecond))
	}
	keys := make([]string, 0, len(reasons))
	for k := range reasons {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "failed attempts: %d %s\n", reasons[k], k)
	}
	if failed > 0 {
		return fmt.Errorf("storm: %d clients had no CONNACK within %v", failed, o.timeout)
	}
	return nil
}
