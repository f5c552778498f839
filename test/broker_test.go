// Package e2e_test is the end-to-end suite: it builds cmd/mqttless once,
// starts broker processes on free loopback ports and drives them with real
// MQTT clients (Eclipse Paho for 3.1.1 and 5.0) and with a raw client that
// writes and reads frames built by core/packet.
//
// Set MQTTLESS_E2E_ADDR=host:port to run the tests that need no broker of
// their own against another deployment; the tests that restart the broker or
// need particular flags skip then.
package e2e_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// externalAddr is MQTTLESS_E2E_ADDR: a broker to test instead of spawning one.
var externalAddr = os.Getenv("MQTTLESS_E2E_ADDR")

// brokerBin is the broker binary TestMain built.
var brokerBin string

// shared is the broker most tests use, started by TestMain with the
// default limits and store, a 100 ms tick and debug logs (nil with
// MQTTLESS_E2E_ADDR).
var shared *broker

// sharedFlags are the flags of the shared broker.
var sharedFlags = []string{"-tick", "100ms"}

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	if externalAddr != "" {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "mqttless-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	if brokerBin, err = buildBroker(dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	if err := setupStack(dir); err != nil { // MQTTLESS_E2E_STACK, stack_test.go
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer stopStack()
	shared, err = spawn(sharedFlags, filepath.Join(dir, "shared-data"), "")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: starting the shared broker:", err)
		return 1
	}
	code := m.Run()
	stopErr := shared.stop()
	races := shared.log.races()
	if code != 0 || stopErr != nil || races {
		fmt.Fprintf(os.Stderr, "=== shared broker log (tail) ===\n%s\n=== end of shared broker log ===\n", shared.log.tail(256<<10))
	}
	if stopErr != nil {
		fmt.Fprintln(os.Stderr, "e2e: stopping the shared broker:", stopErr)
		code = 1
	}
	if races {
		fmt.Fprintln(os.Stderr, "e2e: the shared broker reported a DATA RACE")
		code = 1
	}
	return code
}

// buildBroker builds cmd/mqttless into dir with the race detector, or
// without it where it is not available (MQTTLESS_E2E_RACE=0 turns it off).
func buildBroker(dir string) (string, error) {
	bin := filepath.Join(dir, "mqttless")
	build := func(race bool) ([]byte, error) {
		args := []string{"build", "-o", bin}
		if race {
			args = append(args, "-race")
		}
		args = append(args, "github.com/mqttless/mqttless/cmd/mqttless")
		return exec.Command("go", args...).CombinedOutput()
	}
	race := os.Getenv("MQTTLESS_E2E_RACE") != "0"
	out, err := build(race)
	if err != nil && race {
		fmt.Fprintf(os.Stderr, "e2e: building with -race failed, building without it:\n%s", out)
		out, err = build(false)
	}
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/mqttless: %v\n%s", err, out)
	}
	return bin, nil
}

// broker is one broker process, or the external broker.
type broker struct {
	addr     string
	dataDir  string
	flags    []string
	external bool

	cmd  *exec.Cmd
	log  *logBuffer
	done chan struct{} // closed when the process has exited
	err  error         // the process's exit status, once done is closed
}

// brokerOption adjusts a broker started by startBroker.
type brokerOption func(*brokerSpec)

type brokerSpec struct {
	flags   []string
	dataDir string
}

// withFlags adds command-line flags, such as "-max-queued", "5".
func withFlags(flags ...string) brokerOption {
	return func(s *brokerSpec) { s.flags = append(s.flags, flags...) }
}

// withDataDir makes the broker keep its data in dir.
func withDataDir(dir string) brokerOption { return func(s *brokerSpec) { s.dataDir = dir } }

