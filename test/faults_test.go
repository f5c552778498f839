package e2e_test

// The scenarios of the fault-injection harness (issue 15, "How it is
// tested"), each printing one row "FAULT | scenario | what was checked |
// result |". They run on the local serverless stack: make test-faults.

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// subscriberSetup subscribes a new connection to filter at qos unless the
// session was resumed (its subscription held).
func subscriberSetup(filter string, qos byte) func(*fclient, bool) error {
	return func(c *fclient, present bool) error {
		if present {
			return nil
		}
		return c.subscribe(filter, qos)
	}
}

// other returns where a client of a dead proxy reconnects: the live proxy
// named.
func (s *faultStack) other(name string) func() (string, string) {
	return func() (string, string) { return s.proxy(name).addr, name }
}

// TestFaultDynamoThrottle: QoS 0, 1 and 2 published through two proxies
// to persistent subscribers on both while DynamoDB throttles
// (ThrottlingException, ProvisionedThroughputExceededException), fails
// with 500 and slows down, each for a window, with clean phases before
// and after. The faults count as on until the backlog they caused is
// worked off (every publisher's QoS 1/2 acknowledged, the SDK's back-offs
// and the invocations queued behind them done); then the last clean phase
// runs. Every acknowledged QoS 1/2 message is delivered, without forbidden
// repeats; QoS 0 is delivered in the clean phases.
func TestFaultDynamoThrottle(t *testing.T) {
	const scenario = "DynamoDB throttling, 500s and latency windows, QoS 0/1/2 pub/sub on 2 proxies"
	s := newFaultStack(t, nil, "A", "B")
	a, b := s.proxy("A"), s.proxy("B")
	root := topicRoot("f-throttle")
	subA := s.keep(fconn{addr: a.addr, proxy: "A", id: uniq("f-thr-sa")}, nil, subscriberSetup(root+"/#", 2))
	subB := s.keep(fconn{addr: b.addr, proxy: "B", id: uniq("f-thr-sb")}, nil, subscriberSetup(root+"/#", 1))
	pubs := []*keeper{
		s.keep(fconn{addr: a.addr, proxy: "A", id: uniq("f-thr-pa"), clean: true}, nil, nil),
		s.keep(fconn{addr: b.addr, proxy: "B", id: uniq("f-thr-pb"), clean: true}, nil, nil),
	}
	phase := func(name string, d time.Duration, rules ...faultRule) {
		if len(rules) > 0 {
			s.h.faultOn(name)
			for _, r := range rules {
				s.fp.window(r, d)
			}
		}
		runPublishers(pubs, root+"-"+strings.ReplaceAll(name, " ", "-"), root, []byte{0, 1, 2}, 100*time.Millisecond, d)
		if len(rules) > 0 {
			s.fp.clear()
			s.h.faultOn("aftermath")
			s.h.faultOff(name)
		}
	}
	phase("clean", 3*time.Second)
	phase("throttle", 4*time.Second, faultRule{Kind: faultThrottle, Share: 0.3}, faultRule{Kind: faultProvisioned, Share: 0.2})
	phase("500", 3*time.Second, faultRule{Kind: faultServerError, Share: 0.2})
	phase("latency", 3*time.Second, faultRule{Kind: faultLatency, Share: 0.5, Delay: 150 * time.Millisecond})
	begin := time.Now()
	for _, p := range pubs {
		p.client().waitAcked(60 * time.Second)
	}
	s.h.settle(time.Second, 30*time.Second)
	s.h.faultOff("aftermath")
	aftermath := time.Since(begin)
	phase("clean again", 4*time.Second)
	for _, p := range pubs {
		p.client().waitAcked(30 * time.Second)
	}
	s.h.settle(3*time.Second, 60*time.Second)
	r := check(s.h.events(), time.Now(), Checks{QoS0: true, Settle: 2 * time.Second})
	moves := subA.moveCount() + subB.moveCount() + pubs[0].moveCount() + pubs[1].moveCount()
	report(t, scenario, r, "DynamoDB: "+s.fp.stats().String(),
		fmt.Sprintf("backlog worked off in %v", aftermath.Round(100*time.Millisecond)), fmt.Sprintf("reconnects %d", moves))
}

