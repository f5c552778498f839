// Command subscribe is the Lambda function that handles the subscribe group of packets
// (see lambdainvoke.GroupSubscribe). It is wiring only: infra/lambdafn builds it.
package main

import (
	"fmt"
	"os"

	"github.com/mqttless/mqttless/infra/lambdafn"
	"github.com/mqttless/mqttless/infra/lambdainvoke"
)

func main() {
	if err := lambdafn.Start(lambdainvoke.GroupSubscribe); err != nil {
		fmt.Fprintln(os.Stderr, "subscribe:", err)
		os.Exit(1)
	}
}
