#!/usr/bin/env bash
# Stops and restarts the local test broker of scripts/kafka/broker.sh WITHOUT losing its data, for
# the chaos suite's mid-run broker restart. (`broker.sh start` wipes the data dir on every real
# start, so it cannot bring a stopped broker back with its topics and committed offsets.)
#
#   broker-restart.sh stop    SIGTERM the broker (controlled shutdown, SIGKILL after 30 s), keep
#                             its data dir, save its exact command line next to it
#   broker-restart.sh start   relaunch the saved command line (same classpath, same generated
#                             server.properties, same data dir); wait until it serves again
#   broker-restart.sh status  like broker.sh status
#
# Same env as broker.sh: PYRALLEL_KAFKA_CACHE, PYRALLEL_KAFKA_PORT (each port has its own run dir).
# The relaunched broker writes the same pid file, so `broker.sh status|stop|logs` keep working.
set -euo pipefail

CACHE="${PYRALLEL_KAFKA_CACHE:-$HOME/.cache/pyrallel-kafka}"
PORT="${PYRALLEL_KAFKA_PORT:-9092}"
if [[ "$PORT" == 9092 ]]; then RUN="$CACHE/run"; else RUN="$CACHE/run-$PORT"; fi
PID_FILE="$RUN/broker.pid"
ARGV_FILE="$RUN/chaos-broker.argv"
SERVER_LOG="$RUN/logs/server.log"
READY_TIMEOUT_S=60
STOP_TIMEOUT_S=30

log() { echo "[chaos-broker] $*"; }
die() { echo "[chaos-broker] ERROR: $*" >&2; exit 1; }
alive() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  [[ "${stat##*) }" != Z* ]]
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
broker_pid() {
  local pid
  [[ -f "$PID_FILE" ]] || return 1
  pid="$(cat "$PID_FILE")"
  [[ "$pid" =~ ^[0-9]+$ && -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "kafka.Kafka $RUN/server.properties" || return 1
  echo "$pid"
}
started_count() { grep -c "Kafka Server started" "$SERVER_LOG" 2>/dev/null || true; }

cmd_stop() {
  local pid t0=$SECONDS
  pid="$(broker_pid)" || die "no broker of $RUN is running (start it with scripts/kafka/broker.sh start)"
  # The exact argv of the running broker (NUL-separated): java, its options, classpath and config.
  cp "/proc/$pid/cmdline" "$ARGV_FILE"
  kill -TERM "$pid"
  while alive "$pid" && ((SECONDS - t0 < STOP_TIMEOUT_S)); do sleep 0.1; done
  if alive "$pid"; then
    log "no exit after ${STOP_TIMEOUT_S}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while alive "$pid"; do sleep 0.1; done
  fi
  rm -f "$PID_FILE"
  log "stopped (pid $pid), data kept in $RUN/data"
}

cmd_start() {
  local pid before
  if pid="$(broker_pid)"; then
    log "already running (pid $pid)"
    return 0
  fi
  [[ -s "$ARGV_FILE" ]] || die "no saved command line in $ARGV_FILE (stop it with this script first)"
  [[ -d "$RUN/data" ]] || die "data dir $RUN/data is gone"
  port_open "$PORT" && die "port $PORT is in use by another process"
  local -a argv
  mapfile -d '' argv <"$ARGV_FILE"
  before="$(started_count)"
  setsid nohup bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$PID_FILE" "${argv[@]}" \
    >>"$RUN/logs/stdout.log" 2>&1 </dev/null &
  local deadline=$((SECONDS + READY_TIMEOUT_S))
  while :; do
    if pid="$(broker_pid)" && port_open "$PORT" && (($(started_count) > before)); then break; fi
    if [[ -s "$PID_FILE" ]] && ! alive "$(cat "$PID_FILE")"; then
      tail -n 40 "$RUN/logs/stdout.log" >&2 || true
      die "broker exited during restart (logs in $RUN/logs)"
    fi
    ((SECONDS < deadline)) || die "broker not ready ${READY_TIMEOUT_S}s after restart (logs in $RUN/logs)"
    sleep 0.2
  done
  log "restarted (pid $pid) on 127.0.0.1:$PORT with the data of $RUN/data"
}

case "${1:-}" in
  stop) cmd_stop ;;
  start) cmd_start ;;
  status) if pid="$(broker_pid)" && port_open "$PORT"; then echo "running (pid $pid)"; else echo "stopped"; exit 1; fi ;;
  *) echo "usage: $0 stop|start|status" >&2; exit 2 ;;
esac
