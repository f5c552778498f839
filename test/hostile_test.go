package e2e_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/packet/packettest"
)

// The hostile-input suite of issue 8 ("How we know it works"): it drives a
// broker of its own with raw bytes over TCP — every malformed frame of the
// codec's table, a slow-drip CONNECT, a CONNECT that never comes, 10,000
// idle connections, oversize length claims and a flood of SUBSCRIBEs — and
// checks that the broker stays up, that a witness (a publisher and two
// subscribers) keeps its service throughout, and that memory stays
// bounded. Each test logs one line per thing it tried and what happened;
// run it with make test-hostile, or go test -v -run Hostile ./test/.

// hostileMaxPacket is the -max-packet-size of the broker that gets the
// malformed table: a frame whose remaining length claims more is refused
// from its fixed header with 0x95 before anything else is read.
const hostileMaxPacket = 65536

// Ways a malformed frame reads from a TCP stream, where its remaining length,
// not the end of a buffer, says where it ends.
const (
	streamWhole      = iota // the frame is whole: the broker decodes it
	streamTooLarge          // the remaining length claims more than the broker accepts
	streamIncomplete        // the frame claims more bytes than follow: the broker waits for them
	streamTrailing          // a whole frame, then the start of another
)

// tcpPlan is what a malformed frame is expected to get over TCP.
type tcpPlan struct {
	// connectFirst: the connection first sends a valid CONNECT of the
	// case's version and reads the CONNACK.
	connectFirst bool
	stream       int
	// want describes the expected outcome, for the report.
	want string
	// ok checks what the broker sent after the frame (after the CONNACK
	// of connectFirst) until it closed the connection.
	ok func(got []byte) bool
}

