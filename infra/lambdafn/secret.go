package lambdafn

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// The delivery secret's variables: the secret itself, or the ARN (or
// name) of the AWS Secrets Manager secret that holds it, as template.yaml
// gives the functions.
const (
	EnvDeliverySecret    = "MQTTLESS_DELIVERY_SECRET"
	EnvDeliverySecretARN = "MQTTLESS_DELIVERY_SECRET_ARN"
)

// SecretFetcher returns the value of the secret arn names.
type SecretFetcher func(ctx context.Context, arn string) (string, error)

// WithDeliverySecret returns getenv with MQTTLESS_DELIVERY_SECRET filled
// in: when it is empty and MQTTLESS_DELIVERY_SECRET_ARN is set, it is the
// value fetch returns for that ARN, fetched once, here (at cold start).
// A secret given directly wins and nothing is fetched; with neither set,
// getenv is returned as it is. A failed or empty fetch is an error that
// names MQTTLESS_DELIVERY_SECRET_ARN.
func WithDeliverySecret(ctx context.Context, getenv func(string) string, fetch SecretFetcher) (func(string) string, error) {
	arn := getenv(EnvDeliverySecretARN)
	if getenv(EnvDeliverySecret) != "" || arn == "" {
		return getenv, nil
	}
	secret, err := fetch(ctx, arn)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvDeliverySecretARN, err)
	}
	if secret == "" {
		return nil, fmt.Errorf("%s: secret %s is empty", EnvDeliverySecretARN, arn)
	}
	return func(name string) string {
		if name == EnvDeliverySecret {
			return secret
		}
		return getenv(name)
	}, nil
}

// FetchSecret is the SecretFetcher of AWS Secrets Manager: it returns the
// current SecretString (or SecretBinary) of arn, through the standard AWS
// configuration.
func FetchSecret(ctx context.Context, arn string) (string, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return "", fmt.Errorf("load AWS configuration: %w", err)
	}
	out, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return "", err
	}
	switch {
	case out.SecretString != nil:
		return *out.SecretString, nil
	case out.SecretBinary != nil:
		return string(out.SecretBinary), nil
	}
	return "", errors.New("secret has no value")
}
