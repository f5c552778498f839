package e2e_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
)

// stormClients and stormUsers size TestFaultConnectStormAfterDrain to
// the test budget; make bench-connect-storm runs the full 2,000 (README,
// "CONNECT storms").
const (
	stormClients = 200
	stormUsers   = 4
)

// TestFaultConnectStormAfterDrain: stormClients 5.0 clients with
// passwords (bcrypt cost 4, stormUsers users) and persistent sessions are
// connected to proxy A; A gets SIGTERM and drains; each client, once its
// connection ends, reconnects at once through B (retrying after 200 ms
// when refused, as devices do). Every client reads DISCONNECT 0x8B, and
// every one gets CONNACK through B with its session present (issue 15,
// items 1 and 4).
func TestFaultConnectStormAfterDrain(t *testing.T) {
	const scenario = "CONNECT storm: 200 clients with passwords reconnect through B when A drains (SIGTERM)"
	s := newFaultStack(t, nil)
	password := "storm-secret"
	for u := range stormUsers {
		addUser(t, s.dir, fmt.Sprintf("storm%d", u), password)
	}
	a, b := s.start("A"), s.start("B")
	prefix := uniq("storm")
	conns := connectMany(t, stormClients, "A", func(i int) (net.Conn, error) {
		nc, _, err := stormConnect(a.addr, fmt.Sprintf("%s-%d", prefix, i), fmt.Sprintf("storm%d", i%stormUsers), password, 30*time.Second)
		return nc, err
	})
	var wg sync.WaitGroup

	begin := time.Now()
	took := make([]time.Duration, stormClients)
	reasons := make([]packet.ReasonCode, stormClients)
	present := make([]bool, stormClients)
	for i, nc := range conns {
		wg.Go(func() {
			reasons[i] = readUntilClosed(nc)
			nc.Close()
			for time.Since(begin) < 2*time.Minute {
				c, ack, err := stormConnect(b.addr, fmt.Sprintf("%s-%d", prefix, i), fmt.Sprintf("storm%d", i%stormUsers), password, 30*time.Second)
				if err == nil {
					took[i], present[i] = time.Since(begin), ack.SessionPresent
					c.Close()
					return
				}
				time.Sleep(200 * time.Millisecond)
			}
		})
	}
	if err := a.stop(); err != nil {
		t.Errorf("SIGTERM to A: %v", err)
	}
	drained := time.Since(begin)
	wg.Wait()

	r := &checkResult{}
	const chkDrain, chkStorm = "every 5.0 client read DISCONNECT 0x8B", "every client reconnected through B with its session present"
	for i := range stormClients {
		if reasons[i] != packet.ServerShuttingDown {
			r.violate(chkDrain, "client %d: its connection ended with reason %v", i, reasons[i])
		} else {
			r.count(chkDrain, true)
		}
		switch {
		case took[i] == 0:
			r.violate(chkStorm, "client %d: no CONNACK through B within 2 minutes", i)
		case !present[i]:
			r.violate(chkStorm, "client %d: Session Present 0", i)
		default:
			r.count(chkStorm, true)
		}
	}
	sorted := slices.Clone(took)
	slices.Sort(sorted)
	report(t, scenario, r, fmt.Sprintf("A drained in %v", drained.Round(100*time.Millisecond)),
		fmt.Sprintf("all CONNACKs through B %v after the SIGTERM (median %v)",
			sorted[len(sorted)-1].Round(100*time.Millisecond), sorted[len(sorted)/2].Round(100*time.Millisecond)))
}

// stormConnect connects a 5.0 client id with a password and a session of
// 300 s through addr, and returns the connection and the CONNACK, or why
// it had none within d.
func stormConnect(addr, id, user, password string, d time.Duration) (net.Conn, *packet.Connack, error) {
	p := &packet.Connect{ClientID: id, KeepAlive: 600, UsernameFlag: true, Username: user, PasswordFlag: true, Password: []byte(password)}
	return rawConnectV5(addr, p, d)
}

// rawConnectV5 connects p, given a session of 300 s, through addr, and
// returns the connection and the CONNACK, or why it had none within d.
func rawConnectV5(addr string, p *packet.Connect, d time.Duration) (net.Conn, *packet.Connack, error) {
	id := p.ClientID
	nc, err := net.DialTimeout("tcp", addr, d)
	if err != nil {
		return nil, nil, err
	}
	p.Properties.SessionExpiry = 300
	p.Properties.Set(packet.PropSessionExpiry)
	b, err := p.Append(nil, packet.V5)
	if err == nil {
		nc.SetDeadline(time.Now().Add(d))
		_, err = nc.Write(b)
	}
	var f []byte
	if err == nil {
		f, err = packet.NewFrameReader(bufio.NewReader(nc), 1<<10).ReadFrame(nil)
	}
	var ack packet.Connack
	if err == nil {
		err = ack.Decode(f, packet.V5)
	}
	if err == nil && ack.ReasonCode != packet.Success {
		err = fmt.Errorf("CONNACK %v", ack.ReasonCode)
	}
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("%s through %s: %w", id, addr, err)
	}
	nc.SetDeadline(time.Time{})
	return nc, &ack, nil
}

// readUntilClosed reads a 5.0 connection until it ends and returns the
// reason code of the DISCONNECT it got, or 0xFF for none.
func readUntilClosed(nc net.Conn) packet.ReasonCode {
	fr := packet.NewFrameReader(bufio.NewReader(nc), 1<<20)
	rc := packet.ReasonCode(0xFF)
	for {
		f, err := fr.ReadFrame(nil)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				return 0xFF // a reset: what it read does not count
			}
			return rc
		}
		if packet.Type(f[0]>>4) == packet.DISCONNECT {
			var d packet.Disconnect
			if d.Decode(f, packet.V5) == nil {
				rc = d.ReasonCode
			}
		}
	}
}
