package allinone_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/mqttless/mqttless/core/packet"
	"github.com/mqttless/mqttless/infra/allinone"
	"github.com/mqttless/mqttless/infra/config"
)

// pki is a test CA with a server certificate for 127.0.0.1 and a client
// certificate, as PEM files.
type pki struct {
	dir                       string
	caFile, certFile, keyFile string
	pool                      *x509.CertPool
	client                    tls.Certificate
	caKey                     *ecdsa.PrivateKey
	caCert                    *x509.Certificate
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	var err error
	if p.caKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	if p.caCert, err = x509.ParseCertificate(caDER); err != nil {
		t.Fatal(err)
	}
	p.pool = x509.NewCertPool()
	p.pool.AddCert(p.caCert)
	p.caFile = p.write(t, "ca.pem", "CERTIFICATE", caDER)
	srvDER, srvKey := p.issue(t, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "broker"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	p.certFile = p.write(t, "cert.pem", "CERTIFICATE", srvDER)
	keyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	p.keyFile = p.write(t, "key.pem", "PRIVATE KEY", keyDER)
	cliDER, cliKey := p.issue(t, &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "device-1"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	p.client = tls.Certificate{Certificate: [][]byte{cliDER}, PrivateKey: cliKey}
	return p
}

func (p *pki) issue(t *testing.T, tmpl *x509.Certificate) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return der, key
}

func (p *pki) write(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// logBuffer is a log destination safe for concurrent writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// wait reports whether s shows up in the log within 5 seconds: Run logs
// the addresses as it starts.
func (l *logBuffer) wait(s string) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if strings.Contains(l.String(), s) {
			return true
		}
	}
	return false
}

// startBroker starts a broker with args on the memory store and runs it
// until the test ends.
func startBroker(t *testing.T, args ...string) (*allinone.Broker, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	return runBroker(t, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), args...), logs
}

// runBroker starts a broker with args (after "-addr 127.0.0.1:0 -store
// memory", which they may override) logging to log, and runs it until the
// test or benchmark ends.
func runBroker(tb testing.TB, log *slog.Logger, args ...string) *allinone.Broker {
	tb.Helper()
	cfg, err := config.Parse(append([]string{"-addr", "127.0.0.1:0", "-store", "memory"}, args...), env(nil), io.Discard)
	if err != nil {
		tb.Fatal(err)
	}
	brk, err := allinone.Start(cfg, log)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- brk.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Run: %v", err)
		}
	})
	return brk
}

// connect sends a 3.1.1 CONNECT on nc, with username when it is not empty,
// and returns the CONNACK's return code.
func connect(t *testing.T, nc net.Conn, clientID, username, password string) byte {
	t.Helper()
	p := &packet.Connect{ClientID: clientID, CleanStart: true, KeepAlive: 30}
	if username != "" {
		p.UsernameFlag, p.Username, p.PasswordFlag, p.Password = true, username, true, []byte(password)
	}
	frame, err := p.Append(nil, packet.V311)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := nc.Write(frame); err != nil {
		t.Fatal(err)
	}
	var ack [4]byte
	if _, err := io.ReadFull(nc, ack[:]); err != nil {
		t.Fatalf("reading CONNACK: %v", err)
	}
	if ack[0] != 0x20 || ack[1] != 2 {
		t.Fatalf("got % x, want a CONNACK", ack)
	}
	return ack[3]
}

