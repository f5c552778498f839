// Command session is the Lambda function that handles the session group of packets
// (see lambdainvoke.GroupSession). It is wiring only: infra/lambdafn builds it.
package main

import (
	"fmt"
	"os"

	"github.com/mqttless/mqttless/infra/lambdafn"
	"github.com/mqttless/mqttless/infra/lambdainvoke"
)

func main() {
	if err := lambdafn.Start(lambdainvoke.GroupSession); err != nil {
		fmt.Fprintln(os.Stderr, "session:", err)
		os.Exit(1)
	}
}
