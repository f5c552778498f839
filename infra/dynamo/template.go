package dynamo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"gopkg.in/yaml.v3"
)

// TableSpec is a table as a CloudFormation or SAM template defines it.
type TableSpec struct {
	// LogicalID is the resource's name in the template.
	LogicalID string
	// Create creates the table; its TableName is set by CreateTable.
	Create dynamodb.CreateTableInput
	// TTLAttribute is the time-to-live attribute, empty for none.
	TTLAttribute string
	// PITR is whether point-in-time recovery is on.
	PITR bool
}

// cfnTable is the part of an AWS::DynamoDB::Table resource's Properties
// that CreateTable uses. Intrinsic functions (!Ref, !Sub) may stand for any
// value the table's name aside: TableName is taken as a node and ignored.
type cfnTable struct {
	TableName            yaml.Node `yaml:"TableName"`
	BillingMode          string    `yaml:"BillingMode"`
	AttributeDefinitions []struct {
		AttributeName string `yaml:"AttributeName"`
		AttributeType string `yaml:"AttributeType"`
	} `yaml:"AttributeDefinitions"`
	KeySchema              []cfnKey `yaml:"KeySchema"`
	GlobalSecondaryIndexes []struct {
		IndexName  string   `yaml:"IndexName"`
		KeySchema  []cfnKey `yaml:"KeySchema"`
		Projection struct {
			ProjectionType   string   `yaml:"ProjectionType"`
			NonKeyAttributes []string `yaml:"NonKeyAttributes"`
		} `yaml:"Projection"`
	} `yaml:"GlobalSecondaryIndexes"`
	TimeToLiveSpecification struct {
		AttributeName string `yaml:"AttributeName"`
		Enabled       bool   `yaml:"Enabled"`
	} `yaml:"TimeToLiveSpecification"`
	PointInTimeRecoverySpecification struct {
		PointInTimeRecoveryEnabled bool `yaml:"PointInTimeRecoveryEnabled"`
	} `yaml:"PointInTimeRecoverySpecification"`
}

type cfnKey struct {
	AttributeName string `yaml:"AttributeName"`
	KeyType       string `yaml:"KeyType"`
}

