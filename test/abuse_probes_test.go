package e2e_test

import (
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/mqttless/mqttless/core/packet"
)

// Probes and hostile input of the abuse tests of the connection proxy
// (abuse_proxy_test.go).

// setNoFile sets the broker process's file descriptor limit (soft and
// hard) to n, as prlimit(1) does.
func setNoFile(t testing.TB, b *broker, n uint64) {
	t.Helper()
	lim := syscall.Rlimit{Cur: n, Max: n}
	_, _, errno := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(b.cmd.Process.Pid),
		uintptr(syscall.RLIMIT_NOFILE), uintptr(unsafe.Pointer(&lim)), 0, 0, 0)
	if errno != 0 {
		t.Skipf("prlimit on the broker: %v", errno)
	}
}

// openFiles returns how many file descriptors the broker has open.
func openFiles(t testing.TB, b *broker) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", b.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// rssPeak samples the broker's resident memory every 20 ms until the
// returned stop is called, which returns the highest sample.
func rssPeak(t testing.TB, b *broker) (stop func() int64) {
	t.Helper()
	var peak atomic.Int64
	sample := func() {
		if n, err := vmRSS(b); err == nil && n > peak.Load() {
			peak.Store(n)
		}
	}
	sample()
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				sample()
			}
		}
	}()
	return func() int64 {
		close(done)
		<-finished
		sample()
		return peak.Load()
	}
}

// closedWithin reports whether the broker closes nc within d, whatever it
// sends first; it reads and discards.
func closedWithin(nc net.Conn, d time.Duration) bool {
	nc.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, nc)
	return !isTimeoutErr(err)
}

// connectedH opens a connection to addr at version v, connected as a new
// client id starting with name, closed when the test ends.
func connectedH(t testing.TB, addr string, v packet.Version, name string) *hconn {
	t.Helper()
	c, err := dialH(addr, v, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	if _, err := c.connect(uniq(name)); err != nil {
		t.Fatal(err)
	}
	return c
}

// pubSubWorks checks that a new client at addr can subscribe, publish at
// QoS 1 and receive its own message.
func pubSubWorks(t *testing.T, addr string) {
	t.Helper()
	topic := topicRoot("abuse-check")
	c, _ := rawConnect(t, addr, packet.V5, uniq("abuse-check"), true)
	c.subscribe(1, packet.Subscription{Filter: topic, QoS: 1})
	if rc := c.publish(&packet.Publish{Topic: topic, QoS: 1, PacketID: 2, Payload: []byte("ok")}); rc.IsError() {
		t.Fatalf("PUBACK %s", rc)
	}
	p := c.expectPublish(topic, "ok")
	c.ack(p)
}

// hostileConnect returns a 5.0 CONNECT frame of about size bytes made of
// empty user properties (5 bytes each).
func hostileConnect(size int) []byte {
	p := &packet.Connect{Version: packet.V5, ClientID: "h", CleanStart: true,
		Properties: packet.Properties{User: make([]packet.UserProperty, size/5)}}
	b, err := p.Append(nil, packet.V5)
	if err != nil {
		panic(err) // cannot happen: empty names and values encode
	}
	return b
}
