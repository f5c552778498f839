//go:build linux

package proxy

import (
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// poller parks idle plain-TCP connections in an epoll set of its own, so
// that an idle connection holds no goroutine (and no goroutine stack): the
// connection's goroutine exits when no bytes wait, and the poller starts a
// new one when some arrive (see conn.park). Registrations are level
// triggered and one-shot: arming a connection whose socket already holds
// bytes reports it at once, so nothing that arrives between the last read
// and the arming is missed, and each arming wakes one goroutine at most.
// The fd stays registered, disarmed, between parks; closing the socket
// removes it from the set.
type poller struct {
	epfd int

	mu    sync.Mutex
	conns map[uint64]*conn // by conn.token
	next  uint64
}

var (
	pollOnce sync.Once
	// thePoll is the poller, nil until getPoller started it or when epoll
	// is unavailable. It is atomic because connections that never poll
	// (TLS, WebSockets) read it as they end, while another connection may
	// be starting it.
	thePoll atomic.Pointer[poller]
)

// getPoller returns the process's poller, starting it on first use, or nil
// when it cannot be started (connections then keep a goroutine each).
func getPoller() *poller {
	pollOnce.Do(func() {
		fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			return
		}
		p := &poller{epfd: fd, conns: map[uint64]*conn{}}
		thePoll.Store(p)
		go p.run()
		go p.sweep()
	})
	return thePoll.Load()
}

// add gives c a token for its epoll registrations.
func (p *poller) add(c *conn) {
	p.mu.Lock()
	p.next++
	c.token = p.next
	p.conns[c.token] = c
	p.mu.Unlock()
}

// remove forgets c; a late event for it is ignored.
func (p *poller) remove(c *conn) {
	if c.token == 0 {
		return
	}
	c.parkUntil.Store(0)
	p.mu.Lock()
	delete(p.conns, c.token)
	p.mu.Unlock()
}

// arm asks for one readiness event for fd, reported with token.
func (p *poller) arm(fd int, token uint64) error {
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | epollOneShot, Fd: int32(uint32(token)), Pad: int32(uint32(token >> 32))}
	err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, fd, &ev)
	if err == syscall.ENOENT {
		err = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev)
	}
	return err
}

// sweepEvery is how often parked connections are checked against their
// read deadlines: a connection is closed up to this much after its keep
// alive (or connect timeout) ran out. One sweep for all connections costs
// far less memory than a timer per connection.
const sweepEvery = 100 * time.Millisecond

// sweep ends the parked connections whose read deadline has passed.
func (p *poller) sweep() {
	var batch []*conn
	for range time.Tick(sweepEvery) {
		now := time.Now().UnixNano()
		batch = batch[:0]
		p.mu.Lock()
		for _, c := range p.conns {
			if u := c.parkUntil.Load(); u != 0 && u <= now {
				batch = append(batch, c)
			}
		}
		p.mu.Unlock()
		for _, c := range batch {
			c.expire(now)
		}
		clear(batch)
	}
}

// epollOneShot is EPOLLONESHOT, which package syscall spells as a negative
// int.
const epollOneShot = 1 << 30

// run waits for events and resumes the connections they name.
func (p *poller) run() {
	var events [128]syscall.EpollEvent
	for {
		n, err := syscall.EpollWait(p.epfd, events[:], -1)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			panic("proxy: epoll_wait: " + err.Error())
		}
		p.mu.Lock()
		for i := range n {
			token := uint64(uint32(events[i].Fd)) | uint64(uint32(events[i].Pad))<<32
			if c := p.conns[token]; c != nil {
				c.wake()
			}
		}
		p.mu.Unlock()
	}
}

// pollable returns the raw connection to park c with, or nil when c must
// keep a goroutine: for anything but plain TCP (TLS, WebSockets, pipes in
// tests), or when polling is off or unavailable.
func (c *conn) pollable() rawConn {
	if !usePoller {
		return nil
	}
	tc, ok := c.nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	p := getPoller()
	if p == nil {
		return nil
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	p.add(c)
	return raw
}

// armPoll asks the poller to wake c once bytes arrive (or the socket
// fails). An error means the socket is closed or cannot be polled.
func armPoll(raw rawConn, token uint64) error {
	var aerr error
	err := raw.Control(func(fd uintptr) { aerr = thePoll.Load().arm(int(fd), token) })
	if err != nil {
		return err
	}
	return aerr
}

func pollerRemove(c *conn) {
	if p := thePoll.Load(); p != nil {
		p.remove(c)
	}
}
