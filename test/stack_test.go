package e2e_test

// The local serverless stack for the e2e suite: with
// MQTTLESS_E2E_STACK=lambda every broker the suite spawns is a proxy with
// -invoker lambda and a pool of its own of the four handler functions, each
// instance a function binary under the AWS Lambda Runtime Interface
// Emulator (RIE), all on the DynamoDB of AWS_ENDPOINT_URL (moto under make
// test-e2e-lambda). Like MQTTLESS_E2E_STORE=dynamo, a data directory gets a
// table of its own, so a proxy restarted on its directory, or two proxies
// started on one directory, share their sessions.
//
// The RIE serves one invocation at a time (a second concurrent one makes
// it fail with AlreadyReserved, or crash), so a proxy invokes each of its
// instances at most once at a time and every proxy has a pool of its own.
// A proxy keeps its MQTT address and its delivery address across
// restart and kill9, so the sessions it owned (its id is its delivery
// URL) are recognised; it keeps its pool too once the pool is idle.
//
// Settings: MQTTLESS_E2E_RIE names the aws-lambda-rie binary (default
// ../bin/aws-lambda-rie, else it is installed into the run's temporary
// directory); MQTTLESS_E2E_FUNCTIONS a directory of prebuilt
// <name>/bootstrap binaries (default: built with the race detector, as
// the broker is); MQTTLESS_E2E_RIE_PER_FUNCTION the instances per function
// and proxy (default 2).

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
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
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mqttless/mqttless/infra/dynamo"
)

// e2eStack is MQTTLESS_E2E_STACK: "lambda" runs every spawned broker as a
// proxy over the handler functions under the RIE.
var e2eStack = os.Getenv("MQTTLESS_E2E_STACK")

// rieVersion is the RIE the Makefile's rie-deps installs.
const rieVersion = "v0.0.0-20261030222936-bef5c4ba774d"

// stackFunctions are the handler functions, as named under functions/ and
// as the groups of -lambda-functions.
var stackFunctions = []string{"connect", "publish", "subscribe", "session"}

var (
	rieBin         string // the aws-lambda-rie binary
	functionsDir   string // holds <name>/bootstrap for each function
	deliverySecret string // MQTTLESS_DELIVERY_SECRET of every process
	riePerFunction = 2
)

// needStack skips a test that needs the local serverless stack.
func needStack(t testing.TB) {
	t.Helper()
	if e2eStack != "lambda" {
		t.Skip("needs the local serverless stack: MQTTLESS_E2E_STACK=lambda (make test-e2e-lambda)")
	}
}

