// Package config is the broker's configuration: one table of settings
// (settings.go) that drives the flags of cmd/mqttless, the environment
// variables MQTTLESS_<NAME> that the broker and the handler functions read,
// the -h text and the README's flag table; and the handlers those settings
// describe (Config.NewHandler), which the one-machine broker
// (infra/allinone) and the handler functions (infra/lambdafn) both build.
//
// It holds no one-machine code: no embedded store, no proxy, no listener,
// so that the functions, which import it, link none of them.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/invocation"
)

// Config is the configuration of a broker process or of a handler
// function, by concern.
type Config struct {
	// Session holds the protocol limits of the handlers.
	Session  session.Config
	Log      Log
	Store    Store
	Auth     Auth
	Listen   Listen
	Proxy    Proxy
	Lambda   Lambda
	Delivery Delivery
}

// Log is where and how the process logs.
type Log struct {
	Level  slog.Level // debug, info, warn or error
	Format string     // "text" or "json"
}

// Store is the store of the handlers.
type Store struct {
	Kind    string // "bolt", "memory" or "dynamo"
	DataDir string // where the embedded store keeps its file
	// Table is the DynamoDB table of -store dynamo; CreateTable creates it
	// from the SAM template Template when it is missing.
	Table       string
	CreateTable bool
	Template    string
	// StreamRetention is how long delivery v2's stream entries are kept:
	// -max-session-expiry plus a day, so that no session still needing an
	// entry outlives it; 0 (keep until trimmed) when sessions may never
	// expire. Derived, not a flag.
	StreamRetention time.Duration
	// Fsync flushes each commit of the embedded store to the disk before
	// what it holds is acknowledged (-fsync).
	Fsync bool
}

// streamRetentionMargin is what StreamRetention adds to the longest
// session expiry: the sweep's delay in ending a session, with room.
const streamRetentionMargin = 24 * time.Hour

// Auth is the authentication and authorization of the handlers.
type Auth struct {
	// AllowAnonymous lets clients connect without a username and password;
	// CertIdentity takes a verified client certificate's Common Name as the
	// username; Cache is how long the handlers cache the access rules (0:
	// read them for every check); ClientIDs is the client-id pattern of the
	// users that have none of their own (auth.Options.ClientIDs).
	AllowAnonymous bool
	CertIdentity   bool
	Cache          time.Duration
	// ClientIDs is the client-id pattern of the users that have none of
	// their own (auth.Options.ClientIDs).
	ClientIDs string
	// Backoff is how long a username or source address is refused
	// unchecked after repeated wrong passwords (0: off), doubling up to
	// BackoffMax; MaxPasswordChecks bounds the checks running at once (0:
	// the number of CPUs). See auth.Options.
	Backoff           time.Duration
	BackoffMax        time.Duration
	MaxPasswordChecks int
	// CredentialCache is how long verified credentials skip bcrypt (0:
	// none; auth.Options.CredentialTTL).
	CredentialCache time.Duration
}

// Listen is the proxy's listeners; an empty address is off.
type Listen struct {
	Addr string // MQTT over TCP
	// TLSAddr is MQTT over TLS, served with TLSCert and TLSKey;
	// TLSClientCA verifies client certificates, which
	// TLSRequireClientCert makes mandatory.
	TLSAddr              string
	TLSCert              string
	TLSKey               string
	TLSClientCA          string
	TLSRequireClientCert bool
	// WSAddr and WSSAddr are MQTT over WebSockets, plain and over TLS,
	// serving path /mqtt.
	WSAddr  string
	WSSAddr string
	// MetricsAddr serves Prometheus metrics at /metrics and the health
	// check at /healthz; Pprof serves net/http/pprof.
	MetricsAddr string
	Pprof       string
	// EMFInterval, when not 0, writes the key metrics of MetricsAddr to
	// stdout as CloudWatch embedded metric format records this often,
	// under the dimension Service EMFService (infra/allinone/emf.go).
	EMFInterval time.Duration
	EMFService  string
}

// Proxy is the proxy's limits and timers.
type Proxy struct {
	// GCHeadroom is the least the heap grows by between two collections
	// of the Go collector (infra/gctune); 0 leaves Go's default, and so
	// does a GOGC in the environment.
	GCHeadroom int64
	// MaxSendBytes bounds the bytes waiting to be written to one
	// connection; ConnectTimeout the time between accept and CONNECT;
	// InvokeTimeout one call to the handlers.
	MaxSendBytes   int
	ConnectTimeout time.Duration
	InvokeTimeout  time.Duration
	// OrderWait bounds a frame's wait for its predecessor (proxy.Config).
	OrderWait time.Duration
	// PositionSave bounds how long delivery v2's positions wait to be
	// saved (proxy.Config).
	PositionSave time.Duration
	// MaxPublishRate bounds the PUBLISH packets per second of one
	// connection; MaxConnRate the new connections per second from one
	// source address (0: unlimited).
	MaxPublishRate float64
	MaxConnRate    float64
	// The limits of issue 14, whose meaning proxy.Config gives:
	// connections open at once, per username and waiting for their
	// CONNECT; the largest packet before CONNACK; the bytes waiting to be
	// written over all connections; the outbound topic aliases of one
	// connection, in count and bytes of topics.
	MaxConnections        int
	MaxUserConnections    int
	MaxPendingConnects    int
	MaxConnectSize        int
	MaxSendBytesTotal     int
	MaxOutboundAliases    int
	MaxOutboundAliasBytes int
	// DrainTimeout bounds the drain on SIGTERM (proxy.Server.Drain).
	DrainTimeout time.Duration
	// Tick is how often this process runs the sweep (0: never);
	// LeasePeriod how long a proxy's lease lasts (infra/allinone/lease.go).
	Tick        time.Duration
	LeasePeriod time.Duration
	// SysInterval is how often the $SYS topics under SysPrefix are
	// published (0: never; SysPrefix empty: the proxy's own).
	SysInterval time.Duration
	SysPrefix   string
}

