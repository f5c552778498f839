package lambdafn_test

import (
	"os/exec"
	"strings"
	"testing"
)

// oneMachine are the packages only the one-machine broker or the proxy
// runs: the embedded and memory stores, the proxy and its listeners,
// metrics, profiling, and the Lambda client that invokes the functions.
// A handler function that linked one would carry it in every
// bootstrap and pay for its init on every cold start.
var oneMachine = []string{
	"go.etcd.io/bbolt",
	"github.com/mqttless/mqttless/infra/allinone",
	"github.com/mqttless/mqttless/infra/proxy",
	"github.com/mqttless/mqttless/infra/memstore",
	"github.com/mqttless/mqttless/infra/boltstore",
	"github.com/prometheus/",
	"github.com/coder/websocket",
	"net/http/pprof",
	"github.com/mqttless/mqttless/infra/lambdainvoke",
	"github.com/aws/aws-sdk-go-v2/service/lambda",
}

// The handler functions, and the packages they are composed of, link no
// one-machine code.
func TestFunctionsLinkNoOneMachineCode(t *testing.T) {
	const mod = "github.com/mqttless/mqttless/"
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}{{range .Deps}} {{.}}{{end}}",
		mod+"functions/...", mod+"infra/lambdafn", mod+"infra/config").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) < 6 {
		t.Fatalf("go list listed %d packages, want the four functions, lambdafn and config:\n%s", len(lines), out)
	}
	for _, line := range lines {
		pkg, deps, _ := strings.Cut(line, " ")
		for _, dep := range strings.Fields(deps) {
			for _, bad := range oneMachine {
				if dep == bad || strings.HasPrefix(dep, strings.TrimSuffix(bad, "/")+"/") {
					t.Errorf("%s links %s (one-machine code: %s)", pkg, dep, bad)
				}
			}
		}
	}
}
