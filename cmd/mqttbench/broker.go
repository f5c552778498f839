package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Broker names.
const (
	mqttless  = "mqttless"
	mosquitto = "mosquitto"
)

// launcher starts a fresh broker process for each scenario run.
type launcher struct {
	mqttlessBin  string
	mosquittoBin string
	profileDir   string // where our broker's profiles go; empty: no profiling
	delivery     string // mqttless's -delivery
	fsync        bool   // mqttless's -fsync
	gogc         string // mqttless's GOGC (the Go runtime's); empty: this process's
	profileSecs  int
}

// target is a running broker.
type target struct {
	name      string
	addr      string
	cmd       *exec.Cmd
	dir       string
	exited    chan struct{}
	pprofAddr string // mqttless under profiling only
	profile   string // file name prefix for profiles
	profileCh chan error
	l         *launcher
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// mosquittoConf is Mosquitto's configuration: a listener on the loopback,
// anonymous clients, and one non-default setting: max_queued_messages 0 (no
// limit). With the default of 1000, Debian's Mosquitto 2.0.11 drops QoS 1
// messages in S2 although no more than 128 are ever outstanding (about 14
// per publisher, each costing that publisher one of its 16 in-flight slots
// for the rest of the run); with 100000 it still does. Every other setting
// is the default (max_inflight_messages 20, as the all-in-one broker's
// -max-inflight).
func mosquittoConf(port int) string {
	return fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n", port)
}

// start starts broker name with its data in a new temporary directory and
// waits until it accepts connections. profile names the run's profiles.
func (l *launcher) start(ctx context.Context, name, profile string) (*target, error) {
	dir, err := os.MkdirTemp("", "mqttbench-"+name+"-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	t := &target{name: name, addr: fmt.Sprintf("127.0.0.1:%d", port), dir: dir, exited: make(chan struct{}), l: l, profile: profile}
	switch name {
	case mqttless:
		// The rate limits are off, and the connection limit out of the way
		// of S4's 10,000 idle connections and the others beside them: the
		// benchmark measures throughput, not the limiter (Mosquitto has no
		// such limits by default either).
		args := []string{"-addr", t.addr, "-store", "bolt", "-data-dir", filepath.Join(dir, "data"),
			"-max-publish-rate", "0", "-max-conn-rate", "0", "-max-connections", "1000000", "-max-sessions", "1000000",
			"-delivery", l.delivery, "-fsync", strconv.FormatBool(l.fsync)}
		if l.profileDir != "" {
			pp, err := freePort()
			if err != nil {
				return nil, err
			}
			t.pprofAddr = fmt.Sprintf("127.0.0.1:%d", pp)
			args = append(args, "-pprof", t.pprofAddr)
		}
		t.cmd = exec.Command(l.mqttlessBin, args...)
		if l.gogc != "" {
			t.cmd.Env = append(os.Environ(), "GOGC="+l.gogc)
		}
	case mosquitto:
		conf := filepath.Join(dir, "mosquitto.conf")
		if err := os.WriteFile(conf, []byte(mosquittoConf(port)), 0o644); err != nil {
			return nil, err
		}
		t.cmd = exec.Command(l.mosquittoBin, "-c", conf)
	default:
		return nil, fmt.Errorf("unknown broker %q", name)
	}
	logf, err := os.Create(filepath.Join(dir, "broker.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	t.cmd.Stdout, t.cmd.Stderr = logf, logf
	t.cmd.Dir = dir
	t.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // no broker outlives the generator
	if err := t.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() { t.cmd.Wait(); close(t.exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		nc, err := net.DialTimeout("tcp", t.addr, time.Second)
		if err == nil {
			nc.Close()
			break
		}
		select {
		case <-t.exited:
			return nil, fmt.Errorf("%s exited at start-up: %s", name, t.logTail())
		case <-ctx.Done():
			t.stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.stop()
			return nil, fmt.Errorf("%s did not listen on %s within 10s: %s", name, t.addr, t.logTail())
		}
	}
	return t, nil
}

func (t *target) logTail() string {
	b, _ := os.ReadFile(filepath.Join(t.dir, "broker.log"))
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// stop ends the broker (SIGTERM, then SIGKILL after 10s) and removes its
// directory. It reports an error when the broker had exited by itself.
func (t *target) stop() error {
	var err error
	select {
	case <-t.exited:
		err = fmt.Errorf("%s exited during the run: %s", t.name, t.logTail())
	default:
		t.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-t.exited:
		case <-time.After(10 * time.Second):
			t.cmd.Process.Kill()
			<-t.exited
		}
	}
	os.RemoveAll(t.dir)
	return err
}

// windowStarted is called by a scenario when its measured load starts:
// under profiling it starts fetching a CPU profile of our broker.
func (t *target) windowStarted(ctx context.Context) {
	if t.pprofAddr == "" {
		return
	}
	t.profileCh = make(chan error, 1)
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", t.pprofAddr, t.l.profileSecs)
	go func() { t.profileCh <- fetch(ctx, url, filepath.Join(t.l.profileDir, t.profile+"-cpu.pprof")) }()
}

// windowEnded is called while the load is still in place (S4: all
// connections open): under profiling it fetches a heap profile and waits
// for the CPU profile.
func (t *target) windowEnded(ctx context.Context) error {
	if t.pprofAddr == "" {
		return nil
	}
	err := fetch(ctx, fmt.Sprintf("http://%s/debug/pprof/heap", t.pprofAddr), filepath.Join(t.l.profileDir, t.profile+"-heap.pprof"))
	if t.profileCh != nil {
		err = errors.Join(err, <-t.profileCh)
		t.profileCh = nil
	}
	return err
}

func fetch(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// rss returns the resident set size, in bytes, of the broker's process and
// all its descendants (VmRSS from /proc).
func (t *target) rss() (int64, error) {
	pids := descendants(t.cmd.Process.Pid)
	var total int64
	for _, pid := range pids {
		kb, err := vmRSS(pid)
		if err != nil {
			return 0, err
		}
		total += kb * 1024
	}
	return total, nil
}

// descendants returns pid and the pids of all processes below it.
func descendants(pid int) []int {
	parent := map[int]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		pp, _ := strconv.Atoi(f[1])
		parent[p] = pp
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		for p, pp := range parent {
			if pp == out[i] {
				out = append(out, p)
			}
		}
	}
	return out
}

// vmRSS returns a process's VmRSS in KiB.
func vmRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}
