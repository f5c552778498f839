package e2e_test

// Helpers of the tests of authentication, authorization, transports,
// limits and operability (auth_test.go, transport_test.go, limits_test.go):
// the admin CLI run against a broker's store, a test certificate
// authority, clients over TLS and WebSockets, and HTTP probes.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/mqttless/mqttless/core/packet"
)

// adminCLI is the admin CLI, built once per run next to the broker binary
// (in the run's temporary directory, which TestMain removes).
var adminCLI struct {
	once sync.Once
	bin  string
	err  error
}

// adminBin returns the path of the mqttless-admin binary, building it on
// first use. Tests that use it need a broker of their own.
func adminBin(t testing.TB) string {
	t.Helper()
	needOwnBroker(t)
	adminCLI.once.Do(func() {
		bin := filepath.Join(filepath.Dir(brokerBin), "mqttless-admin")
		out, err := exec.Command("go", "build", "-o", bin, "github.com/mqttless/mqttless/cmd/mqttless-admin").CombinedOutput()
		if err != nil {
			adminCLI.err = fmt.Errorf("go build ./cmd/mqttless-admin: %v\n%s", err, out)
			return
		}
		adminCLI.bin = bin
	})
	if adminCLI.err != nil {
		t.Fatal(adminCLI.err)
	}
	return adminCLI.bin
}

// onDynamo reports whether the brokers of this run keep their data in
// DynamoDB (MQTTLESS_E2E_STORE=dynamo, or the serverless stack), where the
// admin CLI may change a store while its broker runs; the embedded store
// is locked by its broker.
func onDynamo() bool { return e2eStore == "dynamo" || e2eStack == "lambda" }

// adminStoreFlags returns the admin CLI's flags for the store of a broker
// with data directory dataDir: the bolt file in it, or the DynamoDB table
// the harness names after it (storeFlags, stackTable), which is created
// here when missing so that users and rules can be added before the broker
// starts.
func adminStoreFlags(t testing.TB, dataDir string) []string {
	t.Helper()
	if !onDynamo() {
		return []string{"-store", "bolt", "-data-dir", dataDir}
	}
	table := stackTable(dataDir)
	if err := ensureTable(table); err != nil {
		t.Fatalf("creating table %s for the admin CLI: %v", table, err)
	}
	return []string{"-store", "dynamo", "-table", table}
}

