#!/usr/bin/env bash
# deploy.sh deploys template.yaml to an AWS emulator, the same way for
# LocalStack (make localstack-deploy) and for moto (make deploy-moto, run by
# make test, where no Docker runs the functions):
#
#   1. sam build: the four functions (BuildMethod makefile, the root
#      Makefile's build-<Function> targets), for FUNCTION_GOARCH;
#   2. localstack/cfn_deploy.py deploy: the functions' zips to an S3
#      bucket, the SAM template translated to CloudFormation, the stack
#      created or updated through the emulator's CloudFormation API, its
#      outputs printed and saved in $LOCAL_DIR/<mode>.env;
#   3. localstack/cfn_deploy.py check: the table as template.yaml defines
#      it (keys, indexes, on demand, TTL, point-in-time recovery), the
#      functions and their settings, the delivery secret.
#
# Usage: localstack/deploy.sh moto|localstack|wait
#   moto        deploy to the moto at AWS_ENDPOINT_URL (with-moto.sh starts
#               one) with Proxy=none, as on LocalStack: moto's load
#               balancers take no TCP listeners, and nothing could run the
#               proxy's image. moto's CloudFormation has no Secrets Manager
#               secrets (cfn_deploy.py --shim-secrets creates the delivery
#               secret through the API) nor alarms (skipped, with a
#               warning); nothing runs the functions.
#   localstack  deploy to LocalStack at AWS_ENDPOINT_URL (default
#               http://127.0.0.1:4566) with Proxy=none (its community
#               edition has no ECS nor ELB; localstack/test.sh runs the
#               proxy here), functions built for this machine.
#   wait        wait until the emulator at AWS_ENDPOINT_URL answers.
#
# STACK_NAME (default mqttless) names the stack; PARAMS adds template
# parameters as Name=Value words.
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-}"
STACK_NAME="${STACK_NAME:-mqttless}"
LOCAL_DIR="${LOCAL_DIR:-.local}"
BUILD_DIR="${BUILD_DIR:-build/sam-$mode}"
PARAMS="${PARAMS:-}"
export AWS_ENDPOINT_URL="${AWS_ENDPOINT_URL:-http://127.0.0.1:4566}"
# Emulators take any credentials; these keep the tools off real ones.
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_DEFAULT_REGION="$AWS_REGION"
unset AWS_PROFILE AWS_SESSION_TOKEN
export SAM_CLI_TELEMETRY=0

py=.venv/bin/python
[ -x .venv/bin/sam ] || { echo "deploy: .venv/bin/sam missing; run make sam-deps" >&2; exit 1; }

case "$mode" in
  moto)
    goarch=arm64 arch=arm64
    # moto's CloudFormation has no Secrets Manager secrets: the script
    # creates the delivery secret through the API instead.
    params="Proxy=none FunctionArchitecture=$arch --shim-secrets"
    ;;
  localstack)
    case "$(uname -m)" in
      aarch64 | arm64) goarch=arm64 arch=arm64 ;;
      *) goarch=amd64 arch=x86_64 ;;
    esac
    params="Proxy=none FunctionArchitecture=$arch"
    ;;
  wait)
    exec "$py" localstack/cfn_deploy.py wait
    ;;
  *)
    echo "usage: $0 moto|localstack|wait" >&2
    exit 2
    ;;
esac

echo "deploy: sam build ($goarch) into $BUILD_DIR"
FUNCTION_GOARCH=$goarch .venv/bin/sam build --build-in-source --template-file template.yaml \
  --build-dir "$BUILD_DIR" --parameter-overrides "FunctionArchitecture=$arch" >"$BUILD_DIR.log" 2>&1 ||
  { cat "$BUILD_DIR.log" >&2; exit 1; }

mkdir -p "$LOCAL_DIR"
echo "deploy: stack $STACK_NAME on $AWS_ENDPOINT_URL ($params $PARAMS)"
# shellcheck disable=SC2086 # params and PARAMS are lists of words
"$py" -W ignore localstack/cfn_deploy.py deploy "$STACK_NAME" "$BUILD_DIR/template.yaml" "$STACK_NAME-artifacts" \
  $params $PARAMS | tee "$LOCAL_DIR/$mode.deploy.log"
grep '^OUTPUT_' "$LOCAL_DIR/$mode.deploy.log" >"$LOCAL_DIR/$mode.env" || true
check=()
[ "$mode" = moto ] && check+=(--moto)
"$py" -W ignore localstack/cfn_deploy.py check "$STACK_NAME" template.yaml "$arch" "$BUILD_DIR/cloudformation.json" "${check[@]}"
echo "deploy: outputs in $LOCAL_DIR/$mode.env"
