// Package allinone wires the broker for one machine: the proxy, the
// handlers in-process, and the embedded store.
package allinone

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/delivery"
	"github.com/mqttless/mqttless/infra/dynamo"
	"github.com/mqttless/mqttless/infra/lambdainvoke"
)

// Config is the all-in-one broker's configuration.
type Config struct {
	Addr      string        // MQTT listen address
	DataDir   string        // where the embedded store keeps its file
	Store     string        // "bolt", "memory" or "dynamo"
	LogLevel  slog.Level    // debug, info, warn or error
	LogFormat string        // "text" or "json"
	Tick      time.Duration // how often wills and expiries are processed
	Session   session.Config
	// Table is the DynamoDB table of -store dynamo; CreateTable creates it
	// from template.yaml when it is missing.
	Table       string
	CreateTable bool
	// Template is the SAM template -create-table reads the table from.
	Template string
	// MaxSendBytes and ConnectTimeout configure the proxy.
	MaxSendBytes   int
	ConnectTimeout time.Duration
	InvokeTimeout  time.Duration
	// Pprof is the address net/http/pprof is served on; empty: off.
	Pprof string
	// Invoker is "local" (the handlers in-process, on the store) or
	// "lambda" (the proxy invokes the handler functions and holds no
	// store); Functions is the function list of -invoker lambda.
	Invoker   string
	Functions map[lambdainvoke.Group][]lambdainvoke.Target
	// LambdaConcurrency bounds each function's invocations in flight from
	// this proxy; events that wait are batched.
	LambdaConcurrency int
	// DeliveryAddr is where the delivery endpoint listens (empty: off);
	// DeliveryURL is the URL handlers reach it at, which is also the
	// proxy's id; DeliverySecret signs delivery requests.
	DeliveryAddr   string
	DeliveryURL    string
	DeliverySecret []byte
	// AllowAnonymous lets clients connect without a username and password;
	// CertIdentity takes a verified client certificate's Common Name as the
	// username; AuthCache is how long the handlers cache the access rules.
	AllowAnonymous bool
	CertIdentity   bool
	AuthCache      time.Duration
	// TLSAddr is the MQTT over TLS listen address (empty: off), served
	// with TLSCert and TLSKey; TLSClientCA verifies client certificates,
	// which TLSRequireClientCert makes mandatory.
	TLSAddr              string
	TLSCert              string
	TLSKey               string
	TLSClientCA          string
	TLSRequireClientCert bool
	// WSAddr and WSSAddr are the MQTT over WebSockets listen addresses,
	// plain and over TLS, serving path /mqtt (empty: off).
	WSAddr  string
	WSSAddr string
	// MetricsAddr serves Prometheus metrics at /metrics and the health
	// check at /healthz (empty: off).
	MetricsAddr string
	// MaxPublishRate bounds the PUBLISH packets per second of one
	// connection; MaxConnRate the new connections per second from one
	// source address (0: unlimited).
	MaxPublishRate float64
	MaxConnRate    float64
	// The proxy's limits of issue 14 (proxy.Config holds
	// their meaning): connections in total, per user and waiting for their
	// CONNECT; the largest frame before CONNACK; the bytes waiting to be
	// written over all connections; the outbound topic aliases of one
	// connection, in count and bytes.
	MaxConnections        int
	MaxUserConnections    int
	MaxPendingConnects    int
	MaxConnectSize        int
	MaxSendBytesTotal     int
	MaxOutboundAliases    int
	MaxOutboundAliasBytes int
	// SysInterval is how often the $SYS topics under SysPrefix are
	// published (0: never).
	SysInterval time.Duration
	SysPrefix   string
}

// ErrUsage is returned for -h; the usage has been printed.
var ErrUsage = errors.New("allinone: usage requested")

