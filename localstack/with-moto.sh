#!/usr/bin/env bash
# with-moto.sh runs a command against a DynamoDB endpoint: the one
# AWS_ENDPOINT_URL names when it is set, or else moto in server mode
# (from the project's .venv) on 127.0.0.1:${MOTO_PORT:-4566}, started for
# the command and stopped after it, whether it passes or fails.
# MQTTLESS_DYNAMO_TEST=1 runs the command on AWS itself (the standard
# credential chain and region), without moto.
set -euo pipefail
if [ -n "${AWS_ENDPOINT_URL:-}" ] || [ -n "${MQTTLESS_DYNAMO_TEST:-}" ]; then
  exec "$@"
fi
cd "$(dirname "$0")/.."
port="${MOTO_PORT:-4566}"
if [ ! -x .venv/bin/waitress-serve ]; then
  echo "with-moto: .venv/bin/waitress-serve missing; run make moto-deps" >&2
  exit 1
fi
log="$(mktemp -t moto.XXXXXX.log)"
.venv/bin/python localstack/moto_server.py 127.0.0.1 "$port" >"$log" 2>&1 &
moto=$!
trap 'kill "$moto" 2>/dev/null; wait "$moto" 2>/dev/null; if [ -n "${MOTO_LOG:-}" ]; then cp "$log" "$MOTO_LOG"; fi; rm -f "$log"' EXIT
for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  if ! kill -0 "$moto" 2>/dev/null; then
    echo "with-moto: moto exited:" >&2; cat "$log" >&2; exit 1
  fi
  sleep 0.1
done
export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
# The emulator takes any credentials; these keep the SDK off real ones.
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_SESSION_TOKEN= AWS_REGION=us-east-1 AWS_PROFILE=
unset AWS_PROFILE AWS_SESSION_TOKEN
"$@"
