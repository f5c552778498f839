//go:build linux

package proxy

import (
	"net"
	"syscall"
)

// peerClosedFunc returns a check of whether the client closed nc (a read
// would return end of file, or an error), which reads nothing: it peeks
// without waiting. Bytes waiting count as open, so a client that sent more
// than its CONNECT is never taken for gone. Nil when nc is not a plain TCP
// connection.
func peerClosedFunc(nc net.Conn) func() bool {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	// Control, not Read: RawConn.Read fails once the connection's read
	// deadline has passed, and a CONNECT's connection keeps the deadline
	// of -connect-timeout (10 s) while it waits for the handlers, so every
	// CONNECT that waited longer was taken for abandoned and closed
	// without CONNACK (the 2,000-client storm of make
	// bench-connect-storm: 31 CONNACKs in 15 min, for 1,665 CONNECTs
	// done). The peek never waits (MSG_DONTWAIT), so it needs no poller.
	return func() bool {
		var closed bool
		var b [1]byte
		err := raw.Control(func(fd uintptr) {
			n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			switch {
			case err == nil:
				closed = n == 0
			case err == syscall.EAGAIN || err == syscall.EINTR:
			default:
				closed = true // reset, or another error a read would return
			}
		})
		return closed || err != nil // err: the connection itself is closed
	}
}