// setupStack prepares the stack once for the run: the RIE binary, the
// function binaries (in dir) and the delivery secret. It does nothing
// unless MQTTLESS_E2E_STACK=lambda.
func setupStack(dir string) error {
	switch e2eStack {
	case "":
		return nil
	case "lambda":
	default:
		return fmt.Errorf("MQTTLESS_E2E_STACK=%q: want lambda or nothing", e2eStack)
	}
	if os.Getenv("AWS_ENDPOINT_URL") == "" && os.Getenv("MQTTLESS_DYNAMO_TEST") == "" {
		return errors.New("MQTTLESS_E2E_STACK=lambda needs DynamoDB: set AWS_ENDPOINT_URL (make test-e2e-lambda runs moto)")
	}
	if n := os.Getenv("MQTTLESS_E2E_RIE_PER_FUNCTION"); n != "" {
		v, err := strconv.Atoi(n)
		if err != nil || v < 1 {
			return fmt.Errorf("MQTTLESS_E2E_RIE_PER_FUNCTION=%q: want a positive number", n)
		}
		riePerFunction = v
	}
	var err error
	if rieBin, err = findRIE(dir); err != nil {
		return err
	}
	if functionsDir = os.Getenv("MQTTLESS_E2E_FUNCTIONS"); functionsDir != "" {
		if functionsDir, err = filepath.Abs(functionsDir); err != nil {
			return err
		}
		for _, fn := range stackFunctions {
			if _, err := os.Stat(filepath.Join(functionsDir, fn, "bootstrap")); err != nil {
				return fmt.Errorf("MQTTLESS_E2E_FUNCTIONS: %w", err)
			}
		}
	} else if functionsDir, err = buildFunctions(filepath.Join(dir, "functions")); err != nil {
		return err
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	deliverySecret = hex.EncodeToString(secret)
	return nil
}

// findRIE returns MQTTLESS_E2E_RIE, or bin/aws-lambda-rie of the module,
// or else installs the RIE into dir.
func findRIE(dir string) (string, error) {
	if p := os.Getenv("MQTTLESS_E2E_RIE"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("MQTTLESS_E2E_RIE: %w", err)
		}
		return filepath.Abs(p)
	}
	if p, err := filepath.Abs("../bin/aws-lambda-rie"); err == nil { // the test runs in test/
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	cmd := exec.Command("go", "install", "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@"+rieVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("installing aws-lambda-rie (or run make rie-deps): %v\n%s", err, out)
	}
	return filepath.Join(dir, "aws-lambda-rie"), nil
}

// buildFunctions builds each function into dir/<name>/bootstrap, with the
// race detector unless MQTTLESS_E2E_RACE=0 or it is not available.
func buildFunctions(dir string) (string, error) {
	race := os.Getenv("MQTTLESS_E2E_RACE") != "0"
	for _, fn := range stackFunctions {
		out := filepath.Join(dir, fn, "bootstrap")
		build := func(race bool) ([]byte, error) {
			args := []string{"build", "-tags", "lambda.norpc", "-o", out}
			if race {
				args = append(args, "-race")
			}
			args = append(args, "github.com/mqttless/mqttless/functions/"+fn)
			return exec.Command("go", args...).CombinedOutput()
		}
		msg, err := build(race)
		if err != nil && race {
			fmt.Fprintf(os.Stderr, "e2e: building functions/%s with -race failed, building without it:\n%s", fn, msg)
			race = false
			msg, err = build(false)
		}
		if err != nil {
			return "", fmt.Errorf("go build ./functions/%s: %v\n%s", fn, err, msg)
		}
	}
	return dir, nil
}

// stackTable is the table of a data directory, as storeFlags names it.
func stackTable(dataDir string) string {
	h := fnv.New64a()
	h.Write([]byte(dataDir))
	return fmt.Sprintf("mqttless-e2e-%016x", h.Sum64())
}

var tables struct {
	sync.Mutex
	made map[string]bool
}

// ensureTable creates table from template.yaml unless this run made it.
func ensureTable(table string) error {
	tables.Lock()
	defer tables.Unlock()
	if tables.made[table] {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := dynamo.NewClient(ctx)
	if err != nil {
		return err
	}
	// The test runs in test/.
	if _, _, err := dynamo.CreateTableFromTemplate(ctx, db, "../template.yaml", table); err != nil {
		return fmt.Errorf("creating table %s: %w", table, err)
	}
	if tables.made == nil {
		tables.made = map[string]bool{}
	}
	tables.made[table] = true
	return nil
}

// stackSite is what an MQTT address keeps across restarts of its proxy:
// the delivery address (the proxy's id) and the function pools, the last
// one current.
type stackSite struct {
	deliveryAddr string
	pools        []*fnPool
}

var sites struct {
	sync.Mutex
	byAddr map[string]*stackSite
}

// storeOnly are the flags of the all-in-one broker's store: the proxy has
// no store on the stack, and the functions take their table from
// MQTTLESS_TABLE.
var storeOnly = map[string]bool{"store": true, "data-dir": true, "table": true, "create-table": true, "template": true}

// flagPairs splits test flags ("-max-queued", "5" or "-max-queued=5")
// into names and values.
func flagPairs(flags []string) (names, values []string) {
	for i := 0; i < len(flags); i++ {
		name := strings.TrimLeft(flags[i], "-")
		value := ""
		if n, v, ok := strings.Cut(name, "="); ok {
			name, value = n, v
		} else if i+1 < len(flags) {
			i++
			value = flags[i]
		}
		names, values = append(names, name), append(values, value)
	}
	return names, values
}

// envName is the environment variable of a flag, MQTTLESS_MAX_QUEUED for
// max-queued.
func envName(flag string) string {
	return "MQTTLESS_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// lambdaProxy turns cmd, the broker command spawnAt built, into a proxy
// with -invoker lambda on addr over a pool of functions (started, or
// reused from the proxy's previous process on addr) configured with flags,
// on the table of dataDir. The functions' output goes to log, the proxy's.
func lambdaProxy(cmd *exec.Cmd, flags []string, dataDir, addr string, log *logBuffer) error {
	table := stackTable(dataDir)
	if err := ensureTable(table); err != nil {
		return err
	}
	names, values := flagPairs(flags)
	fnEnv := []string{
		"MQTTLESS_TABLE=" + table,
		"MQTTLESS_DELIVERY_SECRET=" + deliverySecret,
		"MQTTLESS_LOG_LEVEL=debug",
	}
	proxyArgs := []string{"-addr", addr, "-log-level", "debug"}
	var extraTargets []string
	for i, name := range names {
		if storeOnly[name] {
			continue
		}
		if h, ok := strings.CutPrefix(name, "e2e-"); ok { // faults_harness_test.go
			if err := harnessFlag(h, values[i], &fnEnv, &extraTargets); err != nil {
				return err
			}
			continue
		}
		fnEnv = append(fnEnv, envName(name)+"="+values[i])
		proxyArgs = append(proxyArgs, "-"+name, values[i])
	}

	sites.Lock()
	if sites.byAddr == nil {
		sites.byAddr = map[string]*stackSite{}
	}
	site := sites.byAddr[addr]
	if site == nil {
		da, err := freeAddr()
		if err != nil {
			sites.Unlock()
			return err
		}
		site = &stackSite{deliveryAddr: da}
		sites.byAddr[addr] = site
	}
	var pool *fnPool
	if n := len(site.pools); n > 0 {
		pool = site.pools[n-1]
	}
	sites.Unlock()
	if pool != nil && !pool.reusable(fnEnv) {
		pool = nil // it is stopped with the others of addr
	}
	if pool == nil {
		var err error
		if pool, err = startPool(fnEnv); err != nil {
			return err
		}
		sites.Lock()
		site.pools = append(site.pools, pool)
		sites.Unlock()
	}
	pool.sink.Store(log)

	proxyArgs = append(proxyArgs,
		"-invoker", "lambda",
		"-lambda-functions", strings.Join(append([]string{pool.spec()}, extraTargets...), ","),
		"-delivery-addr", site.deliveryAddr)
	cmd.Args = append([]string{cmd.Path}, proxyArgs...)
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(env, "MQTTLESS_DELIVERY_SECRET="+deliverySecret)
	return nil
}

// releaseStack stops the function pools of b's address, and forgets the
// address, once b's proxy has stopped. It is a no-op off the stack.
func releaseStack(b *broker) {
	if e2eStack != "lambda" || b.external {
		return
	}
	sites.Lock()
	site := sites.byAddr[b.addr]
	delete(sites.byAddr, b.addr)
	sites.Unlock()
	if site == nil {
		return
	}
	for _, p := range site.pools {
		p.stop()
	}
}

// allPools are the pools this run started, for stopStack.
var allPools struct {
	sync.Mutex
	list []*fnPool
}

// stopStack stops every pool still running, at the end of the run.
func stopStack() {
	allPools.Lock()
	defer allPools.Unlock()
	for _, p := range allPools.list {
		p.stop()
	}
	allPools.list = nil
}

// fnPool is a proxy's instances of the functions.
type fnPool struct {
	env       []string // the functions' settings
	instances []*rieInstance
	sink      atomic.Pointer[logBuffer] // where the instances' output goes
}

// rieInstance is one RIE process serving one function.
type rieInstance struct {
	fn       string
	endpoint string // http://host:port
	cmd      *exec.Cmd
	done     chan struct{}
	out      *lineWriter
	gate     *rieGate // in front of it, with -e2e-rie-gate (riegate_test.go)
}

// startPool starts riePerFunction instances of each function with env
// added to the suite's environment, and waits until each accepts
// connections. Ports taken meanwhile by someone else are retried.
func startPool(env []string) (*fnPool, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		p, err := tryStartPool(env)
		if err == nil {
			return p, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func tryStartPool(env []string) (*fnPool, error) {
	p := &fnPool{env: env}
	allPools.Lock()
	allPools.list = append(allPools.list, p)
	allPools.Unlock()
	base := os.Environ()
	var clean []string
	for _, kv := range base {
		// The RIE switches to its multi-concurrency mode when this is set,
		// and that mode ignores the bootstrap given on its command line.
		if !strings.HasPrefix(kv, "AWS_LAMBDA_MAX_CONCURRENCY=") {
			clean = append(clean, kv)
		}
	}
	if os.Getenv("GORACE") == "" {
		clean = append(clean, "GORACE=atexit_sleep_ms=0")
	}
	// Each route of -lambda-functions gets riePerFunction instances of its
	// function, and the lease route one more instance of the session
	// function, as local-stack.sh and the template have it: a renewal
	// never waits behind the session instances' other work (drains, lost
	// events, sweeps), so a loaded proxy keeps its lease.
	type launch struct{ route, code string }
	var launches []launch
	for _, fn := range stackFunctions {
		for i := 0; i < riePerFunction; i++ {
			launches = append(launches, launch{fn, fn})
		}
	}
	launches = append(launches, launch{"lease", "session"})
	for i, l := range launches {
		fn := l.route
		invokeAddr, err := freeAddr()
		if err != nil {
			p.stop()
			return nil, err
		}
		runtimeAddr, err := freeAddr()
		if err != nil {
			p.stop()
			return nil, err
		}
		bootstrap := filepath.Join(functionsDir, l.code, "bootstrap")
		cmd := exec.Command(rieBin,
			"--runtime-interface-emulator-address", invokeAddr,
			"--runtime-api-address", runtimeAddr,
			bootstrap)
		cmd.Dir = filepath.Dir(bootstrap)
		// env comes last: its AWS_LAMBDA_FUNCTION_TIMEOUT (a harness
		// flag) wins over the default.
		cmd.Env = append(append(append([]string{}, clean...),
			"AWS_LAMBDA_FUNCTION_NAME=mqttless-"+fn,
			"AWS_LAMBDA_FUNCTION_TIMEOUT=60",
			// The emulator queues no asynchronous invocations: delivery
			// v2's fan-out chunks run in the function's process.
			"MQTTLESS_FANOUT_RUNNER=process",
			"LOG_LEVEL=warn"), env...)
		in := &rieInstance{fn: fn, endpoint: "http://" + invokeAddr, cmd: cmd, done: make(chan struct{})}
		in.out = &lineWriter{prefix: fmt.Sprintf("[%s/%d] ", fn, i%riePerFunction), pool: p}
		cmd.Stdout, cmd.Stderr = in.out, in.out
		if err := cmd.Start(); err != nil {
			p.stop()
			return nil, fmt.Errorf("start %s: %w", rieBin, err)
		}
		go func() {
			_ = cmd.Wait()
			close(in.done)
		}()
		p.instances = append(p.instances, in)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, in := range p.instances {
		addr := strings.TrimPrefix(in.endpoint, "http://")
		for {
			if in.exited() {
				p.stop()
				return nil, fmt.Errorf("aws-lambda-rie for %s exited before listening on %s:\n%s", in.fn, addr, in.out.tail())
			}
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				p.stop()
				return nil, fmt.Errorf("aws-lambda-rie for %s did not listen on %s within 30s", in.fn, addr)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if slices.Contains(env, rieGateEnv) {
		for _, in := range p.instances {
			g, err := startGate(in)
			if err != nil {
				p.stop()
				return nil, err
			}
			in.gate = g
		}
	}
	return p, nil
}

// spec is the pool as a -lambda-functions value. The RIE serves its
// function under the name "function".
func (p *fnPool) spec() string {
	var entries []string
	for _, in := range p.instances {
		ep := in.endpoint
		if in.gate != nil {
			ep = in.gate.URL
		}
		entries = append(entries, in.fn+"=function@"+ep)
	}
	return strings.Join(entries, ",")
}

// reusable reports whether a restarted proxy with settings env can take
// over p: every instance still runs and none is in an invocation (one the
// previous proxy started before it was killed), after waiting a while for
// them to finish.
func (p *fnPool) reusable(env []string) bool {
	if strings.Join(env, "\n") != strings.Join(p.env, "\n") {
		return false
	}
	deadline := time.Now().Add(10 * time.Second)
	time.Sleep(100 * time.Millisecond) // an invocation sent just before a kill -9 may start late
	for {
		busy := false
		for _, in := range p.instances {
			if in.exited() {
				return false
			}
			busy = busy || in.out.inflight() > 0
		}
		if !busy {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends the instances with SIGTERM (the RIE then kills its function)
// and waits for them, killing them after 5 s.
func (p *fnPool) stop() {
	for _, in := range p.instances {
		if !in.exited() {
			_ = in.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	for _, in := range p.instances {
		if in.gate != nil {
			in.gate.close()
		}
		select {
		case <-in.done:
		case <-time.After(5 * time.Second):
			_ = in.cmd.Process.Kill()
			<-in.done
		}
	}
}

// dumpBusyFunctions makes the function processes of b's current pool
// that are in an invocation print their goroutines (SIGQUIT) into b's
// log, when b did not stop in time: what an invocation that never ends
// waits for.
func dumpBusyFunctions(b *broker) {
	if e2eStack != "lambda" || b.external {
		return
	}
	sites.Lock()
	site := sites.byAddr[b.addr]
	sites.Unlock()
	if site == nil || len(site.pools) == 0 {
		return
	}
	dumped := false
	for _, in := range site.pools[len(site.pools)-1].instances {
		if in.exited() || in.out.inflight() == 0 {
			continue
		}
		// The RIE's child is the function's bootstrap.
		pid := in.cmd.Process.Pid
		children, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(children)) {
			if child, err := strconv.Atoi(f); err == nil {
				_ = syscall.Kill(child, syscall.SIGQUIT)
				dumped = true
			}
		}
	}
	if dumped {
		time.Sleep(time.Second) // for the dumps to reach the log
	}
}

func (in *rieInstance) exited() bool {
	select {
	case <-in.done:
		return true
	default:
		return false
	}
}

// lineWriter passes an RIE's output, line by line with a prefix, to its
// pool's current log, leaving out the START, END and REPORT lines the RIE
// prints for every invocation; it counts them instead, to know whether an
// invocation is running.
type lineWriter struct {
	prefix string
	pool   *fnPool

	mu      sync.Mutex
	partial []byte
	starts  int
	ends    int
	last    bytes.Buffer // the latest output, for start-up failures
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, b...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		line := w.partial[:i+1]
		switch {
		case bytes.HasPrefix(line, []byte("START RequestId:")):
			w.starts++
		case bytes.HasPrefix(line, []byte("END RequestId:")):
			w.ends++
		case bytes.HasPrefix(line, []byte("REPORT RequestId:")):
		default:
			out := append([]byte(w.prefix), line...)
			if w.last.Len() > 8<<10 {
				w.last.Reset()
			}
			w.last.Write(out)
			if log := w.pool.sink.Load(); log != nil {
				_, _ = log.Write(out)
			}
		}
		w.partial = w.partial[i+1:]
	}
	return len(b), nil
}

func (w *lineWriter) inflight() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.starts - w.ends
}

func (w *lineWriter) tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last.String() + string(w.partial)
}
