#!/usr/bin/env bash
# fanout.sh measures QoS 1 fan-out on the local serverless stack (issue
# 16, "Figures: Fan-out"; make bench-fanout): it starts the stack
# (local-stack.sh, on ports, a table and a directory of its own: moto, two
# proxies, RIE_PER_FUNCTION emulators per function and proxy), connects
# FANOUT_SUBS (1000) subscribers split evenly over the two proxies, each a
# persistent session subscribed at QoS 1 to one topic, has a publisher on
# the first proxy send FANOUT_MESSAGES (5) QoS 1 messages one at a time
# (bin/mqttbench fanout), prints per message the time to PUBACK, the time
# to the last delivery, the subscribers reached and the duplicates (with
# and without DUP), and a "FANOUT |" line, and stops the stack. It exits
# non-zero when a message missed a subscriber, had no PUBACK, or was sent
# twice without DUP.
#
# What the figures leave out: everything runs on this one machine (its
# cores shared by the clients, the proxies, the emulators and moto); the
# table is one moto process, which answers one request at a time and far
# slower than DynamoDB; the functions run under the Lambda Runtime
# Interface Emulator, each instance one invocation at a time,
# RIE_PER_FUNCTION (2) per function and proxy, not Lambda with its
# concurrency, cold starts and network.
#
# FANOUT_FAIL_ONCE=1 hands the functions MQTTLESS_FANOUT_FAIL_ONCE=1: each
# function process fails its first fan-out chunk once, mid-way (after
# delivering to half its clients; infra/lambdafn/chunks.go), so that its
# retry shows whether duplicates stay 0. Chunks are delivery v2's (the
# default) and cut a filter of more than -fanout-chunk (512) subscribers;
# -delivery v1 has none and ignores it.
#
# The subscribers all come from 127.0.0.1, so the proxies run with
# -max-conn-rate 0; mqttbench paces the CONNECTs itself (FANOUT_ARGS, e.g.
# "-connect-rate 20 -wait 2m"). The proxies sweep every 5 s and hold
# 30 s leases, as in connect-storm.sh (moto answers a sweep by reading the
# whole table). The descriptor limit is raised to the hard limit for the
# stack and the clients: 10,000 subscribers need 10,000 descriptors in the
# client and 5,000 in each proxy.
set -euo pipefail
cd "$(dirname "$0")/.."

SUBS="${FANOUT_SUBS:-1000}"
MESSAGES="${FANOUT_MESSAGES:-5}"
export LOCAL_DIR="${LOCAL_DIR:-.local-fanout}"
export MQTTLESS_TABLE="${MQTTLESS_TABLE:-mqttless-fanout}"
export PROXY_ADDRS="${PROXY_ADDRS:-127.0.0.1:3883 127.0.0.1:3884}"
export DELIVERY_ADDRS="${DELIVERY_ADDRS:-127.0.0.1:11883 127.0.0.1:11884}"
export RIE_BASE_PORT="${RIE_BASE_PORT:-9700}"
export PROXY_ARGS="${PROXY_ARGS:--max-conn-rate 0 -sys-interval 0 -tick 5s -lease-period 30s}"
export MQTTLESS_ALLOW_ANONYMOUS=true
# The subscribers' sessions and the publisher's, with room for the
# publisher's reconnects: past -max-sessions (10,000 by default) the
# publisher of a 10,000-subscriber run was refused (return code 3).
export MQTTLESS_MAX_SESSIONS="${MQTTLESS_MAX_SESSIONS:-$((SUBS > 9000 ? SUBS + 1000 : 10000))}"
if [ "${FANOUT_FAIL_ONCE:-0}" = 1 ]; then
  export MQTTLESS_FANOUT_FAIL_ONCE=1
  echo "fanout: FANOUT_FAIL_ONCE=1: the functions get MQTTLESS_FANOUT_FAIL_ONCE=1 (each fails its first fan-out chunk once, mid-way)"
fi
read -r -a proxies <<<"$PROXY_ADDRS"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((SUBS + 256)) ]; then
  echo "fanout: $SUBS subscribers need more than $(ulimit -n) open files (ulimit -Hn)" >&2
  exit 1
fi

trap 'localstack/local-stack.sh stop' EXIT
localstack/local-stack.sh start
echo "fanout: leaves out: one machine ($(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)) runs clients, proxies, emulators and moto; one moto process is the table; the functions run under the Lambda Runtime Interface Emulator (${RIE_PER_FUNCTION:-2} per function and proxy, one invocation each at a time), not Lambda"
addrs="$(IFS=,; echo "${proxies[*]}")"
# shellcheck disable=SC2086 # FANOUT_ARGS is a list of flags
bin/mqttbench fanout -addrs "$addrs" -pub-addr "${proxies[0]}" \
  -subs "$SUBS" -messages "$MESSAGES" ${FANOUT_ARGS:-}
