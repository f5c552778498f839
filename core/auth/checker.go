package auth

import (
	"log/slog"
	"time"
)

// DefaultCacheTTL is how long a Checker keeps the rules it read, when
// Options.CacheTTL is zero.
const DefaultCacheTTL = 10 * time.Second

// Options adjust a Checker.
type Options struct {
	// AllowAnonymous lets a client that sends no username connect, as the
	// anonymous user "".
	AllowAnonymous bool
	// CertIdentity makes the identity of a verified client certificate
	// the username, with no password needed.
	CertIdentity bool
	// ClientIDs is the client-id pattern of every client whose user has
	// none of its own (User.ClientIDs), anonymous clients included; ""
	// allows any client id. The caller checks it with
	// ValidateClientIDPattern.
	ClientIDs string
	// CacheTTL is how long the rules read from the store, and whether a
	// user exists (UserExists), are used before they are read again
	// [DefaultCacheTTL]. A negative value reads them on every check.
	CacheTTL time.Duration
	// Log receives the refusals (at debug level) and the rules that are
	// invalid (at warn level); nil discards them.
	Log *slog.Logger
	// Now is the clock of the rule cache and the back-offs; nil means
	// time.Now.
	Now func() time.Time
	// MaxPasswordChecks bounds the password checks (bcrypt) running at
	// once [the number of CPUs]; more wait for one to end.
	MaxPasswordChecks int
	// FailureBackoff is how long a username is refused without a check
	// after 3 failed checks in a row, and a source address after 10
	// (others may share it) [DefaultFailureBackoff]; it doubles with each further failure, up to
	// MaxFailureBackoff [DefaultMaxFailureBackoff]. A negative value turns
	// the back-off off. Verified credentials are remembered for
	// CredentialTTL.
	FailureBackoff    time.Duration
	MaxFailureBackoff time.Duration
	// CredentialTTL is how long a password verified for a username passes
	// again without bcrypt, while the user's stored hash (read at each
	// use) is the one it was verified against, so that a changed password
	// or a removed user ends it at once [CacheTTL]. A negative value
	// remembers none.
	CredentialTTL time.Duration
}

// Checker authenticates clients against the users of a Store and
// authorizes what they publish and subscribe to against its rules. A
// Checker is safe for concurrent use; create one per process (or per
// Lambda instance) so that its rule cache is shared by the calls.
type Checker struct {
	store  Store
	opts   Options
	log    *slog.Logger
	now    func() time.Time
	rules  ruleCache
	guard            // password checks (guard.go)
	exists userCache // whether users exist (Exists)
}

// NewChecker returns a Checker over store with opts.
func NewChecker(store Store, opts Options) *Checker {
	if opts.CacheTTL == 0 {
		opts.CacheTTL = DefaultCacheTTL
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Checker{store: store, opts: opts, log: log, now: now, rules: newRuleCache(), guard: newGuard(opts), exists: newUserCache()}
}
