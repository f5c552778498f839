package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// ErrTLSConfig is a TLS file that cannot be used; the message names it.
var ErrTLSConfig = errors.New("proxy: TLS configuration")

// TLSConfig returns the server TLS configuration of a listener with the
// certificate chain and key in certFile and keyFile (PEM). With
// clientCAFile (PEM, one or more CA certificates), clients may present a
// certificate signed by one of those CAs, which is verified, and whose
// subject common name becomes the connection's Event.CertIdentity; with
// requireClientCert as well, a client without one is refused.
// requireClientCert without clientCAFile is an error. TLS 1.2 is the
// oldest version accepted.
func TLSConfig(certFile, keyFile, clientCAFile string, requireClientCert bool) (*tls.Config, error) {
	if certFile == "" || keyFile == "" {
		return nil, fmt.Errorf("%w: a certificate file and a key file are both required", ErrTLSConfig)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate %s with key %s: %w", ErrTLSConfig, certFile, keyFile, err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	switch {
	case clientCAFile != "":
		pem, err := os.ReadFile(clientCAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: client CA file: %w", ErrTLSConfig, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: client CA file %s holds no PEM certificate", ErrTLSConfig, clientCAFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
		if requireClientCert {
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
	case requireClientCert:
		return nil, fmt.Errorf("%w: requiring client certificates needs a client CA file", ErrTLSConfig)
	}
	return cfg, nil
}

// ServeTLS is Serve over tls.NewListener(ln, cfg).
func (s *Server) ServeTLS(ln net.Listener, cfg *tls.Config) error {
	return s.Serve(tls.NewListener(ln, cfg))
}

// handshake completes the TLS handshake of a TLS connection within the
// connect timeout, which then covers the rest of the time to CONNECT, and
// records the identity of a verified client certificate. It reports false
// when the handshake failed; other connections pass at once.
func (c *conn) handshake() bool {
	tc, ok := c.nc.(*tls.Conn)
	if !ok {
		return true
	}
	start := time.Now()
	tc.SetDeadline(start.Add(c.srv.cfg.ConnectTimeout))
	if err := tc.Handshake(); err != nil {
		c.srv.refuse(RefusedTLSHandshake, "conn", c.id, "remote", tc.RemoteAddr().String(), "err", err)
		return false
	}
	tc.SetDeadline(time.Time{})
	c.deadline = max(c.srv.cfg.ConnectTimeout-time.Since(start), time.Millisecond)
	c.certIdentity = certIdentity(tc.ConnectionState())
	return true
}

// certIdentity returns the subject common name of a verified client
// certificate, or "".
func certIdentity(cs tls.ConnectionState) string {
	if len(cs.VerifiedChains) == 0 || len(cs.PeerCertificates) == 0 {
		return ""
	}
	return cs.PeerCertificates[0].Subject.CommonName
}
