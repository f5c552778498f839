package lambdafn_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// initReport is the line in which the Lambda Runtime Interface Emulator
// reports the init phase: from the start of the function's process to
// its first request for an event.
var initReport = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)

// BenchmarkColdStart starts the publish function under the Lambda Runtime
// Interface Emulator once per iteration and sends it one event, which it
// answers without DynamoDB (a tick, which belongs to another function). It
// reports the medians of init-ms, the init phase as the emulator reports
// it, and first-answer-ms, from the invocation that starts the process to
// its answer. MQTTLESS_BENCH_RIE names the aws-lambda-rie binary (make
// bench-init sets it); MQTTLESS_BENCH_BOOTSTRAP a bootstrap to measure,
// else ./functions/publish is built as make functions-local does. ns/op
// is the whole round, the emulator's own start and stop included.
func BenchmarkColdStart(b *testing.B) {
	rie := os.Getenv("MQTTLESS_BENCH_RIE")
	if rie == "" {
		b.Skip("set MQTTLESS_BENCH_RIE to the aws-lambda-rie binary (make bench-init)")
	}
	bootstrap := os.Getenv("MQTTLESS_BENCH_BOOTSTRAP")
	if bootstrap == "" {
		bootstrap = filepath.Join(b.TempDir(), "bootstrap")
		build := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", bootstrap, "../../functions/publish")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			b.Fatalf("go build: %v\n%s", err, out)
		}
	}
	var inits, answers []float64
	for b.Loop() {
		initMs, answer := coldStart(b, rie, bootstrap)
		inits, answers = append(inits, initMs), append(answers, answer)
	}
	b.ReportMetric(median(inits), "init-ms")
	b.ReportMetric(median(answers), "first-answer-ms")
}

// coldStart runs one cold start and returns its init duration and the
// time to the first answer, in milliseconds.
func coldStart(b *testing.B, rie, bootstrap string) (initMs, answerMs float64) {
	invokeAddr, runtimeAddr := freeLocalAddr(b), freeLocalAddr(b)
	cmd := exec.Command(rie, "--runtime-interface-emulator-address", invokeAddr, "--runtime-api-address", runtimeAddr, bootstrap)
	cmd.Dir = b.TempDir()
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=bench", "AWS_SECRET_ACCESS_KEY=bench",
		"AWS_LAMBDA_FUNCTION_NAME=mqttless-publish", "MQTTLESS_DELIVERY_SECRET=0123456789abcdef", "MQTTLESS_LOG_LEVEL=error"}
	out, err := os.Create(filepath.Join(cmd.Dir, "rie.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	log := func() string { s, _ := os.ReadFile(out.Name()); return string(s) }
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if c, err := net.Dial("tcp", invokeAddr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("aws-lambda-rie did not listen on %s:\n%s", invokeAddr, log())
		}
	}
	start := time.Now()
	resp, err := http.Post("http://"+invokeAddr+"/2015-03-31/functions/function/invocations", "application/json", strings.NewReader(`{"kind":"tick"}`))
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	answerMs = float64(time.Since(start).Microseconds()) / 1000
	if !bytes.Contains(body, []byte("belongs to another function")) {
		b.Fatalf("answer %s, want the refusal of a tick:\n%s", body, log())
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if m := initReport.FindStringSubmatch(log()); m != nil {
			initMs, _ = strconv.ParseFloat(m[1], 64)
			return initMs, answerMs
		}
		if time.Now().After(deadline) {
			b.Fatalf("no INIT REPORT in the emulator's log:\n%s", log())
		}
	}
}

func freeLocalAddr(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