// ParseConfig reads the configuration from command-line args, with each
// flag also settable through an environment variable MQTTLESS_<NAME> (the
// flag wins). A bad value fails with an error that names its setting.
func ParseConfig(args []string, getenv func(string) string, usage io.Writer) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("mqttless", flag.ContinueOnError)
	fs.SetOutput(usage)
	var names []string
	str := func(p *string, name, def, help string) {
		fs.StringVar(p, name, def, help+" (env "+envName(name)+")")
		names = append(names, name)
	}
	// A true-or-false setting is given as -name, -name=false or -name
	// false; its value is checked with the others, below.
	boolean := map[string]bool{}
	boolStr := func(p *string, name, def, help string) {
		*p = def
		fs.Var(boolFlag{p}, name, help+" (env "+envName(name)+")")
		names = append(names, name)
		boolean[name] = true
	}
	var level, keepAlive, sessionExpiry, receiveMax, inflight, maxQueued, maxPacket, aliasMax, clientIDLen, sendQueue string
	var tick, connectTimeout, invokeTimeout, queueQoS0 string
	str(&c.Addr, "addr", "127.0.0.1:1883", "MQTT listen address")
	str(&c.DataDir, "data-dir", "data", "directory for the embedded store")
	str(&c.Store, "store", "bolt", "store: bolt (on disk), memory, or dynamo (DynamoDB; endpoint from AWS_ENDPOINT_URL)")
	str(&c.Table, "table", dynamo.DefaultTable, "DynamoDB table of -store dynamo")
	var createTable string
	boolStr(&createTable, "create-table", "false", "with -store dynamo, create the table from -template when it is missing")
	str(&c.Template, "template", "template.yaml", "the SAM template that defines the DynamoDB table")
	str(&level, "log-level", "info", "log level: debug, info, warn or error")
	str(&c.LogFormat, "log-format", "text", "log format: text or json")
	str(&tick, "tick", "1s", "how often due wills and expired sessions are processed")
	str(&keepAlive, "max-keepalive", "65535", "largest keep alive in seconds")
	str(&sessionExpiry, "max-session-expiry", "4294967295", "largest session expiry interval in seconds")
	str(&receiveMax, "receive-max", "65535", "QoS 1 and 2 messages a client may have unacknowledged")
	str(&inflight, "max-inflight", "20", "QoS 1 and 2 messages in flight to a client")
	str(&maxQueued, "max-queued", "1000", "queued messages per session")
	boolStr(&queueQoS0, "queue-qos0", "false", "queue QoS 0 messages for offline clients")
	str(&maxPacket, "max-packet-size", "1048576", "largest packet accepted, in bytes")
	str(&aliasMax, "topic-alias-max", "10", "topic aliases a client may set")
	str(&clientIDLen, "max-client-id", "65535", "longest client identifier, in bytes")
	str(&sendQueue, "max-send-bytes", "4194304", "bytes waiting to be written to one connection")
	str(&connectTimeout, "connect-timeout", "10s", "time allowed between accept and CONNECT")
	str(&invokeTimeout, "invoke-timeout", "30s", "deadline of one call to the handlers (one Lambda invocation with -invoker lambda)")
	str(&c.Pprof, "pprof", "", "address to serve net/http/pprof on, such as 127.0.0.1:6060; empty: off")
	var functions, secret string
	str(&c.Invoker, "invoker", "local", "how the proxy runs the handlers: local (in-process, on -store) or lambda (invokes the functions of -lambda-functions)")
	str(&functions, "lambda-functions", lambdainvoke.DefaultFunctions, "functions of -invoker lambda: group=name[@endpoint],...; a group named twice gets a pool; an entry with an endpoint serves one call at a time")
	var lambdaConc string
	str(&lambdaConc, "lambda-concurrency", "64", "invocations of each function in flight from this proxy; events of other connections that come meanwhile are batched into the next")
	str(&c.DeliveryAddr, "delivery-addr", "", "listen address of the delivery endpoint that handlers post deliveries to; empty: off (required with -invoker lambda)")
	str(&c.DeliveryURL, "delivery-url", "", "URL handlers reach the delivery endpoint at, also the proxy's id; auto-ecs: the ECS task's IP and the port of -delivery-addr [http://<delivery-addr>]")
	str(&secret, "delivery-secret", "", "shared secret (at least 16 bytes) that signs delivery requests")
	var anonymous, certIdentity, authCache, requireClientCert string
	boolStr(&anonymous, "allow-anonymous", "true", "let clients connect without a username and password")
	boolStr(&certIdentity, "cert-identity", "false", "take a verified client certificate's Common Name as the username")
	str(&authCache, "auth-cache", "10s", "how long the handlers cache the access rules; 0: read them for every check")
	str(&c.TLSAddr, "tls-addr", "", "MQTT over TLS listen address, such as :8883; empty: off")
	str(&c.TLSCert, "tls-cert", "", "PEM certificate (chain) file of -tls-addr and -wss-addr")
	str(&c.TLSKey, "tls-key", "", "PEM private key file of -tls-cert")
	str(&c.TLSClientCA, "tls-client-ca", "", "PEM file of the CAs that verify client certificates; empty: none asked for")
	boolStr(&requireClientCert, "tls-require-client-cert", "false", "refuse TLS clients without a certificate -tls-client-ca verifies")
	str(&c.WSAddr, "ws-addr", "", "MQTT over WebSockets listen address (path /mqtt); empty: off")
	str(&c.WSSAddr, "wss-addr", "", "MQTT over secure WebSockets listen address (path /mqtt, the certificate of -tls-cert); empty: off")
	str(&c.MetricsAddr, "metrics-addr", "", "address to serve Prometheus metrics (/metrics) and the health check (/healthz) on; empty: off")
	var topicLen, topicLevels, maxSubs, pubRate, connRate, sysInterval string
	str(&topicLen, "max-topic-length", "65535", "longest topic name or filter, in bytes")
	str(&topicLevels, "max-topic-levels", "64", "most levels in a topic name or filter")
	str(&maxSubs, "max-subscriptions", "1000", "most subscriptions of one client")
	str(&pubRate, "max-publish-rate", "1000", "PUBLISH packets per second one connection may send; 0: unlimited")
	str(&connRate, "max-conn-rate", "100", "new connections per second from one source address; 0: unlimited")
	str(&sysInterval, "sys-interval", "10s", "how often the $SYS topics are published; 0: never")
	var maxConns, maxUserConns, maxPending, maxConnectSize, sendTotal, aliases, aliasBytes string
	str(&maxConns, "max-connections", "10000", "connections open at once, on all listeners; more are closed at accept")
	str(&maxUserConns, "max-user-connections", "1000", "connections of one user (username) on this proxy; a CONNECT over it is refused with 0x97 (return code 3 at 3.1.1)")
	str(&maxPending, "max-pending-connects", "1000", "connections open at once whose CONNECT is not accepted yet; more are closed at accept")
	str(&maxConnectSize, "max-connect-size", "65536", "largest packet accepted before CONNACK (the CONNECT with its will), in bytes")
	str(&sendTotal, "max-send-bytes-total", "134217728", "bytes waiting to be written over all connections; past it QoS 0 messages are dropped")
	str(&aliases, "max-outbound-aliases", "256", "topic aliases the broker assigns on one 5.0 connection (least recently used reassigned)")
	str(&aliasBytes, "max-outbound-alias-bytes", "16384", "bytes of topics the outbound topic aliases of one connection hold")
	str(&c.SysPrefix, "sys-prefix", "", "topic prefix of the broker statistics [$SYS/broker; with -invoker lambda $SYS/broker/proxies/<delivery host_port>, since each proxy counts its own]")
	for _, name := range names {
		if v := getenv(envName(name)); v != "" {
			if err := fs.Set(name, v); err != nil {
				return c, fmt.Errorf("setting %s: %w", envName(name), err)
			}
		}
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
	c.Session = session.Config{
		MaxKeepAlive:     uint16(p.uint("max-keepalive", keepAlive, 1, 65535)),
		MaxSessionExpiry: uint32(p.uint("max-session-expiry", sessionExpiry, 0, 4294967295)),
		ReceiveMax:       uint16(p.uint("receive-max", receiveMax, 1, 65535)),
		MaxInflight:      uint16(p.uint("max-inflight", inflight, 1, 65535)),
		MaxQueued:        int(p.uint("max-queued", maxQueued, 1, 1<<31-1)),
		QueueQoS0:        p.bool("queue-qos0", queueQoS0),
		MaxPacketSize:    uint32(p.uint("max-packet-size", maxPacket, 64, 268_435_460)),
		TopicAliasMax:    uint16(p.uint("topic-alias-max", aliasMax, 1, 65535)),
		MaxClientIDLen:   int(p.uint("max-client-id", clientIDLen, 23, 65535)),
	}
	c.MaxSendBytes = int(p.uint("max-send-bytes", sendQueue, 1024, 1<<31-1))
	c.Tick = p.duration("tick", tick)
	c.ConnectTimeout = p.duration("connect-timeout", connectTimeout)
	c.InvokeTimeout = p.duration("invoke-timeout", invokeTimeout)
	if err := c.LogLevel.UnmarshalText([]byte(level)); err != nil {
		p.fail("log-level", level, "want debug, info, warn or error")
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		p.fail("log-format", c.LogFormat, "want text or json")
	}
	c.CreateTable = p.bool("create-table", createTable)
	c.AllowAnonymous = p.bool("allow-anonymous", anonymous)
	c.CertIdentity = p.bool("cert-identity", certIdentity)
	c.AuthCache = p.durationOrZero("auth-cache", authCache)
	c.TLSRequireClientCert = p.bool("tls-require-client-cert", requireClientCert)
	c.Session.MaxTopicLength = int(p.uint("max-topic-length", topicLen, 1, 65535))
	c.Session.MaxTopicLevels = int(p.uint("max-topic-levels", topicLevels, 1, 65535))
	c.Session.MaxSubscriptions = int(p.uint("max-subscriptions", maxSubs, 1, 1<<31-1))
	c.MaxPublishRate = p.rate("max-publish-rate", pubRate)
	c.MaxConnRate = p.rate("max-conn-rate", connRate)
	c.SysInterval = p.durationOrZero("sys-interval", sysInterval)
	c.MaxConnections = int(p.uint("max-connections", maxConns, 1, 1<<31-1))
	c.MaxUserConnections = int(p.uint("max-user-connections", maxUserConns, 1, 1<<31-1))
	c.MaxPendingConnects = int(p.uint("max-pending-connects", maxPending, 1, 1<<31-1))
	c.MaxConnectSize = int(p.uint("max-connect-size", maxConnectSize, 64, 268_435_460))
	c.MaxSendBytesTotal = int(p.uint("max-send-bytes-total", sendTotal, 1024, 1<<40))
	c.MaxOutboundAliases = int(p.uint("max-outbound-aliases", aliases, 1, 65535))
	c.MaxOutboundAliasBytes = int(p.uint("max-outbound-alias-bytes", aliasBytes, 1, 1<<31-1))
	if c.SysInterval > 0 && c.SysPrefix != "" && (!strings.HasPrefix(c.SysPrefix, "$SYS/") || strings.ContainsAny(c.SysPrefix, "+#")) {
		p.fail("sys-prefix", c.SysPrefix, "want a topic name under $SYS/ such as $SYS/broker")
	}
	c.validateTLS(&p)
	switch c.Store {
	case "bolt", "memory":
	case "dynamo":
		// Every message must fit in one DynamoDB item.
		set := false
		fs.Visit(func(f *flag.Flag) { set = set || f.Name == "max-packet-size" })
		if !set {
			c.Session.MaxPacketSize = dynamo.MaxPacketSize
		} else if c.Session.MaxPacketSize > dynamo.MaxPacketSize {
			p.fail("max-packet-size", maxPacket, fmt.Sprintf("-store dynamo holds each message in one 400 KB item: want at most %d", dynamo.MaxPacketSize))
		}
		if c.Table == "" {
			p.fail("table", c.Table, "must not be empty")
		}
	default:
		p.fail("store", c.Store, "want bolt, memory or dynamo")
	}
	if c.Addr == "" {
		p.fail("addr", c.Addr, "must not be empty")
	}
	c.DeliverySecret = []byte(secret)
	switch c.Invoker {
	case "local":
	case "lambda":
		fns, err := lambdainvoke.ParseFunctions(functions)
		if err != nil {
			p.fail("lambda-functions", functions, err.Error())
		}
		c.Functions = fns
		c.LambdaConcurrency = int(p.uint("lambda-concurrency", lambdaConc, 1, 100000))
		if c.DeliveryAddr == "" {
			p.fail("delivery-addr", c.DeliveryAddr, "-invoker lambda needs a delivery endpoint")
		}
	default:
		p.fail("invoker", c.Invoker, "want local or lambda")
	}
	if c.DeliveryAddr != "" {
		if len(c.DeliverySecret) < delivery.MinSecretLen {
			p.fail("delivery-secret", strings.Repeat("*", len(secret)), fmt.Sprintf("a delivery endpoint needs a secret of at least %d bytes", delivery.MinSecretLen))
		}
		if c.DeliveryURL == "" {
			c.DeliveryURL = "http://" + c.DeliveryAddr
		}
		if u, err := url.Parse(c.DeliveryURL); c.DeliveryURL != DeliveryURLAutoECS && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
			p.fail("delivery-url", c.DeliveryURL, "want an http(s) URL such as http://10.0.1.7:9883")
		}
	}
	return c, p.err
}

