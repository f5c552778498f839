//go:build unix

package allinone

import (
	"log/slog"
	"syscall"
)

// warnDescriptors warns when the process may open fewer files than
// -max-connections asks for: the accept loop then meets EMFILE before the
// limit, and backs off (the broker keeps serving, but new clients wait).
// Go raises the soft limit to the hard one at start-up; make run raises it
// too.
func warnDescriptors(log *slog.Logger, maxConns int) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return
	}
	// A margin for the store, the listeners, logs and outgoing requests.
	const reserve = 64
	if lim.Cur < uint64(maxConns)+reserve {
		log.Warn("the file descriptor limit is below -max-connections; raise it (ulimit -n) or lower -max-connections",
			"limit", lim.Cur, "max-connections", maxConns)
	}
}