// admin runs mqttless-admin with args and the store flags of dataDir,
// stdin as its standard input, and returns its standard output; it fails
// the test when the command fails.
func admin(t testing.TB, dataDir, stdin string, args ...string) string {
	t.Helper()
	out, err := tryAdmin(t, dataDir, stdin, args...)
	if err != nil {
		t.Fatalf("mqttless-admin %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// tryAdmin is admin returning the error, with the command's standard
// error in it.
func tryAdmin(t testing.TB, dataDir, stdin string, args ...string) (string, error) {
	t.Helper()
	bin := adminBin(t)
	full := append(append([]string{}, args...), adminStoreFlags(t, dataDir)...)
	cmd := exec.Command(bin, full...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		return "", err
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return stdout.String(), fmt.Errorf("%v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
		}
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		<-done
		return stdout.String(), fmt.Errorf("no exit within a minute\nstderr: %s", stderr.String())
	}
	return stdout.String(), nil
}

// addUser adds user name with password to the store of dataDir, the
// password on standard input.
//
// The hash is at bcrypt's lowest cost: the race-built broker takes seconds
// for a check at the default cost on a busy machine, and these tests are
// about who may connect, not about the hash's work factor.
func addUser(t testing.TB, dataDir, name, password string) {
	t.Helper()
	admin(t, dataDir, password+"\n", "users", "add", name, "-password-stdin", "-cost", "4")
}

// addRule adds an access rule (the flags of acl add) to the store of
// dataDir and returns its ID.
func addRule(t testing.TB, dataDir string, flags ...string) string {
	t.Helper()
	out := admin(t, dataDir, "", append([]string{"acl", "add"}, flags...)...)
	f := strings.Fields(strings.TrimSpace(out))
	if len(f) == 0 {
		t.Fatalf("acl add %v printed nothing", flags)
	}
	return f[len(f)-1]
}

// authDataDir returns a new data directory for a broker whose users and
// rules a test sets up before starting it.
func authDataDir(t testing.TB) string {
	t.Helper()
	needOwnBroker(t)
	return t.TempDir()
}

// withCreds sets the username and password of a 3.1.1 client.
func withCreds(user, password string) func(*mqtt.ClientOptions) {
	return func(o *mqtt.ClientOptions) { o.SetUsername(user).SetPassword(password) }
}

// v5Creds returns a clean 5.0 CONNECT as id with a username and password
// (none when user is empty).
func v5Creds(id, user, password string) *paho.Connect {
	cp := v5Connect(id, true)
	if user != "" {
		cp.Username, cp.UsernameFlag = user, true
		cp.Password, cp.PasswordFlag = []byte(password), true
	}
	return cp
}

// rawCreds returns a clean CONNECT as id with a username and password
// (none when user is empty).
func rawCreds(v packet.Version, id, user, password string) *packet.Connect {
	p := connectPacket(v, id, true)
	if user != "" {
		p.UsernameFlag, p.Username = true, user
		p.PasswordFlag, p.Password = true, []byte(password)
	}
	return p
}

// rawLogin dials addr and connects as id with user and password; the
// CONNACK must accept.
func rawLogin(t testing.TB, addr string, v packet.Version, id, user, password string) *rawClient {
	t.Helper()
	c := dialRaw(t, addr, v)
	c.mustConnect(rawCreds(v, id, user, password))
	return c
}

// rawOver returns a raw client speaking version v over nc, an open
// connection such as a TLS or WebSocket one.
func rawOver(t testing.TB, nc net.Conn, v packet.Version) *rawClient {
	c := &rawClient{t: t, nc: nc, v: v, in: make(chan packet.Packet, 4096)}
	go c.readLoop()
	t.Cleanup(func() { nc.Close() })
	return c
}

// suback sends one SUBSCRIBE and returns its SUBACK, whatever it grants.
func (c *rawClient) suback(id uint16, subs ...packet.Subscription) *packet.Suback {
	c.t.Helper()
	c.send(&packet.Subscribe{PacketID: id, Subscriptions: subs})
	ack := expect[*packet.Suback](c.t, c)
	if ack.PacketID != id || len(ack.ReasonCodes) != len(subs) {
		c.t.Fatalf("SUBACK %+v does not answer SUBSCRIBE %d of %d filters", ack, id, len(subs))
	}
	return ack
}

// refusedCode is the SUBACK code a refused subscription gets at version
// v for reason rc at 5.0: 0x80 at 3.1.1, which has no other.
func refusedCode(v packet.Version, rc packet.ReasonCode) packet.ReasonCode {
	if v == packet.V5 {
		return rc
	}
	return packet.UnspecifiedError
}

// ---- a test certificate authority ----

// testCA is a certificate authority made for one test, with its
// certificate in PEM in caFile.
type testCA struct {
	t      testing.TB
	dir    string
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	caFile string
	pool   *x509.CertPool
}

var serial struct {
	sync.Mutex
	n int64
}

func nextSerial() *big.Int {
	serial.Lock()
	defer serial.Unlock()
	serial.n++
	return big.NewInt(time.Now().UnixNano() + serial.n)
}

// newCA makes a CA named name and writes its certificate to a file in a
// temporary directory of the test.
func newCA(t testing.TB, name string) *testCA {
	t.Helper()
	tmpl := certTemplate(name, x509.KeyUsageCertSign|x509.KeyUsageDigitalSignature)
	tmpl.BasicConstraintsValid, tmpl.IsCA = true, true
	der, key := signCert(t, tmpl, nil, nil)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{t: t, dir: t.TempDir(), cert: cert, key: key, pool: x509.NewCertPool()}
	ca.pool.AddCert(cert)
	ca.caFile = filepath.Join(ca.dir, "ca.pem")
	writePEM(t, ca.caFile, "CERTIFICATE", der)
	return ca
}

// issue signs a certificate for cn, a server certificate for 127.0.0.1
// and localhost when server is set and a client one otherwise, and
// returns its certificate and key files and the tls.Certificate.
func (ca *testCA) issue(cn string, server bool) (certFile, keyFile string, pair tls.Certificate) {
	t := ca.t
	t.Helper()
	tmpl := certTemplate(cn, x509.KeyUsageDigitalSignature)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, key := signCert(t, tmpl, ca.cert, ca.key)
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(ca.dir, fmt.Sprintf("%s-%d", strings.ReplaceAll(cn, "/", "_"), nextSerial()))
	certFile, keyFile = base+".pem", base+"-key.pem"
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
	pair, err = tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pair
}

// certTemplate is a certificate for cn valid from an hour ago for a day.
func certTemplate(cn string, usage x509.KeyUsage) *x509.Certificate {
	return &x509.Certificate{
		SerialNumber: nextSerial(),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     usage,
	}
}

// signCert makes a key and the DER certificate of tmpl for it, signed by
// parent with parentKey, or self-signed when parent is nil.
func signCert(t testing.TB, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	return der, key
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// clientTLS returns a client TLS configuration that trusts ca, presenting
// the given certificates (none for a client without one).
func (ca *testCA) clientTLS(certs ...tls.Certificate) *tls.Config {
	return &tls.Config{RootCAs: ca.pool, ServerName: "127.0.0.1", Certificates: certs, MinVersion: tls.VersionTLS12}
}

// dialTLS opens a TLS connection to addr with cfg and completes the
// handshake.
func dialTLS(addr string, cfg *tls.Config) (*tls.Conn, error) {
	d := &net.Dialer{Timeout: waitTime}
	tc, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	return tc, nil
}

// ---- HTTP ----

// httpGet fetches url and returns the status code and body.
func httpGet(t testing.TB, url string) (int, string) {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), waitTime)
	defer cancel()
	req, err := http.NewRequestWithContext(c, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// mustFreeAddr returns an address from freeAddr for a listener of the
// broker's own.
func mustFreeAddr(t testing.TB) string {
	t.Helper()
	a, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// waitFor polls cond every 50 ms until it is true or d has passed, and
// reports whether it became true.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// subscribeEarly subscribes like subscribe, but lets PUBLISH packets of
// the new subscription come before the SUBACK, as the protocol allows
// (3.1.1 section 3.8.4, 5.0 section 3.8.4): they are kept for next.
func (c *rawClient) subscribeEarly(id uint16, subs ...packet.Subscription) {
	c.t.Helper()
	c.send(&packet.Subscribe{PacketID: id, Subscriptions: subs})
	var early []packet.Packet
	for {
		p, err := c.next(waitTime)
		if err != nil {
			c.t.Fatalf("waiting for SUBACK %d: %v", id, err)
		}
		if _, ok := p.(*packet.Publish); ok {
			early = append(early, p)
			continue
		}
		c.held = append(c.held, early...)
		c.held = append([]packet.Packet{p}, c.held...)
		c.checkSuback(id, subs)
		return
	}
}

// inTurn runs f as a subtest at 3.1.1 and then at 5.0, not in parallel:
// the test's broker then lives only while the test runs, rather than
// waiting with the others for a parallel slot, which on the serverless
// stack (a pool of emulated functions per broker) keeps the machine from
// being crowded.
func inTurn(t *testing.T, f func(t *testing.T, v packet.Version)) {
	for _, v := range bothVersions {
		t.Run(v.String(), func(t *testing.T) { f(t, v) })
	}
}
