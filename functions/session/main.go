// Command session is the Lambda function that handles the session group of packets
// (see invocation.GroupSession). It is wiring only: infra/lambdafn builds it.
package main

import (
	"fmt"
	"os"

	"github.com/mqttless/mqttless/infra/invocation"
	"github.com/mqttless/mqttless/infra/lambdafn"
)

func main() {
	if err := lambdafn.Start(invocation.GroupSession); err != nil {
		fmt.Fprintln(os.Stderr, "session:", err)
		os.Exit(1)
	}
}
