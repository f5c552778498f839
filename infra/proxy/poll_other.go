//go:build !linux

package proxy

import "errors"

// Without epoll every connection keeps its goroutine.

func (c *conn) pollable() rawConn { return nil }

func armPoll(rawConn, uint64) error { return errors.ErrUnsupported }

func pollerRemove(*conn) {}
