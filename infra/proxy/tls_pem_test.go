package proxy_test

import (
	"crypto/tls"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/mqttless/mqttless/infra/proxy"
)

// The certificate, key and client CAs may be given as PEM instead of file
// names (as ECS puts a secret's value into an environment variable): the
// same configuration comes out, and an error about a bad key given so
// never quotes the key.
func TestTLSConfigInlinePEM(t *testing.T) {
	pki := newPKI(t)
	read := func(name string) string {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	cert, key, ca := read(pki.serverCert), read(pki.serverKey), read(pki.caFile)
	cfg, err := proxy.TLSConfig(cert, key, ca, true)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ClientAuth != tls.RequireAndVerifyClientCert || len(cfg.Certificates) != 1 || cfg.ClientCAs == nil {
		t.Errorf("inline PEM gave %+v", cfg)
	}
	fromFiles, err := proxy.TLSConfig(pki.serverCert, pki.serverKey, pki.caFile, true)
	if err != nil || !fromFiles.Certificates[0].Leaf.Equal(cfg.Certificates[0].Leaf) {
		t.Errorf("files and inline PEM differ: %v", err)
	}
	badKey := strings.Replace(key, "PRIVATE KEY-----\n", "PRIVATE KEY-----\nAAAA", 1)
	_, err = proxy.TLSConfig(cert, badKey, "", false)
	if !errors.Is(err, proxy.ErrTLSConfig) || strings.Contains(err.Error(), "AAAA") || strings.Contains(err.Error(), "BEGIN") {
		t.Errorf("bad inline key: %v, want ErrTLSConfig that does not quote the key", err)
	}
}
