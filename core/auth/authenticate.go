package auth

import (
	"context"
	"errors"
	"fmt"
)

// Errors of Authenticate. A broker answers them in its CONNACK.
var (
	// ErrBadCredentials is an unknown username or a wrong or missing
	// password: CONNACK 0x86 (Bad User Name or Password) at MQTT 5.0,
	// return code 4 at 3.1.1.
	ErrBadCredentials = errors.New("auth: bad user name or password")
	// ErrNotAuthorized is a client that may not connect, such as an
	// anonymous one when anonymous access is off: CONNACK 0x87 (Not
	// authorized) at MQTT 5.0, return code 5 at 3.1.1.
	ErrNotAuthorized = errors.New("auth: not authorized")
)

// Authenticate decides who the client of a CONNECT is and returns its
// identity, with the client-id pattern in force for it.
//
// With Options.CertIdentity set and a non-empty certIdentity (the identity
// of the client certificate the proxy verified), the user is certIdentity:
// no password is needed and the CONNECT's username is ignored; a stored
// user of that name, when there is one, gives only its client-id pattern. Otherwise a
// client that sends a username must name a stored user and send the
// password whose hash the user holds; an unknown user is compared against
// a dummy hash all the same, so that it takes as long to refuse as a wrong
// password. Both give ErrBadCredentials. A client that sends no username
// is anonymous, allowed only with Options.AllowAnonymous and otherwise
// refused with ErrNotAuthorized; a password it sends is not looked at.
//
// A store failure is returned wrapped, and is neither sentinel: the
// broker should treat it as a server error. Each check of a password runs
// bcrypt, which costs tens of milliseconds of CPU.
func (c *Checker) Authenticate(ctx context.Context, username string, password []byte, hasUsername, hasPassword bool, certIdentity string) (Identity, error) {
	if c.opts.CertIdentity && certIdentity != "" {
		id := Identity{User: certIdentity, Cert: true, ClientIDs: c.opts.ClientIDs}
		u, err := c.store.User(ctx, certIdentity)
		switch {
		case err == nil && u.ClientIDs != "":
			id.ClientIDs = u.ClientIDs
		case err != nil && !errors.Is(err, ErrNotFound):
			return Identity{}, fmt.Errorf("auth: read user %q: %w", certIdentity, err)
		}
		return id, nil
	}
	if !hasUsername {
		if c.opts.AllowAnonymous {
			return Identity{ClientIDs: c.opts.ClientIDs}, nil
		}
		c.log.Debug("anonymous client refused")
		return Identity{}, ErrNotAuthorized
	}
	u, err := c.store.User(ctx, username)
	switch {
	case errors.Is(err, ErrNotFound):
		CheckPassword(dummyHash, password) // no user enumeration by timing
		c.log.Debug("unknown user refused", "user", username)
		return Identity{}, ErrBadCredentials
	case err != nil:
		return Identity{}, fmt.Errorf("auth: read user %q: %w", username, err)
	}
	// The hash is compared even without a password, so that every refusal
	// takes as long.
	if !CheckPassword(u.Hash, password) || !hasPassword {
		c.log.Debug("wrong password refused", "user", username)
		return Identity{}, ErrBadCredentials
	}
	id := Identity{User: username, ClientIDs: c.opts.ClientIDs}
	if u.ClientIDs != "" {
		id.ClientIDs = u.ClientIDs
	}
	return id, nil
}
