package e2e_test

// The fault-injection harness of issue 15, on the local serverless stack
// (stack_test.go): proxies whose functions reach DynamoDB through a fault
// proxy (faultproxy_test.go), proxies killed for good, function endpoints
// that hang, recording clients (recorder_test.go) and the checker
// (checker_test.go). The scenarios are in faults_test.go; make test-faults
// runs them.
//
// Harness flags, given to startBroker with withFlags on the stack only
// (stack_test.go's lambdaProxy takes them off the proxy's command line):
//
//	-e2e-dynamo-endpoint URL   the functions' AWS_ENDPOINT_URL (a fault proxy)
//	-e2e-function-timeout S    the functions' timeout in the emulator, seconds [60]
//	-e2e-function G=N@URL      one more -lambda-functions target, such as a
//	                           hanging endpoint (hangingLambda)
//	-e2e-rie-gate true         a gate in front of each emulator instance
//	                           (riegate_test.go); every fault stack sets it

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mqttless/mqttless/infra/dynamo"
)

// harnessFlag applies the harness flag -e2e-<name> value to a proxy's
// functions' settings fnEnv, or its extra -lambda-functions targets.
func harnessFlag(name, value string, fnEnv, targets *[]string) error {
	switch name {
	case "dynamo-endpoint":
		*fnEnv = append(*fnEnv, "AWS_ENDPOINT_URL="+value)
	case "function-timeout":
		*fnEnv = append(*fnEnv, "AWS_LAMBDA_FUNCTION_TIMEOUT="+value)
	case "function":
		*targets = append(*targets, value)
	case "fanout-fail-once": // infra/lambdafn/chunks.go
		*fnEnv = append(*fnEnv, "MQTTLESS_FANOUT_FAIL_ONCE="+value)
	case "rie-gate":
		if value == "true" {
			*fnEnv = append(*fnEnv, rieGateEnv)
		}
	default:
		return fmt.Errorf("unknown harness flag -e2e-%s", name)
	}
	return nil
}

// leasePeriod is the proxy lease period of the scenarios' proxies
// (-lease-period; issue 15: wills of a dead proxy's sessions go out within
// two lease periods), the default's 10 s. MQTTLESS_FAULTS_LEASE sets
// another, such as 5s for a shorter run, or 20s on a machine so loaded
// that the emulated functions cannot answer a renewal within 8 s.
func leasePeriod(t testing.TB) time.Duration {
	if v := os.Getenv("MQTTLESS_FAULTS_LEASE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("MQTTLESS_FAULTS_LEASE=%q: want a positive duration", v)
		}
		return d
	}
	return 10 * time.Second
}

// faultStack is a scenario's stack: proxies on one table whose functions
// reach DynamoDB through one fault proxy, and the history its clients
// record.
type faultStack struct {
	t       *testing.T
	h       *history
	fp      *faultProxy
	dir     string   // the data directory, which names the table
	flags   []string // of every proxy
	mu      sync.Mutex
	proxies map[string]*broker // by name
}

// newFaultStack starts a fault proxy on the stack's DynamoDB and the
// proxies named (none started yet when names is empty), each with flags.
func newFaultStack(t *testing.T, flags []string, names ...string) *faultStack {
	t.Helper()
	needStack(t)
	needOwnBroker(t)
	upstream := os.Getenv("AWS_ENDPOINT_URL")
	if upstream == "" {
		t.Skip("the fault proxy needs AWS_ENDPOINT_URL (moto)")
	}
	fp, err := newFaultProxy(upstream)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fp.close)
	s := &faultStack{t: t, h: newHistory(), fp: fp, dir: t.TempDir(), proxies: map[string]*broker{},
		flags: append([]string{"-tick", "500ms", "-lease-period", leasePeriod(t).String(),
			"-e2e-dynamo-endpoint", fp.URL, "-e2e-rie-gate", "true"}, flags...)}
	for _, n := range names {
		s.start(n)
	}
	return s
}

// start starts a new proxy (a new address, so a new id) named name.
func (s *faultStack) start(name string, extra ...string) *broker {
	s.t.Helper()
	b := startBroker(s.t, withDataDir(s.dir), withFlags(append(append([]string{}, s.flags...), extra...)...))
	s.mu.Lock()
	s.proxies[name] = b
	s.mu.Unlock()
	s.t.Logf("proxy %s: %s, id %s", name, b.addr, proxyID(b))
	return b
}

func (s *faultStack) proxy(name string) *broker {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proxies[name]
}

// table is the stack's table.
func (s *faultStack) table() string { return stackTable(s.dir) }

