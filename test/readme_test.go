package e2e_test

// The README's commands, run as written (issue 18): the quick start's
// mosquitto_sub and mosquitto_pub, the admin example and the access rules
// example, each a ```sh block of README.md taken whole, run by bash
// against a broker of the test's own on 127.0.0.1 while it runs. The
// commands name no address (mosquitto's default is localhost:1883): the
// mosquitto clients read this broker's from the options files
// $XDG_CONFIG_HOME/mosquitto_sub and mosquitto_pub; bin/mqttless-admin is
// the admin CLI, found at that path in the directory the commands run in,
// with the broker's store in MQTTLESS_DATA_DIR (or MQTTLESS_STORE and
// MQTTLESS_TABLE on DynamoDB), as after make run.

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mqttless/mqttless/core/packet"
)

// readmeBlock returns the ```sh block of ../README.md that holds marker,
// failing when none or several do.
func readmeBlock(t *testing.T, marker string) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(string(b), -1) {
		if strings.Contains(m[1], marker) {
			found = append(found, m[1])
		}
	}
	if len(found) != 1 {
		t.Fatalf("README.md has %d ```sh blocks with %q, want 1", len(found), marker)
	}
	return found[0]
}

// readmeShell is where the README's commands run: a directory with
// bin/mqttless-admin, and the environment that points the commands at b.
type readmeShell struct {
	dir string
	env []string
}

func newReadmeShell(t *testing.T, b *broker) *readmeShell {
	t.Helper()
	for _, tool := range []string{"bash", "mosquitto_sub", "mosquitto_pub"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (make deps installs the mosquitto clients; make test does)", tool)
		}
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(adminBin(t), filepath.Join(dir, "bin", "mqttless-admin")); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "config")
	host, port := splitHostPort(t, b.addr)
	if err := os.Mkdir(cfg, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"mosquitto_sub", "mosquitto_pub"} {
		if err := os.WriteFile(filepath.Join(cfg, tool), []byte("-h "+host+"\n-p "+port+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := append(os.Environ(), "XDG_CONFIG_HOME="+cfg, "HOME="+dir)
	// The store flags the harness would give the admin CLI, as the
	// environment make run leaves for it.
	flags := adminStoreFlags(t, b.dataDir)
	for i := 0; i+1 < len(flags); i += 2 {
		env = append(env, "MQTTLESS_"+strings.ToUpper(strings.ReplaceAll(strings.TrimPrefix(flags[i], "-"), "-", "_"))+"="+flags[i+1])
	}
	return &readmeShell{dir: dir, env: env}
}

func splitHostPort(t *testing.T, addr string) (string, string) {
	t.Helper()
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		t.Fatalf("address %q", addr)
	}
	return addr[:i], addr[i+1:]
}

// command returns bash running script with set -eu -o pipefail: a command
// that fails, or a variable the script uses unset, fails it.
func (s *readmeShell) command(ctx context.Context, script string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "bash", "-c", "set -eu -o pipefail\n"+script)
	cmd.Dir, cmd.Env = s.dir, s.env
	return cmd
}

// run runs script to its end and returns its standard output.
func (s *readmeShell) run(t *testing.T, script string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := s.command(ctx(t, time.Minute), script)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("README commands failed: %v\n--- commands\n%s--- stdout\n%s--- stderr\n%s", err, script, out.String(), errOut.String())
	}
	return out.String()
}

// bcryptWait is how long a CONNECT checked against a hash of bcrypt's
// default cost (the README's users, and the dummy hash an unknown user is
// compared with) may take: the race-built broker on a busy machine takes
// seconds for one.
const bcryptWait = time.Minute

