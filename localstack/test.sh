#!/usr/bin/env bash
# test.sh runs the e2e suite (./test/) against the stack make
# localstack-deploy deployed to LocalStack: it starts a proxy here
# (bin/mqttless -invoker lambda) on $MQTT_ADDR that invokes the deployed
# functions through LocalStack's Lambda API, with the delivery secret read
# from the stack's secret and its delivery endpoint on $DELIVERY_ADDR,
# which the functions (in LocalStack's containers) reach at
# http://$DELIVERY_HOST:<port>; then it runs the suite with
# MQTTLESS_E2E_ADDR=$MQTT_ADDR and stops the proxy.
set -euo pipefail
cd "$(dirname "$0")/.."

LOCAL_DIR="${LOCAL_DIR:-.local}"
MQTT_ADDR="${MQTT_ADDR:-127.0.0.1:1883}"
DELIVERY_ADDR="${DELIVERY_ADDR:-0.0.0.0:9883}"
DELIVERY_HOST="${DELIVERY_HOST:-host.docker.internal}"
export AWS_ENDPOINT_URL="${AWS_ENDPOINT_URL:-http://127.0.0.1:4566}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
export AWS_REGION="${AWS_REGION:-us-east-1}"
unset AWS_PROFILE AWS_SESSION_TOKEN

env_file="$LOCAL_DIR/localstack.env"
[ -f "$env_file" ] || { echo "localstack-test: $env_file missing; run make localstack-deploy" >&2; exit 1; }
[ -x bin/mqttless ] || { echo "localstack-test: bin/mqttless missing; run make build" >&2; exit 1; }
# shellcheck disable=SC1090 # written by localstack/deploy.sh
. "$env_file"
: "${OUTPUT_LambdaFunctions:?not in $env_file}" "${OUTPUT_DeliverySecretArn:?not in $env_file}"

MQTTLESS_DELIVERY_SECRET="$(.venv/bin/python -W ignore localstack/cfn_deploy.py secret "$OUTPUT_DeliverySecretArn")"
export MQTTLESS_DELIVERY_SECRET

mkdir -p "$LOCAL_DIR/logs"
log="$LOCAL_DIR/logs/localstack-proxy.log"
bin/mqttless -addr "$MQTT_ADDR" -invoker lambda -lambda-functions "$OUTPUT_LambdaFunctions" \
  -delivery-addr "$DELIVERY_ADDR" -delivery-url "http://$DELIVERY_HOST:${DELIVERY_ADDR##*:}" >"$log" 2>&1 &
proxy=$!
trap 'kill "$proxy" 2>/dev/null; wait "$proxy" 2>/dev/null || true' EXIT
host="${MQTT_ADDR%:*}" port="${MQTT_ADDR##*:}"
for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then break; fi
  kill -0 "$proxy" 2>/dev/null || { echo "localstack-test: the proxy exited:" >&2; cat "$log" >&2; exit 1; }
  sleep 0.1
done
echo "localstack-test: proxy on $MQTT_ADDR (log $log), functions $OUTPUT_LambdaFunctions"
MQTTLESS_E2E_ADDR="$MQTT_ADDR" go test -count=1 -timeout 30m ./test/