// Lambda is how the proxy runs the handlers.
type Lambda struct {
	// Invoker is "local" (the handlers in-process, on the store) or
	// "lambda" (the proxy invokes the handler Functions and holds no
	// store); Concurrency bounds each function's invocations in flight
	// from one proxy, events that wait being batched.
	Invoker     string
	Functions   map[invocation.Group][]invocation.Target
	Concurrency int
	// ChunkRunner is how the handler functions run the chunks of a
	// delivery v2 fan-out (session.ChunkRunner): "lambda" (the publish
	// function invokes itself asynchronously), "process" (in the
	// function's own process: the Lambda Runtime Interface Emulator) or
	// "off" (every delivery in the publish call). The all-in-one broker
	// runs them in its process.
	ChunkRunner string
}

// Delivery is the delivery endpoint of a proxy, that handlers post the
// deliveries for its connections to.
type Delivery struct {
	// Addr is where the endpoint listens (empty: off); URL is the URL
	// handlers reach it at, which is also the proxy's id; Secret signs
	// delivery requests. PreviousSecret is a second secret the endpoint
	// accepts (a rotation; the handlers sign with Secret only).
	Addr           string
	URL            string
	Secret         []byte
	PreviousSecret []byte
	// Timeout bounds one delivery request.
	Timeout time.Duration
}

// DeliveryURLAutoECS is the -delivery-url that asks for the task's own
// address on Amazon ECS (awsvpc network mode, as on Fargate): the URL
// becomes http://<task IPv4>:<port of -delivery-addr>, which
// infra/allinone reads from the ECS task metadata endpoint at start-up.
const DeliveryURLAutoECS = "auto-ecs"

// ErrUsage is returned for -h; the usage has been printed.
var ErrUsage = errors.New("config: usage requested")

// Parse reads the configuration from command-line args, with each setting
// also settable through its environment variable MQTTLESS_<NAME> (the flag
// wins). A bad value fails with an error that names its setting, as a flag
// and as a variable. -h prints the usage on usage and returns ErrUsage.
func Parse(args []string, getenv func(string) string, usage io.Writer) (Config, error) {
	var c Config
	table := settings(&c)
	raw := make(map[string]*rawValue, len(table))
	fs := flag.NewFlagSet("mqttless", flag.ContinueOnError)
	fs.SetOutput(usage)
	fs.Usage = func() { writeUsage(fs.Output(), table) }
	boolean := map[string]bool{}
	for _, s := range table {
		v := &rawValue{s: s.Default, boolean: s.typ == "bool"}
		if e := getenv(s.Env()); e != "" {
			v.s, v.set = e, true
		}
		raw[s.Name] = v
		boolean[s.Name] = v.boolean
		fs.Var(v, s.Name, s.Help)
	}
	if err := fs.Parse(joinBoolValues(args, boolean)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, ErrUsage
		}
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	p := parser{}
	for _, s := range table {
		if why := s.parse(raw[s.Name].s); why != "" {
			p.fail(s.Name, raw[s.Name].s, why)
		}
	}
	c.check(&p, func(name string) (string, bool) { return raw[name].s, raw[name].set })
	return c, p.err
}

// rawValue is a setting's value as given, checked by the table once every
// source is read, so that a flag may override a bad environment variable.
type rawValue struct {
	s       string
	set     bool // by a flag or the environment
	boolean bool
}

func (v *rawValue) String() string {
	if v == nil {
		return ""
	}
	return v.s
}

func (v *rawValue) Set(s string) error { v.s, v.set = s, true; return nil }

// IsBoolFlag lets a true-or-false setting be given as a bare -name.
func (v *rawValue) IsBoolFlag() bool { return v.boolean }

// joinBoolValues returns args with each "-name VALUE" of a boolean flag
// name written "-name=VALUE", so that the value may follow the flag as a
// separate argument, as for the other flags.
func joinBoolValues(args []string, boolean map[string]bool) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		out = append(out, a)
		if a == "--" || !strings.HasPrefix(a, "-") || a == "-" {
			return append(out, args[i+1:]...)
		}
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") || i+1 == len(args) {
			continue
		}
		next := args[i+1]
		switch {
		case boolean[name] && !strings.HasPrefix(next, "-"):
			out[len(out)-1] = a + "=" + next
			i++
		case !boolean[name]:
			out = append(out, next) // the flag's value
			i++
		}
	}
	return out
}

// EnvName is the environment variable of the setting flagName.
func EnvName(flagName string) string {
	return "MQTTLESS_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parser collects the first bad setting.
type parser struct{ err error }

func (p *parser) fail(name, value, why string) {
	if p.err == nil {
		p.err = fmt.Errorf("invalid value %q for -%s (%s): %s", value, name, EnvName(name), why)
	}
}
