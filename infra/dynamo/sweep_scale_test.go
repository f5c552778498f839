package dynamo_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/dynamo"
)

// A proxy that died holding 2,000 sessions is settled by sweep passes
// through the real store, each pass returning before its invocation's
// deadline (it stops starting work before it, core/session/pass.go) and
// the next resuming where it stopped: every session ends offline, and
// every will is published once [MQTT-3.1.2-8]. (One pass working through
// them one after the other outlasted the 30 s invocation on moto, issue
// 15.)
func TestSweepLapsedProxyAtScale(t *testing.T) {
	skipWithoutTable(t)
	// 2,000 sessions take moto minutes to connect (MQTTLESS_SWEEP_SCALE
	// sets the figure); 100 are already more than one pass ends on moto.
	n := 100
	if v, err := strconv.Atoi(os.Getenv("MQTTLESS_SWEEP_SCALE")); err == nil && v > 0 {
		n = v
	}
	ctx := t.Context()
	st := dynamo.New(db, table)
	var b [4]byte
	_, _ = rand.Read(b[:])
	run := hex.EncodeToString(b[:])
	proxy, root := "scale-"+run, "scale-"+run

	// A watcher on another proxy subscribes to the wills.
	watcher := &session.Session{ClientID: root + "-w", Identity: testIdentity, Conn: "w", Proxy: "live-" + run, Version: packet.V5, ReceiveMax: 20, ExpiryInterval: 60}
	if _, err := st.Connect(ctx, watcher, true, time.Now().UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Subscribe(ctx, watcher.ClientID, "w", []session.Subscription{{ClientID: watcher.ClientID, Filter: root + "/#"}}); err != nil {
		t.Fatal(err)
	}
	if err := st.RenewLease(ctx, proxy, time.Now().Add(time.Hour).UnixMilli()); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	ids := make(chan int)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for i := range ids {
				id := fmt.Sprintf("%s-%d", root, i)
				s := &session.Session{ClientID: id, Identity: testIdentity, Conn: "c" + id, Proxy: proxy, Version: packet.V5, ReceiveMax: 20, ExpiryInterval: 600,
					Will: &session.Will{Message: session.Message{Topic: root + "/" + id, Payload: []byte(id)}}}
				if _, err := st.Connect(ctx, s, true, time.Now().UnixMilli()); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for i := range n {
		ids <- i
	}
	close(ids)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d sessions connected in %v", n, time.Since(begin).Round(time.Millisecond))

	// The proxy dies: its lease lapses.
	if err := st.RenewLease(ctx, proxy, time.Now().UnixMilli()-1); err != nil {
		t.Fatal(err)
	}
	h, err := session.New(st, session.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A pass's deadline: 5 s, or more for thousands of sessions, since
	// moto's index query reads the whole table (one of 128 sessions among
	// 2,000 took it over 5 s on a loaded machine; DynamoDB takes
	// milliseconds).
	perPass := max(5*time.Second, time.Duration(n)*10*time.Millisecond)
	wills := map[string]int{}
	ended, passes := 0, 0
	begin = time.Now()
	for len(wills) < n {
		if passes++; passes > 60 {
			t.Fatalf("%d passes ended %d of %d sessions and published %d wills", passes, ended, n, len(wills))
		}
		pctx, cancel := context.WithTimeout(ctx, perPass)
		deadline, _ := pctx.Deadline()
		r, stats, err := h.Sweep(pctx, 1000)
		cancel()
		if err != nil {
			t.Fatalf("pass %d: %v", passes, err)
		}
		if late := time.Since(deadline); late > 0 {
			t.Errorf("pass %d returned %v after its deadline", passes, late.Round(time.Millisecond))
		}
		ended += stats.Ended
		for _, d := range r.Deliveries {
			for _, f := range d.Packets {
				p, err := packet.Decode(f, packet.V5)
				if err != nil {
					t.Fatal(err)
				}
				if pub, ok := p.(*packet.Publish); ok && strings.HasPrefix(pub.Topic, root+"/") {
					wills[string(pub.Payload)]++
				}
			}
		}
		t.Logf("pass %d: %d sessions ended, %d due handled, %d wills so far", passes, stats.Ended, stats.Due, len(wills))
	}
	t.Logf("%d sessions of the lapsed proxy settled in %d passes of at most %v, %v", n, passes, perPass, time.Since(begin).Round(time.Millisecond))
	if ended != n {
		t.Errorf("%d sessions ended, want %d", ended, n)
	}
	for id, c := range wills {
		if c != 1 {
			t.Errorf("will of %s published %d times, want once", id, c)
		}
	}
	if owned, err := st.Owned(ctx, proxy, 10); err != nil || len(owned) != 0 {
		t.Errorf("the lapsed proxy still owns %d sessions (%v)", len(owned), err)
	}
}
