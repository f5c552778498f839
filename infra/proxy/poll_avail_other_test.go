//go:build !linux

package proxy

func thePollAvailable() bool { return false }
