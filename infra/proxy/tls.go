package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// ErrTLSConfig is a TLS file that cannot be used; the message names it.
var ErrTLSConfig = errors.New("proxy: TLS configuration")

// TLSConfig returns the server TLS configuration of a listener with the
// certificate chain and key in certFile and keyFile (PEM; each file name
// may instead be the PEM itself, see readPEM). With
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
	certPEM, certName, err := readPEM(certFile)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate: %w", ErrTLSConfig, err)
	}
	keyPEM, keyName, err := readPEM(keyFile)
	if err != nil {
		return nil, fmt.Errorf("%w: key: %w", ErrTLSConfig, err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate %s with key %s: %w", ErrTLSConfig, certName, keyName, err)
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	switch {
	case clientCAFile != "":
		pem, name, err := readPEM(clientCAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: client CA file: %w", ErrTLSConfig, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: client CA file %s holds no PEM certificate", ErrTLSConfig, name)
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

// readPEM returns the PEM a TLS setting gives, and a name for it in
// errors: the setting itself when it starts with "-----BEGIN" (as when
// ECS fills MQTTLESS_TLS_KEY from a Secrets Manager secret, so that no
// file is needed in the container; the name then never quotes it), else
// the content of the file it names.
func readPEM(v string) ([]byte, string, error) {
	if strings.HasPrefix(strings.TrimSpace(v), "-----BEGIN") {
		return []byte(v), "(PEM given in the setting)", nil
	}
	b, err := os.ReadFile(v)
	return b, v, err
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