// readFrame reads one MQTT frame and returns its first byte and body.
func readFrame(t *testing.T, r *bufio.Reader) (byte, []byte) {
	t.Helper()
	first, err := r.ReadByte()
	if err != nil {
		t.Fatal(err)
	}
	n, shift := 0, 0
	for {
		b, err := r.ReadByte()
		if err != nil {
			t.Fatal(err)
		}
		n |= int(b&0x7f) << shift
		shift += 7
		if b&0x80 == 0 {
			break
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		t.Fatal(err)
	}
	return first, body
}

// The broker serves MQTT over TCP, TLS, WebSockets and secure WebSockets,
// the metrics and the health check, publishes $SYS topics, logs every
// address, and closes them all when Run returns.
func TestListeners(t *testing.T) {
	p := newPKI(t)
	brk, logs := startBroker(t, "-tls-addr", "127.0.0.1:0", "-ws-addr", "127.0.0.1:0", "-wss-addr", "127.0.0.1:0",
		"-metrics-addr", "127.0.0.1:0", "-tls-cert", p.certFile, "-tls-key", p.keyFile, "-sys-interval", "100ms")
	for name, a := range map[string]net.Addr{"TLSAddr": brk.TLSAddr(), "WSAddr": brk.WSAddr(), "WSSAddr": brk.WSSAddr(), "MetricsAddr": brk.MetricsAddr()} {
		if a == nil {
			t.Fatalf("%s is nil", name)
		}
		if !logs.wait("addr=" + a.String()) {
			t.Errorf("the log does not give %s %s:\n%s", name, a, logs)
		}
	}
	if !logs.wait("anonymous access is on") {
		t.Errorf("no warning about anonymous access in the log:\n%s", logs)
	}

	// TCP, with a $SYS subscription.
	nc, err := net.Dial("tcp", brk.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if rc := connect(t, nc, "tcp", "", ""); rc != 0 {
		t.Errorf("TCP: CONNACK %d", rc)
	}
	sub, _ := (&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: "$SYS/broker/#"}}}).Append(nil, packet.V311)
	if _, err := nc.Write(sub); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(nc)
	if first, body := readFrame(t, r); first != 0x90 || !bytes.Equal(body, []byte{0, 1, 0}) {
		t.Errorf("got %#x % x, want a SUBACK granting QoS 0", first, body)
	}
	if first, body := readFrame(t, r); first>>4 != 3 || !bytes.Contains(body, []byte("$SYS/broker/")) {
		t.Errorf("got %#x %q, want a PUBLISH of a $SYS topic", first, body)
	}

	// TLS.
	tc, err := tls.Dial("tcp", brk.TLSAddr().String(), &tls.Config{RootCAs: p.pool})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if rc := connect(t, tc, "tls", "", ""); rc != 0 {
		t.Errorf("TLS: CONNACK %d", rc)
	}

	// WebSockets, plain and secure, at /mqtt with the mqtt subprotocol.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, url := range []string{"ws://" + brk.WSAddr().String() + "/mqtt", "wss://" + brk.WSSAddr().String() + "/mqtt"} {
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool}}}
		wc, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: client, Subprotocols: []string{"mqtt"}})
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		if resp.Header.Get("Sec-WebSocket-Protocol") != "mqtt" {
			t.Errorf("%s: subprotocol %q", url, resp.Header.Get("Sec-WebSocket-Protocol"))
		}
		wnc := websocket.NetConn(ctx, wc, websocket.MessageBinary)
		if rc := connect(t, wnc, "ws-"+url[:3], "", ""); rc != 0 {
			t.Errorf("%s: CONNACK %d", url, rc)
		}
		wnc.Close()
	}

	// Metrics and health.
	for path, want := range map[string]string{"/metrics": "go_goroutines", "/healthz": "ok"} {
		resp, err := http.Get("http://" + brk.MetricsAddr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %s\n%.300s", path, resp.Status, body)
		}
		if path == "/metrics" && !strings.Contains(string(body), "mqttless_") {
			t.Errorf("GET /metrics has no mqttless_ metrics:\n%.2000s", body)
		}
	}
}