// boolFlag is a true-or-false setting kept as given, to be checked with
// parser.bool; as a boolean flag it may be given without a value.
type boolFlag struct{ p *string }

func (b boolFlag) String() string {
	if b.p == nil {
		return "false" // the zero value, which -h does not show as a default
	}
	return *b.p
}

func (b boolFlag) Set(s string) error { *b.p = s; return nil }

func (b boolFlag) IsBoolFlag() bool { return true }

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

// validateTLS checks the TLS settings: a listener that needs the
// certificate names the flag that is missing, and client certificates need
// a CA to verify them.
func (c *Config) validateTLS(p *parser) {
	for _, l := range []struct{ name, addr string }{{"tls-addr", c.TLSAddr}, {"wss-addr", c.WSSAddr}} {
		if l.addr == "" {
			continue
		}
		if c.TLSCert == "" {
			p.fail("tls-cert", c.TLSCert, "-"+l.name+" needs a certificate file")
		}
		if c.TLSKey == "" {
			p.fail("tls-key", c.TLSKey, "-"+l.name+" needs a private key file")
		}
	}
	if c.TLSRequireClientCert && c.TLSClientCA == "" {
		p.fail("tls-client-ca", c.TLSClientCA, "-tls-require-client-cert needs the CAs that verify client certificates")
	}
	// The handler functions of -invoker lambda take -cert-identity without
	// a listener: the proxy verifies the certificates.
	if c.CertIdentity && c.TLSClientCA == "" && (c.TLSAddr != "" || c.WSSAddr != "") {
		p.fail("tls-client-ca", c.TLSClientCA, "-cert-identity needs the CAs that verify client certificates")
	}
}

