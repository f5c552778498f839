package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/mqttless/mqttless/infra/dynamo"
)

// createTables creates the DynamoDB table template.yaml defines, waits
// until it is active and turns on its TTL and point-in-time recovery; a
// table that exists is left alone. The table is named by -table, else
// MQTTLESS_TABLE, else "mqttless". The endpoint and credentials come from
// the standard AWS environment: AWS_ENDPOINT_URL for a local emulator such
// as moto.
func createTables(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("create-tables", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tmpl := fs.String("template", "template.yaml", "SAM template that defines the table")
	table := fs.String("table", dynamo.TableFromEnv(), "table name (env MQTTLESS_TABLE)")
	if _, err := parse(fs, args, 0, ""); err != nil {
		return err
	}
	db, err := dynamo.NewClient(ctx)
	if err != nil {
		return err
	}
	spec, created, err := dynamo.CreateTableFromTemplate(ctx, db, *tmpl, *table)
	if err != nil {
		return fmt.Errorf("create-tables (-template %s, -table %s): %w", *tmpl, *table, err)
	}
	if created {
		fmt.Fprintf(stdout, "created table %s (resource %s)\n", *table, spec.LogicalID)
	} else {
		fmt.Fprintf(stdout, "table %s exists\n", *table)
	}
	return nil
}
