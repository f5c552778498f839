// Command mqttbench runs load scenarios against the all-in-one broker and
// Mosquitto, side by side, and prints medians, spreads and ratios. See
// "Load benchmark" in README.md; make bench runs it. mqttbench storm runs
// a CONNECT storm against a running broker (storm.go); mqttbench fanout
// measures QoS 1 fan-out to many subscribers (fanout.go).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	run := run
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "storm" { // storm.go
		run, args = runStorm, args[1:]
	}
	if len(args) > 0 && args[0] == "fanout" { // fanout.go
		run, args = runFanout, args[1:]
	}
	if err := run(ctx, args, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mqttbench:", err)
		os.Exit(1)
	}
}
