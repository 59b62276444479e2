#!/usr/bin/env bash
# Starts the production topology on this machine from a built `hub` binary, against an
# existing PostgreSQL database and NATS server: two API nodes, one projector, two dispatchers.
#
#   deploy/run-local.sh start   # needs HUB_DATABASE_URL and HUB_NATS_URL; optional HUB_BIN,
#                               # HUB_RUN_DIR, HUB_API_PORTS ("8080 8081"), provider settings,
#                               # HUB_METRICS_TOKEN (then /metrics on the API ports, and on
#                               # HUB_METRICS_PORTS "9464 9471 9472" for the projector and
#                               # the two dispatchers)
#   deploy/run-local.sh stop    # stops what `start` started (same HUB_RUN_DIR)
#
# `start` prints one `api http://127.0.0.1:<port>` line per API node once it answers, then
# `ready`. Logs and pid files go to HUB_RUN_DIR (default ./hub-run).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
bin="${HUB_BIN:-$here/../target/release/hub}"
run_dir="${HUB_RUN_DIR:-./hub-run}"
ports="${HUB_API_PORTS:-8080 8081}"
read -r -a metrics_ports <<<"${HUB_METRICS_PORTS:-9464 9471 9472}"
# Each process gets its own metrics address below, never a shared one.
unset HUB_METRICS_LISTEN

stop() {
  for pid_file in "$run_dir"/*.pid; do
    [ -e "$pid_file" ] || continue
    kill "$(cat "$pid_file")" 2>/dev/null || true
    rm -f "$pid_file"
  done
}

launch() {
  local name=$1
  shift
  "$bin" --log-format json "$@" >"$run_dir/$name.out" 2>"$run_dir/$name.log" &
  echo $! >"$run_dir/$name.pid"
}

# `--metrics-listen 127.0.0.1:<port>` when HUB_METRICS_TOKEN is set, else nothing.
metrics_on() {
  if [ -n "${HUB_METRICS_TOKEN:-}" ]; then echo "--metrics-listen 127.0.0.1:$1"; fi
}

wait_for_api() {
  local port=$1
  for _ in $(seq 1 100); do
    if (echo >"/dev/tcp/127.0.0.1/$port") >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "API node on port $port did not start; see $run_dir/api-$port.log" >&2
  return 1
}

start() {
  : "${HUB_DATABASE_URL:?set HUB_DATABASE_URL (postgres://…)}"
  : "${HUB_NATS_URL:?set HUB_NATS_URL (nats://…)}"
  [ -x "$bin" ] || { echo "no hub binary at $bin (cargo build --release -p hub, or set HUB_BIN)" >&2; exit 1; }
  mkdir -p "$run_dir"
  export HUB_DATA_DIR="$run_dir/data"
  # The first process creates the schemas; start it alone so the others find them.
  # shellcheck disable=SC2046 # metrics_on answers zero or two words
  launch projector project $(metrics_on "${metrics_ports[0]}")
  sleep 1
  for port in $ports; do
    launch "api-$port" serve --api-only --listen "127.0.0.1:$port"
  done
  # shellcheck disable=SC2046
  launch dispatcher-1 dispatch $(metrics_on "${metrics_ports[1]}")
  # shellcheck disable=SC2046
  launch dispatcher-2 dispatch $(metrics_on "${metrics_ports[2]}")
  for port in $ports; do
    wait_for_api "$port"
    echo "api http://127.0.0.1:$port"
  done
  echo ready
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