func envName(flagName string) string {
	return "MQTTLESS_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parser collects the first bad setting.
type parser struct{ err error }

func (p *parser) fail(name, value, why string) {
	if p.err == nil {
		p.err = fmt.Errorf("invalid value %q for -%s (%s): %s", value, name, envName(name), why)
	}
}

func (p *parser) uint(name, s string, lo, hi uint64) uint64 {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v < lo || v > hi {
		p.fail(name, s, fmt.Sprintf("want a whole number from %d to %d", lo, hi))
		return lo
	}
	return v
}

func (p *parser) bool(name, s string) bool {
	v, err := strconv.ParseBool(s)
	if err != nil {
		p.fail(name, s, "want true or false")
	}
	return v
}

func (p *parser) duration(name, s string) time.Duration {
	v, err := time.ParseDuration(s)
	if err != nil || v <= 0 {
		p.fail(name, s, "want a positive duration such as 500ms or 10s")
		return time.Second
	}
	return v
}

// durationOrZero is duration that also takes 0, for settings that 0 turns
// off.
func (p *parser) durationOrZero(name, s string) time.Duration {
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		p.fail(name, s, "want 0 or a positive duration such as 500ms or 10s")
		return 0
	}
	return v
}

// rate parses a rate per second: 0 (unlimited) or a positive number.
func (p *parser) rate(name, s string) float64 {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		p.fail(name, s, "want 0 (unlimited) or a positive number per second")
		return 0
	}
	return v
}