// planFor returns what the broker is expected to do with c over TCP:
//
//   - A CONNECT is the connection's first packet. At 5.0 it is answered
//     with a CONNACK carrying the case's reason code, then closed
//     [MQTT-4.13.1-1] (sections 3.2.2.2 and 4.13); at 3.1.1 and 3.1 it is
//     closed without a CONNACK [MQTT-3.1.4-1]. A protocol name other than
//     MQTT or MQIsdp is closed without a CONNACK at any level
//     [MQTT-3.1.2-1]; an unsupported protocol level gets CONNACK return
//     code 0x01 in the 3.1.1 layout (or 0x84 in the 5.0 layout, for a 5.0
//     case), then a close [MQTT-3.1.2-2] (3.1.1 [MQTT-3.1.2-2]).
//   - Any other frame follows a valid CONNECT of the case's version: at 5.0
//     it gets DISCONNECT with the case's reason code, then a close
//     [MQTT-4.13.1-1] [MQTT-4.13.2-1]; at 3.1.1 and 3.1 a close without
//     any reply (3.1.1 [MQTT-4.8.0-1]).
//   - A remaining length over -max-packet-size is refused as too large,
//     from the fixed header: DISCONNECT 0x95 at 5.0 [MQTT-3.2.2-15], a
//     plain close at 3.1.1; a CONNECT that claims too much is closed
//     without a reply.
//   - A frame that claims more bytes than follow is not malformed on a
//     stream until the stream ends: the broker must wait for the rest
//     without answering, and close without a reply once the client ends
//     its side (at 5.0 a DISCONNECT 0x81 first is also accepted).
//   - A frame that claims fewer bytes than follow is a whole packet, served
//     as such, followed by the start of another frame, which the broker
//     waits for as above; no DISCONNECT.
func planFor(c packettest.MalformedCase, maxPacket int) tcpPlan {
	isConnect := len(c.Raw) > 0 && packet.Type(c.Raw[0]>>4) == packet.CONNECT
	p := tcpPlan{connectFirst: !isConnect, stream: streamWhole}
	h, n, err := packet.ParseFixedHeader(c.Raw)
	switch {
	case err == nil && maxPacket > 0 && n+h.Remaining > maxPacket:
		p.stream = streamTooLarge
	case errors.Is(err, packet.ErrTruncated), err == nil && len(c.Raw) < n+h.Remaining:
		p.stream = streamIncomplete
	case err == nil && len(c.Raw) > n+h.Remaining:
		p.stream = streamTrailing
	}
	v5 := c.Version == packet.V5
	exactly := func(want []byte) func([]byte) bool {
		return func(got []byte) bool { return bytes.Equal(got, want) }
	}
	silent := exactly(nil)
	switch {
	case p.stream == streamTooLarge && v5 && !isConnect:
		p.want = "DISCONNECT " + rcName(packet.PacketTooLarge) + ", closed (remaining length over -max-packet-size)"
		p.ok = only(packet.DISCONNECT, packet.PacketTooLarge)
	case p.stream == streamTooLarge:
		p.want, p.ok = "closed, no reply (remaining length over -max-packet-size)", silent
	case p.stream == streamIncomplete:
		p.want = "no reply while the rest of the frame may come; closed, no reply, at the end of the stream"
		p.ok = silent
		if v5 {
			p.want += " (or DISCONNECT 0x81)"
			disc := only(packet.DISCONNECT, packet.MalformedPacket)
			p.ok = func(got []byte) bool { return len(got) == 0 || disc(got) }
		}
	case p.stream == streamTrailing:
		p.want = "the whole frame served, then the rest waited for; closed at the end of the stream without a DISCONNECT"
		p.ok = func(got []byte) bool {
			for len(got) > 0 {
				f, rest, err := packet.Split(got, 0)
				if err != nil || packet.Type(f[0]>>4) == packet.DISCONNECT {
					return false
				}
				got = rest
			}
			return true
		}
	case isConnect && errors.Is(c.Err, packet.ErrProtocolName):
		p.want, p.ok = "closed, no CONNACK", silent
	case isConnect && errors.Is(c.Err, packet.ErrProtocolVersion):
		v311 := []byte{0x20, 0x02, 0x00, 0x01}
		p.want, p.ok = "CONNACK return code 0x01 (3.1.1 layout), closed", exactly(v311)
		if v5 {
			v5ack := only(packet.CONNACK, packet.UnsupportedProtocolVersion)
			p.want = "CONNACK return code 0x01 (3.1.1 layout) or 0x84 (5.0 layout), closed"
			p.ok = func(got []byte) bool { return bytes.Equal(got, v311) || v5ack(got) }
		}
	case isConnect && v5:
		p.want, p.ok = "CONNACK "+rcName(c.Code)+", closed", only(packet.CONNACK, c.Code)
	case isConnect:
		p.want, p.ok = "closed, no CONNACK", silent
	case v5:
		p.want, p.ok = "DISCONNECT "+rcName(c.Code)+", closed", only(packet.DISCONNECT, c.Code)
	default:
		p.want, p.ok = "closed, no reply", silent
	}
	return p
}

// only returns a check that the broker sent exactly one 5.0 packet of type
// typ (DISCONNECT or CONNACK) with reason code rc, whatever properties it
// carries (a reason string, say); a CONNACK must not claim a session.
func only(typ packet.Type, rc packet.ReasonCode) func([]byte) bool {
	return func(got []byte) bool {
		f, rest, err := packet.Split(got, 0)
		if err != nil || len(rest) > 0 {
			return false
		}
		p, err := packet.Decode(f, packet.V5)
		if err != nil || p.Type() != typ {
			return false
		}
		switch p := p.(type) {
		case *packet.Disconnect:
			return p.ReasonCode == rc
		case *packet.Connack:
			return p.ReasonCode == rc && !p.SessionPresent
		}
		return false
	}
}

