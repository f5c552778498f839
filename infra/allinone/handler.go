package allinone

import (
	"fmt"
	"log/slog"

	"github.com/mqttless/mqttless/core/auth"
	"github.com/mqttless/mqttless/core/session"
)

// NewHandler returns the handlers over st with the limits of cfg and, when
// st keeps users and access rules (every store of this module does), the
// authentication and authorization cfg sets: anonymous access, the client
// certificate identity and the rule cache. The all-in-one broker and the
// handler functions (infra/lambdafn) both build theirs with it, so that
// the same rules apply wherever the handlers run.
func NewHandler(st session.Store, cfg Config, log *slog.Logger) (*session.Handler, error) {
	var opts []session.Option
	if as, ok := st.(auth.Store); ok {
		opts = append(opts, session.WithAuth(auth.NewChecker(as, cfg.AuthOptions(log))))
	} else if !cfg.AllowAnonymous || cfg.CertIdentity {
		return nil, fmt.Errorf("-store %s keeps no users: it needs -allow-anonymous=true and -cert-identity=false", cfg.Store)
	}
	return session.New(st, cfg.Session, log, opts...)
}

// AuthOptions returns the options of the handlers' auth.Checker: -auth-cache
// 0 reads the rules for every check.
func (c Config) AuthOptions(log *slog.Logger) auth.Options {
	ttl := c.AuthCache
	if ttl == 0 {
		ttl = -1
	}
	return auth.Options{AllowAnonymous: c.AllowAnonymous, CertIdentity: c.CertIdentity, CacheTTL: ttl, Log: log}
}

// warnAnonymous logs, when anonymous access is on, that any client may
// connect.
func (c Config) warnAnonymous(log *slog.Logger) {
	if c.AllowAnonymous {
		log.Warn("anonymous access is on: any client may connect without a password; set -allow-anonymous=false (MQTTLESS_ALLOW_ANONYMOUS=false) and add users with mqttless-admin users add")
	}
}
