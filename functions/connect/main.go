// Command connect is the Lambda function that handles the connect group of packets
// (see invocation.GroupConnect). It is wiring only: infra/lambdafn builds it.
package main

import (
	"fmt"
	"os"

	"github.com/mqttless/mqttless/infra/invocation"
	"github.com/mqttless/mqttless/infra/lambdafn"
)

func main() {
	if err := lambdafn.Start(invocation.GroupConnect); err != nil {
		fmt.Fprintln(os.Stderr, "connect:", err)
		os.Exit(1)
	}
}
