package e2e_test

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestFaultDynamoLostAnswers: for a window, a share of DynamoDB's writes
// are made and their answers lost (the fault proxy drops the connection
// before the answer), so that the SDK sends them again and they meet
// their own change (infra/dynamo/resend.go). Meanwhile publishers on A and
// B send QoS 0, 1 and 2 to persistent subscribers on both; clients with
// wills, clean and persistent, connect and lose their connections; and
// clients are taken over through the other proxy. Every acknowledged QoS
// 1/2 message is delivered without forbidden repeats; every lost
// connection's will is published, once [MQTT-3.1.2-8]; every connection
// taken over is closed [MQTT-3.1.4-3].
func TestFaultDynamoLostAnswers(t *testing.T) {
	const scenario = "DynamoDB writes made with their answers lost (the SDK sends them again), QoS 0/1/2 pub/sub, wills and takeovers on 2 proxies"
	s := newFaultStack(t, nil, "A", "B")
	a, b := s.proxy("A"), s.proxy("B")
	root := topicRoot("f-lost")
	subA := s.keep(fconn{addr: a.addr, proxy: "A", id: uniq("f-lost-sa")}, nil, subscriberSetup(root+"/data/#", 2))
	subB := s.keep(fconn{addr: b.addr, proxy: "B", id: uniq("f-lost-sb")}, nil, subscriberSetup(root+"/data/#", 1))
	watcher := s.keep(fconn{addr: b.addr, proxy: "B", id: uniq("f-lost-w")}, nil, subscriberSetup(root+"/will/#", 1))
	pubs := []*keeper{
		s.keep(fconn{addr: a.addr, proxy: "A", id: uniq("f-lost-pa"), clean: true}, nil, nil),
		s.keep(fconn{addr: b.addr, proxy: "B", id: uniq("f-lost-pb"), clean: true}, nil, nil),
	}
	type via struct{ addr, name string }
	proxies := [2]via{{a.addr, "A"}, {b.addr, "B"}}

	const fault = "lost answers"
	s.h.faultOn(fault)
	s.fp.add(faultRule{Kind: faultLostAnswer, Share: 0.25,
		Ops: []string{"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}})
	published := make(chan struct{})
	go func() {
		defer close(published)
		runPublishers(pubs, root+"-lost", root+"/data", []byte{0, 1, 2}, 100*time.Millisecond, 6*time.Second)
	}()
	r := &checkResult{}
	const chkClosed = "taken-over connections closed"
	var wills []string
	for i := range 24 {
		on, other := proxies[i%2], proxies[1-i%2]
		id := uniq("f-lost-x")
		o := fconn{addr: on.addr, proxy: on.name, id: id, clean: i%4 < 2}
		takeover := i%4 == 1 || i%4 == 3
		if !takeover {
			o.willTopic, o.willMsg = fmt.Sprintf("%s/will/%d", root, i), root+"-will-"+id
		}
		x, _, err := dialF(s.h, o)
		if err != nil {
			t.Errorf("connect %d: %v", i, err)
			continue
		}
		if !takeover {
			x.drop()
			wills = append(wills, o.willMsg)
			continue
		}
		y, _, err := dialF(s.h, fconn{addr: other.addr, proxy: other.name, id: id, clean: o.clean})
		if err != nil {
			t.Errorf("take over %d through %s: %v", i, other.name, err)
			x.drop()
			continue
		}
		if errors.Is(x.waitEnded(15*time.Second), errEnded) {
			r.violate(chkClosed, "%s: the connection through %s still open 15 s after the takeover through %s", id, on.name, other.name)
			x.drop()
		} else {
			r.count(chkClosed, true)
		}
		y.disconnect()
	}
	<-published
	for _, p := range pubs {
		p.client().waitAcked(60 * time.Second)
	}
	stats := s.fp.stats()
	s.fp.clear()
	s.h.settle(2*time.Second, 30*time.Second)
	s.h.faultOff(fault)

	const chkWills = "lost connections' wills published once"
	w := watcher.client().id
	arrived := map[string]int{}
	for _, e := range s.h.events() {
		if e.kind == evArrived && e.client == w && !e.dup {
			arrived[e.msg]++
		}
	}
	for _, m := range wills {
		if arrived[m] != 1 {
			r.violate(chkWills, "will %s published %d times, want once", m, arrived[m])
		} else {
			r.count(chkWills, true)
		}
	}
	r.merge(check(s.h.events(), time.Now(), Checks{}))
	moves := subA.moveCount() + subB.moveCount() + watcher.moveCount() + pubs[0].moveCount() + pubs[1].moveCount()
	if stats.Injected[faultLostAnswer] == 0 {
		t.Errorf("no answer was lost: %v", stats)
	}
	report(t, scenario, r, "DynamoDB: "+stats.String(), fmt.Sprintf("reconnects %d", moves))
}
