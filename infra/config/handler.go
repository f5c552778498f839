package config

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/mqttless/mqttless/core/auth"
	"github.com/mqttless/mqttless/core/session"
)

// NewHandler returns the handlers over st with the limits of c and, when
// st keeps users and access rules (every store of this module does), the
// authentication and authorization c.Auth sets: anonymous access, the
// client certificate identity and the rule cache. The one-machine broker
// (infra/allinone) and the handler functions (infra/lambdafn) both build
// theirs with it, so that the same rules apply wherever the handlers run;
// extra are the options of what each runs itself (session.WithChunks).
func (c Config) NewHandler(st session.Store, log *slog.Logger, extra ...session.Option) (*session.Handler, error) {
	opts := extra
	if as, ok := st.(auth.Store); ok {
		opts = append(opts, session.WithAuth(auth.NewChecker(as, c.Auth.Options(log))))
	} else if !c.Auth.AllowAnonymous || c.Auth.CertIdentity {
		return nil, fmt.Errorf("-store %s keeps no users: it needs -allow-anonymous=true and -cert-identity=false", c.Store.Kind)
	}
	if _, ok := st.(session.StoreBytesCounter); !ok && c.Session.MaxStoreBytes > 0 {
		return nil, fmt.Errorf("-max-store-bytes: -store %s keeps no count of the bytes queued by all sessions", c.Store.Kind)
	}
	_, streams := st.(session.StreamStore)
	_, limits := st.(session.PacketIDLimiter)
	if (!streams || !limits) && c.Session.Delivery == session.DeliveryV2 {
		return nil, fmt.Errorf("-delivery v2: -store %s has no streams (delivery v2's store steps) or cannot keep its queues' packet identifiers to 1..-max-inflight", c.Store.Kind)
	}
	h, err := session.New(st, c.Session, log, opts...)
	if err != nil && c.Session.Delivery == session.DeliveryV2 {
		return nil, fmt.Errorf("-delivery v2: %w", err)
	}
	return h, err
}

// Options returns the options of the handlers' auth.Checker: -auth-cache
// 0 reads the rules for every check; -auth-credential-cache 0 keeps no
// verified credentials; -auth-backoff 0 turns the back-off off.
func (a Auth) Options(log *slog.Logger) auth.Options {
	ttl := a.Cache
	if ttl == 0 {
		ttl = -1
	}
	backoff := a.Backoff
	if backoff == 0 {
		backoff = -1
	}
	creds := a.CredentialCache
	if creds == 0 {
		creds = -1
	}
	return auth.Options{AllowAnonymous: a.AllowAnonymous, CertIdentity: a.CertIdentity, ClientIDs: a.ClientIDs, CacheTTL: ttl, Log: log,
		FailureBackoff: backoff, MaxFailureBackoff: a.BackoffMax, MaxPasswordChecks: a.MaxPasswordChecks, CredentialTTL: creds}
}

// WarnAnonymous logs, when anonymous access is on, that any client may
// connect.
func (a Auth) WarnAnonymous(log *slog.Logger) {
	if a.AllowAnonymous {
		log.Warn("anonymous access is on: any client may connect without a password; set -allow-anonymous=false (MQTTLESS_ALLOW_ANONYMOUS=false) and add users with mqttless-admin users add")
	}
}

// NewLogger returns a logger on w at l.Level, in l.Format.
func (l Log) NewLogger(w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: l.Level}
	if l.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
