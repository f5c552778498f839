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
	return func() bool {
		var closed bool
		var b [1]byte
		err := raw.Read(func(fd uintptr) bool {
			n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			switch {
			case err == nil:
				closed = n == 0
			case err == syscall.EAGAIN || err == syscall.EINTR:
			default:
				closed = true // reset, or another error a read would return
			}
			return true // one look, never wait
		})
		return closed || err != nil
	}
}
