package e2e_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
)

// This file holds the helpers of the hostile-input suite (hostile_test.go):
// a raw connection that reports errors instead of failing the test, so that
// it can run off the test goroutine; the witness, the clients whose service
// must not suffer; and the probes of the broker process (its flags, its
// resident memory).

// hconn is a connection of the hostile suite: bytes written as they are,
// frames read back synchronously under a deadline. Its methods return
// errors rather than failing the test, so any goroutine may use it; one at
// a time.
type hconn struct {
	nc net.Conn
	br *bufio.Reader
	fr *packet.FrameReader
	v  packet.Version
}

// dialH opens a connection to addr that speaks version v. readBuf is the
// size of its read buffer (0 for 4 KiB); the many idle connections of
// TestHostileIdleConnections keep it small.
func dialH(addr string, v packet.Version, readBuf int) (*hconn, error) {
	nc, err := net.DialTimeout("tcp", addr, waitTime)
	if err != nil {
		return nil, err
	}
	if readBuf <= 0 {
		readBuf = 4096
	}
	br := bufio.NewReaderSize(nc, readBuf)
	return &hconn{nc: nc, br: br, fr: packet.NewFrameReader(br, 0), v: v}, nil
}

// write writes b as it is.
func (c *hconn) write(b []byte) error {
	c.nc.SetWriteDeadline(time.Now().Add(waitTime))
	_, err := c.nc.Write(b)
	return err
}

// send writes p, encoded at the connection's version.
func (c *hconn) send(p packet.Packet) error {
	b, err := p.Append(nil, c.v)
	if err != nil {
		return fmt.Errorf("encoding %s: %w", p.Type(), err)
	}
	return c.write(b)
}

// read returns the next packet, decoded at the connection's version, or an
// error when none comes within d.
func (c *hconn) read(d time.Duration) (packet.Packet, error) {
	c.nc.SetReadDeadline(time.Now().Add(d))
	f, err := c.fr.ReadFrame(nil)
	if err != nil {
		return nil, err
	}
	p, err := packet.Decode(f, c.v)
	if err != nil {
		return nil, fmt.Errorf("the broker sent a frame that does not decode at %s (% x): %w", c.v, f, err)
	}
	return p, nil
}

// connect sends a CONNECT as id, clean, without keep alive (the broker
// never times the connection out), and returns the CONNACK, which must
// accept.
func (c *hconn) connect(id string) (*packet.Connack, error) {
	if err := c.send(&packet.Connect{ClientID: id, CleanStart: true}); err != nil {
		return nil, err
	}
	p, err := c.read(waitTime)
	if err != nil {
		return nil, fmt.Errorf("waiting for CONNACK: %w", err)
	}
	ack, ok := p.(*packet.Connack)
	if !ok {
		return nil, fmt.Errorf("got %s, want CONNACK", p.Type())
	}
	if ack.ReasonCode != packet.Success {
		return nil, fmt.Errorf("CONNACK %s, want success", rcName(ack.ReasonCode))
	}
	return ack, nil
}

// ping sends PINGREQ and waits for the PINGRESP.
func (c *hconn) ping() error {
	if err := c.send(&packet.Pingreq{}); err != nil {
		return err
	}
	p, err := c.read(waitTime)
	if err != nil {
		return fmt.Errorf("waiting for PINGRESP: %w", err)
	}
	if _, ok := p.(*packet.Pingresp); !ok {
		return fmt.Errorf("got %s, want PINGRESP", p.Type())
	}
	return nil
}

// errStillOpen is returned by rest when the broker kept the connection open.
var errStillOpen = errors.New("the connection is still open")

// rest reads everything the broker sends until it closes the connection,
// for at most d. A reset counts as a close. It returns errStillOpen (with
// what came) when the connection is still open after d.
func (c *hconn) rest(d time.Duration) ([]byte, error) {
	c.nc.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(c.br)
	switch {
	case err == nil, errors.Is(err, syscall.ECONNRESET):
		return b, nil
	case isTimeoutErr(err):
		return b, errStillOpen
	}
	return b, err
}

// quiet reads for d and returns what came; it returns an error if the
// broker closed the connection meanwhile.
func (c *hconn) quiet(d time.Duration) ([]byte, error) {
	c.nc.SetReadDeadline(time.Now().Add(d))
	b, err := io.ReadAll(c.br)
	if isTimeoutErr(err) {
		return b, nil
	}
	if err == nil || errors.Is(err, syscall.ECONNRESET) {
		err = errors.New("the broker closed the connection")
	}
	return b, err
}

// closeWrite ends the client's side of the stream (a TCP FIN): the broker
// reads the end of the stream, the connection stays open the other way.
func (c *hconn) closeWrite() error { return c.nc.(*net.TCPConn).CloseWrite() }

