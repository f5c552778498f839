#!/bin/bash
# LocalStack's init step for mqttless (run once LocalStack is ready): the
# bucket localstack/deploy.sh uploads the functions' code to. The stack
# itself is deployed by make localstack-deploy, from template.yaml.
set -euo pipefail
awslocal s3api head-bucket --bucket "${STACK_NAME:-mqttless}-artifacts" 2>/dev/null ||
  awslocal s3 mb "s3://${STACK_NAME:-mqttless}-artifacts"
echo "mqttless: LocalStack ready for make localstack-deploy"
