#!/usr/bin/env bash
# local-stack.sh runs the serverless deployment of mqttless on this machine,
# without Docker or an AWS account:
#
#   - DynamoDB: moto (localstack/moto_server.py) on 127.0.0.1:$MOTO_PORT, or
#     the endpoint AWS_ENDPOINT_URL names when it is set;
#   - the table, created from template.yaml (bin/mqttless-admin);
#   - the four handler functions (build/local/<name>/bootstrap), each under
#     its own AWS Lambda Runtime Interface Emulator (bin/aws-lambda-rie),
#     RIE_PER_FUNCTION instances per function and proxy, because an
#     emulator serves one invocation at a time, and one more session
#     emulator per proxy for its lease renewals alone (lease=);
#   - one proxy per address in PROXY_ADDRS (bin/mqttless -invoker lambda),
#     each on its own pool of emulators, with its delivery endpoint on the
#     matching address of DELIVERY_ADDRS. Each proxy holds a lease
#     (-lease-period) and, in place of the cloud's EventBridge schedule,
#     runs the sweep every -tick (1 s): a dead proxy's sessions are ended,
#     their wills published, by the other proxy's sweep.
#
# Every part shares one delivery secret, generated on start into
# $LOCAL_DIR/delivery-secret. Pids go to $LOCAL_DIR/pids, logs to
# $LOCAL_DIR/logs.
#
# Usage: localstack/local-stack.sh run|start|stop|status
#   run    start everything and wait in the foreground; Ctrl-C stops it
#   start  start everything in the background and return
#   stop   stop what start started
#   status list the parts and whether they run
#
# make local builds what it needs (bin/mqttless, bin/mqttless-admin,
# bin/aws-lambda-rie, build/local/*) and calls "run". Settings such as
# MQTTLESS_MAX_QUEUED=5 or MQTTLESS_LOG_LEVEL=debug are passed through the
# environment to the functions and the proxies alike; PROXY_ARGS adds flags
# to the proxies. The ports are the defaults below; each is a variable.
set -euo pipefail
cd "$(dirname "$0")/.."

LOCAL_DIR="${LOCAL_DIR:-.local}"
MOTO_PORT="${MOTO_PORT:-4566}"
PROXY_ADDRS="${PROXY_ADDRS:-127.0.0.1:1883 127.0.0.1:1884}"
DELIVERY_ADDRS="${DELIVERY_ADDRS:-127.0.0.1:9883 127.0.0.1:9884}"
# Each emulator takes two ports from RIE_BASE_PORT on: its invoke endpoint
# and the Runtime API its function polls (the emulator's default, 9001,
# would collide between instances).
RIE_BASE_PORT="${RIE_BASE_PORT:-9100}"
RIE_PER_FUNCTION="${RIE_PER_FUNCTION:-2}"
FUNCTIONS_DIR="${FUNCTIONS_DIR:-build/local}"
BIN_DIR="${BIN_DIR:-bin}"
PROXY_ARGS="${PROXY_ARGS:-}"
export MQTTLESS_TABLE="${MQTTLESS_TABLE:-mqttless}"
FUNCTIONS=(connect publish subscribe session)

pids="$LOCAL_DIR/pids"
logs="$LOCAL_DIR/logs"

die() { echo "local-stack: $*" >&2; exit 1; }

# wait_port HOST:PORT PID NAME LOG waits until HOST:PORT accepts
# connections, failing when PID exits first or after 30 s.
wait_port() {
  local addr="$1" pid="$2" name="$3" log="$4" host port
  host="${addr%:*}" port="${addr##*:}"
  for _ in $(seq 1 300); do
    if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "local-stack: $name exited; the end of $log:" >&2
      tail -n 40 "$log" >&2 || true
      return 1
    fi
    sleep 0.1
  done
  echo "local-stack: $name does not listen on $addr after 30s; see $log" >&2
  return 1
}

# launch NAME LOG CMD... starts CMD in the background, in a session of its
# own (so that Ctrl-C reaches only this script, which stops the parts in
# order), with its output in LOG; it records the pid in $pids/NAME.pid and
# in $launched.
launched=""
launch() {
  local name="$1" log="$2"
  shift 2
  if command -v setsid >/dev/null; then
    setsid "$@" >"$log" 2>&1 </dev/null &
  else
    "$@" >"$log" 2>&1 </dev/null &
  fi
  launched=$!
  echo "$launched" >"$pids/$name.pid"
}

