//go:build !unix

package allinone

import "log/slog"

// warnDescriptors has nothing to check where there is no RLIMIT_NOFILE.
func warnDescriptors(*slog.Logger, int) {}
