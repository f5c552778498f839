package e2e_test

import (
	"bytes"
	"net"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMosquittoClients is a smoke test with Debian's mosquitto clients:
// mosquitto_sub -t '#' -v sees what mosquitto_pub -t a/b -m hi publishes, at
// 3.1.1 and at 5.0. It skips when the clients are not installed (make deps
// installs them).
func TestMosquittoClients(t *testing.T) {
	for _, tool := range []string{"mosquitto_pub", "mosquitto_sub"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not on PATH (apt-get install mosquitto-clients, or make deps)", tool)
		}
	}
	t.Parallel()
	b := startBroker(t) // a broker of its own, so that '#' sees this test's traffic only
	host, port, err := net.SplitHostPort(b.addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, version := range []string{"mqttv311", "mqttv5"} {
		t.Run(version, func(t *testing.T) {
			// mosquitto_sub buffers its output in a pipe, so it is asked to
			// exit after one message (-C 1); retained messages are skipped
			// (-R). mosquitto_pub runs until the subscriber has what it
			// sent, since nothing tells when the subscription is in place.
			sub := exec.Command("mosquitto_sub", "-h", host, "-p", port, "-V", version, "-t", "#", "-v", "-R", "-C", "1", "-W", "20")
			var out syncBuffer
			sub.Stdout, sub.Stderr = &out, &out
			if err := sub.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- sub.Wait() }()
			t.Cleanup(func() {
				_ = sub.Process.Kill()
				<-exited
			})
			deadline := time.Now().Add(10 * time.Second)
			for {
				pub := exec.Command("mosquitto_pub", "-h", host, "-p", port, "-V", version, "-t", "a/b", "-m", "hi")
				if o, err := pub.CombinedOutput(); err != nil {
					t.Fatalf("mosquitto_pub: %v\n%s", err, o)
				}
				select {
				case err := <-exited:
					exited <- err // for the cleanup
					if err != nil {
						t.Fatalf("mosquitto_sub: %v\n%s", err, out.String())
					}
					if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); !slices.Contains(lines, "a/b hi") {
						t.Fatalf("mosquitto_sub printed %q, want the line \"a/b hi\"", out.String())
					}
					return
				case <-time.After(200 * time.Millisecond):
				}
				if time.Now().After(deadline) {
					t.Fatalf("mosquitto_sub got nothing within 10 s; output: %q", out.String())
				}
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
