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

// The refusals of Authenticate, each wrapping ErrBadCredentials or
// ErrNotAuthorized: the client gets the answer of the one it wraps, the
// operator's log and metrics the refusal itself (Refusal).
var (
	// ErrUnknownUser: the username names no stored user.
	ErrUnknownUser = fmt.Errorf("%w: unknown user", ErrBadCredentials)
	// ErrWrongPassword: a stored user, and a wrong or missing password.
	ErrWrongPassword = fmt.Errorf("%w: wrong password", ErrBadCredentials)
	// ErrBackedOff: the username or the source address is backed off
	// after failures; no password was checked.
	ErrBackedOff = fmt.Errorf("%w: backed off after failures, password not checked", ErrBadCredentials)
	// ErrCertUsername: with Options.CertIdentity, a username other than
	// the identity of the client's certificate.
	ErrCertUsername = fmt.Errorf("%w: username differs from the certificate identity", ErrBadCredentials)
	// ErrAnonymous: a client without a username, while
	// Options.AllowAnonymous is off.
	ErrAnonymous = fmt.Errorf("%w: anonymous clients are not allowed", ErrNotAuthorized)
)

// Authenticate is AuthenticateFrom for a client of unknown address: only
// its username is backed off.
func (c *Checker) Authenticate(ctx context.Context, username string, password []byte, hasUsername, hasPassword bool, certIdentity string) (Identity, error) {
	return c.AuthenticateFrom(ctx, "", username, password, hasUsername, hasPassword, certIdentity)
}

// AuthenticateFrom decides who the client of a CONNECT, from the network
// address remote ("host:port", "" when unknown), is and returns its
// identity, with the client-id pattern in force for it.
//
// With Options.CertIdentity set and a non-empty certIdentity (the identity
// of the client certificate the proxy verified), the user is certIdentity:
// no password is needed (one sent is not looked at); a CONNECT may name
// no username or certIdentity itself, and one naming another user is
// refused with ErrCertUsername, so that a client cannot believe it is bob
// while the broker takes it as the alice of its certificate; a stored
// user of that name, when there is one, gives only its client-id pattern. Otherwise a
// client that sends a username must name a stored user and send the
// password whose hash the user holds; an unknown user is compared against
// a dummy hash all the same, so that it takes as long to refuse as a wrong
// password. Both give ErrBadCredentials. A client that sends no username
// is anonymous, allowed only with Options.AllowAnonymous and otherwise
// refused with ErrNotAuthorized; a password it sends is not looked at.
//
// Each check of a password runs bcrypt, tens of milliseconds of CPU, so
// checks are rationed (guard.go): credentials verified within CacheTTL
// pass without bcrypt while the user's hash is unchanged, and the checks
// of one username run one at a time, so that concurrent CONNECTs with the
// same credentials make one check (credwait.go); after failures,
// the source address and the username are backed off, and a client
// refused during a back-off gets ErrBadCredentials without a check, as for
// a wrong password (0x86, return code 4 at 3.1.1), so that it cannot tell
// a checked attempt from an unchecked one. (5.0's 0x9F Connection rate
// exceeded, section 3.2.2.2, would tell it, and 3.1.1 has no such code;
// 0x8A Server busy would blame the server for the client's failures); and at most Options.MaxPasswordChecks checks run at once,
// the others waiting, or giving up with ctx.
//
// A store failure, or ctx ending while waiting, is returned wrapped, and
// is neither sentinel: the broker should treat it as a server error.
func (c *Checker) AuthenticateFrom(ctx context.Context, remote, username string, password []byte, hasUsername, hasPassword bool, certIdentity string) (Identity, error) {
	if c.opts.CertIdentity && certIdentity != "" {
		if hasUsername && username != certIdentity {
			c.log.Debug("username differs from the certificate identity", "user", logField(username), "cert", logField(certIdentity))
			return Identity{}, ErrCertUsername
		}
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
		return Identity{}, ErrAnonymous
	}
	for hasPassword {
		if id, ok, err := c.cached(ctx, username, password); err != nil || ok {
			return id, err
		}
		done, err := c.creds.claim(ctx, username) // credwait.go
		if err != nil {
			return Identity{}, err
		}
		if done != nil {
			defer done()
			break
		}
	}
	now := c.now()
	src, name := sourceKey(remote), userKey(username)
	if c.sources.blocked(src, now) || c.users.blocked(name, now) {
		c.backedOff.Add(1)
		c.log.Debug("refused during back-off, password not checked", "user", logField(username), "source", src)
		return Identity{}, ErrBackedOff
	}
	u, err := c.store.User(ctx, username)
	hash := dummyHash // no user enumeration by timing
	switch {
	case errors.Is(err, ErrNotFound):
		u = nil
	case err != nil:
		return Identity{}, fmt.Errorf("auth: read user %q: %w", username, err)
	default:
		hash = u.Hash
	}
	// The hash is compared even without a password, so that every refusal
	// takes as long.
	ok, err := c.checkPassword(ctx, hash, password)
	if err != nil {
		return Identity{}, err
	}
	if u == nil || !ok || !hasPassword {
		c.sources.fail(src, c.now())
		c.users.fail(name, c.now())
		if u == nil {
			c.log.Debug("unknown user refused", "user", logField(username), "source", src)
			return Identity{}, ErrUnknownUser
		}
		c.log.Debug("wrong password refused", "user", logField(username), "source", src)
		return Identity{}, ErrWrongPassword
	}
	// A success ends the username's run of failures, not the source's:
	// a client with an account of its own must not be able to clear the
	// back-off of the address it guesses others' passwords from.
	c.users.succeed(name)
	c.creds.put(username, password, u.Hash, now)
	c.log.Debug("password verified", "user", logField(username), "source", src)
	return c.userIdentity(u), nil
}

// cached returns the identity of username when password is what this
// Checker verified for it within CacheTTL, against the user's hash now
// stored.
func (c *Checker) cached(ctx context.Context, username string, password []byte) (Identity, bool, error) {
	now := c.now()
	if !c.creds.candidate(username, password, now) {
		return Identity{}, false, nil
	}
	u, err := c.store.User(ctx, username)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Identity{}, false, fmt.Errorf("auth: read user %q: %w", username, err)
	}
	if err == nil && c.creds.verified(username, password, u.Hash, now) {
		return c.userIdentity(u), true, nil
	}
	return Identity{}, false, nil
}

// userIdentity is the identity of the stored user u, with its client-id
// pattern, or else Options.ClientIDs.
func (c *Checker) userIdentity(u *User) Identity {
	id := Identity{User: u.Name, ClientIDs: c.opts.ClientIDs}
	if u.ClientIDs != "" {
		id.ClientIDs = u.ClientIDs
	}
	return id
}
