// Command publish is the Lambda function that handles the publish group of packets
// (see lambdainvoke.GroupPublish). It is wiring only: infra/lambdafn builds it.
package main

import (
	"fmt"
	"os"

	"github.com/mqttless/mqttless/infra/lambdafn"
	"github.com/mqttless/mqttless/infra/lambdainvoke"
)

func main() {
	if err := lambdafn.Start(lambdainvoke.GroupPublish); err != nil {
		fmt.Fprintln(os.Stderr, "publish:", err)
		os.Exit(1)
	}
}
