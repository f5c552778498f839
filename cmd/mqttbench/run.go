package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// options are the generator's settings; the defaults are issue 4's figures.
type options struct {
	duration    time.Duration
	rounds      int
	scenarios   []string
	brokers     []string
	publishers  int
	workers     int
	backlog     int64
	inflight    int
	payload     int
	subscribers int
	s3Rate      int
	conns       int
	launcher    launcher
}

func parseOptions(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("mqttbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var scen, brokers string
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "load time of S1, S2, S3 and S5")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds; each runs every broker once per scenario, alternating")
	fs.StringVar(&scen, "scenarios", "S1,S2,S3,S4,S5", "scenarios to run")
	fs.StringVar(&brokers, "brokers", "mqttless,mosquitto", "brokers, in the order they alternate")
	fs.IntVar(&o.publishers, "publishers", 8, "publishers in S1 and S2")
	fs.IntVar(&o.workers, "workers", 8, "connecting workers in S3, S4 and S5")
	fs.Int64Var(&o.backlog, "backlog", 250, "S1: most messages of one publisher sent but not yet received")
	fs.IntVar(&o.inflight, "inflight", 16, "S2: messages of one publisher in flight end to end")
	fs.IntVar(&o.payload, "payload", 64, "payload size in bytes (at least 18)")
	fs.IntVar(&o.subscribers, "subscribers", 1000, "S3: subscribers of the one topic")
	fs.IntVar(&o.s3Rate, "s3-rate", 100, "S3: messages per second published")
	fs.IntVar(&o.conns, "conns", 10000, "S4: idle connections")
	fs.StringVar(&o.launcher.mqttlessBin, "mqttless", "bin/mqttless", "the all-in-one broker's binary")
	fs.StringVar(&o.launcher.mosquittoBin, "mosquitto", "/usr/sbin/mosquitto", "Mosquitto's binary")
	fs.StringVar(&o.launcher.profileDir, "profile-dir", "", "when set, CPU and heap profiles of mqttless go here")
	fs.StringVar(&o.launcher.delivery, "delivery", "v2", "mqttless's -delivery (v2, the broker's default: delivery by streams; or v1)")
	fs.BoolVar(&o.launcher.fsync, "fsync", true, "mqttless's -fsync (false: commits survive kill -9, not a machine crash)")
	fs.StringVar(&o.launcher.gogc, "gogc", "", "mqttless's GOGC, the Go runtime's garbage collection target (e.g. 400: less CPU per message, a larger heap; see README); empty: inherited")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o.scenarios = strings.Split(strings.ToUpper(scen), ",")
	for _, s := range o.scenarios {
		if findScenario(s) == nil {
			return nil, fmt.Errorf("-scenarios: unknown scenario %q", s)
		}
	}
	o.brokers = strings.Split(brokers, ",")
	for _, b := range o.brokers {
		if b != mqttless && b != mosquitto {
			return nil, fmt.Errorf("-brokers: unknown broker %q", b)
		}
	}
	switch {
	case o.duration <= 0 || o.rounds < 1 || o.publishers < 1 || o.workers < 1 || o.backlog < 1 ||
		o.inflight < 1 || o.subscribers < 1 || o.s3Rate < 1 || o.conns < 1:
		return nil, errors.New("durations and counts must be positive")
	case o.payload < stampLen:
		return nil, fmt.Errorf("-payload must be at least %d bytes", stampLen)
	}
	o.launcher.profileSecs = max(1, int(math.Ceil(o.duration.Seconds())))
	for _, p := range []*string{&o.launcher.mqttlessBin, &o.launcher.mosquittoBin} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return nil, err
		}
		*p = abs
	}
	return o, nil
}

func findScenario(name string) *scenario {
	for i := range scenarios {
		if scenarios[i].name == name {
			return &scenarios[i]
		}
	}
	return nil
}

// raiseFileLimit raises the soft limit on open files to the hard limit; the
// brokers the generator starts inherit it.
func raiseFileLimit() uint64 {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) != nil {
		return 0
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	return rl.Cur
}