// runPublishers publishes from each of pubs (on topic/p<i>, message ids
// prefix-p<i>-<n>) every every for d, cycling through qoss.
func runPublishers(pubs []*keeper, prefix, topic string, qoss []byte, every, d time.Duration) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, p := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			publishLoop(p, fmt.Sprintf("%s-p%d", prefix, i), fmt.Sprintf("%s/p%d", topic, i), qoss, every, stop)
		}()
	}
	time.Sleep(d)
	close(stop)
	wg.Wait()
}

// TestFaultKill9Reconnect: proxy A is killed with SIGKILL for good; its
// clients (a persistent subscriber and a publisher) reconnect through B.
// Publishers on A and B send QoS 1 and 2 to persistent subscribers on both
// before the kill and once A's clients are back, not in between, and A is
// killed once every message has arrived (see
// TestFaultKill9WhilePublishing for a kill with deliveries in transit). Every acknowledged QoS 1/2
// message reaches every subscriber, QoS 1 repeats only with DUP, QoS 2
// never twice.
func TestFaultKill9Reconnect(t *testing.T) {
	kill9Scenario(t, "kill -9 of a proxy for good, its clients reconnect through the other, QoS 1/2 (publishing paused around the kill)", false)
}

// TestFaultKill9WhilePublishing is TestFaultKill9Reconnect with the
// publishers sending throughout. A few acknowledged messages published in
// the second around the kill used to be now and then never delivered to
// the subscriber that moved: the delivery to its dead connection failed,
// the messages stayed in flight for it, and the session had already
// resumed on B (issue 15, What goes wrong today 3). A delivery refused at
// the dead address goes to session.Handler.Unreached: to the session's
// current connection, or back in its queue. The handler calls A had
// started go on after A dies (the functions do not know); their writes
// are fenced on A's connection (session.Store, ErrFenced): a Dispatch for
// it after the subscriber resumed on B put messages in flight that only
// the dead connection would have been sent (lost: 4 of 266 in one run),
// and a QoS 2 PUBLISH of A's publisher left receive state in the session
// its client had started afresh on B, so that the new connection's
// message under the same packet identifier was taken for a resend (lost,
// and the old one routed twice).
func TestFaultKill9WhilePublishing(t *testing.T) {
	const scenario = "kill -9 of a proxy for good while publishing, its clients reconnect through the other, QoS 1/2"
	kill9Scenario(t, scenario, true)
}

func kill9Scenario(t *testing.T, scenario string, throughout bool) {
	s := newFaultStack(t, nil, "A", "B")
	a, b := s.proxy("A"), s.proxy("B")
	root := topicRoot("f-k9")
	subA := s.keep(fconn{addr: a.addr, proxy: "A", id: uniq("f-k9-sa")}, s.other("B"), subscriberSetup(root+"/#", 2))
	subB := s.keep(fconn{addr: b.addr, proxy: "B", id: uniq("f-k9-sb")}, nil, subscriberSetup(root+"/#", 1))
	pubA := s.keep(fconn{addr: a.addr, proxy: "A", id: uniq("f-k9-pa"), clean: true}, s.other("B"), nil)
	pubB := s.keep(fconn{addr: b.addr, proxy: "B", id: uniq("f-k9-pb"), clean: true}, nil, nil)
	pubs := []*keeper{pubA, pubB}
	kill := func() {
		s.h.proxyDied("A")
		a.abandon(t, false)
	}
	if throughout {
		go func() {
			time.Sleep(3 * time.Second)
			kill()
		}()
		runPublishers(pubs, root+"-m", root, []byte{1, 2}, 100*time.Millisecond, 8*time.Second)
	} else {
		runPublishers(pubs, root+"-before", root, []byte{1, 2}, 100*time.Millisecond, 3*time.Second)
		for _, p := range pubs {
			p.client().waitAcked(30 * time.Second)
		}
		s.h.settle(time.Second, 30*time.Second) // nothing in transit at the kill
		kill()
		deadline := time.Now().Add(60 * time.Second)
		for (subA.moveCount() == 0 || pubA.moveCount() == 0) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		runPublishers(pubs, root+"-after", root, []byte{1, 2}, 100*time.Millisecond, 5*time.Second)
	}
	for _, p := range pubs {
		p.client().waitAcked(30 * time.Second)
	}
	s.h.settle(3*time.Second, 60*time.Second)
	r := check(s.h.events(), time.Now(), Checks{})
	report(t, scenario, r, fmt.Sprintf("A's subscriber reconnected %d times, publisher %d", subA.moveCount(), pubA.moveCount()),
		fmt.Sprintf("reconnects on B %d", subB.moveCount()+pubB.moveCount()))
}

