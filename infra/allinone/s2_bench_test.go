package allinone_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
)

// BenchmarkS2 is make bench's S2 in one process, for CPU profiles of the
// broker's QoS 1 path (go test -bench S2 -cpuprofile): 8 publishers send
// QoS 1 messages to one QoS 1 subscriber of bench/s2/#, each with at most
// 16 in flight end to end (a publisher's slot comes back when the
// subscriber receives the message), on the all-in-one broker with bbolt.
// It reports the rate and the process's CPU time per message (the clients
// included), which is steadier than the rate on a shared machine.
func BenchmarkS2(b *testing.B) {
	for _, tc := range []struct{ delivery, fsync string }{{"v2", "true"}, {"v2", "false"}, {"v1", "true"}} {
		b.Run(fmt.Sprintf("delivery=%s/fsync=%s", tc.delivery, tc.fsync), func(b *testing.B) {
			benchS2(b, "-delivery", tc.delivery, "-fsync", tc.fsync)
		})
	}
}

func benchS2(b *testing.B, args ...string) {
	const publishers, inflight = 8, 16
	args = append([]string{"-store", "bolt", "-data-dir", b.TempDir(),
		"-max-publish-rate", "0", "-max-conn-rate", "0"}, args...)
	addr := runBroker(b, slog.New(slog.DiscardHandler), args...).Addr().String()

	sub := s2Dial(b, addr, "s2-sub")
	defer sub.nc.Close()
	sub.send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "bench/s2/#", QoS: 1}}})
	if _, err := sub.fr.ReadFrame(nil); err != nil { // SUBACK
		b.Fatal(err)
	}
	tokens := make([]chan struct{}, publishers)
	for i := range tokens {
		tokens[i] = make(chan struct{}, inflight)
		for range inflight {
			tokens[i] <- struct{}{}
		}
	}
	var recv atomic.Int64
	want := int64(b.N)
	finished := make(chan struct{})
	go func() {
		var ack, f []byte
		for {
			var err error
			if f, err = sub.fr.ReadFrame(f); err != nil {
				return
			}
			h, n, err := packet.ParseFixedHeader(f)
			if err != nil || h.Type != packet.PUBLISH {
				continue
			}
			body := f[n:]
			tl := int(binary.BigEndian.Uint16(body))
			id := binary.BigEndian.Uint16(body[2+tl:])
			pub := int(body[2+tl+2])
			select {
			case tokens[pub] <- struct{}{}:
			default:
			}
			ack, _ = (&packet.Puback{PacketID: id}).Append(ack[:0], packet.V311)
			sub.bw.Write(ack)
			if sub.br.Buffered() == 0 && sub.bw.Flush() != nil {
				return
			}
			if recv.Add(1) == want {
				close(finished)
			}
		}
	}()
	pubs := make([]*s2Client, publishers)
	for i := range pubs {
		pubs[i] = s2Dial(b, addr, fmt.Sprintf("s2-pub-%d", i))
		defer pubs[i].nc.Close()
		go func() { // PUBACKs
			var f []byte
			for {
				var err error
				if f, err = pubs[i].fr.ReadFrame(f); err != nil {
					return
				}
			}
		}()
	}
	var sent atomic.Int64
	var wg sync.WaitGroup
	cpu0 := cpuTime()
	b.ResetTimer()
	start := time.Now()
	for i, c := range pubs {
		wg.Go(func() {
			p := &packet.Publish{QoS: 1, Topic: fmt.Sprintf("bench/s2/%d", i), Payload: make([]byte, 64)}
			p.Payload[0] = byte(i)
			var seq int
			for {
				if _, ok := <-tokens[i]; !ok {
					return
				}
				n := 1
			more:
				for {
					select {
					case _, ok := <-tokens[i]:
						if !ok {
							return
						}
						n++
					default:
						break more
					}
				}
				for range n {
					if sent.Add(1) > want {
						c.bw.Flush()
						return
					}
					seq++
					p.PacketID = uint16(seq%65535) + 1
					out, _ := p.Append(nil, packet.V311)
					c.bw.Write(out)
				}
				if c.bw.Flush() != nil {
					return
				}
			}
		})
	}
	select {
	case <-finished:
	case <-time.After(time.Duration(b.N)*time.Millisecond + 30*time.Second):
		b.Fatalf("received %d of %d", recv.Load(), b.N)
	}
	wall := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/wall.Seconds(), "msg/s")
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/msg")
	for _, t := range tokens { // release publishers waiting for a slot
		close(t)
	}
	wg.Wait()
}

type s2Client struct {
	nc net.Conn
	br *bufio.Reader
	bw *bufio.Writer
	fr *packet.FrameReader
}

func s2Dial(b *testing.B, addr, id string) *s2Client {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	br := bufio.NewReaderSize(nc, 64<<10)
	c := &s2Client{nc: nc, br: br, bw: bufio.NewWriterSize(nc, 16<<10), fr: packet.NewFrameReader(br, 1<<20)}
	c.send(&packet.Connect{ClientID: id, CleanStart: true, KeepAlive: 600})
	if _, err := c.fr.ReadFrame(nil); err != nil { // CONNACK
		b.Fatal(err)
	}
	return c
}

func (c *s2Client) send(p packet.Packet) {
	out, _ := p.Append(nil, packet.V311)
	c.bw.Write(out)
	c.bw.Flush()
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
