package dynamo_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/mqttless/mqttless/core/session"
	"github.com/mqttless/mqttless/core/session/storetest"
	"github.com/mqttless/mqttless/infra/dynamo"
)

// table is the table of this test run, created from template.yaml by
// TestMain when a DynamoDB endpoint is configured; empty otherwise.
var (
	table string
	db    *dynamodb.Client
)

func TestMain(m *testing.M) {
	if os.Getenv("AWS_ENDPOINT_URL") == "" && os.Getenv("MQTTLESS_DYNAMO_TEST") == "" {
		// Tests skip: see skipWithoutTable.
		os.Exit(m.Run())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	var err error
	if db, err = dynamo.NewClient(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	table = "mqttless-test-" + hex.EncodeToString(b[:])
	if _, _, err := dynamo.CreateTableFromTemplate(ctx, db, "../../template.yaml", table); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cancel()
	code := m.Run()
	ctx, cancel = context.WithTimeout(context.Background(), time.Minute)
	if err := dynamo.DeleteTable(ctx, db, table); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	cancel()
	os.Exit(code)
}

// skipWithoutTable skips t when no DynamoDB endpoint is configured.
func skipWithoutTable(t testing.TB) {
	if table == "" {
		t.Skip("no DynamoDB endpoint: set AWS_ENDPOINT_URL (make test starts moto and does), or MQTTLESS_DYNAMO_TEST=1 to use AWS itself")
	}
}

func TestContract(t *testing.T) {
	skipWithoutTable(t)
	st := dynamo.New(db, table)
	storetest.Run(t, func(t *testing.T) session.Store { return st },
		storetest.WithPacketIDsFrom(func(ctx context.Context, s session.Store, clientID string, pid uint16) error {
			return s.(*dynamo.Store).SetQueueSeq(ctx, clientID, uint64(pid)-1)
		}))
}

func TestParseTemplate(t *testing.T) {
	specs, err := dynamo.ParseTemplate(readTemplate(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 1 {
		t.Fatalf("%d tables, want 1", len(specs))
	}
	s := specs[0]
	if s.TTLAttribute != "ttl" || !s.PITR || len(s.Create.GlobalSecondaryIndexes) != 2 || s.Create.BillingMode != "PAY_PER_REQUEST" {
		t.Errorf("table spec: %+v", s)
	}
}

// readTemplate reads the repository's template.yaml, the one definition of
// the table.
func readTemplate(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile("../../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return data
}