// TestFaultQoS0AfterMove is item 1 of issue 15's "What goes wrong today":
// client X subscribes at QoS 0 on proxy A, where the publisher is, and gets
// its messages; X reconnects through B (with a persistent session, and in
// a second round with a clean one, subscribing again) and the publisher,
// still on A, sends more QoS 0. Every message sent while X is connected
// and subscribed reaches it.
func TestFaultQoS0AfterMove(t *testing.T) {
	const scenario = "QoS 0 to a subscriber that moved from the publisher's proxy to the other"
	s := newFaultStack(t, nil, "A", "B")
	a, b := s.proxy("A"), s.proxy("B")
	for _, clean := range []bool{false, true} {
		root := topicRoot("f-move")
		pub, _, err := dialF(s.h, fconn{addr: a.addr, proxy: "A", id: uniq("f-move-pub"), clean: true})
		if err != nil {
			t.Fatal(err)
		}
		xid := uniq("f-move-x")
		x, _, err := dialF(s.h, fconn{addr: a.addr, proxy: "A", id: xid, clean: clean})
		if err != nil {
			t.Fatal(err)
		}
		if err := x.subscribe(root, 0); err != nil {
			t.Fatal(err)
		}
		send := func(round string) {
			for i := range 6 {
				if err := pub.publish(fmt.Sprintf("%s-%s-%d", root, round, i), root, 0); err != nil {
					t.Fatal(err)
				}
				time.Sleep(100 * time.Millisecond)
			}
			time.Sleep(3 * time.Second)
		}
		send("before")
		x.disconnect()
		x, _, err = dialF(s.h, fconn{addr: b.addr, proxy: "B", id: xid, clean: clean})
		if err != nil {
			t.Fatal(err)
		}
		if err := x.subscribe(root, 0); err != nil {
			t.Fatal(err)
		}
		send("after")
		x.disconnect()
		pub.disconnect()
	}
	r := check(s.h.events(), time.Now(), Checks{QoS0: true, Settle: 2 * time.Second})
	report(t, scenario, r)
}