// startBroker starts a broker of the test's own on a free loopback port,
// with its data in a temporary directory unless withDataDir names one. It
// is stopped with SIGTERM when the test ends, and its log is printed if the
// test failed. With MQTTLESS_E2E_ADDR set it returns the external broker
// when no option is given, and skips the test otherwise.
func startBroker(t testing.TB, opts ...brokerOption) *broker {
	t.Helper()
	if externalAddr != "" {
		if len(opts) > 0 {
			t.Skip("needs a broker of its own with particular settings; MQTTLESS_E2E_ADDR is set")
		}
		return &broker{addr: externalAddr, external: true}
	}
	spec := brokerSpec{}
	for _, o := range opts {
		o(&spec)
	}
	if spec.dataDir == "" {
		spec.dataDir = t.TempDir()
	}
	b, err := spawn(spec.flags, spec.dataDir, "")
	if err != nil {
		t.Fatalf("starting broker: %v", err)
	}
	b.watch(t)
	return b
}

// sharedBroker returns the broker shared by the tests that need no
// particular settings: the one TestMain started, or the external one.
func sharedBroker(t testing.TB) *broker {
	t.Helper()
	if externalAddr != "" {
		return &broker{addr: externalAddr, external: true}
	}
	return shared
}

// needOwnBroker skips a test that restarts or kills the broker when the
// suite runs against an external one.
func needOwnBroker(t testing.TB) {
	t.Helper()
	if externalAddr != "" {
		t.Skip("restarts the broker; MQTTLESS_E2E_ADDR is set")
	}
}

// watch stops b when the test ends, prints its log if the test failed and
// fails the test if the race detector reported a race in the broker.
func (b *broker) watch(t testing.TB) {
	t.Cleanup(func() {
		err := b.stop()
		if err != nil {
			t.Errorf("broker %s did not stop cleanly: %v", b.addr, err)
		}
		releaseStack(b)
		if b.log.races() {
			t.Errorf("broker %s reported a DATA RACE", b.addr)
		}
		if t.Failed() {
			t.Logf("=== log of broker process %d on %s %v ===\n%s\n=== end of broker log ===", b.cmd.Process.Pid, b.addr, b.flags, b.log.tail(256<<10))
		}
	})
}

// spawn starts the broker binary with flags and dataDir on addr, or on a
// free port when addr is empty, and waits until it accepts connections.
func spawn(flags []string, dataDir, addr string) (*broker, error) {
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		a := addr
		if a == "" {
			var err error
			if a, err = freeAddr(); err != nil {
				return nil, err
			}
		}
		b, err := spawnAt(flags, dataDir, a)
		if err == nil {
			return b, nil
		}
		lastErr = err
		if addr != "" && !strings.Contains(err.Error(), "address already in use") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil, lastErr
}

// harnessFlags come before every test's own flags (the last of a flag
// given twice wins): the tests open connections and publish from one
// address faster than the per-source and per-connection rate limits'
// defaults allow, and the tests of those limits set them; $SYS
// statistics, which on the serverless stack cost the session function an
// invocation at start-up and every interval, are off but in the tests of
// $SYS.
//
// MQTTLESS_E2E_DELIVERY (v1 or v2) gives every broker -delivery, before
// the test's own flags: a test that pins one delivery says so.
var harnessFlags = append([]string{"-max-conn-rate", "0", "-max-publish-rate", "0", "-sys-interval", "0"}, deliveryFlags()...)

// deliveryFlags is -delivery of MQTTLESS_E2E_DELIVERY, or none.
func deliveryFlags() []string {
	if d := os.Getenv("MQTTLESS_E2E_DELIVERY"); d != "" {
		return []string{"-delivery", d}
	}
	return nil
}