// proxyID is the id of a proxy of the stack: its delivery URL.
func proxyID(b *broker) string {
	sites.Lock()
	defer sites.Unlock()
	if site := sites.byAddr[b.addr]; site != nil {
		return "http://" + site.deliveryAddr
	}
	return ""
}

// abandon kills the proxy with SIGKILL, as a task that dies, and never
// restarts it: its id is gone for good. With blackhole, its delivery
// address then accepts connections and never answers, as the address of a
// dead task does in a VPC (on loopback a dead port refuses at once, which
// would hide every wait on it), until the test ends.
func (b *broker) abandon(t testing.TB, blackhole bool) {
	t.Helper()
	id := proxyID(b)
	b.kill9()
	if !blackhole {
		return
	}
	ln, err := net.Listen("tcp", strings.TrimPrefix(id, "http://"))
	if err != nil {
		t.Fatalf("blackholing the delivery address of the dead proxy: %v", err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
}

// hangingLambda serves the Lambda Invoke API and never answers: each
// invocation hangs until its caller gives up. It returns its endpoint and
// the count of invocations it received. Give it to a proxy as
// -e2e-function <group>=function@<endpoint>.
func hangingLambda(t testing.TB) (string, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { close(stop); srv.Close() })
	return "http://" + ln.Addr().String(), &n
}

// sessionOwners reads the table's online sessions: client id -> the proxy
// that owns it (the owner attribute, P#<proxy>, which only an online
// session item has; infra/dynamo/doc.go). The read goes to DynamoDB
// directly, not through the fault proxy.
func sessionOwners(ctx context.Context, table string) (map[string]string, error) {
	db, err := dynamo.NewClient(ctx)
	if err != nil {
		return nil, err
	}
	owners := map[string]string{}
	in := &dynamodb.ScanInput{
		TableName:                 aws.String(table),
		ConsistentRead:            aws.Bool(true),
		FilterExpression:          aws.String("sk = :s AND attribute_exists(#o)"),
		ExpressionAttributeNames:  map[string]string{"#o": "owner"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":s": &types.AttributeValueMemberS{Value: "#"}},
	}
	for {
		out, err := db.Scan(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("scanning %s for online sessions: %w", table, err)
		}
		for _, it := range out.Items {
			pk, _ := it["pk"].(*types.AttributeValueMemberS)
			o, _ := it["owner"].(*types.AttributeValueMemberS)
			if pk != nil && o != nil && strings.HasPrefix(pk.Value, "S#") {
				owners[strings.TrimPrefix(pk.Value, "S#")] = strings.TrimPrefix(o.Value, "P#")
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return owners, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// deadOwners lists the sessions of owners owned by a proxy not in live,
// sorted, as "client on proxy".
func deadOwners(owners map[string]string, live map[string]bool) []string {
	var dead []string
	for c, p := range owners {
		if !live[p] {
			dead = append(dead, c+" on "+p)
		}
	}
	sort.Strings(dead)
	return dead
}

// checkOwners adds to r the check that no session is online with an owner
// outside live (proxy ids).
func checkOwners(t *testing.T, r *checkResult, table string, live ...string) {
	t.Helper()
	owners, err := sessionOwners(context.Background(), table)
	if err != nil {
		t.Fatal(err)
	}
	l := map[string]bool{}
	for _, id := range live {
		l[id] = true
	}
	for _, d := range deadOwners(owners, l) {
		r.violate(chkOwners, "session %s, a dead proxy", d)
	}
	for c, p := range owners {
		if l[p] {
			r.count(chkOwners, true)
			_ = c
		}
	}
	if len(owners) == 0 {
		r.count(chkOwners, true) // nothing online, nothing stale
	}
}

// chkOwners is the check of checkOwners.
const chkOwners = "no session online with a dead owner"

// lateCheck gives late messages time: when r (checked once the history
// was quiet for a few seconds) found acknowledged messages not delivered,
// it waits for the history to be quiet for 10 s (at most 90 s) and checks
// again, and that check is the verdict. On a loaded machine the handlers
// answer seconds late, and a subscriber's backlog can pause for longer
// than the first quiet period while it is still being dispatched: a
// message that arrives meanwhile was late, not lost. The first check's
// findings stay in the notes.
func lateCheck(h *history, r *checkResult, c Checks) *checkResult {
	if r.OK() {
		return r
	}
	start := time.Now()
	h.settle(10*time.Second, 90*time.Second)
	again := check(h.events(), time.Now(), c)
	notes := []string{fmt.Sprintf("the first check found %d violations (%s); checked again %v later",
		len(r.Violations), r.Summary(), time.Since(start).Round(time.Second))}
	for _, n := range r.Notes {
		notes = append(notes, "at first: "+n)
	}
	again.Notes = append(notes, again.Notes...)
	return again
}

// report prints the scenario's row of the table and fails the test on
// every violation.
func report(t *testing.T, scenario string, r *checkResult, notes ...string) {
	t.Helper()
	result := "pass"
	if !r.OK() {
		result = fmt.Sprintf("FAIL (%d violations)", len(r.Violations))
	}
	checked := r.Summary()
	if len(notes) > 0 {
		checked += "; " + strings.Join(notes, "; ")
	}
	t.Logf("FAULT | %s | %s | %s |", scenario, checked, result)
	for _, n := range r.Notes {
		t.Logf("lost: %s", n)
	}
	for i, v := range r.Violations {
		if i == 20 {
			t.Errorf("... and %d more violations", len(r.Violations)-20)
			break
		}
		t.Errorf("violation: %s", v)
	}
}

// keeper keeps a recording client connected: when its connection ends it
// reconnects, through the proxy next picks (the same one, or another when
// it died), and runs setup on each new connection. Its errors are logged.
type keeper struct {
	s     *faultStack
	o     fconn
	next  func() (addr, proxy string) // where to reconnect; nil: o's
	setup func(c *fclient, present bool) error

	mu      sync.Mutex
	c       *fclient
	stopped bool
	done    chan struct{}
	moves   int // reconnects
}

// keep connects o and keeps it connected until stop.
func (s *faultStack) keep(o fconn, next func() (string, string), setup func(*fclient, bool) error) *keeper {
	s.t.Helper()
	k := &keeper{s: s, o: o, next: next, setup: setup, done: make(chan struct{})}
	if err := k.connect(); err != nil {
		s.t.Fatal(err)
	}
	go k.run()
	s.t.Cleanup(k.stop)
	return k
}

func (k *keeper) connect() error {
	c, present, err := dialF(k.s.h, k.o)
	if err != nil {
		return err
	}
	if k.setup != nil {
		if err := k.setup(c, present); err != nil {
			c.drop()
			return err
		}
	}
	k.mu.Lock()
	k.c = c
	k.mu.Unlock()
	return nil
}

func (k *keeper) run() {
	defer close(k.done)
	for {
		c := k.client()
		<-c.done
		k.mu.Lock()
		stopped := k.stopped
		k.mu.Unlock()
		if stopped {
			return
		}
		k.s.t.Logf("%s: connection to %s ended (%v); reconnecting", k.o.id, k.o.proxy, c.why())
		for attempt := 0; ; attempt++ {
			k.mu.Lock()
			if k.next != nil {
				k.o.addr, k.o.proxy = k.next()
			}
			stopped := k.stopped
			k.mu.Unlock()
			if stopped {
				return
			}
			err := k.connect()
			if err == nil {
				k.mu.Lock()
				k.moves++
				k.mu.Unlock()
				break
			}
			k.s.t.Logf("%s: reconnecting through %s: %v", k.o.id, k.o.proxy, err)
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// moveCount returns how many times k reconnected.
func (k *keeper) moveCount() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.moves
}

// client returns the current connection.
func (k *keeper) client() *fclient {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.c
}

// stop disconnects and stops reconnecting.
func (k *keeper) stop() {
	k.mu.Lock()
	if k.stopped {
		k.mu.Unlock()
		return
	}
	k.stopped = true
	c := k.c
	k.mu.Unlock()
	c.disconnect()
	select {
	case <-k.done:
	case <-time.After(10 * time.Second):
	}
}

// publishLoop publishes from k every every, cycling through qoss, until
// stop is closed; message ids are prefix-<n>. It returns when stopped.
func publishLoop(k *keeper, prefix, topic string, qoss []byte, every time.Duration, stop <-chan struct{}) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-time.After(every):
		}
		c := k.client()
		if c.closed() {
			continue
		}
		_ = c.publish(fmt.Sprintf("%s-%d", prefix, i), topic, qoss[i%len(qoss)])
	}
}

// settle waits until the history has had no new event for quiet, or max
// passed.
func (h *history) settle(quiet, max time.Duration) {
	deadline := time.Now().Add(max)
	last := -1
	lastChange := time.Now()
	for time.Now().Before(deadline) {
		h.mu.Lock()
		n := len(h.evs)
		h.mu.Unlock()
		if n != last {
			last, lastChange = n, time.Now()
		} else if time.Since(lastChange) >= quiet {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// connectMany makes n connections through the proxy named via, 32 at a
// time, with connect(i) for the i-th, and fails the test on the first
// error.
func connectMany(t *testing.T, n int, via string, connect func(i int) (net.Conn, error)) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	errs := make(chan error, n)
	for i := range conns {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			nc, err := connect(i)
			conns[i] = nc
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("connecting the clients through %s: %v", via, err)
		}
	}
	return conns
}