func (c *hconn) close() { c.nc.Close() }

func isTimeoutErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// rcName shows a reason code as "0x81 (malformed packet)".
func rcName(rc packet.ReasonCode) string { return fmt.Sprintf("0x%02X (%s)", byte(rc), rc) }

// describeFrames shows what the broker sent: each frame decoded at v (or,
// failing that, at 3.1.1, then as hex), in order; "no reply" for nothing.
func describeFrames(b []byte, v packet.Version) string {
	if len(b) == 0 {
		return "no reply"
	}
	var parts []string
	for len(b) > 0 {
		f, rest, err := packet.Split(b, 0)
		if err != nil {
			parts = append(parts, fmt.Sprintf("bytes % x", b))
			break
		}
		b = rest
		p, err := packet.Decode(f, v)
		layout := ""
		if err != nil && v == packet.V5 {
			p, err = packet.Decode(f, packet.V311)
			layout = " in the 3.1.1 layout"
		}
		switch {
		case err != nil:
			parts = append(parts, fmt.Sprintf("frame % x", f))
		case p.Type() == packet.CONNACK && len(f) == 4:
			// A 3.1.1 CONNACK: show its return code, not the 5.0 code
			// the codec maps it to.
			parts = append(parts, fmt.Sprintf("CONNACK return code 0x%02X (%s)%s", f[3], p.(*packet.Connack).ReasonCode, layout))
		default:
			parts = append(parts, describePacket(p)+layout)
		}
	}
	return strings.Join(parts, ", ")
}

func describePacket(p packet.Packet) string {
	switch p := p.(type) {
	case *packet.Disconnect:
		return "DISCONNECT " + rcName(p.ReasonCode)
	case *packet.Connack:
		return "CONNACK " + rcName(p.ReasonCode)
	}
	return p.Type().String()
}

// ---- the witness ----

// witness is the service other clients must keep while the suite attacks
// the broker: a publisher at 5.0 and a subscriber at each of 3.1.1 and 5.0.
// Each check publishes one message at QoS 1 and waits for both subscribers
// to get it, in order.
type witness struct {
	topic string
	mu    sync.Mutex
	pub   *hconn
	subs  []*hconn
	n     int           // messages published
	worst time.Duration // the slowest check
}

// newWitness connects the witness to addr and subscribes it; its
// connections close when the test ends.
func newWitness(t testing.TB, addr string) *witness {
	t.Helper()
	w := &witness{topic: topicRoot("witness")}
	conn := func(v packet.Version, name string) *hconn {
		t.Helper()
		c, err := dialH(addr, v, 0)
		if err != nil {
			t.Fatalf("witness: dial: %v", err)
		}
		t.Cleanup(c.close)
		if _, err := c.connect(uniq(name)); err != nil {
			t.Fatalf("witness: %s connect: %v", v, err)
		}
		return c
	}
	w.pub = conn(packet.V5, "wit-pub")
	for _, v := range bothVersions {
		c := conn(v, "wit-sub")
		if err := c.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: w.topic}}}); err != nil {
			t.Fatalf("witness: subscribe: %v", err)
		}
		p, err := c.read(waitTime)
		if err != nil {
			t.Fatalf("witness: waiting for SUBACK: %v", err)
		}
		if ack, ok := p.(*packet.Suback); !ok || len(ack.ReasonCodes) != 1 || ack.ReasonCodes[0] != packet.Success {
			t.Fatalf("witness: got %+v, want SUBACK granting QoS 0", p)
		}
		w.subs = append(w.subs, c)
	}
	if err := w.check(); err != nil {
		t.Fatalf("witness: first check: %v", err)
	}
	return w
}

// check publishes the next message and waits until each subscriber has it.
// It is safe for concurrent use.
func (w *witness) check() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	start := time.Now()
	w.n++
	payload := "w" + strconv.Itoa(w.n)
	id := uint16(w.n%65535 + 1)
	if err := w.pub.send(&packet.Publish{Topic: w.topic, QoS: 1, PacketID: id, Payload: []byte(payload)}); err != nil {
		return fmt.Errorf("witness publisher: %w", err)
	}
	p, err := w.pub.read(waitTime)
	if err != nil {
		return fmt.Errorf("witness publisher, waiting for PUBACK %d: %w", id, err)
	}
	if ack, ok := p.(*packet.Puback); !ok || ack.PacketID != id || ack.ReasonCode.IsError() {
		return fmt.Errorf("witness publisher: got %+v, want PUBACK %d", p, id)
	}
	for _, s := range w.subs {
		p, err := s.read(waitTime)
		if err != nil {
			return fmt.Errorf("witness subscriber at %s, waiting for message %s: %w", s.v, payload, err)
		}
		if m, ok := p.(*packet.Publish); !ok || m.Topic != w.topic || string(m.Payload) != payload {
			return fmt.Errorf("witness subscriber at %s: got %+v, want PUBLISH %q", s.v, p, payload)
		}
	}
	w.worst = max(w.worst, time.Since(start))
	return nil
}

