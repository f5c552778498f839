// Command subscribe is the Lambda function that handles the subscribe group of packets
// (see invocation.GroupSubscribe). It is wiring only: infra/lambdafn builds it.
package main

import (
	"fmt"
	"os"

	"github.com/mqttless/mqttless/infra/invocation"
	"github.com/mqttless/mqttless/infra/lambdafn"
)

func main() {
	if err := lambdafn.Start(invocation.GroupSubscribe); err != nil {
		fmt.Fprintln(os.Stderr, "subscribe:", err)
		os.Exit(1)
	}
}