// runs holds every run's result: scenario → broker → one per round (nil
// for a failed run).
type runs map[string]map[string][]*result

// run is the composition root: it parses the options, runs every scenario
// round by round, alternating the brokers, and prints the table.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parseOptions(args, os.Stderr)
	if err != nil {
		return err
	}
	if o.launcher.profileDir != "" {
		if err := os.MkdirAll(o.launcher.profileDir, 0o755); err != nil {
			return err
		}
	}
	fdLimit := raiseFileLimit()
	if need := uint64(o.conns + o.subscribers + 100); fdLimit < need {
		fmt.Fprintf(stdout, "warning: open file limit %d; S4 and S3 need about %d (ulimit -n)\n", fdLimit, need)
	}
	fmt.Fprintf(stdout, "mqttbench %s, %d rounds, GOMAXPROCS %d, open files %d\n",
		strings.Join(args, " "), o.rounds, runtime.GOMAXPROCS(0), fdLimit)
	all := runs{}
	failures := 0
	for _, name := range o.scenarios {
		sc := findScenario(name)
		fmt.Fprintf(stdout, "\n%s %s\n", sc.name, sc.title)
		all[sc.name] = map[string][]*result{}
		for r := 1; r <= o.rounds; r++ {
			for _, b := range o.brokers {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				res, err := runOnce(ctx, o, sc, b, r)
				all[sc.name][b] = append(all[sc.name][b], res)
				line := fmt.Sprintf("  round %d %-9s ", r, b)
				if res != nil {
					line += formatRun(sc, res)
				}
				if err != nil {
					failures++
					line += " ERROR: " + err.Error()
				}
				fmt.Fprintln(stdout, line)
			}
		}
	}
	fmt.Fprintln(stdout)
	writeTable(stdout, o, all)
	fmt.Fprintln(stdout)
	writeGoals(stdout, all)
	if failures > 0 {
		return fmt.Errorf("%d runs failed", failures)
	}
	return nil
}

// runOnce runs one scenario against a fresh broker process.
func runOnce(ctx context.Context, o *options, sc *scenario, broker string, round int) (*result, error) {
	t, err := o.launcher.start(ctx, broker, fmt.Sprintf("%s-r%d", sc.name, round))
	if err != nil {
		return nil, err
	}
	res, err := sc.run(ctx, o, t)
	if serr := t.stop(); serr != nil {
		err = errors.Join(err, serr)
	}
	if res.values == nil {
		return nil, err
	}
	return &res, err
}

func formatRun(sc *scenario, r *result) string {
	var parts []string
	for _, m := range sc.metrics {
		parts = append(parts, fmt.Sprintf("%s %s", m.key, formatValue(r.values[m.key], m.unit)))
	}
	parts = append(parts, fmt.Sprintf("gen CPU %.0f%%", r.genCPU))
	if r.hasLost {
		parts = append(parts, fmt.Sprintf("lost %d", r.lost))
	}
	return strings.Join(parts, ", ")
}

func formatValue(v float64, unit string) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case unit == "ms" || unit == "KiB" || unit == "s" || unit == "ratio":
		return fmt.Sprintf("%.2f %s", v, unit)
	case unit == "MiB":
		return fmt.Sprintf("%.0f %s", v, unit)
	case unit == "" || unit == "/s":
		return fmt.Sprintf("%.0f", v)
	case unit == "%":
		return fmt.Sprintf("%.0f%%", v)
	default:
		return fmt.Sprintf("%.0f %s", v, unit)
	}
}

// column returns one figure of every round of a scenario on a broker; a
// failed run gives NaN.
func column(rs []*result, get func(*result) float64) []float64 {
	vs := make([]float64, len(rs))
	for i, r := range rs {
		vs[i] = math.NaN()
		if r != nil {
			vs[i] = get(r)
		}
	}
	return vs
}

func formatSpread(vs []float64, unit string) string {
	s, ok := summarize(vs)
	if !ok {
		return "–"
	}
	num := func(v float64) string { return strings.Fields(formatValue(v, unit))[0] }
	return fmt.Sprintf("%s (%s–%s)", formatValue(s.median, unit), num(s.min), num(s.max))
}

