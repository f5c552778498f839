package invocation

import (
	"context"
	"errors"
)

// Shedding: an event whose answer is useless once its caller's deadline
// has passed (a CONNECT: the proxy closes the connection at its
// deadline, and the client retries) may be refused by an invoker that
// sees it could not be answered in time, rather than invoked for
// nothing. The caller marks it with Sheddable; the invoker refuses it
// with ErrShed, without an invocation, when the caller's deadline leaves
// less time than the function's recent invocations took
// (infra/lambdainvoke/shed.go). An event whose caller gave up (its
// context cancelled, e.g. because the connection closed) is never
// invoked, sheddable or not.

// ErrShed is an event the invoker refused without invoking it: it could
// not have been answered before its caller's deadline.
var ErrShed = errors.New("invocation: refused, no time left to answer it")

type sheddableKey struct{}

// Sheddable returns ctx marking its event as one the invoker may refuse
// with ErrShed.
func Sheddable(ctx context.Context) context.Context {
	return context.WithValue(ctx, sheddableKey{}, true)
}

// IsSheddable reports whether ctx was marked by Sheddable.
func IsSheddable(ctx context.Context) bool {
	v, _ := ctx.Value(sheddableKey{}).(bool)
	return v
}
