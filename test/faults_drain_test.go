package e2e_test

import (
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
)

// drainClients sizes TestFaultDrainSettlesSessions to the test budget.
const drainClients = 300

// TestFaultDrainSettlesSessions: drainClients 5.0 clients with wills
// (no delay) and persistent sessions are connected to proxy A, and a
// watcher on B subscribes to the wills. A gets SIGTERM and drains; the
// clients do not come back. Every session is settled, its will published
// once [MQTT-3.1.2-8]: A settles its sessions in bulk as it drains
// (KindDrain, core/session/drain.go), the sweep what A left once it
// released its lease. It reports how many wills came before A exited,
// and when the last came (issue 15, What to build 1: "its sessions are
// settled before it exits").
func TestFaultDrainSettlesSessions(t *testing.T) {
	const scenario = "drain: 300 sessions with wills on A, which gets SIGTERM; the clients do not come back"
	s := newFaultStack(t, nil)
	a, b := s.start("A"), s.start("B")
	root := topicRoot("drain-scale")
	w := dialRaw(t, b.addr, packet.V5)
	w.mustConnect(&packet.Connect{ClientID: uniq("drain-w"), CleanStart: true}) // no keep alive: it only reads
	w.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: root + "/+", QoS: 0}}})
	if _, err := w.next(waitTime); err != nil {
		t.Fatalf("SUBACK: %v", err)
	}
	prefix := uniq("drained")
	conns := connectMany(t, drainClients, "A", func(i int) (net.Conn, error) {
		id := fmt.Sprintf("%s-%d", prefix, i)
		p := &packet.Connect{ClientID: id, KeepAlive: 600, Will: &packet.Will{Topic: root + "/" + id, Payload: []byte(id)}}
		nc, _, err := rawConnectV5(a.addr, p, 30*time.Second)
		return nc, err
	})
	for _, nc := range conns {
		go func() { readUntilClosed(nc); nc.Close() }()
	}

	begin := time.Now()
	exited := make(chan time.Duration, 1)
	go func() {
		if err := a.stop(); err != nil {
			t.Errorf("SIGTERM to A: %v", err)
		}
		exited <- time.Since(begin)
	}()
	wills := map[string][]time.Duration{}
	limit := 2*leasePeriod(t) + time.Minute
	for len(wills) < drainClients && time.Since(begin) < limit {
		p, err := w.next(time.Until(begin.Add(limit)))
		if err != nil {
			break
		}
		if pub, ok := p.(*packet.Publish); ok {
			wills[string(pub.Payload)] = append(wills[string(pub.Payload)], time.Since(begin))
		}
	}
	took := <-exited

	r := &checkResult{}
	const chkOnce = "every will of A's sessions published once"
	var last []time.Duration
	before := 0
	for i := range drainClients {
		id := fmt.Sprintf("%s-%d", prefix, i)
		switch at := wills[id]; len(at) {
		case 0:
			r.violate(chkOnce, "%s: no will within %v of the SIGTERM", id, limit)
		case 1:
			r.count(chkOnce, true)
			last = append(last, at[0])
			if at[0] <= took {
				before++
			}
		default:
			r.violate(chkOnce, "%s: will published %d times", id, len(at))
		}
	}
	slices.Sort(last)
	note := "no will"
	if len(last) > 0 {
		note = fmt.Sprintf("last will %v after the SIGTERM", last[len(last)-1].Round(100*time.Millisecond))
	}
	report(t, scenario, r, fmt.Sprintf("A exited %v after the SIGTERM, with %d of %d wills published", took.Round(100*time.Millisecond), before, drainClients), note)
}