// ratio is the median of a over the median of b.
func ratio(a, b []float64) float64 {
	sa, oka := summarize(a)
	sb, okb := summarize(b)
	if !oka || !okb || sb.median == 0 {
		return math.NaN()
	}
	return sa.median / sb.median
}

// writeTable prints a Markdown table: for each scenario's figures, the
// median and spread on each broker and the ratio of the first broker to
// the second.
func writeTable(w io.Writer, o *options, all runs) {
	bs := o.brokers
	head := "| scenario | figure |"
	sep := "| --- | --- |"
	for _, b := range bs {
		head += " " + b + " median (min–max) |"
		sep += " --- |"
	}
	if len(bs) == 2 {
		head += fmt.Sprintf(" %s/%s |", bs[0], bs[1])
		sep += " --- |"
	}
	fmt.Fprintln(w, head)
	fmt.Fprintln(w, sep)
	row := func(sc, fig, unit string, withRatio bool, get func(*result) float64) {
		line := fmt.Sprintf("| %s | %s |", sc, fig)
		var cols [][]float64
		for _, b := range bs {
			c := column(all[sc][b], get)
			cols = append(cols, c)
			line += " " + formatSpread(c, unit) + " |"
		}
		if len(bs) == 2 {
			if r := ratio(cols[0], cols[1]); math.IsNaN(r) || !withRatio {
				line += " – |"
			} else if r < 0.1 {
				line += fmt.Sprintf(" %.3f× |", r)
			} else {
				line += fmt.Sprintf(" %.2f× |", r)
			}
		}
		fmt.Fprintln(w, line)
	}
	for _, name := range o.scenarios {
		sc := findScenario(name)
		for _, m := range sc.metrics {
			row(sc.name, m.key, m.unit, true, func(r *result) float64 { return r.values[m.key] })
		}
		row(sc.name, "generator CPU (% of one core)", "%", false, func(r *result) float64 { return r.genCPU })
		if slices.ContainsFunc(slices.Concat(slices.Collect(maps.Values(all[sc.name]))...), func(r *result) bool { return r != nil && r.hasLost }) {
			row(sc.name, "lost (sent − received)", "", false, func(r *result) float64 { return float64(r.lost) })
		}
	}
}

// goal is one of issue 4's targets.
type goal struct {
	text string
	met  func(a, b []float64) bool
	sc   string
	key  string
}

var goals = []goal{
	{"S1 msg/s ≥ 2.5× Mosquitto", func(a, b []float64) bool { return ratio(a, b) >= 2.5 }, "S1", "msg/s"},
	{"S2 msg/s ≥ 2.5× Mosquitto", func(a, b []float64) bool { return ratio(a, b) >= 2.5 }, "S2", "msg/s"},
	{"S3 p99 latency ≤ Mosquitto's", func(a, b []float64) bool { return ratio(a, b) <= 1 }, "S3", "p99"},
	{"S4 ≤ 4 KiB per connection", func(a, _ []float64) bool { s, ok := summarize(a); return ok && s.median <= 4 }, "S4", "KiB/conn"},
	{"S5 conn/s ≥ 1.5× Mosquitto", func(a, b []float64) bool { return ratio(a, b) >= 1.5 }, "S5", "conn/s"},
}

// writeGoals prints whether each goal is met, by the medians.
func writeGoals(w io.Writer, all runs) {
	fmt.Fprintln(w, "| goal | met |")
	fmt.Fprintln(w, "| --- | --- |")
	for _, g := range goals {
		if all[g.sc] == nil {
			continue
		}
		get := func(r *result) float64 { return r.values[g.key] }
		a, b := column(all[g.sc][mqttless], get), column(all[g.sc][mosquitto], get)
		verdict := "no"
		if g.met(a, b) {
			verdict = "yes"
		}
		fmt.Fprintf(w, "| %s | %s |\n", g.text, verdict)
	}
}
