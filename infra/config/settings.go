package config

import (
	"log/slog"
	"strconv"
	"time"

	"github.com/mqttless/mqttless/core/auth"
	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/dynamo"
	"github.com/mqttless/mqttless/infra/invocation"
)

// Setting is one setting: the flag -Name, the environment variable
// MQTTLESS_<NAME> (Env), its default, its help text and the parser that
// checks a value and stores it into the Config.
type Setting struct {
	Name string
	Help string
	value
}

// Env is the setting's environment variable.
func (s Setting) Env() string { return EnvName(s.Name) }

// Settings lists every setting, in the order -h and the README show them.
func Settings() []Setting { return settings(new(Config)) }

// Default returns the default of the setting name, for the other tools
// that take some of the broker's settings (cmd/mqttless-admin); "" when it
// has none or there is no such setting.
func Default(name string) string {
	for _, s := range Settings() {
		if s.Name == name {
			return s.Default
		}
	}
	return ""
}

// settings is the table of settings, each bound to its field of c. The
// defaults of the protocol limits are those of core/session.
func settings(c *Config) []Setting {
	d := session.DefaultConfig()
	s := &c.Session
	return []Setting{
		{"addr", "MQTT listen address",
			stringOf(&c.Listen.Addr, "127.0.0.1:1883", nonEmpty)},
		{"data-dir", "directory where the embedded store (-store bolt) keeps its file",
			stringOf(&c.Store.DataDir, "data", nil)},
		{"store", "the store: bolt (on disk), memory, or dynamo (DynamoDB; endpoint from AWS_ENDPOINT_URL)",
			oneOf(&c.Store.Kind, "bolt", "bolt", "memory", "dynamo")},
		{"fsync", "with -store bolt, flush each commit to the disk (fdatasync) before acknowledging what it holds; false hands commits to the operating system only: what was acknowledged survives the broker's crash and kill -9, not a crash of the machine or a power loss, which may also corrupt the file",
			boolOf(&c.Store.Fsync, true)},
		{"table", "DynamoDB table of -store dynamo",
			stringOf(&c.Store.Table, dynamo.DefaultTable, nil)},
		{"create-table", "with -store dynamo, create the table from -template when it is missing",
			boolOf(&c.Store.CreateTable, false)},
		{"template", "the SAM template that defines the DynamoDB table of -create-table",
			stringOf(&c.Store.Template, "template.yaml", nil)},
		{"max-keepalive", "largest keep alive, in seconds; 5.0 clients are told, 3.1.1 clients above it are refused as Mosquitto refuses them, with return code 2 (identifier rejected), the reason logged at info",
			uintOf(&s.MaxKeepAlive, d.MaxKeepAlive, 1, 65535)},
		{"max-session-expiry", "largest session expiry interval, in seconds (5.0 clients asking more are told it); also the expiry of 3.1.1 persistent sessions (clean session 0); 4294967295: never",
			uintOf(&s.MaxSessionExpiry, d.MaxSessionExpiry, 1, 4294967295)},
		{"receive-max", "QoS 1 and 2 messages a client may have unacknowledged, QoS 2 ones awaiting PUBREL included; one more closes the connection (0x93)",
			uintOf(&s.ReceiveMax, d.ReceiveMax, 1, 65535)},
		{"max-sessions", "sessions the store holds (with -store dynamo: the table, every machine together); a CONNECT that would create one more gets 0x97 (return code 3 at 3.1.1)",
			uintOf(&s.MaxSessions, d.MaxSessions, 1, 1<<31-1)},
		{"max-user-sessions", "sessions of one user or certificate identity (anonymous clients count against -max-sessions only); past it 0x97 (return code 3 at 3.1.1)",
			uintOf(&s.MaxUserSessions, d.MaxUserSessions, 1, 1<<31-1)},
		{"max-will-size", "largest will message (topic, payload and properties), in bytes; a CONNECT with a larger one gets 0x97 (return code 3 at 3.1.1)",
			uintOf(&s.MaxWillSize, d.MaxWillSize, 1, 268_435_460)},
		{"max-inflight", "QoS 1 and 2 messages in flight to one client (5.0 clients: the lower of this and their Receive Maximum)",
			uintOf(&s.MaxInflight, d.MaxInflight, 1, 65535)},
		{"max-queued", "queued messages per offline or busy session; more are dropped",
			uintOf(&s.MaxQueued, d.MaxQueued, 1, 1<<31-1)},
		{"max-queued-bytes", "bytes (topic, payload, properties) of the queued messages per session; more are dropped, as past -max-queued",
			uintOf(&s.MaxQueuedBytes, d.MaxQueuedBytes, 1, 1<<31-1)},
		{"max-store-bytes", "bytes (topic, payload, properties) of the queued messages of all sessions together, counted by the embedded store (bolt, memory) in the same transaction as each enqueue; past it messages are dropped as past -max-queued-bytes; not with -store dynamo (see Limits)",
			uintOf(&s.MaxStoreBytes, d.MaxStoreBytes, 1, 1<<62)},
		{"queue-qos0", "queue QoS 0 messages for offline clients",
			boolOf(&s.QueueQoS0, d.QueueQoS0)},
		{"delivery", "how QoS 1 and 2 messages reach non-shared subscriptions: v2 appends them once per matching filter to streams, which each session reads from its saved position, and lets the proxy's window send them (overlapping subscriptions get one copy each; a backlog past -max-queued keeps the newest); v1, the earlier delivery, queues them per subscriber in the store; a session v1 left messages for gets them first under v2 (docs/architecture.md, \"Delivery v2\")",
			oneOf(&s.Delivery, session.DeliveryV2, session.DeliveryV1, session.DeliveryV2)},
		{"max-packet-size", "largest packet accepted, in bytes; with -store dynamo the default is " + strconv.Itoa(dynamo.MaxPacketSize) + ", the most it accepts (a message is one 400 KB item)",
			uintOf(&s.MaxPacketSize, d.MaxPacketSize, 64, 268_435_460)},
		{"topic-alias-max", "topic aliases a client may set",
			uintOf(&s.TopicAliasMax, d.TopicAliasMax, 1, 65535)},
		{"max-alias-bytes", "bytes of topic names one connection's topic aliases may hold together (the connection state carries them to the handlers with every event); an alias past it closes the connection with DISCONNECT 0x94",
			uintOf(&s.MaxAliasBytes, d.MaxAliasBytes, 1, 1<<20)},
		{"max-user-properties", "user properties (5.0) one packet may carry, a CONNECT's and its will's together; a packet with more is refused with 0x97: CONNACK 0x97 for a CONNECT, DISCONNECT 0x97 and a close for any other",
			uintOf(&s.Packet.UserProperties, packet.MaxUserProperties, 1, 1<<20)},
		{"max-user-property-bytes", "bytes of names and values the user properties of one packet may hold; more: refused as -max-user-properties",
			uintOf(&s.Packet.UserPropertyBytes, packet.MaxUserPropertyBytes, 1, 268_435_455)},
		{"max-client-id", "longest client identifier, in bytes",
			uintOf(&s.MaxClientIDLen, d.MaxClientIDLen, 23, 65535)},
		{"max-topic-length", "longest topic name or filter, in bytes",
			uintOf(&s.MaxTopicLength, d.MaxTopicLength, 1, 65535)},
		{"max-topic-levels", "most levels in a topic name or filter",
			uintOf(&s.MaxTopicLevels, d.MaxTopicLevels, 1, 65535)},
		{"max-subscriptions", "subscriptions of one client; more get 0x97 (0x80 at 3.1.1)",
			uintOf(&s.MaxSubscriptions, d.MaxSubscriptions, 1, 1<<31-1)},
		{"max-retained", "retained messages the broker holds; a retained PUBLISH of a new topic past it is refused (0x97 at 5.0; at 3.1.1 delivered but not retained)",
			uintOf(&s.MaxRetained, d.MaxRetained, 1, 1<<31-1)},
		{"max-retained-bytes", "bytes of retained messages (topic, payload and properties) the broker holds; a retained PUBLISH that would pass it is refused as -max-retained",
			uintOf(&s.MaxRetainedBytes, d.MaxRetainedBytes, 1, 1<<62)},
		{"max-user-retained", "retained messages published by one user or certificate identity (anonymous clients count against -max-retained only); past it refused as -max-retained; replacing or clearing one frees it",
			uintOf(&s.MaxUserRetained, d.MaxUserRetained, 1, 1<<31-1)},
		{"max-user-retained-bytes", "bytes of retained messages (topic, payload and properties) published by one user or certificate identity; past it refused as -max-retained",
			uintOf(&s.MaxUserRetainedBytes, d.MaxUserRetainedBytes, 1, 1<<62)},
		{"max-send-bytes", "bytes waiting to be written to one connection, the batch being written included; past it QoS 0 messages are dropped and other packets close the connection",
			uintOf(&c.Proxy.MaxSendBytes, 4<<20, 1024, 1<<31-1)},
		{"connect-timeout", "time allowed between accept and CONNECT (the TLS handshake included)",
			durationOf(&c.Proxy.ConnectTimeout, 10*time.Second, false)},
		{"max-publish-rate", "PUBLISH packets per second from one connection; a faster client is slowed down (its bytes are read later), not cut off; 0: unlimited",
			rateOf(&c.Proxy.MaxPublishRate, 1000)},
		{"max-conn-rate", "new connections per second from one source address; more are closed at once; 0: unlimited",
			rateOf(&c.Proxy.MaxConnRate, 100)},
		{"max-connections", "connections open at once, on all listeners; more are closed at accept (WebSocket upgrades get 503)",
			uintOf(&c.Proxy.MaxConnections, 10_000, 1, 1<<31-1)},
		{"max-user-connections", "connections of one username (per proxy with -invoker lambda); a CONNECT over it gets CONNACK 0x97 (return code 3 at 3.1.1) and its will is discarded; anonymous clients count against -max-connections only",
			uintOf(&c.Proxy.MaxUserConnections, 1_000, 1, 1<<31-1)},
		{"max-pending-connects", "connections open at once whose CONNECT is not accepted yet (TLS handshake included); more are closed at accept",
			uintOf(&c.Proxy.MaxPendingConnects, 1_000, 1, 1<<31-1)},
		{"max-connect-size", "largest packet accepted before CONNACK (the CONNECT with its will), in bytes; -max-packet-size applies after",
			uintOf(&c.Proxy.MaxConnectSize, 64<<10, 64, 268_435_460)},
		{"max-send-bytes-total", "bytes waiting to be written over all connections; past it QoS 0 messages are dropped",
			uintOf(&c.Proxy.MaxSendBytesTotal, 128<<20, 1024, 1<<40)},
		{"max-outbound-aliases", "topic aliases the broker assigns on one 5.0 connection; once full, the least recently used is reassigned",
			uintOf(&c.Proxy.MaxOutboundAliases, 256, 1, 65535)},
		{"max-outbound-alias-bytes", "bytes of topics the outbound topic aliases of one connection hold",
			uintOf(&c.Proxy.MaxOutboundAliasBytes, 16<<10, 1, 1<<31-1)},
		{"allow-anonymous", "let clients connect without a username and password; a warning says so at start-up (the SAM template sets false); all anonymous clients are one identity and can resume each other's sessions: prefer false, with users and -client-ids",
			boolOf(&c.Auth.AllowAnonymous, true)},
		{"client-ids", "pattern the client ids of clients whose user has none of its own must match (mqttless-admin users set -client-ids), such as %u-*: * stands for any characters, %u for the username; others are refused with 0x85 (return code 2 at 3.1.1); empty: any",
			stringOf(&c.Auth.ClientIDs, "", checkClientIDPattern)},
		{"auth-cache", "how long the handlers cache the access rules and whether a user exists (a removed user or rule stops deliveries within it); 0: read them for every check",
			durationOf(&c.Auth.Cache, 10*time.Second, true)},
		{"auth-credential-cache", "how long a password the handlers verified for a username skips bcrypt when it comes again to the same handler instance, while the user's stored hash, read each time, is unchanged (a changed password or a removed user ends it at once); it makes a reconnection storm cost one check per username and instance: see CONNECT storms; 0: check every password",
			durationOf(&c.Auth.CredentialCache, 10*time.Minute, true)},
		{"auth-backoff", "after 3 wrong passwords in a row for a username, or 10 from a source address, how long they are refused without a password check (the same answer as a wrong password); doubles with each further failure up to -auth-backoff-max; 0: off",
			durationOf(&c.Auth.Backoff, auth.DefaultFailureBackoff, true)},
		{"auth-backoff-max", "longest back-off of -auth-backoff",
			durationOf(&c.Auth.BackoffMax, auth.DefaultMaxFailureBackoff, false)},
		{"max-password-checks", "password checks (bcrypt, tens of ms of CPU each) running at once; more wait; 0: the number of CPUs",
			uintOf(&c.Auth.MaxPasswordChecks, 0, 0, 4096)},
		{"cert-identity", "take a verified client certificate's Common Name as the username, no password checked; a CONNECT naming another username is refused (0x86, return code 4 at 3.1.1)",
			boolOf(&c.Auth.CertIdentity, false)},
		{"tls-addr", "MQTT over TLS listen address, such as :8883; empty: off",
			stringOf(&c.Listen.TLSAddr, "", nil)},
		{"tls-cert", "PEM certificate (chain) file of -tls-addr and -wss-addr, or the PEM itself (a value starting with -----BEGIN, as from an environment variable ECS fills from a secret); set without either listener, start-up stops",
			stringOf(&c.Listen.TLSCert, "", nil)},
		{"tls-key", "PEM private key file of -tls-cert, or the PEM itself (set it with MQTTLESS_TLS_KEY then); set without -tls-addr or -wss-addr, start-up stops",
			stringOf(&c.Listen.TLSKey, "", nil)},
		{"tls-client-ca", "PEM file of the CAs that verify client certificates (mutual TLS) on -tls-addr and -wss-addr, or the PEM itself (set without either listener, start-up stops); empty: none asked for",
			stringOf(&c.Listen.TLSClientCA, "", nil)},
		{"tls-require-client-cert", "refuse TLS clients without a certificate -tls-client-ca verifies (needs -tls-addr or -wss-addr)",
			boolOf(&c.Listen.TLSRequireClientCert, false)},
		{"ws-addr", "MQTT over WebSockets listen address (path /mqtt, subprotocol mqtt or mqttv3.1); empty: off",
			stringOf(&c.Listen.WSAddr, "", nil)},
		{"wss-addr", "MQTT over secure WebSockets listen address (path /mqtt, the certificate of -tls-cert); empty: off",
			stringOf(&c.Listen.WSSAddr, "", nil)},
		{"metrics-addr", "address to serve Prometheus metrics (/metrics) and the health check (/healthz) on; empty: off (make run serves them on 127.0.0.1:9090)",
			stringOf(&c.Listen.MetricsAddr, "", nil)},
		{"emf-interval", "how often the proxy writes its key metrics (Connections, ConnectionsRefused, HandlerErrors, DroppedMessages, PacketsReceived) to stdout as CloudWatch embedded metric format records, which CloudWatch Logs turns into metrics (the SAM template sets 60s); needs -metrics-addr; 0: never",
			durationOf(&c.Listen.EMFInterval, 0, true)},
		{"emf-service", "the Service dimension of the -emf-interval metrics (the SAM template: <stack>-proxy)",
			stringOf(&c.Listen.EMFService, "mqttless", nil)},
		{"sys-interval", "how often broker statistics are published as retained $SYS messages; 0: never",
			durationOf(&c.Proxy.SysInterval, 10*time.Second, true)},
		{"sys-prefix", "topic prefix of the broker statistics; empty: $SYS/broker, or with -invoker lambda $SYS/broker/proxies/<delivery host_port>, since each proxy counts its own",
			stringOf(&c.Proxy.SysPrefix, "", nil)},
		{"tick", "how often this process runs the sweep: delayed wills, session expiry, and the sessions of proxies whose lease lapsed (safe from several processes at once); 0: never, as the proxies of the SAM template, where the scheduled sweep function repeats the sweep this often",
			durationOf(&c.Proxy.Tick, time.Second, true)},
		{"lease-period", "how long a proxy's lease lasts (-invoker lambda, or -store dynamo with -delivery-addr); the proxy renews it every third of the period and stops serving when it could not for 4/5 of it; a dead proxy's sessions are ended (their wills published) about one period plus -tick after its last renewal",
			durationOf(&c.Proxy.LeasePeriod, 10*time.Second, false)},
		{"delivery-timeout", "deadline of one delivery request from the handlers to a proxy's delivery endpoint (a proxy answers once the frames are in its send queues, in milliseconds within a VPC); a proxy that does not answer in time is taken to have lost the connections, and is skipped until it renews its lease",
			durationOf(&c.Delivery.Timeout, 500*time.Millisecond, false)},
		{"log-level", "log level: debug, info, warn or error",
			levelOf(&c.Log.Level, slog.LevelInfo)},
		{"log-format", "log format: text or json (the handler functions always log json)",
			oneOf(&c.Log.Format, "text", "text", "json")},
		{"gc-headroom", "bytes the heap may grow by between two runs of the Go garbage collector, at least: with a small live heap (a few busy connections) the collector then runs seldom rather than each time the heap doubles, for less CPU per message at the price of up to this much more memory; a live heap larger than it keeps Go's default (a run each time the heap doubles); 0: Go's default; a GOGC in the environment wins (README.md, \"Memory and the garbage collector\")",
			uintOf(&c.Proxy.GCHeadroom, 16<<20, 0, 1<<40)},
		{"pprof", "address to serve net/http/pprof on, such as 127.0.0.1:6060; empty: off",
			stringOf(&c.Listen.Pprof, "", nil)},
		{"invoker", "how the proxy runs the handlers: local (in-process, on -store) or lambda (invokes the functions of -lambda-functions)",
			oneOf(&c.Lambda.Invoker, "local", "local", "lambda")},
		{"lambda-functions", "functions of -invoker lambda: group=name[@endpoint], comma-separated, for the groups connect, publish, subscribe and session, and optionally lease (the session function's code, deployed apart: the proxy's lease renewals go there alone, so that a storm in the others cannot delay them; without it they go to session); a group named twice is a pool; an entry with an endpoint (an emulator) gets one call at a time",
			functionsOf(&c.Lambda.Functions, invocation.DefaultFunctions)},
		{"lambda-concurrency", "invocations of each function in flight from one proxy; events of other connections that come meanwhile are batched into the next",
			uintOf(&c.Lambda.Concurrency, 64, 1, 100000)},
		{"invoke-timeout", "deadline of one call to the handlers (one Lambda invocation with -invoker lambda)",
			durationOf(&c.Proxy.InvokeTimeout, 30*time.Second, false)},
		{"order-wait", "how long a QoS 1 or 2 message to a connection waits for the one handed out before it (by another handler call still under way) before it is written anyway, out of order; a longer wait keeps order through slower calls, but when the earlier call failed, the session's messages stall for that long",
			durationOf(&c.Proxy.OrderWait, 2*time.Second, false)},
		{"position-save", "with -delivery v2, how long a connection's acknowledged positions wait before they are saved at the latest (they are saved every 20 acknowledgements, before a QoS 2 PUBREL and at disconnect too); a longer wait saves fewer writes, and a crash resends (with DUP) the QoS 1 messages acknowledged within it",
			durationOf(&c.Proxy.PositionSave, time.Second, false)},
		{"fanout-chunk", "with -delivery v2, the most subscriptions of one filter whose messages the publish call sends itself; a filter with more is sent in chunks of this many, each run apart (-fanout-runner), so that the PUBACK waits only for the stored message",
			uintOf(&s.ChunkSize, d.ChunkSize, 1, 1<<20)},
		{"fanout-runner", "how the handler functions run the chunks of -fanout-chunk: lambda (the publish function invokes itself asynchronously; Lambda queues each chunk and retries it twice), process (in the function's own process, retried twice: for the Lambda Runtime Interface Emulator, which queues no asynchronous invocations), off (every delivery in the publish call); the all-in-one broker runs them in its process",
			oneOf(&c.Lambda.ChunkRunner, "lambda", "lambda", "process", "off")},
		{"drain-timeout", "on SIGTERM (or SIGINT), how long the proxy waits, after it stopped accepting and sent DISCONNECT 0x8B (Server shutting down) to 5.0 clients, for its connections to close and their sessions to be settled (wills, offline) before it exits",
			durationOf(&c.Proxy.DrainTimeout, 10*time.Second, false)},
		{"delivery-addr", "listen address of the delivery endpoint that handlers post deliveries to; empty: off (required with -invoker lambda)",
			stringOf(&c.Delivery.Addr, "", nil)},
		{"delivery-url", "URL handlers reach the delivery endpoint at, also the proxy's id; empty: http://<delivery-addr>; auto-ecs: the ECS task's IP and the port of -delivery-addr",
			stringOf(&c.Delivery.URL, "", nil)},
		{"delivery-secret", "shared secret (at least 16 bytes) that signs delivery requests; set it with MQTTLESS_DELIVERY_SECRET rather than on the command line",
			secretOf(&c.Delivery.Secret)},
		{"delivery-secret-previous", "a second secret (at least 16 bytes) the delivery endpoint accepts besides -delivery-secret, while a rotation is under way (handlers sign with -delivery-secret only); empty: none; set it with MQTTLESS_DELIVERY_SECRET_PREVIOUS",
			secretOf(&c.Delivery.PreviousSecret)},
	}
}
