package auth

import (
	"context"
	"errors"
	"fmt"
)

// Exists reports whether id still stands: a stored user must still exist;
// a certificate identity and the anonymous identity always stand. What a
// store read told is used for Options.CacheTTL, so that a removed user's
// connections and sessions are refused within that time (see the session
// package's fan-out and handler calls); a store failure is returned
// wrapped.
func (c *Checker) Exists(ctx context.Context, id Identity) (bool, error) {
	if id.User == "" || id.Cert {
		return true, nil
	}
	now := c.now()
	if exists, ok := c.exists.fresh(id.User, now, c.opts.CacheTTL); ok {
		return exists, nil
	}
	_, err := c.store.User(ctx, id.User)
	switch {
	case errors.Is(err, ErrNotFound):
		c.exists.set(id.User, false, now, c.opts.CacheTTL)
		c.log.Debug("user no longer exists", "user", id.User)
		return false, nil
	case err != nil:
		return false, fmt.Errorf("auth: read user %q: %w", id.User, err)
	}
	c.exists.set(id.User, true, now, c.opts.CacheTTL)
	return true, nil
}