func spawnAt(flags []string, dataDir, addr string) (*broker, error) {
	flags = append(slices.Clip(harnessFlags), flags...)
	args := append([]string{"-addr", addr, "-data-dir", dataDir, "-log-level", "debug"}, flags...)
	args = append(args, storeFlags(dataDir)...)
	cmd := exec.Command(brokerBin, args...)
	if os.Getenv("GORACE") == "" {
		// The race detector sleeps a second at exit by default; a race
		// still makes the broker exit with status 66, which stop reports.
		cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0")
	}
	log := &logBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if e2eStack == "lambda" { // a proxy over the functions, stack_test.go
		if err := lambdaProxy(cmd, flags, dataDir, addr, log); err != nil {
			return nil, err
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", brokerBin, err)
	}
	b := &broker{addr: addr, dataDir: dataDir, flags: flags, cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		b.err = cmd.Wait()
		close(b.done)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-b.done:
			return nil, fmt.Errorf("broker exited before accepting connections (%v):\n%s", b.err, log.tail(8<<10))
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return b, nil
		}
		if time.Now().After(deadline) {
			b.kill9()
			return nil, fmt.Errorf("broker did not accept connections on %s within 30s:\n%s", addr, log.tail(8<<10))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// e2eStore is MQTTLESS_E2E_STORE: "dynamo" runs every spawned broker on
// DynamoDB (the endpoint of AWS_ENDPOINT_URL, which make test-e2e-dynamo
// points at moto), whatever -store its test asks for.
var e2eStore = os.Getenv("MQTTLESS_E2E_STORE")

// storeFlags returns the flags that put a broker on the store e2eStore
// names, after the test's own. A data directory gets a table of its own,
// so a broker restarted on its directory finds its sessions again.
func storeFlags(dataDir string) []string {
	if e2eStore != "dynamo" {
		return nil
	}
	h := fnv.New64a()
	h.Write([]byte(dataDir))
	tmpl, _ := filepath.Abs("../template.yaml") // the test runs in test/
	return []string{"-store", "dynamo", "-create-table", "true", "-template", tmpl,
		"-table", fmt.Sprintf("mqttless-e2e-%016x", h.Sum64())}
}

// handedOut holds every address freeAddr returned. A broker restarted on
// its address must find it free, so no later caller gets it again, even
// while the broker is down.
var handedOut sync.Map

// freeAddr returns a loopback address with a port nobody listens on and
// that it has not returned before.
func freeAddr() (string, error) {
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		addr := ln.Addr().String()
		ln.Close()
		if _, taken := handedOut.LoadOrStore(addr, true); !taken {
			return addr, nil
		}
	}
}

// stop ends the broker with SIGTERM and waits for it to exit, killing it
// after 15 s. It is a no-op for an external or already stopped broker.
func (b *broker) stop() error {
	if b.external || b.cmd == nil {
		return nil
	}
	select {
	case <-b.done:
		return b.exitErr()
	default:
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
		return b.exitErr()
	case <-time.After(15 * time.Second):
	}
	// Where it is stuck: a Go process prints its goroutines on SIGQUIT,
	// into its log; so do the functions still in an invocation.
	dumpBusyFunctions(b)
	_ = b.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-b.done:
	case <-time.After(5 * time.Second):
		b.kill9()
	}
	return errors.New("no exit within 15s of SIGTERM; its goroutines (SIGQUIT) are in its log")
}

func (b *broker) exitErr() error {
	var ee *exec.ExitError
	if errors.As(b.err, &ee) && ee.ProcessState != nil {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return nil // kill9 was asked for
		}
	}
	return b.err
}

// kill9 kills the broker with SIGKILL, as a crash would, and waits for it.
func (b *broker) kill9() {
	if b.external || b.cmd == nil {
		return
	}
	_ = b.cmd.Process.Signal(syscall.SIGKILL)
	<-b.done
}

// restart stops b with SIGTERM (unless it already exited, after kill9) and
// starts a new process with the same flags and data directory on the same
// address. The new broker is watched like one from startBroker.
func (b *broker) restart(t testing.TB) *broker {
	t.Helper()
	if err := b.stop(); err != nil {
		t.Errorf("stopping broker for the restart: %v", err)
	}
	nb, err := spawn(b.flags, b.dataDir, b.addr)
	if err != nil {
		t.Fatalf("restarting broker: %v", err)
	}
	nb.watch(t)
	return nb
}

// logBuffer collects a broker's output; it is safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// tail returns the last n bytes of the log, from a line start.
func (l *logBuffer) tail(n int) string {
	s := l.String()
	if len(s) <= n {
		return s
	}
	s = s[len(s)-n:]
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return "[... " + strconv.Itoa(n) + " bytes shown ...]\n" + s
}

func (l *logBuffer) races() bool { return strings.Contains(l.String(), "WARNING: DATA RACE") }

// ctx returns a context that ends after d or with the test.
func ctx(t testing.TB, d time.Duration) context.Context {
	c, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return c
}
