package lambdafn_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/mqttless/mqttless/infra/dynamo"
)

// table is this run's table, created from template.yaml when a DynamoDB
// endpoint is configured (AWS_ENDPOINT_URL); empty otherwise.
var (
	table string
	db    *dynamodb.Client
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	if os.Getenv("AWS_ENDPOINT_URL") == "" {
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var err error
	if db, err = dynamo.NewClient(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	table = "mqttless-fn-" + hex.EncodeToString(b[:])
	if _, _, err := dynamo.CreateTableFromTemplate(ctx, db, "../../template.yaml", table); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	if err := dynamo.DeleteTable(context.Background(), db, table); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	return code
}

func skipWithoutTable(t testing.TB) {
	if table == "" {
		t.Skip("no DynamoDB endpoint: set AWS_ENDPOINT_URL (make bench-lambda starts moto)")
	}
}
