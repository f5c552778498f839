package adminsock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"unicode/utf8"

	"github.com/mqttless/mqttless/core/auth"
)

// Client is an auth.Store whose methods run in the broker that serves
// the socket at Path.
type Client struct {
	Path string
}

var _ auth.Store = (*Client)(nil)

// Running reports whether a broker serves the socket at path: whether a
// connection to it succeeds. A socket file without a broker (one that did
// not stop cleanly) refuses connections.
func Running(path string) bool {
	c, err := net.Dial("unix", path)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// do sends req and returns the response, or its error as the auth.Store
// sentinel it wraps.
func (c *Client) do(ctx context.Context, req *request) (*response, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.Path)
	if err != nil {
		return nil, fmt.Errorf("adminsock: the broker's admin socket %s: %w", c.Path, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if err := json.NewEncoder(conn).Encode(req); err != nil {
		return nil, fmt.Errorf("adminsock: send %s: %w", req.Op, err)
	}
	var resp response
	if err := json.NewDecoder(conn).Decode(&resp); err != nil {
		return nil, fmt.Errorf("adminsock: read the answer to %s: %w", req.Op, errors.Join(err, ctx.Err()))
	}
	if resp.Err != "" {
		if e, ok := errKinds[resp.Kind]; ok {
			return nil, fmt.Errorf("%w (the broker: %s)", e, resp.Err)
		}
		return nil, fmt.Errorf("adminsock: %s: the broker: %s", req.Op, resp.Err)
	}
	return &resp, nil
}

// JSON carries strings as UTF-8, replacing what is not: a string that is
// not valid UTF-8 is refused here, as the stores refuse it (no stored
// name or ID can be one).
func invalidUTF8(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return true
		}
	}
	return false
}

// User implements auth.Store.
func (c *Client) User(ctx context.Context, name string) (*auth.User, error) {
	if invalidUTF8(name) {
		return nil, fmt.Errorf("%w: user %q", auth.ErrNotFound, name)
	}
	r, err := c.do(ctx, &request{Op: "user", Name: name})
	if err != nil {
		return nil, err
	}
	if r.User == nil {
		return nil, fmt.Errorf("%w: user %q", auth.ErrNotFound, name)
	}
	return r.User, nil
}

// PutUser implements auth.Store.
func (c *Client) PutUser(ctx context.Context, u *auth.User, replace bool) error {
	if u != nil && invalidUTF8(u.Name, u.ClientIDs) {
		return fmt.Errorf("%w: user %q: not UTF-8", auth.ErrInvalid, u.Name)
	}
	_, err := c.do(ctx, &request{Op: "putUser", User: u, Replace: replace})
	return err
}

// DeleteUser implements auth.Store.
func (c *Client) DeleteUser(ctx context.Context, name string) error {
	if invalidUTF8(name) {
		return fmt.Errorf("%w: user %q", auth.ErrNotFound, name)
	}
	_, err := c.do(ctx, &request{Op: "deleteUser", Name: name})
	return err
}

// Users implements auth.Store.
func (c *Client) Users(ctx context.Context) ([]*auth.User, error) {
	r, err := c.do(ctx, &request{Op: "users"})
	if err != nil {
		return nil, err
	}
	return r.Users, nil
}

// Rules implements auth.Store.
func (c *Client) Rules(ctx context.Context) ([]auth.Rule, error) {
	r, err := c.do(ctx, &request{Op: "rules"})
	if err != nil {
		return nil, err
	}
	return r.Rules, nil
}

// PutRule implements auth.Store.
func (c *Client) PutRule(ctx context.Context, r auth.Rule) (string, error) {
	if invalidUTF8(r.ID, r.User, r.ClientID, string(r.Access), r.Filter) {
		return "", fmt.Errorf("%w: rule %q: not UTF-8", auth.ErrInvalid, r.ID)
	}
	resp, err := c.do(ctx, &request{Op: "putRule", Rule: &r})
	if err != nil {
		return "", err
	}
	return resp.ID, nil
}

// DeleteRule implements auth.Store.
func (c *Client) DeleteRule(ctx context.Context, id string) error {
	if invalidUTF8(id) {
		return fmt.Errorf("%w: rule %q", auth.ErrNotFound, id)
	}
	_, err := c.do(ctx, &request{Op: "deleteRule", ID: id})
	return err
}
