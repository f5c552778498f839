package proxy_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/infra/proxy"
)

// testPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate, written as PEM files in a temporary directory.
type testPKI struct {
	caFile, serverCert, serverKey string
	client                        tls.Certificate // CN "device-7", signed by the CA
	stranger                      tls.Certificate // CN "intruder", self-signed
	roots                         *x509.CertPool
}

func newPKI(t *testing.T) *testPKI {
	t.Helper()
	dir := t.TempDir()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	serial := int64(1)
	issue := func(tmpl *x509.Certificate, parent *x509.Certificate, pub *ecdsa.PublicKey, signer *ecdsa.PrivateKey) *x509.Certificate {
		serial++
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
		if parent == nil {
			parent = tmpl
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyDER := func(k *ecdsa.PrivateKey) []byte {
		b, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	caKey := key()
	ca := issue(&x509.Certificate{Subject: pkix.Name{CommonName: "test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}, nil, &caKey.PublicKey, caKey)
	srvKey := key()
	srv := issue(&x509.Certificate{Subject: pkix.Name{CommonName: "broker"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}, ca, &srvKey.PublicKey, caKey)
	cliKey := key()
	cli := issue(&x509.Certificate{Subject: pkix.Name{CommonName: "device-7"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}, ca, &cliKey.PublicKey, caKey)
	strKey := key()
	str := issue(&x509.Certificate{Subject: pkix.Name{CommonName: "intruder"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}, nil, &strKey.PublicKey, strKey)
	p := &testPKI{
		caFile:     write("ca.pem", "CERTIFICATE", ca.Raw),
		serverCert: write("server.pem", "CERTIFICATE", srv.Raw),
		serverKey:  write("server-key.pem", "PRIVATE KEY", keyDER(srvKey)),
		client:     tls.Certificate{Certificate: [][]byte{cli.Raw}, PrivateKey: cliKey},
		stranger:   tls.Certificate{Certificate: [][]byte{str.Raw}, PrivateKey: strKey},
		roots:      x509.NewCertPool(),
	}
	p.roots.AddCert(ca)
	return p
}

// startTLS starts a proxy on a TLS listener configured by TLSConfig.
func startTLS(t *testing.T, inv proxy.Invoker, cfg proxy.Config, pki *testPKI, requireCert bool) string {
	t.Helper()
	tc, err := proxy.TLSConfig(pki.serverCert, pki.serverKey, pki.caFile, requireCert)
	if err != nil {
		t.Fatal(err)
	}
	if tc.MinVersion != tls.VersionTLS12 {
		t.Fatalf("MinVersion %x", tc.MinVersion)
	}
	srv, err := proxy.New(cfg, inv, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.ServeTLS(ln, tc)
	t.Cleanup(func() { shutdown(t, srv) })
	return ln.Addr().String()
}

func dialTLS(t *testing.T, addr string, pki *testPKI, cert *tls.Certificate) *client {
	t.Helper()
	cfg := &tls.Config{RootCAs: pki.roots, ServerName: "127.0.0.1"}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	nc, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return wrapClient(t, nc, packet.V311)
}

// The identity of a verified client certificate reaches the handlers in
// every event of the connection; a connection without one has none.
func TestTLSClientCertIdentity(t *testing.T) {
	pki := newPKI(t)
	inv := &fakeInvoker{reply: acceptConnect(packet.V311, 60, 0)}
	addr := startTLS(t, inv, proxy.Config{ID: "p1"}, pki, false)

	c := dialTLS(t, addr, pki, &pki.client)
	c.send(&packet.Connect{ClientID: "c", KeepAlive: 60})
	c.expect(packet.CONNACK)
	c.send(&packet.Pingreq{})
	c.expect(packet.PINGRESP)
	c.send(&packet.Publish{Topic: "t", Payload: []byte("x")})
	c.nc.Close()
	eventually(t, func() bool { k := inv.kinds(); return len(k) >= 1 && k[len(k)-1] == session.KindLost })
	inv.mu.Lock()
	for _, ev := range inv.events {
		if ev.CertIdentity != "device-7" {
			t.Errorf("%s event: CertIdentity %q, want device-7", ev.Kind, ev.CertIdentity)
		}
	}
	n := len(inv.events)
	inv.mu.Unlock()

	c2 := dialTLS(t, addr, pki, nil)
	c2.send(&packet.Connect{ClientID: "c2"})
	c2.expect(packet.CONNACK)
	inv.mu.Lock()
	if got := inv.events[n].CertIdentity; got != "" {
		t.Errorf("without a client certificate: CertIdentity %q", got)
	}
	inv.mu.Unlock()

	// A certificate from another CA fails the handshake.
	c3 := dialTLSRaw(addr, pki, &pki.stranger)
	if c3 == nil {
		return // refused in the handshake
	}
	defer c3.Close()
	expectTLSRefused(t, c3)
}

// dialTLSRaw dials, returning nil when the handshake fails on the client's
// side. It presents cert even when the server's CAs did not sign it.
func dialTLSRaw(addr string, pki *testPKI, cert *tls.Certificate) *tls.Conn {
	cfg := &tls.Config{RootCAs: pki.roots, ServerName: "127.0.0.1"}
	if cert != nil {
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	nc, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return nil
	}
	return nc
}

// expectTLSRefused checks that the server refused the handshake: with TLS
// 1.3 the client learns it on its first read.
func expectTLSRefused(t *testing.T, nc *tls.Conn) {
	t.Helper()
	b, _ := (&packet.Connect{ClientID: "x"}).Append(nil, packet.V311)
	nc.Write(b)
	nc.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err := nc.Read(make([]byte, 16))
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("handshake not refused: read %v", err)
	}
}

// With requireClientCert a client without a certificate is refused, and
// one with a good certificate is served.
func TestTLSRequireClientCert(t *testing.T) {
	pki := newPKI(t)
	inv := &fakeInvoker{reply: acceptConnect(packet.V311, 0, 0)}
	addr := startTLS(t, inv, proxy.Config{ID: "p1"}, pki, true)
	if nc := dialTLSRaw(addr, pki, nil); nc != nil {
		defer nc.Close()
		expectTLSRefused(t, nc)
	}
	c := dialTLS(t, addr, pki, &pki.client)
	c.send(&packet.Connect{ClientID: "c"})
	c.expect(packet.CONNACK)
	if k := inv.kinds(); len(k) != 1 {
		t.Fatalf("handlers saw %v, want only the good client's CONNECT", k)
	}
}

// A client that opens TCP but never completes the TLS handshake is
// dropped within the connect timeout.
func TestTLSHandshakeTimeout(t *testing.T) {
	pki := newPKI(t)
	inv := &fakeInvoker{}
	addr := startTLS(t, inv, proxy.Config{ID: "p1", ConnectTimeout: 300 * time.Millisecond}, pki, false)
	for _, send := range []string{"", "\x16\x03\x01"} { // nothing; a partial ClientHello
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.Write([]byte(send))
		begin := time.Now()
		nc.SetReadDeadline(time.Now().Add(3 * time.Second))
		_, err = nc.Read(make([]byte, 64))
		var ne net.Error
		if err == nil || errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("sending %q: connection not closed: %v", send, err)
		}
		if d := time.Since(begin); d > 2*time.Second {
			t.Fatalf("closed after %v", d)
		}
	}
	if k := inv.kinds(); len(k) != 0 {
		t.Fatalf("handlers saw %v", k)
	}
}

// TLSConfig's errors name the file at fault.
func TestTLSConfigErrors(t *testing.T) {
	pki := newPKI(t)
	missing := filepath.Join(t.TempDir(), "nope.pem")
	for _, tc := range []struct {
		cert, key, ca string
		require       bool
		want          string
	}{
		{missing, pki.serverKey, "", false, "nope.pem"},
		{pki.serverCert, missing, "", false, "nope.pem"},
		{pki.serverCert, pki.serverKey, missing, false, "nope.pem"},
		{pki.serverCert, pki.serverKey, pki.serverKey, false, "server-key.pem"}, // no certificate in it
		{pki.serverCert, pki.serverKey, "", true, "client CA"},
	} {
		_, err := proxy.TLSConfig(tc.cert, tc.key, tc.ca, tc.require)
		if err == nil || !errors.Is(err, proxy.ErrTLSConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("TLSConfig(%s, %s, %s, %v) = %v, want an error naming %s", tc.cert, tc.key, tc.ca, tc.require, err, tc.want)
		}
	}
	cfg, err := proxy.TLSConfig(pki.serverCert, pki.serverKey, pki.caFile, false)
	if err != nil || cfg.ClientAuth != tls.VerifyClientCertIfGiven {
		t.Fatalf("optional client certificates: %v %v", cfg.ClientAuth, err)
	}
	cfg, err = proxy.TLSConfig(pki.serverCert, pki.serverKey, "", false)
	if err != nil || cfg.ClientAuth != tls.NoClientCert {
		t.Fatalf("no client CA: %v %v", cfg.ClientAuth, err)
	}
}