// Every listener is closed when Run returns.
func TestListenersClosed(t *testing.T) {
	p := newPKI(t)
	cfg, err := config.Parse([]string{"-addr", "127.0.0.1:0", "-store", "memory", "-tls-addr", "127.0.0.1:0",
		"-ws-addr", "127.0.0.1:0", "-wss-addr", "127.0.0.1:0", "-metrics-addr", "127.0.0.1:0",
		"-tls-cert", p.certFile, "-tls-key", p.keyFile}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	brk, err := allinone.Start(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- brk.Run(ctx) }()
	// A connection open at shutdown is ended.
	nc, err := net.Dial("tcp", brk.WSAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, a := range []net.Addr{brk.Addr(), brk.TLSAddr(), brk.WSAddr(), brk.WSSAddr(), brk.MetricsAddr()} {
		if c, err := net.DialTimeout("tcp", a.String(), time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections after Run returned", a)
		}
	}
}

// A TLS listener without its files, or with a bad one, fails Start with an
// error that names the setting.
func TestTLSFilesNamed(t *testing.T) {
	cfg, err := config.Parse([]string{"-addr", "127.0.0.1:0", "-store", "memory", "-tls-addr", "127.0.0.1:0",
		"-tls-cert", filepath.Join(t.TempDir(), "missing.pem"), "-tls-key", "missing-key.pem"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := allinone.Start(cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "-tls-cert") {
		t.Errorf("Start = %v, want an error naming -tls-cert", err)
	}
}

// With -allow-anonymous=false and -cert-identity, a client without a
// username is refused unless it presents a certificate the client CA
// verifies, whose Common Name is then its username.
func TestAuthWiring(t *testing.T) {
	p := newPKI(t)
	brk, logs := startBroker(t, "-allow-anonymous=false", "-cert-identity", "true", "-tls-addr", "127.0.0.1:0",
		"-wss-addr", "127.0.0.1:0", "-tls-cert", p.certFile, "-tls-key", p.keyFile, "-tls-client-ca", p.caFile)
	if logs.wait("mqttless listening") && strings.Contains(logs.String(), "anonymous access is on") {
		t.Errorf("warning about anonymous access with -allow-anonymous=false:\n%s", logs)
	}
	nc, err := net.Dial("tcp", brk.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if rc := connect(t, nc, "anon", "", ""); rc != 5 {
		t.Errorf("anonymous over TCP: CONNACK %d, want 5 (not authorized)", rc)
	}
	nc2, err := net.Dial("tcp", brk.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	if rc := connect(t, nc2, "who", "nobody", "pw"); rc != 4 {
		t.Errorf("unknown user: CONNACK %d, want 4 (bad user name or password)", rc)
	}
	tc, err := tls.Dial("tcp", brk.TLSAddr().String(), &tls.Config{RootCAs: p.pool, Certificates: []tls.Certificate{p.client}})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if rc := connect(t, tc, "device", "", ""); rc != 0 {
		t.Errorf("client certificate over TLS: CONNACK %d, want 0", rc)
	}
	tc2, err := tls.Dial("tcp", brk.TLSAddr().String(), &tls.Config{RootCAs: p.pool})
	if err != nil {
		t.Fatal(err)
	}
	defer tc2.Close()
	if rc := connect(t, tc2, "nocert", "", ""); rc != 5 {
		t.Errorf("TLS without a certificate: CONNACK %d, want 5", rc)
	}
	// WebSockets over TLS carry the certificate identity too.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, certs := range [][]tls.Certificate{{p.client}, nil} {
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.pool, Certificates: certs}}}
		wc, _, err := websocket.Dial(ctx, "wss://"+brk.WSSAddr().String()+"/mqtt", &websocket.DialOptions{HTTPClient: client, Subprotocols: []string{"mqtt"}})
		if err != nil {
			t.Fatal(err)
		}
		wnc := websocket.NetConn(ctx, wc, websocket.MessageBinary)
		want := byte(0)
		if certs == nil {
			want = 5
		}
		if rc := connect(t, wnc, "wss-device", "", ""); rc != want {
			t.Errorf("WebSockets over TLS with %d certificates: CONNACK %d, want %d", len(certs), rc, want)
		}
		wnc.Close()
	}
}
