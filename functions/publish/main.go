// Command publish is the Lambda function that handles the publish group of packets
// (see invocation.GroupPublish). It is wiring only: infra/lambdafn builds it.
package main

import (
	"fmt"
	"os"

	"github.com/mqttless/mqttless/infra/invocation"
	"github.com/mqttless/mqttless/infra/lambdafn"
)

func main() {
	if err := lambdafn.Start(invocation.GroupPublish); err != nil {
		fmt.Fprintln(os.Stderr, "publish:", err)
		os.Exit(1)
	}
}
