// Command connect is the Lambda function that handles the connect group of packets
// (see lambdainvoke.GroupConnect). It is wiring only: infra/lambdafn builds it.
package main

import (
	"fmt"
	"os"

	"github.com/mqttless/mqttless/infra/lambdafn"
	"github.com/mqttless/mqttless/infra/lambdainvoke"
)

func main() {
	if err := lambdafn.Start(lambdainvoke.GroupConnect); err != nil {
		fmt.Fprintln(os.Stderr, "connect:", err)
		os.Exit(1)
	}
}