// ParseTemplate returns the DynamoDB tables a CloudFormation or SAM
// template defines, in the order of their logical ids. CloudFormation's
// short tags (!Ref, !Sub, !GetAtt ...) parse as tagged values.
func ParseTemplate(data []byte) ([]TableSpec, error) {
	var tmpl struct {
		Resources map[string]struct {
			Type       string    `yaml:"Type"`
			Properties yaml.Node `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := yaml.Unmarshal(data, &tmpl); err != nil {
		return nil, fmt.Errorf("dynamo: parse template: %w", err)
	}
	var specs []TableSpec
	for id, r := range tmpl.Resources {
		if r.Type != "AWS::DynamoDB::Table" {
			continue
		}
		var t cfnTable
		if err := r.Properties.Decode(&t); err != nil {
			return nil, fmt.Errorf("dynamo: template resource %s: %w", id, err)
		}
		spec := TableSpec{LogicalID: id, PITR: t.PointInTimeRecoverySpecification.PointInTimeRecoveryEnabled}
		if t.TimeToLiveSpecification.Enabled {
			spec.TTLAttribute = t.TimeToLiveSpecification.AttributeName
		}
		in := &spec.Create
		in.BillingMode = types.BillingMode(t.BillingMode)
		if in.BillingMode == "" {
			in.BillingMode = types.BillingModeProvisioned
		}
		if in.BillingMode != types.BillingModePayPerRequest {
			return nil, fmt.Errorf("dynamo: template resource %s: billing mode %s: only PAY_PER_REQUEST is supported", id, t.BillingMode)
		}
		for _, a := range t.AttributeDefinitions {
			in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{
				AttributeName: aws.String(a.AttributeName), AttributeType: types.ScalarAttributeType(a.AttributeType),
			})
		}
		in.KeySchema = keySchema(t.KeySchema)
		for _, g := range t.GlobalSecondaryIndexes {
			gsi := types.GlobalSecondaryIndex{
				IndexName: aws.String(g.IndexName), KeySchema: keySchema(g.KeySchema),
				Projection: &types.Projection{ProjectionType: types.ProjectionType(g.Projection.ProjectionType)},
			}
			if len(g.Projection.NonKeyAttributes) > 0 {
				gsi.Projection.NonKeyAttributes = g.Projection.NonKeyAttributes
			}
			in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, gsi)
		}
		specs = append(specs, spec)
	}
	slices.SortFunc(specs, func(a, b TableSpec) int {
		if a.LogicalID < b.LogicalID {
			return -1
		}
		if a.LogicalID > b.LogicalID {
			return 1
		}
		return 0
	})
	if len(specs) == 0 {
		return nil, errors.New("dynamo: the template defines no AWS::DynamoDB::Table")
	}
	return specs, nil
}

func keySchema(ks []cfnKey) []types.KeySchemaElement {
	out := make([]types.KeySchemaElement, len(ks))
	for i, k := range ks {
		out[i] = types.KeySchemaElement{AttributeName: aws.String(k.AttributeName), KeyType: types.KeyType(k.KeyType)}
	}
	return out
}

// CreateTable creates the table spec defines under name, waits until it is
// active, and turns on its TTL and point-in-time recovery. A table that
// exists already is left as it is and reported with created false.
func CreateTable(ctx context.Context, db *dynamodb.Client, spec TableSpec, name string) (created bool, err error) {
	in := spec.Create
	in.TableName = aws.String(name)
	if _, err := db.CreateTable(ctx, &in); err != nil {
		var inUse *types.ResourceInUseException
		if errors.As(err, &inUse) {
			return false, nil
		}
		return false, fmt.Errorf("dynamo: create table %s: %w", name, err)
	}
	w := dynamodb.NewTableExistsWaiter(db, func(o *dynamodb.TableExistsWaiterOptions) { o.MinDelay = 200 * time.Millisecond })
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 5*time.Minute); err != nil {
		return true, fmt.Errorf("dynamo: wait for table %s: %w", name, err)
	}
	if spec.TTLAttribute != "" {
		if _, err := db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
			TableName:               aws.String(name),
			TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(spec.TTLAttribute), Enabled: aws.Bool(true)},
		}); err != nil {
			return true, fmt.Errorf("dynamo: turn on TTL of table %s: %w", name, err)
		}
	}
	if spec.PITR {
		if _, err := db.UpdateContinuousBackups(ctx, &dynamodb.UpdateContinuousBackupsInput{
			TableName:                        aws.String(name),
			PointInTimeRecoverySpecification: &types.PointInTimeRecoverySpecification{PointInTimeRecoveryEnabled: aws.Bool(true)},
		}); err != nil {
			return true, fmt.Errorf("dynamo: turn on point-in-time recovery of table %s: %w", name, err)
		}
	}
	return true, nil
}

// CreateTableFromTemplate creates, as CreateTable does, the one table the
// SAM or CloudFormation template in file path defines, under name. It
// returns the table's spec; an error names the file when it cannot be
// read, or when it defines no table or more than one.
func CreateTableFromTemplate(ctx context.Context, db *dynamodb.Client, path, name string) (spec TableSpec, created bool, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return spec, false, fmt.Errorf("dynamo: read the template: %w", err)
	}
	specs, err := ParseTemplate(data)
	if err != nil {
		return spec, false, fmt.Errorf("dynamo: template %s: %w", path, err)
	}
	if len(specs) != 1 {
		return spec, false, fmt.Errorf("dynamo: template %s defines %d tables; mqttless uses one", path, len(specs))
	}
	created, err = CreateTable(ctx, db, specs[0], name)
	return specs[0], created, err
}

// DeleteTable deletes table name.
func DeleteTable(ctx context.Context, db *dynamodb.Client, name string) error {
	if _, err := db.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)}); err != nil {
		return fmt.Errorf("dynamo: delete table %s: %w", name, err)
	}
	return nil
}
