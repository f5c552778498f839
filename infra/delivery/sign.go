// Package delivery carries deliveries between handlers and proxies: the
// HTTP endpoint each proxy serves for writing frames to the connections it
// holds (Server), the client handlers call it with (Client), and Relay,
// which sends a handler's deliveries where they belong.
//
// Every request is signed: an HMAC-SHA256, under a secret the proxies and
// handlers share, over the request's timestamp and body. A proxy refuses a
// request that is unsigned, wrongly signed, outside the allowed clock skew,
// or a replay of one it already served.
package delivery

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
)

// The headers that carry a request's signature.
const (
	// HeaderTimestamp is the request's time in Unix milliseconds.
	HeaderTimestamp = "X-Mqttless-Timestamp"
	// HeaderSignature is the hex HMAC-SHA256 of the timestamp, a newline
	// and the body.
	HeaderSignature = "X-Mqttless-Signature"
)

// Path is the delivery endpoint's path.
const Path = "/deliver"

// MinSecretLen is the shortest secret accepted, in bytes.
const MinSecretLen = 16

// ErrRefused is the endpoint's one answer to every request it refuses,
// which the client returns wrapped: it tells a sender without the secret
// nothing about why. The endpoint logs the reason, one of the errors
// below.
var ErrRefused = errors.New("delivery: request refused")

// Why the endpoint refuses a request; it logs them, and answers ErrRefused.
var (
	// ErrUnsigned is a request without a timestamp or signature.
	ErrUnsigned = errors.New("delivery: request not signed")
	// ErrBadSignature is a signature that does not match the body.
	ErrBadSignature = errors.New("delivery: bad signature")
	// ErrStale is a timestamp outside the allowed clock skew.
	ErrStale = errors.New("delivery: timestamp outside the allowed skew")
	// ErrReplayed is a request the endpoint has already served.
	ErrReplayed = errors.New("delivery: request replayed")
	// ErrTooLarge is a body of unknown length, or longer than the
	// endpoint's maximum.
	ErrTooLarge = errors.New("delivery: body too large")
	// errUnserved is a request the endpoint had no slot for, or whose body
	// did not arrive whole.
	errUnserved = errors.New("delivery: request not served")
	// ErrSecret is a secret shorter than MinSecretLen.
	ErrSecret = errors.New("delivery: secret too short")
)

// Sign returns the signature of body sent at ts (Unix milliseconds).
func Sign(secret []byte, ts int64, body []byte) string {
	return hex.EncodeToString(mac(secret, ts, body))
}

// verify reports whether sig is body's signature at ts, in constant time.
func verify(secret []byte, ts int64, body []byte, sig string) bool {
	want, err := hex.DecodeString(sig)
	return err == nil && hmac.Equal(mac(secret, ts, body), want)
}

func mac(secret []byte, ts int64, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write(strconv.AppendInt(nil, ts, 10))
	m.Write([]byte{'\n'})
	m.Write(body)
	return m.Sum(nil)
}