running() {
  local f
  for f in "$pids"/*.pid; do
    [ -e "$f" ] || continue
    if kill -0 "$(cat "$f")" 2>/dev/null; then return 0; fi
  done
  return 1
}

start() {
  for f in "$BIN_DIR/mqttless" "$BIN_DIR/mqttless-admin" "$BIN_DIR/aws-lambda-rie"; do
    [ -x "$f" ] || die "$f missing: run make local (or make build rie-deps)"
  done
  for fn in "${FUNCTIONS[@]}"; do
    [ -x "$FUNCTIONS_DIR/$fn/bootstrap" ] || die "$FUNCTIONS_DIR/$fn/bootstrap missing: run make functions-local"
  done
  mkdir -p "$pids" "$logs"
  if running; then die "already running (pids in $pids); run $0 stop first"; fi
  rm -f "$pids"/*.pid

  # An emulator switches to its multi-concurrency mode when this is set,
  # which ignores the bootstrap given on its command line.
  unset AWS_LAMBDA_MAX_CONCURRENCY

  if [ -z "${AWS_ENDPOINT_URL:-}" ]; then
    [ -x .venv/bin/python ] || die ".venv missing: run make moto-deps"
    launch moto "$logs/moto.log" .venv/bin/python localstack/moto_server.py 127.0.0.1 "$MOTO_PORT"
    wait_port "127.0.0.1:$MOTO_PORT" "$launched" moto "$logs/moto.log" || { stop; exit 1; }
    export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT"
    # The emulator takes any credentials; these keep the SDK off real ones.
    export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
    unset AWS_PROFILE AWS_SESSION_TOKEN
  fi
  export AWS_REGION="${AWS_REGION:-us-east-1}"
  "$BIN_DIR/mqttless-admin" create-tables -template template.yaml -table "$MQTTLESS_TABLE" || { stop; exit 1; }

  umask 077
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$LOCAL_DIR/delivery-secret"
  MQTTLESS_DELIVERY_SECRET="$(cat "$LOCAL_DIR/delivery-secret")"
  export MQTTLESS_DELIVERY_SECRET

  local -a proxies deliveries
  read -r -a proxies <<<"$PROXY_ADDRS"
  read -r -a deliveries <<<"$DELIVERY_ADDRS"
  [ "${#deliveries[@]}" -ge "${#proxies[@]}" ] || die "DELIVERY_ADDRS needs one address per proxy"

  local port="$RIE_BASE_PORT" p fn i name fns endpoint
  # emulate NAME FUNCTION-NAME CODE PORT starts an emulator NAME serving
  # functions/CODE's bootstrap as FUNCTION-NAME on 127.0.0.1:PORT (its
  # runtime API on PORT+1) and waits until it listens.
  emulate() {
    launch "$1" "$logs/$1.log" \
      env AWS_LAMBDA_FUNCTION_NAME="$2" AWS_LAMBDA_FUNCTION_TIMEOUT=60 LOG_LEVEL=warn \
      MQTTLESS_FANOUT_RUNNER="${MQTTLESS_FANOUT_RUNNER:-process}" \
      "$BIN_DIR/aws-lambda-rie" \
      --runtime-interface-emulator-address "127.0.0.1:$4" \
      --runtime-api-address "127.0.0.1:$(($4 + 1))" \
      "$PWD/$FUNCTIONS_DIR/$3/bootstrap"
    wait_port "127.0.0.1:$4" "$launched" "$1" "$logs/$1.log" || { stop; exit 1; }
  }
  for p in "${!proxies[@]}"; do
    fns=""
    for fn in "${FUNCTIONS[@]}"; do
      for ((i = 0; i < RIE_PER_FUNCTION; i++)); do
        endpoint="127.0.0.1:$port"
        emulate "rie-p$p-$fn-$i" "mqttless-$fn" "$fn" "$port"
        # The emulator serves its one function as "function".
        fns+="${fns:+,}$fn=function@http://$endpoint"
        port=$((port + 2))
      done
    done
    # One more session emulator per proxy serves only its lease renewals
    # (the route lease=, infra/lambdainvoke/lease.go): a renewal never
    # waits behind the session emulators' other work, so a proxy busy
    # with a storm keeps its lease.
    endpoint="127.0.0.1:$port"
    emulate "rie-p$p-lease" mqttless-lease session "$port"
    fns+=",lease=function@http://$endpoint"
    port=$((port + 2))
    name="proxy-$p"
    # shellcheck disable=SC2086 # PROXY_ARGS is a list of flags
    launch "$name" "$logs/$name.log" "$BIN_DIR/mqttless" -addr "${proxies[$p]}" \
      -invoker lambda -lambda-functions "$fns" -delivery-addr "${deliveries[$p]}" $PROXY_ARGS
    wait_port "${proxies[$p]}" "$launched" "$name" "$logs/$name.log" || { stop; exit 1; }
    echo "local-stack: proxy $p on ${proxies[$p]} (delivery http://${deliveries[$p]}), log $logs/$name.log"
  done
  echo "local-stack: DynamoDB at $AWS_ENDPOINT_URL, table $MQTTLESS_TABLE; logs in $logs"
}

# stop ends the proxies first (they hand their connections' ends to the
# functions), then the emulators (which end their functions), then moto.
stop() {
  local f pid kind
  for kind in proxy rie moto; do
    for f in "$pids/$kind"*.pid; do
      [ -e "$f" ] || continue
      pid="$(cat "$f")"
      kill "$pid" 2>/dev/null || true
    done
    for f in "$pids/$kind"*.pid; do
      [ -e "$f" ] || continue
      pid="$(cat "$f")"
      for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$f"
    done
  done
}

status() {
  local f
  for f in "$pids"/*.pid; do
    [ -e "$f" ] || { echo "local-stack: not running"; return 0; }
    if kill -0 "$(cat "$f")" 2>/dev/null; then
      echo "$(basename "$f" .pid) running (pid $(cat "$f"))"
    else
      echo "$(basename "$f" .pid) exited"
    fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  run)
    trap 'echo; echo "local-stack: stopping"; stop; exit 0' INT TERM
    start
    echo "local-stack: running; Ctrl-C stops it"
    # Wait until a part exits or Ctrl-C.
    while running; do
      for f in "$pids"/*.pid; do
        if ! kill -0 "$(cat "$f")" 2>/dev/null; then
          echo "local-stack: $(basename "$f" .pid) exited; stopping" >&2
          stop
          exit 1
        fi
      done
      sleep 1
    done
    ;;
  *)
    echo "usage: $0 run|start|stop|status" >&2
    exit 2
    ;;
esac
