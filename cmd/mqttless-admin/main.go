// Command mqttless-admin administers the cloud resources of mqttless.
//
//	mqttless-admin create-tables [-template template.yaml] [-table NAME]
//
// create-tables creates the DynamoDB tables template.yaml defines (by
// default the copy built into the binary), waits until they are active and
// turns on their TTL and point-in-time recovery; tables that exist are left
// alone. The table is named by -table, else MQTTLESS_TABLE, else
// "mqttless". The endpoint and credentials come from the standard AWS
// environment: AWS_ENDPOINT_URL for a local emulator such as moto.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/mqttless/mqttless/infra/dynamo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "mqttless-admin:", err)
		}
		os.Exit(2)
	}
}

const usage = "usage: mqttless-admin create-tables [-template FILE] [-table NAME]"

func run(ctx context.Context, args []string, out, errOut io.Writer) error {
	if len(args) == 0 || args[0] != "create-tables" {
		fmt.Fprintln(errOut, usage)
		return flag.ErrHelp
	}
	fs := flag.NewFlagSet("create-tables", flag.ContinueOnError)
	fs.SetOutput(errOut)
	tmpl := fs.String("template", "template.yaml", "SAM template that defines the table")
	table := fs.String("table", dynamo.TableFromEnv(), "table name (env MQTTLESS_TABLE)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	data, err := os.ReadFile(*tmpl)
	if err != nil {
		return fmt.Errorf("-template: %w", err)
	}
	specs, err := dynamo.ParseTemplate(data)
	if err != nil {
		return err
	}
	if len(specs) != 1 {
		return fmt.Errorf("the template defines %d tables; mqttless uses one", len(specs))
	}
	db, err := dynamo.NewClient(ctx)
	if err != nil {
		return err
	}
	created, err := dynamo.CreateTable(ctx, db, specs[0], *table)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(out, "created table %s (resource %s)\n", *table, specs[0].LogicalID)
	} else {
		fmt.Fprintf(out, "table %s exists\n", *table)
	}
	return nil
}
