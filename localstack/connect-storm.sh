#!/usr/bin/env bash
# connect-storm.sh measures a CONNECT storm on the local serverless stack
# (issue 15, item 4; make bench-connect-storm): it starts the stack
# (local-stack.sh, on ports, a table and a directory of its own), adds
# STORM_USERS users sharing one password hashed at bcrypt cost STORM_COST,
# connects STORM_CLIENTS clients with it to the first proxy, drains that
# proxy (SIGTERM) and has every client reconnect at once through the
# second (bin/mqttbench storm), prints the time to all CONNACKs and the
# failures, and stops the stack.
#
# The clients all come from 127.0.0.1, so the proxies run with
# -max-conn-rate 0 (the per-address limit would otherwise pace them); the
# other limits, -max-pending-connects included, keep their defaults:
# a client refused or closed before CONNACK retries after 200 ms, doubling
# up to 5 s, with jitter, as devices do. The proxies sweep every 5 s
# (-tick), not every second: each proxy of the local stack sweeps (in the
# cloud one schedule sweeps for the fleet), and moto answers the sweep's
# query of the due index by reading the whole table, so with 2,000
# sessions a pass took 10 s of the one moto process the CONNECTs wait on
# (issue 15; the sweep's only work here, the drained proxy's lapsed
# lease, comes up to 4 s later). The lease period is 30 s, not 10 s:
# the renewals have an emulator of their own, but share moto, where one
# renewal (a PutItem) waited 10.7 s behind the sweep's reads of the
# drained proxy's 2,000 sessions, and the proxy, trusting a renewal for
# 4/5 of the period, stopped serving (a run of 2026-12-02); DynamoDB
# answers a PutItem in milliseconds.
# Settings reach the functions through the environment, as with
# local-stack.sh (MQTTLESS_AUTH_CREDENTIAL_CACHE=0 turns the credential
# cache off).
set -euo pipefail
cd "$(dirname "$0")/.."

CLIENTS="${STORM_CLIENTS:-2000}"
USERS="${STORM_USERS:-20}"
COST="${STORM_COST:-10}"
export LOCAL_DIR="${LOCAL_DIR:-.local-storm}"
export MQTTLESS_TABLE="${MQTTLESS_TABLE:-mqttless-storm}"
export PROXY_ADDRS="${PROXY_ADDRS:-127.0.0.1:2883 127.0.0.1:2884}"
export DELIVERY_ADDRS="${DELIVERY_ADDRS:-127.0.0.1:10883 127.0.0.1:10884}"
export RIE_BASE_PORT="${RIE_BASE_PORT:-9500}"
export PROXY_ARGS="${PROXY_ARGS:--max-conn-rate 0 -sys-interval 0 -tick 5s -lease-period 30s}"
export MQTTLESS_ALLOW_ANONYMOUS=false
read -r -a proxies <<<"$PROXY_ADDRS"

trap 'localstack/local-stack.sh stop' EXIT
localstack/local-stack.sh start
if [ -z "${AWS_ENDPOINT_URL:-}" ]; then # local-stack.sh started moto
  export AWS_ENDPOINT_URL="http://127.0.0.1:${MOTO_PORT:-4566}"
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
fi
export AWS_REGION="${AWS_REGION:-us-east-1}"

password="storm-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
echo "connect-storm: adding $USERS users at bcrypt cost $COST"
for ((u = 0; u < USERS; u++)); do
  bin/mqttless-admin users add -store dynamo -table "$MQTTLESS_TABLE" -cost "$COST" -password-stdin "storm$u" <<<"$password" >/dev/null
done
MQTTBENCH_PASSWORD="$password" bin/mqttbench storm -addr "${proxies[0]}" -reconnect-addr "${proxies[1]}" \
  -clients "$CLIENTS" -users "$USERS" -user-prefix storm \
  -drain-cmd "kill -TERM $(cat "$LOCAL_DIR/pids/proxy-0.pid")" ${STORM_ARGS:-}