// runMalformed sends c on a connection of its own and returns a description
// of what happened, and an error when it was not what plan expects.
func runMalformed(addr string, c packettest.MalformedCase, plan tcpPlan) (string, error) {
	hc, err := dialH(addr, c.Version, 0)
	if err != nil {
		return "", err
	}
	defer hc.close()
	if plan.connectFirst {
		if _, err := hc.connect(uniq("mf")); err != nil {
			return "", fmt.Errorf("the valid CONNECT before the frame: %w", err)
		}
	}
	if len(c.Raw) > 0 {
		if err := hc.write(c.Raw); err != nil {
			return "", fmt.Errorf("writing the frame: %w", err)
		}
	}
	var got []byte
	var how []string
	if plan.stream == streamIncomplete || plan.stream == streamTrailing {
		// Nothing is malformed yet: the broker must wait for the rest.
		early, err := hc.quiet(quietTime)
		got = append(got, early...)
		if err != nil {
			return fmt.Sprintf("%s, then closed within %v", describeFrames(got, c.Version), quietTime),
				fmt.Errorf("closed before the rest of the frame could come: %w", err)
		}
		if len(early) > 0 && plan.stream == streamIncomplete {
			return describeFrames(got, c.Version), errors.New("answered an incomplete frame")
		}
		how = append(how, fmt.Sprintf("open for %v", quietTime))
		if err := hc.closeWrite(); err != nil {
			return "", err
		}
	}
	rest, err := hc.rest(waitTime)
	got = append(got, rest...)
	if err != nil {
		return describeFrames(got, c.Version) + ", still open", fmt.Errorf("not closed within %v: %w", waitTime, err)
	}
	how = append(how, describeFrames(got, c.Version), "closed")
	desc := strings.Join(how, ", ")
	if !plan.ok(got) {
		return desc, errors.New("unexpected reply")
	}
	return desc, nil
}

// TestHostileMalformed sends every malformed frame of the codec's table
// (core/packet/packettest) to the broker over TCP, each on a connection of
// its own, and checks after each that the witness is still served. What
// each frame is expected to get is planFor's.
func TestHostileMalformed(t *testing.T) {
	needOwnBroker(t)
	t.Parallel()
	b := startBroker(t, withFlags(hostileFlags("-max-packet-size", fmt.Sprint(hostileMaxPacket))...))
	w := newWitness(t, b.addr)
	cases := packettest.Malformed()
	bad := 0
	for _, c := range cases {
		plan := planFor(c, hostileMaxPacket)
		got, err := runMalformed(b.addr, c, plan)
		werr := w.check()
		wit := "witness ok"
		if werr != nil {
			wit = "WITNESS LOST"
		}
		t.Logf("malformed %q (%s, %s): %s; %s", c.Name, c.Version, c.Spec, got, wit)
		if err != nil {
			bad++
			t.Errorf("malformed %q (%s, % x): %v\n\tgot:  %s\n\twant: %s", c.Name, c.Version, c.Raw, err, got, plan.want)
		}
		if err := brokerUp(b); err != nil {
			t.Fatalf("after malformed %q (%s): %v", c.Name, c.Version, err)
		}
		if werr != nil {
			t.Fatalf("after malformed %q (%s): the witness lost its service: %v", c.Name, c.Version, werr)
		}
	}
	t.Logf("malformed: %d frames of the codec's table sent over TCP, %d answered as expected, %d not; witness: %s",
		len(cases), len(cases)-bad, bad, w.summary())
}

