#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft, broker + controller in one JVM) for tests.
# No Docker here: the broker's jars come from Maven Central and run with the local Java 17.
#
#   broker.sh install   download the jars once into the cache (outside the repo)
#   broker.sh start     fresh data dir, format, start in background, wait until ready, warm up groups
#   broker.sh stop      SIGTERM (controlled shutdown), SIGKILL after 30 s
#   broker.sh status    "running" (exit 0) or "stopped" (exit 1)
#   broker.sh logs [N]  last N (default 100) lines of the server log
#
# Env: PYRALLEL_KAFKA_CACHE (default ~/.cache/pyrallel-kafka), PYRALLEL_KAFKA_PORT (default 9092;
# the controller listens on port+1, a SASL listener on port+2, a TLS listener on port+3, whose CA
# certificate is <run dir>/tls/ca.pem). A non-default port gets its own run dir, so two brokers can coexist.
set -euo pipefail

KAFKA_VERSION=4.1.1
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${PYRALLEL_KAFKA_CACHE:-$HOME/.cache/pyrallel-kafka}"
LIB="$CACHE/$KAFKA_VERSION/lib"
PORT="${PYRALLEL_KAFKA_PORT:-9092}"
CONTROLLER_PORT=$((PORT + 1))
SASL_PORT=$((PORT + 2))
TLS_PORT=$((PORT + 3))
if [[ "$PORT" == 9092 ]]; then RUN="$CACHE/run"; else RUN="$CACHE/run-$PORT"; fi
PID_FILE="$RUN/broker.pid"
SERVER_LOG="$RUN/logs/server.log"
READY_TIMEOUT_S=60
STOP_TIMEOUT_S=30

log() { echo "[kafka] $*"; }
die() { echo "[kafka] ERROR: $*" >&2; exit 1; }
now() { echo "${EPOCHREALTIME/,/.}"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

# True while the process exists and is not a zombie (kill -0 succeeds on zombies).
alive() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  [[ "${stat##*) }" != Z* ]]
}