// connectSlow sends CONNECT p and returns the CONNACK, waiting up to
// bcryptWait.
func (c *rawClient) connectSlow(p *packet.Connect) *packet.Connack {
	c.t.Helper()
	c.send(p)
	got, err := c.next(bcryptWait)
	if err != nil {
		c.t.Fatalf("waiting for CONNACK: %v", err)
	}
	ack, ok := got.(*packet.Connack)
	if !ok {
		c.t.Fatalf("got %s, want CONNACK", got.Type())
	}
	return ack
}

// loginSlow is rawLogin for a user whose hash has bcrypt's default cost.
func loginSlow(t *testing.T, addr string, v packet.Version, id, user, password string) *rawClient {
	t.Helper()
	c := dialRaw(t, addr, v)
	if ack := c.connectSlow(rawCreds(v, id, user, password)); ack.ReasonCode != packet.Success {
		t.Fatalf("CONNACK %s for %s, want success", ack.ReasonCode, user)
	}
	return c
}

// TestReadmeQuickStart runs the quick start: mosquitto_sub -t '#' -v in
// one shell prints "a/b hi" once mosquitto_pub -t a/b -m hi runs in
// another.
func TestReadmeQuickStart(t *testing.T) {
	t.Parallel()
	needOwnBroker(t)
	b := startBroker(t)
	sh := newReadmeShell(t, b)
	subBlock, pubBlock := readmeBlock(t, "mosquitto_sub -t '#' -v"), readmeBlock(t, "mosquitto_pub -t a/b -m hi")
	if !strings.Contains(readmeBlockAfter(t, pubBlock), "`a/b hi`") {
		t.Fatalf("the README no longer says what the first shell prints")
	}

	c, stop := context.WithCancel(context.Background())
	defer stop()
	var out, errOut syncBuffer
	sub := sh.command(c, subBlock)
	sub.Stdout, sub.Stderr = &out, &errOut
	if err := sub.Start(); err != nil {
		t.Fatal(err)
	}
	defer sub.Wait()
	defer stop()
	// mosquitto_sub says nothing once subscribed: publish until the line
	// comes (a message sent before the subscription is lost, as it would
	// be for a reader who is too quick).
	// On the serverless stack the SUBSCRIBE takes a function call or two.
	if !waitFor(30*time.Second, func() bool {
		sh.run(t, pubBlock)
		time.Sleep(100 * time.Millisecond)
		return strings.Contains(out.String(), "\n")
	}) {
		t.Fatalf("mosquitto_sub printed nothing; stderr: %s", errOut.String())
	}
	if first := strings.SplitN(out.String(), "\n", 2)[0]; first != "a/b hi" {
		t.Errorf("mosquitto_sub printed %q, want %q as the README says", first, "a/b hi")
	}
}

// readmeBlockAfter returns the README's text after block, to its next
// heading or block.
func readmeBlockAfter(t *testing.T, block string) string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, block)
	rest := s[i+len(block):]
	if j := strings.Index(rest[3:], "```"); j >= 0 {
		rest = rest[:j+3]
	}
	return rest
}

