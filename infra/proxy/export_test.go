package proxy

// SetPolling turns parking idle connections in the poller on or off, for
// the connections accepted from then on, and returns the previous setting.
func SetPolling(on bool) bool {
	prev := usePoller
	usePoller = on
	return prev
}

// ParkAfter is parkAfter.
const ParkAfter = parkAfter

// SendBytes is the bytes waiting to be written over all connections,
// batches being written included.
func (s *Server) SendBytes() int64 { return s.sendBytes.Load() }
