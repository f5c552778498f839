//go:build !linux

package proxy

import "net"

// peerClosedFunc: without a way to peek, a CONNECT waiting for the
// handlers is not watched (connectwait.go).
func peerClosedFunc(net.Conn) func() bool { return nil }
