package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/mqttless/mqttless/core/session"

	"github.com/mqttless/mqttless/infra/delivery"
	"github.com/mqttless/mqttless/infra/dynamo"
)

// MinLeasePeriod is the shortest -lease-period: renewals go every third
// of it, each a handler call.
const MinLeasePeriod = 500 * time.Millisecond

// MaxDeliveryTimeout is the longest -delivery-timeout.
const MaxDeliveryTimeout = 30 * time.Second

// check applies the rules that tie settings together, once each has been
// parsed; raw returns a setting's value as given and whether a flag or the
// environment set it.
func (c *Config) check(p *parser, raw func(name string) (string, bool)) {
	if c.Proxy.SysInterval > 0 && c.Proxy.SysPrefix != "" && (!strings.HasPrefix(c.Proxy.SysPrefix, "$SYS/") || strings.ContainsAny(c.Proxy.SysPrefix, "+#")) {
		p.fail("sys-prefix", c.Proxy.SysPrefix, "want a topic name under $SYS/ such as $SYS/broker")
	}
	c.checkTLS(p)
	if e := c.Session.MaxSessionExpiry; e != 0 && e != session.NeverExpires {
		c.Store.StreamRetention = time.Duration(e)*time.Second + streamRetentionMargin
	}
	if s, set := raw("fsync"); set && c.Store.Kind != "bolt" && !c.Store.Fsync {
		p.fail("fsync", s, fmt.Sprintf("only -store bolt writes a file of its own; -store %s has no fsync to turn off", c.Store.Kind))
	}
	if c.Store.Kind == "dynamo" {
		// Every message must fit in one DynamoDB item.
		if s, set := raw("max-packet-size"); !set {
			c.Session.MaxPacketSize = dynamo.MaxPacketSize
		} else if c.Session.MaxPacketSize > dynamo.MaxPacketSize {
			p.fail("max-packet-size", s, fmt.Sprintf("-store dynamo holds each message in one 400 KB item: want at most %d", dynamo.MaxPacketSize))
		}
		// DynamoDB keeps no store-wide count of queued bytes: it would be
		// one more write, on one item shared by every session, for each
		// queued message (session.StoreBytesCounter).
		if s, set := raw("max-store-bytes"); !set {
			c.Session.MaxStoreBytes = 0
		} else {
			p.fail("max-store-bytes", s, "-store dynamo keeps no count of the bytes queued by all sessions (it would cost one more write on every queued message): bound each session with -max-queued-bytes and -max-sessions")
		}
		if c.Store.Table == "" {
			p.fail("table", c.Store.Table, "must not be empty")
		}
	}
	if c.Listen.EMFInterval > 0 && c.Listen.MetricsAddr == "" {
		p.fail("emf-interval", c.Listen.EMFInterval.String(), "needs -metrics-addr, whose metrics it writes")
	}
	if c.Listen.EMFInterval > 0 && c.Listen.EMFService == "" {
		p.fail("emf-service", "", "must not be empty with -emf-interval")
	}
	if c.Proxy.LeasePeriod < MinLeasePeriod || c.Proxy.LeasePeriod > session.MaxLeasePeriod {
		p.fail("lease-period", c.Proxy.LeasePeriod.String(), fmt.Sprintf("want from %v to %v", MinLeasePeriod, session.MaxLeasePeriod))
	}
	if c.Delivery.Timeout > MaxDeliveryTimeout {
		p.fail("delivery-timeout", c.Delivery.Timeout.String(), fmt.Sprintf("want at most %v: a delivery holds up the event that made it", MaxDeliveryTimeout))
	}
	if c.Lambda.Invoker == "lambda" && c.Delivery.Addr == "" {
		p.fail("delivery-addr", c.Delivery.Addr, "-invoker lambda needs a delivery endpoint")
	}
	if c.Delivery.Addr != "" {
		if len(c.Delivery.Secret) < delivery.MinSecretLen {
			p.fail("delivery-secret", strings.Repeat("*", len(c.Delivery.Secret)), fmt.Sprintf("a delivery endpoint needs a secret of at least %d bytes", delivery.MinSecretLen))
		}
		if n := len(c.Delivery.PreviousSecret); n > 0 && n < delivery.MinSecretLen {
			p.fail("delivery-secret-previous", strings.Repeat("*", n), fmt.Sprintf("want at least %d bytes, or empty", delivery.MinSecretLen))
		}
		if c.Delivery.URL == "" {
			c.Delivery.URL = "http://" + c.Delivery.Addr
		}
		if u, err := url.Parse(c.Delivery.URL); c.Delivery.URL != DeliveryURLAutoECS && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
			p.fail("delivery-url", c.Delivery.URL, "want an http(s) URL such as http://10.0.1.7:9883")
		}
	}
}

// checkTLS checks the TLS settings: a listener that needs the certificate
// names the flag that is missing, and client certificates need a CA to
// verify them.
func (c *Config) checkTLS(p *parser) {
	l := &c.Listen
	for _, ln := range []struct{ name, addr string }{{"tls-addr", l.TLSAddr}, {"wss-addr", l.WSSAddr}} {
		if ln.addr == "" {
			continue
		}
		if l.TLSCert == "" {
			p.fail("tls-cert", l.TLSCert, "-"+ln.name+" needs a certificate file")
		}
		if l.TLSKey == "" {
			p.fail("tls-key", l.TLSKey, "-"+ln.name+" needs a private key file")
		}
	}
	// TLS files that no listener uses are a mistake (a listener flag
	// forgotten, or misspelt in the environment): refused, naming each.
	if l.TLSAddr == "" && l.WSSAddr == "" {
		for _, f := range []struct{ name, v string }{{"tls-cert", l.TLSCert}, {"tls-key", l.TLSKey}, {"tls-client-ca", l.TLSClientCA}} {
			if f.v != "" {
				p.fail(f.name, f.v, "no TLS listener uses it: set -tls-addr or -wss-addr, or leave it empty")
			}
		}
		if l.TLSRequireClientCert {
			p.fail("tls-require-client-cert", "true", "no TLS listener uses it: set -tls-addr or -wss-addr, or leave it false")
		}
	}
	if l.TLSRequireClientCert && l.TLSClientCA == "" {
		p.fail("tls-client-ca", l.TLSClientCA, "-tls-require-client-cert needs the CAs that verify client certificates")
	}
	// The handler functions of -invoker lambda take -cert-identity without
	// a listener: the proxy verifies the certificates.
	if c.Auth.CertIdentity && l.TLSClientCA == "" && (l.TLSAddr != "" || l.WSSAddr != "") {
		p.fail("tls-client-ca", l.TLSClientCA, "-cert-identity needs the CAs that verify client certificates")
	}
}