# True if something accepts TCP connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# PID from our pid file if that process is really our broker (guards against PID reuse).
broker_pid() {
  local pid
  [[ -f "$PID_FILE" ]] || return 1
  pid="$(cat "$PID_FILE")"
  [[ "$pid" =~ ^[0-9]+$ && -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "kafka.Kafka $RUN/server.properties" || return 1
  echo "$pid"
}

cmd_install() {
  if [[ -f "$LIB/.complete" ]]; then return 0; fi
  command -v mvn >/dev/null || die "mvn not found (Maven is needed to fetch the Kafka jars)"
  local t0 tmp
  t0="$(now)"
  log "installing Kafka $KAFKA_VERSION jars into $LIB"
  mkdir -p "$(dirname "$LIB")"
  # Leftovers of interrupted installs (old enough not to be a concurrent one in progress).
  find "$(dirname "$LIB")" -maxdepth 1 -name 'lib.tmp.*' -mmin +60 -exec rm -rf {} + 2>/dev/null || true
  # Download into a temp dir and rename it into place: an interrupted download never looks complete.
  tmp="$(mktemp -d "$LIB.tmp.XXXXXX")"
  if ! mvn -B -q -f "$HERE/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp" >"$tmp.mvn.log" 2>&1; then
    tail -n 40 "$tmp.mvn.log" >&2
    rm -rf "$tmp" "$tmp.mvn.log"
    die "Maven could not fetch the Kafka jars"
  fi
  rm -f "$tmp.mvn.log"
  ls "$tmp"/kafka_2.13-*.jar "$tmp"/log4j-slf4j-impl-*.jar >/dev/null || die "jars missing after download"
  touch "$tmp/.complete"
  chmod 755 "$tmp" # mktemp -d makes it private
  [[ -f "$LIB/.complete" ]] || rm -rf "$LIB" # an incomplete leftover, never a complete one
  # -T: fail instead of moving into an existing dir if a concurrent install won the race.
  mv -T "$tmp" "$LIB" 2>/dev/null || rm -rf "$tmp"
  [[ -f "$LIB/.complete" ]] || die "install did not complete"
  log "installed $(ls "$LIB"/*.jar | wc -l) jars ($(du -sh "$LIB" | cut -f1)) in $(since "$t0")"
}

# Small heap for a small machine; private tmpdir because zstd/snappy unpack native libraries there.
JAVA=(java -Xms256m -Xmx512m -Djava.awt.headless=true -Djava.io.tmpdir="$RUN/tmp"
  -Dlog4j2.configurationFile="$HERE/log4j2.xml" -Dkafka.logs.dir="$RUN/logs" -cp "$LIB/*")

# A self-signed certificate for the TLS listener (127.0.0.1 and localhost), and its PEM for clients.
make_certificate() {
  command -v keytool >/dev/null || die "keytool not found (it comes with Java 17+)"
  keytool -genkeypair -alias broker -keyalg EC -groupname secp256r1 -validity 3650 -dname "CN=127.0.0.1" \
    -ext "SAN=IP:127.0.0.1,DNS:localhost" -storetype PKCS12 -keystore "$RUN/tls/broker.p12" \
    -storepass pyrallel-test -keypass pyrallel-test >"$RUN/logs/keytool.out" 2>&1 \
    || { cat "$RUN/logs/keytool.out" >&2; die "keytool could not make the TLS certificate"; }
  keytool -exportcert -rfc -alias broker -keystore "$RUN/tls/broker.p12" -storepass pyrallel-test \
    >"$RUN/tls/ca.pem" 2>>"$RUN/logs/keytool.out" || die "keytool could not export the TLS certificate"
}

cmd_start() {
  local t0 pid cluster_id
  t0="$(now)"
  if pid="$(broker_pid)"; then
    if port_open "$PORT"; then
      log "already running (pid $pid) on 127.0.0.1:$PORT"
      return 0
    fi
    log "broker pid $pid does not answer on port $PORT; restarting it"
    cmd_stop
  fi
  port_open "$PORT" && die "port $PORT is already in use by another process (not our broker; pid file $PID_FILE)"
  local extra
  for extra in "$CONTROLLER_PORT" "$SASL_PORT" "$TLS_PORT"; do
    port_open "$extra" && die "port $extra (controller, SASL or TLS listener) is already in use by another process"
  done
  command -v java >/dev/null || die "java not found (Java 17+ is needed)"

  cmd_install

  # Fresh state every start: tests must not see topics or offsets of an earlier run.
  rm -rf "$RUN"
  mkdir -p "$RUN/data" "$RUN/logs" "$RUN/tmp" "$RUN/tls"
  sed -e "s|@PORT@|$PORT|g" -e "s|@CONTROLLER_PORT@|$CONTROLLER_PORT|g" -e "s|@DATA_DIR@|$RUN/data|g" \
    -e "s|@SASL_PORT@|$SASL_PORT|g" -e "s|@TLS_PORT@|$TLS_PORT|g" -e "s|@TLS_DIR@|$RUN/tls|g" \
    "$HERE/server.properties" >"$RUN/server.properties"
  make_certificate

  # Cluster id: 16 random bytes, base64url without padding, not starting with '-'.
  # (Bash instead of `StorageTool random-uuid` saves a JVM start.)
  cluster_id="-"
  while [[ "$cluster_id" == -* ]]; do
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
  done
  # Static quorum (controller.quorum.voters), so no --standalone.
  if ! "${JAVA[@]}" -Dpyrallel.log.name=format kafka.tools.StorageTool format \
      --cluster-id "$cluster_id" --config "$RUN/server.properties" --ignore-formatted \
      --add-scram 'SCRAM-SHA-256=[name=pyrallel,password=pyrallel-secret]' \
      --add-scram 'SCRAM-SHA-512=[name=pyrallel,password=pyrallel-secret]' \
      >"$RUN/logs/format.out" 2>&1; then
    cat "$RUN/logs/format.out" >&2
    die "formatting the KRaft storage failed"
  fi

  # setsid + nohup: the broker outlives this script and the caller's terminal/process group.
  # The inner shell writes its own PID and then execs java, so the pid file holds java's PID.
  setsid nohup bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$PID_FILE" \
    "${JAVA[@]}" kafka.Kafka "$RUN/server.properties" >"$RUN/logs/stdout.log" 2>&1 </dev/null &

  # Ready = client port open AND the broker logged that it started.
  local deadline=$((SECONDS + READY_TIMEOUT_S))
  while :; do
    if pid="$(broker_pid)" && port_open "$PORT" && grep -q "Kafka Server started" "$SERVER_LOG" 2>/dev/null; then
      break
    fi
    if [[ -s "$PID_FILE" ]] && ! alive "$(cat "$PID_FILE")"; then
      tail -n 40 "$RUN/logs/stdout.log" "$SERVER_LOG" >&2 2>/dev/null || true
      die "broker exited during startup (logs in $RUN/logs)"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 40 "$RUN/logs/stdout.log" "$SERVER_LOG" >&2 2>/dev/null || true
      cmd_stop >&2 # a half-started broker would only block the port
      die "broker not ready after ${READY_TIMEOUT_S}s (logs in $RUN/logs)"
    fi
    sleep 0.2
  done
  log "broker up (pid $pid) on 127.0.0.1:$PORT after $(since "$t0")"

  # Group calls fail until __consumer_offsets exists and is loaded: create and load it now.
  if [[ -x "$REPO_ROOT/node_modules/.bin/node" && -d "$REPO_ROOT/node_modules/@platformatic/kafka" ]]; then
    (cd "$REPO_ROOT" && PYRALLEL_KAFKA_PORT="$PORT" PYRALLEL_KAFKA_WARMUP_TIMEOUT_MS=$((READY_TIMEOUT_S * 1000)) \
      node_modules/.bin/node "$HERE/warm-up.mjs") || { cmd_stop >&2; die "group coordinator warm-up failed (logs in $RUN/logs)"; }
  else
    log "WARNING: node_modules missing (run 'npm ci'); skipped the group coordinator warm-up"
  fi
  log "broker ready in $(since "$t0") (127.0.0.1:$PORT, logs in $RUN/logs)"
}

cmd_stop() {
  local pid t0
  if ! pid="$(broker_pid)"; then
    rm -f "$PID_FILE"
    log "not running"
    return 0
  fi
  t0="$(now)"
  kill -TERM "$pid" 2>/dev/null || true # controlled shutdown
  local deadline=$((SECONDS + STOP_TIMEOUT_S))
  while alive "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
  if alive "$pid"; then
    log "no exit after ${STOP_TIMEOUT_S}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while alive "$pid"; do sleep 0.1; done
  fi
  rm -f "$PID_FILE"
  log "stopped (pid $pid) in $(since "$t0")"
}

cmd_status() {
  local pid
  if pid="$(broker_pid)" && port_open "$PORT"; then
    echo "running (pid $pid, 127.0.0.1:$PORT)"
    return 0
  fi
  echo "stopped"
  return 1
}

cmd_logs() {
  [[ -f "$SERVER_LOG" ]] || die "no server log at $SERVER_LOG"
  tail -n "${1:-100}" "$SERVER_LOG"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  logs) cmd_logs "${2:-}" ;;
  *) echo "usage: $0 install|start|stop|status|logs [N]" >&2; exit 2 ;;
esac