// TestHostileConnectTimeout runs a broker with -connect-timeout 1s: a
// connection that never sends CONNECT, and one that drips a valid CONNECT
// one byte every 200 ms (so that bytes keep coming but the CONNECT would
// take seconds), are both closed about 1 s after they were opened, without
// a reply; the witness is served meanwhile.
//
// Issue 8: the time allowed between TCP accept and CONNECT.
func TestHostileConnectTimeout(t *testing.T) {
	needOwnBroker(t)
	t.Parallel()
	const timeout = time.Second
	b := startBroker(t, withFlags(hostileFlags("-connect-timeout", timeout.String())...))
	w := newWitness(t, b.addr)
	stop := w.during(100 * time.Millisecond)

	// closedAfter checks that hc is closed between timeout and 3 s after
	// opened, without a reply, and describes it.
	closedAfter := func(t *testing.T, hc *hconn, opened time.Time) string {
		t.Helper()
		got, err := hc.rest(3*time.Second - time.Since(opened))
		took := time.Since(opened)
		switch {
		case err != nil:
			t.Errorf("still open %v after it was opened (-connect-timeout %v): %v", took.Round(time.Millisecond), timeout, err)
		case took < timeout-50*time.Millisecond:
			t.Errorf("closed after %v, before -connect-timeout %v", took, timeout)
		case len(got) > 0:
			t.Errorf("got %s, want a close without a reply", describeFrames(got, hc.v))
		}
		return fmt.Sprintf("closed after %v, %s", took.Round(time.Millisecond), describeFrames(got, hc.v))
	}

	t.Run("never", func(t *testing.T) {
		t.Parallel()
		opened := time.Now()
		hc, err := dialH(b.addr, packet.V311, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer hc.close()
		t.Logf("CONNECT that never comes (-connect-timeout %v): %s", timeout, closedAfter(t, hc, opened))
	})
	for _, v := range bothVersions {
		t.Run("slow drip "+v.String(), func(t *testing.T) {
			t.Parallel()
			// A long client id makes the CONNECT take seconds to drip.
			frame, err := (&packet.Connect{ClientID: uniq("drip") + strings.Repeat("x", 24), CleanStart: true, KeepAlive: 30}).Append(nil, v)
			if err != nil {
				t.Fatal(err)
			}
			opened := time.Now()
			hc, err := dialH(b.addr, v, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer hc.close()
			var sent atomic.Int32
			done := make(chan struct{})
			go func() {
				defer close(done)
				for i := range frame {
					if i > 0 {
						time.Sleep(200 * time.Millisecond)
					}
					hc.nc.SetWriteDeadline(time.Now().Add(waitTime))
					if _, err := hc.nc.Write(frame[i : i+1]); err != nil {
						return // closed by the broker
					}
					sent.Add(1)
				}
			}()
			res := closedAfter(t, hc, opened)
			n := sent.Load()
			if int(n) >= len(frame) {
				t.Errorf("the whole CONNECT (%d bytes) was sent before the close: the drip did not outlast the timeout", len(frame))
			}
			hc.close()
			<-done
			t.Logf("slow-drip CONNECT (%s, 1 byte every 200 ms, -connect-timeout %v): %s with %d of %d bytes sent", v, timeout, res, n, len(frame))
		})
	}
	t.Cleanup(func() {
		n, err := stop()
		if err != nil {
			t.Errorf("the witness lost its service during the connect timeouts: %v", err)
		}
		t.Logf("connect timeout: witness checked %d times in the background: %s", n, w.summary())
		if err := brokerUp(b); err != nil {
			t.Error(err)
		}
	})
}

// idleConns is how many connections TestHostileIdleConnections opens.
const idleConns = 10000

// maxRSSPerConn bounds the broker's resident memory per idle connection
// (of the race-enabled build the suite runs).
const maxRSSPerConn = 64 << 10

// TestHostileIdleConnections opens 10,000 connections, 50 at a time, each
// of which sends a valid CONNECT, gets its CONNACK and then stays idle,
// while the witness keeps getting messages. The broker's resident memory
// grows by less than maxRSSPerConn per connection; it still serves a
// sample of the idle connections and a new client afterwards. It is
// skipped with -short, and on the emulated stacks (needEmbeddedStore).
//
// Issue 8: memory stays bounded; other clients keep their service.
func TestHostileIdleConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 10,000 connections; skipped with -short")
	}
	needOwnBroker(t)
	needEmbeddedStore(t)
	t.Parallel()
	b := startBroker(t, withFlags(measuredMemory(hostileFlags()...)...))
	w := newWitness(t, b.addr)
	time.Sleep(500 * time.Millisecond) // let the broker settle after start-up
	before, err := vmRSS(b)
	if err != nil {
		t.Fatal(err)
	}
	stop := w.during(200 * time.Millisecond)

	conns := make([]*hconn, idleConns)
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.close()
			}
		}
	})
	var (
		mu     sync.Mutex
		failed int
		first  error
	)
	start := time.Now()
	sem := make(chan struct{}, 50)
	var wg sync.WaitGroup
	for i := range conns {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			v := bothVersions[i%2]
			c, err := dialH(b.addr, v, 16)
			if err == nil {
				conns[i] = c
				_, err = c.connect(fmt.Sprintf("idle-%s-%d", runID, i))
			}
			if err != nil {
				mu.Lock()
				failed++
				if first == nil {
					first = fmt.Errorf("connection %d (%s): %w", i, v, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	opening := time.Since(start)
	if failed > 0 {
		t.Errorf("%d of %d connections failed to connect; the first: %v", failed, idleConns, first)
	}
	time.Sleep(time.Second) // the idle connections park
	after, err := vmRSS(b)
	if err != nil {
		t.Fatal(err)
	}
	n, werr := stop()
	if werr != nil {
		t.Errorf("the witness lost its service while the connections opened: %v", werr)
	}
	per := (after - before) / idleConns
	t.Logf("idle connections: %d opened (CONNECT, CONNACK), 50 at a time, in %v, %.0f/s, %d failed; broker RSS %s before, %s after: %+d bytes per connection (bound %d)",
		idleConns, opening.Round(time.Millisecond), float64(idleConns)/opening.Seconds(), failed, mib(before), mib(after), per, maxRSSPerConn)
	if per >= maxRSSPerConn {
		t.Errorf("the broker's RSS grew by %d bytes per idle connection, over the bound of %d", per, maxRSSPerConn)
	}

	// A sample of the idle connections is still served, and a new client is.
	sampled := 0
	for i := 0; i < idleConns; i += idleConns / 100 {
		if conns[i] == nil {
			continue
		}
		sampled++
		if err := conns[i].ping(); err != nil {
			t.Errorf("idle connection %d: %v", i, err)
		}
	}
	nc, err := dialH(b.addr, packet.V5, 0)
	if err != nil {
		t.Fatalf("a new client after %d idle connections: %v", idleConns, err)
	}
	defer nc.close()
	if _, err := nc.connect(uniq("after-idle")); err != nil {
		t.Errorf("a new client after %d idle connections: %v", idleConns, err)
	} else if err := nc.ping(); err != nil {
		t.Errorf("a new client after %d idle connections: %v", idleConns, err)
	}
	if err := w.check(); err != nil {
		t.Errorf("the witness after %d idle connections: %v", idleConns, err)
	}
	if err := brokerUp(b); err != nil {
		t.Error(err)
	}
	t.Logf("idle connections: %d of them answered PINGREQ afterwards, a new client connected; witness checked %d times meanwhile: %s",
		sampled, n, w.summary())
}

// TestHostileOversize runs a broker with -max-packet-size 1024 and sends,
// at 3.1.1 and 5.0, packets whose remaining length claims more: 268,435,455
// bytes (the most the encoding allows) and 1,025 bytes (one over the
// limit), after CONNECT and as the CONNECT itself. The broker refuses each
// from its fixed header: DISCONNECT 0x95 then a close at 5.0, a close at
// 3.1.1, a close for a CONNECT; a packet of exactly 1,024 bytes is
// accepted. Its resident memory does not grow by the sizes claimed.
//
// Issue 8: maximum packet size; 5.0 [MQTT-3.2.2-15], section 3.1.2.11.4.
func TestHostileOversize(t *testing.T) {
	needOwnBroker(t)
	t.Parallel()
	const limit = 1024
	b := startBroker(t, withFlags(measuredMemory(hostileFlags("-max-packet-size", fmt.Sprint(limit))...)...))
	w := newWitness(t, b.addr)
	before, err := vmRSS(b)
	if err != nil {
		t.Fatal(err)
	}

	// publishOf returns a whole PUBLISH at QoS 1 of exactly size bytes.
	publishOf := func(v packet.Version, size int) []byte {
		p := &packet.Publish{Topic: "hostile/size", QoS: 1, PacketID: 7}
		for {
			f, err := p.Append(nil, v)
			if err != nil {
				t.Fatal(err)
			}
			if len(f) >= size {
				if len(f) != size {
					t.Fatalf("no PUBLISH of exactly %d bytes", size)
				}
				return f
			}
			p.Payload = append(p.Payload, 'x')
		}
	}
	maxClaim := []byte{0xff, 0xff, 0xff, 0x7f} // 268,435,455
	for _, v := range bothVersions {
		tooLarge := "no reply, closed"
		if v == packet.V5 {
			tooLarge = "DISCONNECT " + rcName(packet.PacketTooLarge) + ", closed"
		}
		cases := []struct {
			name         string
			frame        []byte
			connectFirst bool
			want         string
		}{
			{"PUBLISH claiming 268,435,455 bytes", append(append([]byte{0x32}, maxClaim...), 0x00, 0x01, 't', 0x00, 0x01),
				true, tooLarge},
			{fmt.Sprintf("PUBLISH of %d bytes, over -max-packet-size %d", limit+1, limit), publishOf(v, limit+1),
				true, tooLarge},
			{"CONNECT claiming 268,435,455 bytes", append(append([]byte{0x10}, maxClaim...), 0x00, 0x04, 'M', 'Q', 'T', 'T', byte(v)),
				false, "no reply, closed"},
			{fmt.Sprintf("PUBLISH of exactly %d bytes", limit), publishOf(v, limit),
				true, "PUBACK"},
		}
		for _, c := range cases {
			hc, err := dialH(b.addr, v, 0)
			if err != nil {
				t.Fatal(err)
			}
			if c.connectFirst {
				if _, err := hc.connect(uniq("size")); err != nil {
					t.Fatalf("%s (%s): CONNECT: %v", c.name, v, err)
				}
			}
			if err := hc.write(c.frame); err != nil {
				t.Fatalf("%s (%s): %v", c.name, v, err)
			}
			var got string
			if c.want == "PUBACK" {
				p, err := hc.read(waitTime)
				if err != nil {
					got = err.Error()
				} else {
					got = describePacket(p)
				}
			} else {
				rest, err := hc.rest(waitTime)
				got = describeFrames(rest, v)
				if err != nil {
					got += ", still open"
				} else {
					got += ", closed"
				}
				if v == packet.V5 && !c.connectFirst && describeFrames(rest, v) == "CONNACK "+rcName(packet.PacketTooLarge) {
					got = c.want // a CONNACK 0x95 is as good as a silent close
				}
			}
			hc.close()
			werr := w.check()
			wit := "witness ok"
			if werr != nil {
				wit = "WITNESS LOST"
			}
			t.Logf("oversize %s (%s): %s; %s", c.name, v, got, wit)
			if got != c.want {
				t.Errorf("%s (%s): got %s, want %s", c.name, v, got, c.want)
			}
			if err := brokerUp(b); err != nil {
				t.Fatalf("after %s (%s): %v", c.name, v, err)
			}
			if werr != nil {
				t.Fatalf("after %s (%s): the witness lost its service: %v", c.name, v, werr)
			}
		}
	}
	after, err := vmRSS(b)
	if err != nil {
		t.Fatal(err)
	}
	const bound = 32 << 20
	t.Logf("oversize: broker RSS %s before, %s after 4 claims of 268,435,455 and 1,025 bytes (bound: growth under %s); witness: %s",
		mib(before), mib(after), mib(bound), w.summary())
	if after-before >= bound {
		t.Errorf("the broker's RSS grew by %s after the oversize claims, want under %s", mib(after-before), mib(bound))
	}
}

// subscribeFlood is how many SUBSCRIBE packets TestHostileSubscribeFlood
// sends from one client.
const subscribeFlood = 5000

// TestHostileSubscribeFlood has one client, at 3.1.1 and then at 5.0, write
// 5,000 SUBSCRIBE packets with distinct filters as fast as it can without
// reading, then read the 5,000 SUBACKs: each answers its SUBSCRIBE, in
// order. When the broker has -max-subscriptions it runs with 100, and the
// SUBACKs past the hundredth refuse (0x80 at 3.1.1, 0x97 Quota exceeded at
// 5.0); without it every filter is granted. The broker stays up, the
// flooding client is still served, and the witness keeps its service
// throughout. It is skipped on the emulated stacks (needEmbeddedStore).
//
// Issue 8: subscriptions per client.
func TestHostileSubscribeFlood(t *testing.T) {
	needOwnBroker(t)
	needEmbeddedStore(t)
	t.Parallel()
	limit := 0
	flags := hostileFlags()
	if brokerHasFlag("max-subscriptions") {
		limit = 100
		flags = append(flags, "-max-subscriptions", fmt.Sprint(limit))
	}
	b := startBroker(t, withFlags(measuredMemory(flags...)...))
	w := newWitness(t, b.addr)
	stop := w.during(200 * time.Millisecond)
	before, err := vmRSS(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range bothVersions {
		hc, err := dialH(b.addr, v, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer hc.close()
		if _, err := hc.connect(uniq("flood")); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		root := topicRoot("flood")
		var all []byte
		for i := range subscribeFlood {
			f, err := (&packet.Subscribe{PacketID: uint16(i + 1), Subscriptions: []packet.Subscription{
				{Filter: fmt.Sprintf("%s/%d/+", root, i), QoS: 1},
			}}).Append(nil, v)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, f...)
		}
		start := time.Now()
		hc.nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := hc.nc.Write(all); err != nil {
			t.Fatalf("%s: writing %d SUBSCRIBE packets (%d bytes): %v", v, subscribeFlood, len(all), err)
		}
		written := time.Since(start)
		refused := packet.ReasonCode(0x80)
		if v == packet.V5 {
			refused = packet.QuotaExceeded
		}
		granted, failed, wrong := 0, 0, 0
		var firstWrong string
		for i := range subscribeFlood {
			p, err := hc.read(30 * time.Second)
			if err != nil {
				t.Fatalf("%s: SUBACK %d of %d: %v", v, i+1, subscribeFlood, err)
			}
			ack, ok := p.(*packet.Suback)
			if !ok || ack.PacketID != uint16(i+1) || len(ack.ReasonCodes) != 1 {
				t.Fatalf("%s: got %+v, want the SUBACK of SUBSCRIBE %d", v, p, i+1)
			}
			rc := ack.ReasonCodes[0]
			want := packet.GrantedQoS1
			if limit > 0 && i >= limit {
				want = refused
			}
			switch {
			case rc == packet.GrantedQoS1:
				granted++
			case rc.IsError():
				failed++
			}
			if rc != want {
				wrong++
				if firstWrong == "" {
					firstWrong = fmt.Sprintf("SUBACK %d: %s, want %s", i+1, rcName(rc), rcName(want))
				}
			}
		}
		took := time.Since(start)
		if err := hc.ping(); err != nil {
			t.Errorf("%s: the flooding client after its SUBACKs: %v", v, err)
		}
		limitNote := "no -max-subscriptions flag: every filter should be granted"
		if limit > 0 {
			limitNote = fmt.Sprintf("-max-subscriptions %d: the first %d granted, the rest %s", limit, limit, rcName(refused))
		}
		t.Logf("SUBSCRIBE flood (%s): %d SUBSCRIBEs (%d bytes) written in %v without reading, %d SUBACKs in order after %v: %d granted, %d refused (%s); flooding client still served",
			v, subscribeFlood, len(all), ms(written), subscribeFlood, took.Round(time.Millisecond), granted, failed, limitNote)
		if wrong > 0 {
			t.Errorf("%s: %d SUBACK codes not as expected (%s); the first: %s", v, wrong, limitNote, firstWrong)
		}
		if err := hc.send(&packet.Disconnect{}); err != nil {
			t.Errorf("%s: DISCONNECT: %v", v, err)
		}
		if _, err := hc.rest(waitTime); err != nil {
			t.Errorf("%s: after DISCONNECT: %v", v, err)
		}
	}
	n, werr := stop()
	if werr != nil {
		t.Errorf("the witness lost its service during the SUBSCRIBE flood: %v", werr)
	}
	if err := brokerUp(b); err != nil {
		t.Error(err)
	}
	after, err := vmRSS(b)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("SUBSCRIBE flood: broker RSS %s before, %s after; witness checked %d times meanwhile: %s", mib(before), mib(after), n, w.summary())
}