// during checks the witness every interval in the background until the
// returned stop is called; stop reports how many checks ran and the first
// that failed.
func (w *witness) during(interval time.Duration) (stop func() (int, error)) {
	done := make(chan struct{})
	var (
		n     int
		first error
		wg    sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			n++
			if err := w.check(); err != nil {
				first = err
				return // the witness's connections are no longer in step
			}
		}
	}()
	return func() (int, error) {
		close(done)
		wg.Wait()
		return n, first
	}
}

// summary describes the witness's service so far.
func (w *witness) summary() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return fmt.Sprintf("%d messages to each of 2 subscribers, slowest round trip %v", w.n, w.worst.Round(time.Millisecond))
}

// ---- the broker process ----

var brokerHelp struct {
	once sync.Once
	out  string
}

// brokerHasFlag reports whether the broker binary has the flag name
// (without its dash), from its -h output. Flags other engineers add while
// this suite runs, such as -max-conn-rate and -max-subscriptions, are used
// only once they exist.
func brokerHasFlag(name string) bool {
	brokerHelp.once.Do(func() {
		out, _ := exec.Command(brokerBin, "-h").CombinedOutput() // -h exits with status 2
		brokerHelp.out = string(out)
	})
	return regexp.MustCompile(`(?m)^\s*-` + regexp.QuoteMeta(name) + `(\s|$)`).MatchString(brokerHelp.out)
}

// hostileFlags returns flags plus those every broker of the suite runs
// with, when the broker has them: no per-source connection rate limit
// (-max-conn-rate 0), since the suite opens connections from one address
// far faster than a client would; and room for the 10,000 idle
// connections of TestHostileIdleConnections beside the witness
// (-max-connections 20000).
// measuredMemory returns flags plus -gc-headroom 0, for a broker whose
// memory a test measures: what it keeps for the clients' load, without the
// collector's headroom (a fixed allowance of 16 MiB of heap by default,
// README "Memory and the garbage collector"), which the race detector's
// shadow memory makes several times that in RSS (TestAbuseTopicAliases:
// +20 MiB without it, +82 MiB with it).
func measuredMemory(flags ...string) []string {
	if brokerHasFlag("gc-headroom") {
		flags = append(flags, "-gc-headroom", "0")
	}
	return flags
}

func hostileFlags(flags ...string) []string {
	if brokerHasFlag("max-conn-rate") {
		flags = append(flags, "-max-conn-rate", "0")
	}
	if brokerHasFlag("max-connections") {
		flags = append(flags, "-max-connections", "20000")
	}
	if brokerHasFlag("max-sessions") && !slices.Contains(flags, "-max-sessions") {
		flags = append(flags, "-max-sessions", "20000")
	}
	return flags
}

// needEmbeddedStore skips a test of the suite that opens thousands of
// connections or sends thousands of packets when the brokers run on
// DynamoDB (MQTTLESS_E2E_STORE=dynamo) or on the local serverless stack
// (MQTTLESS_E2E_STACK=lambda): there every CONNECT and SUBSCRIBE costs
// several requests to an emulator that the whole suite shares, which
// serves a few dozen of them a second; thousands take minutes, starve the
// other tests and time the handlers out. What those tests measure, the
// proxy's memory and its service to others, is the same on every stack.
func needEmbeddedStore(t testing.TB) {
	t.Helper()
	if e2eStore == "dynamo" || e2eStack == "lambda" {
		t.Skip("thousands of connections or packets; runs on the embedded store only (make test-hostile)")
	}
}

// brokerUp returns an error when the broker's process has exited.
func brokerUp(b *broker) error {
	if b.external || b.done == nil {
		return nil
	}
	select {
	case <-b.done:
		return fmt.Errorf("the broker exited: %v", b.err)
	default:
		return nil
	}
}

// vmRSS returns the resident memory of the broker's process in bytes,
// from /proc/<pid>/status.
func vmRSS(b *broker) (int64, error) {
	if b.cmd == nil || b.cmd.Process == nil {
		return 0, errors.New("no broker process")
	}
	s, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", b.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range bytes.Split(s, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			f := strings.Fields(string(rest)) // "12345 kB"
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("VmRSS line %q", line)
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc/<pid>/status")
}

// ms shows a duration in milliseconds, with a tenth.
func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

// mib shows a byte count in MiB.
func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