// TestFaultDeadProxy is item 2 of issue 15's "What goes wrong today":
// proxy A dies (SIGKILL, never restarted; its delivery address then
// answers nothing, as a dead task's IP) while it holds persistent sessions
// with wills, subscribed at QoS 1. Within two lease periods the wills are
// published (to a watcher on B) and no session is online with A as its
// owner; a QoS 1 PUBLISH on B to the topic of A's sessions is acknowledged
// within a second throughout.
func TestFaultDeadProxy(t *testing.T) {
	const scenario = "a proxy dies for good holding sessions with wills"
	lease := leasePeriod(t)
	s := newFaultStack(t, nil, "A", "B")
	a, b := s.proxy("A"), s.proxy("B")
	root := topicRoot("f-dead")
	w, _, err := dialF(s.h, fconn{addr: b.addr, proxy: "B", id: uniq("f-dead-w"), clean: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.subscribe(root+"/will/#", 1); err != nil {
		t.Fatal(err)
	}
	var xs []string
	for i := range 3 {
		id := uniq("f-dead-x")
		xs = append(xs, id)
		x, _, err := dialF(s.h, fconn{addr: a.addr, proxy: "A", id: id,
			willTopic: fmt.Sprintf("%s/will/%d", root, i), willMsg: root + "-will-" + id})
		if err != nil {
			t.Fatal(err)
		}
		if err := x.subscribe(root+"/data", 1); err != nil {
			t.Fatal(err)
		}
	}
	pub, _, err := dialF(s.h, fconn{addr: b.addr, proxy: "B", id: uniq("f-dead-pub"), clean: true})
	if err != nil {
		t.Fatal(err)
	}
	// B's publish function instances start before the kill: a cold start
	// of an emulated function built with -race takes most of the bound,
	// which is about waiting on the dead proxy, not about cold starts.
	for i := range 3 {
		for j, c := range []*fclient{pub, w} {
			if err := c.publish(fmt.Sprintf("%s-warm%d-%d", root, j, i), root+"/data", 1); err != nil {
				t.Fatal(err)
			}
		}
	}
	pub.waitAcked(15 * time.Second)
	w.waitAcked(15 * time.Second)
	s.h.proxyDied("A")
	a.abandon(t, true)
	deadline := time.Now().Add(2*lease + time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		if err := pub.publish(fmt.Sprintf("%s-m%d", root, i), root+"/data", 1); err != nil {
			t.Fatal(err)
		}
		time.Sleep(250 * time.Millisecond)
	}
	pub.waitAcked(15 * time.Second)
	owners := &checkResult{}
	checkOwners(t, owners, s.table(), proxyID(b))
	// A's clients come back through B: their sessions get what was
	// acknowledged for them meanwhile.
	for _, id := range xs {
		x, _, err := dialF(s.h, fconn{addr: b.addr, proxy: "B", id: id})
		if err != nil {
			t.Errorf("reconnecting %s through B: %v", id, err)
			continue
		}
		defer x.disconnect()
	}
	s.h.settle(3*time.Second, 30*time.Second)
	r := check(s.h.events(), time.Now(), Checks{WillBound: 2 * lease, PublishBound: time.Second})
	r.merge(owners)
	report(t, scenario, r, fmt.Sprintf("lease period %v", lease))
}

// TestFaultFunctionTimeout: the functions time out in the middle of
// events: for a window, a share of DynamoDB's TransactWriteItems calls
// (the enqueues, dispatches and acknowledgements) take longer than the
// functions' timeout (3 s in the emulator), so the emulator ends the
// invocation after its earlier writes were made, and the proxy closes the
// connection whose event it was. Publishers on A and B send QoS 1 and 2 to
// persistent subscribers on both, which reconnect. After the window and
// its backlog, every acknowledged message is delivered, without forbidden
// repeats.
//
// A delivery POST cut short by the timeout used to leave acknowledged
// messages in flight for a live connection, never resent (issue 15, What
// goes wrong today 3): the functions' handlers now stop a quarter of the
// time left (at most 2 s) before the invocation's deadline, so that what
// they made durable is posted (delivery.Relay), and a failed POST is
// resent (delivery.Client) or its messages put back in the queue
// (session.Handler.Unreached).
func TestFaultFunctionTimeout(t *testing.T) {
	const scenario = "functions time out mid-event (DynamoDB transactions slower than the 3s function timeout), QoS 1/2"
	s := newFaultStack(t, []string{"-e2e-function-timeout", "3"}, "A", "B")
	a, b := s.proxy("A"), s.proxy("B")
	root := topicRoot("f-fto")
	keepers := []*keeper{
		s.keep(fconn{addr: a.addr, proxy: "A", id: uniq("f-fto-sa")}, nil, subscriberSetup(root+"/#", 2)),
		s.keep(fconn{addr: b.addr, proxy: "B", id: uniq("f-fto-sb")}, nil, subscriberSetup(root+"/#", 1)),
	}
	pubs := []*keeper{
		s.keep(fconn{addr: a.addr, proxy: "A", id: uniq("f-fto-pa"), clean: true}, nil, nil),
		s.keep(fconn{addr: b.addr, proxy: "B", id: uniq("f-fto-pb"), clean: true}, nil, nil),
	}
	runPublishers(pubs, root+"-before", root, []byte{1, 2}, 100*time.Millisecond, 2*time.Second)
	s.h.faultOn("slow transactions")
	s.fp.window(faultRule{Kind: faultLatency, Delay: 4 * time.Second, Share: 0.3, Ops: []string{"TransactWriteItems"}}, 5*time.Second)
	runPublishers(pubs, root+"-during", root, []byte{1, 2}, 100*time.Millisecond, 5*time.Second)
	for _, p := range pubs {
		p.client().waitAcked(60 * time.Second)
	}
	s.h.faultOff("slow transactions")
	runPublishers(pubs, root+"-after", root, []byte{1, 2}, 100*time.Millisecond, 3*time.Second)
	for _, p := range pubs {
		p.client().waitAcked(30 * time.Second)
	}
	s.h.settle(3*time.Second, 60*time.Second)
	r := check(s.h.events(), time.Now(), Checks{})
	timeouts := strings.Count(a.log.String(), "Task timed out") + strings.Count(b.log.String(), "Task timed out")
	moves := 0
	for _, k := range append(keepers, pubs...) {
		moves += k.moveCount()
	}
	report(t, scenario, r, "DynamoDB: "+s.fp.stats().String(), fmt.Sprintf("function timeouts %d, reconnects %d", timeouts, moves))
}

// TestFaultRollingReplace is a deploy: proxies A and B are replaced one
// after the other by C and D, new tasks with new ids; each old one gets
// SIGTERM once its successor runs, and its clients reconnect through the
// successor, while publishers send QoS 1 and 2 throughout. Every
// acknowledged QoS 1/2 message is delivered, and afterwards no session is
// online with A or B as its owner. (Without the emulator's gate,
// riegate_test.go, the emulator crashes when a stopping proxy cancels an
// invocation and sends the next, and this scenario loses and repeats QoS 2
// messages: an artefact of the emulator, not of the broker.) A publisher's
// PUBLISH whose call is still under way when the drain cuts its connection
// meets its reconnection (Clean Session) through the successor: that call
// is fenced off the new session's QoS 2 receive state (Store.Receive), or
// the new connection's next QoS 2 PUBLISH under the same packet
// identifier would be taken for a resend, acknowledged and delivered to no
// one (a CI run, 2026-12-02: 342/344; core/session/stale_test.go). On a
// loaded machine the handlers answer seconds late, and the subscribers'
// backlogs can pause past the first quiet period: lateCheck checks again
// after a longer one before calling a message lost.
func TestFaultRollingReplace(t *testing.T) {
	const scenario = "rolling replacement of both proxies by new ones (new ids), SIGTERM, QoS 1/2"
	s := newFaultStack(t, nil, "A", "B")
	a, b := s.proxy("A"), s.proxy("B")
	root := topicRoot("f-roll")
	// Where a client of A (B) goes when its connection ends: C (D) once it
	// runs, else the other of the pair.
	succ := func(old, new, other string) func() (string, string) {
		return func() (string, string) {
			if p := s.proxy(new); p != nil {
				return p.addr, new
			}
			return s.proxy(other).addr, other
		}
	}
	var keepers []*keeper
	var pubs []*keeper
	for _, p := range []struct {
		name, next, other string
		b                 *broker
	}{{"A", "C", "B", a}, {"B", "D", "A", b}} {
		keepers = append(keepers, s.keep(fconn{addr: p.b.addr, proxy: p.name, id: uniq("f-roll-s" + p.name)}, succ(p.name, p.next, p.other), subscriberSetup(root+"/#", 2)))
		pk := s.keep(fconn{addr: p.b.addr, proxy: p.name, id: uniq("f-roll-p" + p.name), clean: true}, succ(p.name, p.next, p.other), nil)
		keepers = append(keepers, pk)
		pubs = append(pubs, pk)
	}
	stop := make(chan struct{})
	done := make(chan struct{}, len(pubs))
	for i, p := range pubs {
		go func() {
			publishLoop(p, fmt.Sprintf("%s-m%d", root, i), fmt.Sprintf("%s/p%d", root, i), []byte{1, 2}, 100*time.Millisecond, stop)
			done <- struct{}{}
		}()
	}
	time.Sleep(2 * time.Second)
	c := s.start("C")
	if err := a.stop(); err != nil {
		t.Errorf("SIGTERM to A: %v", err)
	}
	time.Sleep(3 * time.Second)
	d := s.start("D")
	if err := b.stop(); err != nil {
		t.Errorf("SIGTERM to B: %v", err)
	}
	time.Sleep(3 * time.Second)
	close(stop)
	for range pubs {
		<-done
	}
	for _, p := range pubs {
		p.client().waitAcked(30 * time.Second)
	}
	s.h.settle(3*time.Second, 60*time.Second)
	r := lateCheck(s.h, check(s.h.events(), time.Now(), Checks{}), Checks{})
	checkOwners(t, r, s.table(), proxyID(c), proxyID(d))
	moves := 0
	for _, k := range keepers {
		moves += k.moveCount()
	}
	report(t, scenario, r, fmt.Sprintf("reconnects %d", moves))
}

// TestFaultFunctionHang: one of proxy A's publish function targets hangs
// (accepts the invocation and never answers), and -invoke-timeout is 3 s.
// Publishers on A send QoS 1 and 2; those whose PUBLISH went to the
// hanging target see their connection end when the invocation times out
// and reconnect. Every acknowledged message is delivered.
func TestFaultFunctionHang(t *testing.T) {
	const scenario = "a publish function invocation hangs (one of 3 targets), -invoke-timeout 3s"
	s := newFaultStack(t, nil)
	hang, hits := hangingLambda(t)
	a := s.start("A", "-invoke-timeout", "3s", "-e2e-function", "publish=function@"+hang)
	root := topicRoot("f-hang")
	sub := s.keep(fconn{addr: a.addr, proxy: "A", id: uniq("f-hang-s")}, nil, subscriberSetup(root+"/#", 2))
	var pubs []*keeper
	for i := range 2 {
		pubs = append(pubs, s.keep(fconn{addr: a.addr, proxy: "A", id: uniq(fmt.Sprintf("f-hang-p%d", i)), clean: true}, nil, nil))
	}
	stop := make(chan struct{})
	done := make(chan struct{}, len(pubs))
	for i, p := range pubs {
		go func() {
			publishLoop(p, fmt.Sprintf("%s-m%d", root, i), fmt.Sprintf("%s/p%d", root, i), []byte{1, 2}, 150*time.Millisecond, stop)
			done <- struct{}{}
		}()
	}
	time.Sleep(10 * time.Second)
	close(stop)
	for range pubs {
		<-done
	}
	for _, p := range pubs {
		p.client().waitAcked(30 * time.Second)
	}
	s.h.settle(3*time.Second, 60*time.Second)
	r := check(s.h.events(), time.Now(), Checks{})
	moves := sub.moveCount()
	for _, p := range pubs {
		moves += p.moveCount()
	}
	report(t, scenario, r, fmt.Sprintf("hung invocations %d, reconnects %d", hits.Load(), moves))
}