// TestReadmeUsersAndRules runs the admin example and then the access rules
// example while the broker runs, as the README says, and checks that the
// rules do what the README says they do for alice: devices/alice/# is
// granted (the deny rule devices/+/secrets/# covers only part of it), her
// messages there reach her, devices/alice/secrets/... is refused and
// reaches nobody, devices/bob/# and # are refused, public/# is granted;
// and sensor-1 publishes under telemetry/sensor-1 only.
func TestReadmeUsersAndRules(t *testing.T) {
	t.Parallel()
	needOwnBroker(t)
	b := startBroker(t, withFlags("-allow-anonymous=false"))
	sh := newReadmeShell(t, b)

	out := sh.run(t, readmeBlock(t, "users add alice"))
	password := regexp.MustCompile(`(?m)^alice's password: (\S+)$`).FindStringSubmatch(out)
	if password == nil {
		t.Fatalf("the admin example printed no password for alice:\n%s", out)
	}
	if !regexp.MustCompile(`(?m)^alice\s`).MatchString(out) || !strings.Contains(out, "%u-*") {
		t.Errorf("users list did not show alice and her pattern:\n%s", out)
	}
	out = sh.run(t, readmeBlock(t, "acl add -user alice"))
	sensorPW := regexp.MustCompile(`(?m)^sensor-1's password: (\S+)$`).FindStringSubmatch(out)
	if sensorPW == nil {
		t.Fatalf("the access rules example printed no password for sensor-1:\n%s", out)
	}
	for _, f := range []string{"devices/%u/#", "public/#", "telemetry/%c", "devices/+/secrets/#"} {
		if !strings.Contains(out, f) {
			t.Errorf("acl list does not show %s:\n%s", f, out)
		}
	}
	// The broker has checked no user nor rule yet: its -auth-cache (the
	// default, as after make run) holds nothing older than the rules.
	inTurn(t, func(t *testing.T, v packet.Version) {
		r := strings.ReplaceAll(uniq("r"), "-", "")
		denied := refusedCode(v, packet.NotAuthorized)
		alice := loginSlow(t, b.addr, v, "alice-"+r, "alice", password[1])
		ack := alice.suback(1,
			packet.Subscription{Filter: "devices/alice/#", QoS: 1},
			packet.Subscription{Filter: "devices/bob/#", QoS: 1},
			packet.Subscription{Filter: "#", QoS: 1},
			packet.Subscription{Filter: "public/#", QoS: 0},
			packet.Subscription{Filter: "devices/alice/secrets/#", QoS: 1})
		want := []packet.ReasonCode{packet.GrantedQoS1, denied, denied, packet.Success, denied}
		names := []string{"devices/alice/# (hers)", "devices/bob/# (not hers)", "#", "public/# (anyone's)", "devices/alice/secrets/# (denied)"}
		for i, rc := range ack.ReasonCodes {
			if rc != want[i] {
				t.Errorf("SUBACK code %d for %s: %s, want %s", i, names[i], rc, want[i])
			}
		}
		pubDenied := packet.Success // 3.1.1 cannot refuse a PUBLISH
		if v == packet.V5 {
			pubDenied = packet.NotAuthorized
		}
		pub := loginSlow(t, b.addr, v, "alice-pub-"+r, "alice", password[1])
		if rc := pub.publish(&packet.Publish{Topic: "devices/alice/secrets/" + r, QoS: 1, PacketID: 1, Payload: []byte("secret")}); rc != pubDenied {
			t.Errorf("PUBACK %s for devices/alice/secrets/..., want %s", rc, pubDenied)
		}
		if rc := pub.publish(&packet.Publish{Topic: "devices/alice/" + r, QoS: 1, PacketID: 2, Payload: []byte("hers")}); rc != packet.Success {
			t.Errorf("PUBACK %s for devices/alice/..., want success", rc)
		}
		// The refused message would have come first.
		alice.ack(alice.expectPublish("devices/alice/"+r, "hers"))
		alice.expectNone(quietTime)

		sensor := loginSlow(t, b.addr, v, "sensor-1", "sensor-1", sensorPW[1])
		// Allowed; at 5.0 "no matching subscribers" (0x10), as nobody
		// listens there.
		if rc := sensor.publish(&packet.Publish{Topic: "telemetry/sensor-1", QoS: 1, PacketID: 1, Payload: []byte("21.5")}); rc != packet.Success && rc != packet.NoMatchingSubscribers {
			t.Errorf("PUBACK %s for sensor-1's telemetry/sensor-1, want success", rc)
		}
		if rc := sensor.publish(&packet.Publish{Topic: "telemetry/sensor-2", QoS: 1, PacketID: 2, Payload: []byte("no")}); rc != pubDenied {
			t.Errorf("PUBACK %s for sensor-1's telemetry/sensor-2, want %s", rc, pubDenied)
		}
		sensor.disconnect(packet.Success)
	})
}
