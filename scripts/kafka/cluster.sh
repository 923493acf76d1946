#!/usr/bin/env bash
# A throwaway 3-node Apache Kafka cluster (KRaft, each node broker + controller, the three form
# the controller quorum) on 127.0.0.1, for failover tests: replication factor 3,
# min.insync.replicas 2. Same jars as scripts/kafka/broker.sh (its `install`); nothing new.
#
#   cluster.sh start [--owner PID]  stop leftovers, fresh data dirs, format, start the 3 nodes, wait
#                                   until all serve, warm up the group coordinator. With --owner,
#                                   a watchdog SIGKILLs the cluster once process PID is gone.
#                                   Exit 75 when a port is taken (another cluster on the same ports).
#   cluster.sh stop                 SIGKILL every node and the watchdog (the next start wipes the data anyway)
#   cluster.sh kill <node>          SIGKILL one node (1..3), data kept
#   cluster.sh restart <node>       start a killed node again on its data (a running one is killed
#                                   first); wait until it serves
#   cluster.sh status               one line per node; exit 0 when all three run
#   cluster.sh leader <topic> <partition>   node id leading the partition
#   cluster.sh coordinator <group>          node id of the group coordinator
#   cluster.sh in-sync [timeout_s]          wait until every partition has its full ISR (default 60 s)
#   cluster.sh brokers                      the bootstrap list (127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3)
#   cluster.sh logs <node> [N]              last N (default 100) lines of a node's server log
#
# Env: PYRALLEL_KAFKA_CACHE (default ~/.cache/pyrallel-kafka), PYRALLEL_CLUSTER_PORT (default
# 19192): node n listens on PORT+2(n-1) (clients) and PORT+2(n-1)+1 (controller), so the default
# ports are 19192..19197. Each base port has its own run dir, so several clusters can coexist.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$HERE/../.." && pwd)"
KAFKA_VERSION=4.1.1
CACHE="${PYRALLEL_KAFKA_CACHE:-$HOME/.cache/pyrallel-kafka}"
LIB="$CACHE/$KAFKA_VERSION/lib"
BASE="${PYRALLEL_CLUSTER_PORT:-19192}"
RUN="$CACHE/cluster-$BASE"
NODES=(1 2 3)
READY_TIMEOUT_S=90
NODE="$REPO_ROOT/node_modules/.bin/node"

log() { echo "[cluster:$BASE] $*"; }
die() { echo "[cluster:$BASE] ERROR: $*" >&2; exit "${2:-1}"; }
now() { echo "${EPOCHREALTIME/,/.}"; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }

client_port() { echo $((BASE + 2 * ($1 - 1))); }
controller_port() { echo $((BASE + 2 * ($1 - 1) + 1)); }
node_dir() { echo "$RUN/node-$1"; }
brokers() {
  local n out=()
  for n in "${NODES[@]}"; do out+=("127.0.0.1:$(client_port "$n")"); done
  (IFS=,; echo "${out[*]}")
}

alive() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  [[ "${stat##*) }" != Z* ]]
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# PID of node $1 if its pid file names a live process that really is that node (PID reuse guard).
node_pid() {
  local dir pid
  dir="$(node_dir "$1")"
  [[ -f "$dir/pid" ]] || return 1
  pid="$(cat "$dir/pid")"
  [[ "$pid" =~ ^[0-9]+$ && -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "kafka.Kafka $dir/server.properties" || return 1
  echo "$pid"
}

watchdog_pid() {
  local pid
  [[ -f "$RUN/watchdog.pid" ]] || return 1
  pid="$(cat "$RUN/watchdog.pid")"
  [[ "$pid" =~ ^[0-9]+$ && -r "/proc/$pid/cmdline" ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF "pyrallel-cluster-watchdog $RUN" || return 1
  echo "$pid"
}

started_count() { grep -c "Kafka Server started" "$(node_dir "$1")/logs/server.log" 2>/dev/null || true; }

# Small heaps, few GC and JIT threads: three JVMs share a small machine with the tests.
java_cmd() {
  local dir
  dir="$(node_dir "$1")"
  JAVA=(java -Xms128m -Xmx384m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true
    -Djava.io.tmpdir="$dir/tmp" -Dlog4j2.configurationFile="$HERE/log4j2.xml" -Dkafka.logs.dir="$dir/logs"
    -cp "$LIB/*")
}

write_config() {
  local n="$1" dir voters="" m
  dir="$(node_dir "$n")"
  for m in "${NODES[@]}"; do voters+="${voters:+,}$m@127.0.0.1:$(controller_port "$m")"; done
  cat >"$dir/server.properties" <<EOF
# Node $n of the failover test cluster (scripts/kafka/cluster.sh); regenerated on every start.
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$voters
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$(client_port "$n"),CONTROLLER://127.0.0.1:$(controller_port "$n")
advertised.listeners=PLAINTEXT://127.0.0.1:$(client_port "$n")
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data

# Every partition on every node; a write is acknowledged once two replicas have it.
default.replication.factor=3
min.insync.replicas=2
offsets.topic.replication.factor=3
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
auto.create.topics.enable=true
num.partitions=4
unclean.leader.election.enable=false

# A killed node is fenced (its partitions get new leaders, it leaves their ISR) after 4 s without
# a heartbeat (default 9 s); a restarted one gets its leaderships back within seconds (default 5 min).
broker.session.timeout.ms=4000
broker.heartbeat.interval.ms=500
leader.imbalance.check.interval.seconds=2

# Faster consumer groups in tests, as scripts/kafka/server.properties: classic protocol, and
# KIP-848's consumer protocol (members heartbeat at the broker's interval, 5 s by default, and hear
# of new assignments only then).
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
group.consumer.heartbeat.interval.ms=500
group.consumer.min.heartbeat.interval.ms=100
group.consumer.session.timeout.ms=6000
group.consumer.min.session.timeout.ms=1000

# Small machine.
num.network.threads=2
num.io.threads=2
num.replica.fetchers=1
num.recovery.threads.per.data.dir=1
background.threads=2
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=8388608
EOF
}

# Starts node $1 on its existing data dir in the background (outliving this script).
launch() {
  local n="$1" dir
  dir="$(node_dir "$n")"
  java_cmd "$n"
  port_open "$(client_port "$n")" && die "port $(client_port "$n") is already in use" 75
  port_open "$(controller_port "$n")" && die "port $(controller_port "$n") is already in use" 75
  # The inner shell writes its own PID and then execs java, so the pid file holds java's PID.
  setsid nohup bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$dir/pid" \
    "${JAVA[@]}" kafka.Kafka "$dir/server.properties" >>"$dir/logs/stdout.log" 2>&1 </dev/null 9>&- &
}

# Waits until node $1 serves clients and logged its start number $2 ("Kafka Server started").
wait_ready() {
  local n="$1" want="$2" deadline=$((SECONDS + READY_TIMEOUT_S)) dir pid
  dir="$(node_dir "$n")"
  while :; do
    if node_pid "$n" >/dev/null && port_open "$(client_port "$n")" && (($(started_count "$n") >= want)); then
      return 0
    fi
    if [[ -s "$dir/pid" ]] && ! alive "$(cat "$dir/pid")"; then
      tail -n 30 "$dir/logs/stdout.log" "$dir/logs/server.log" >&2 2>/dev/null || true
      die "node $n exited during startup (logs in $dir/logs)"
    fi
    if [[ -e "$RUN/stopped" ]]; then
      sleep 0.5 # its pid file is written in the background
      kill_node "$n" >/dev/null
      die "the cluster was stopped while node $n started"
    fi
    if ((SECONDS >= deadline)); then
      tail -n 30 "$dir/logs/server.log" >&2 2>/dev/null || true
      kill_node "$n" >/dev/null
      die "node $n not ready after ${READY_TIMEOUT_S}s (logs in $dir/logs)"
    fi
    sleep 0.2
  done
}

kill_node() {
  local pid dir tries=0
  dir="$(node_dir "$1")"
  # Just launched: its pid file may name the shell that is about to exec java. Wait for java.
  while ! pid="$(node_pid "$1")"; do
    [[ -s "$dir/pid" ]] && alive "$(cat "$dir/pid")" && ((tries++ < 20)) || return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  while alive "$pid"; do sleep 0.05; done
  rm -f "$(node_dir "$1")/pid"
  echo "$pid"
}

cmd_stop() {
  local n pid stopped=() wd
  # A restart still under way must not bring a node back after this (see cmd_restart).
  [[ -d "$RUN" ]] && touch "$RUN/stopped"
  if wd="$(watchdog_pid)"; then kill -KILL "$wd" 2>/dev/null || true; fi
  rm -f "$RUN/watchdog.pid"
  for n in "${NODES[@]}"; do
    pid="$(kill_node "$n")"
    [[ -n "$pid" ]] && stopped+=("$n (pid $pid)")
  done
  if ((${#stopped[@]})); then log "killed node ${stopped[*]}"; else log "not running"; fi
}

cmd_start() {
  local owner="" t0 n cluster_id
  if [[ "${1:-}" == "--owner" ]]; then
    owner="${2:-}"
    [[ "$owner" =~ ^[0-9]+$ ]] || die "--owner needs a PID"
  fi
  t0="$(now)"
  command -v java >/dev/null || die "java not found (Java 17+ is needed)"
  mkdir -p "$CACHE"
  # One start at a time per base port; a cluster whose owner still runs is not ours to replace.
  exec 9>"$CACHE/cluster-$BASE.lock"
  flock -n 9 || die "another cluster.sh start on ports $BASE.. is in progress" 75
  local wd
  if wd="$(watchdog_pid)"; then die "the cluster on ports $BASE.. is in use (watchdog pid $wd)" 75; fi
  # Leftovers of an earlier run on these ports (ours, by pid file): gone first.
  cmd_stop >/dev/null
  for n in "${NODES[@]}"; do
    port_open "$(client_port "$n")" && die "port $(client_port "$n") is in use by another process" 75
    port_open "$(controller_port "$n")" && die "port $(controller_port "$n") is in use by another process" 75
  done
  bash "$HERE/broker.sh" install

  rm -rf "$RUN"
  mkdir -p "$RUN"
  cluster_id="-"
  while [[ "$cluster_id" == -* ]]; do
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
  done
  # Format the three nodes in parallel (one JVM start each).
  local pids=()
  for n in "${NODES[@]}"; do
    mkdir -p "$(node_dir "$n")"/{data,logs,tmp}
    write_config "$n"
    java_cmd "$n"
    "${JAVA[@]}" -Dpyrallel.log.name=format kafka.tools.StorageTool format --cluster-id "$cluster_id" \
      --config "$(node_dir "$n")/server.properties" --ignore-formatted >"$(node_dir "$n")/logs/format.out" 2>&1 &
    pids+=($!)
  done
  for n in "${NODES[@]}"; do
    wait "${pids[$((n - 1))]}" || { cat "$(node_dir "$n")/logs/format.out" >&2; die "formatting node $n failed"; }
  done

  for n in "${NODES[@]}"; do launch "$n"; done
  if [[ -n "$owner" ]]; then
    # Once the owner (the test process) is gone, nothing else would stop the cluster.
    setsid nohup bash -c 'echo $$ >"$1/watchdog.pid"; while kill -0 "$2" 2>/dev/null; do sleep 1; done
      echo "owner $2 gone: stopping the cluster"; exec bash "$3" stop' pyrallel-cluster-watchdog "$RUN" "$owner" \
      "$HERE/cluster.sh" >>"$RUN/watchdog.log" 2>&1 </dev/null 9>&- &
  fi
  for n in "${NODES[@]}"; do wait_ready "$n" 1 || { cmd_stop >&2; exit 1; }; done
  log "3 nodes up after $(since "$t0")"

  # Group calls fail until __consumer_offsets exists and is loaded: create and load it now.
  PYRALLEL_KAFKA_PORT="$BASE" PYRALLEL_KAFKA_WARMUP_TIMEOUT_MS=$((READY_TIMEOUT_S * 1000)) \
    "$NODE" "$HERE/warm-up.mjs" || { cmd_stop >&2; die "group coordinator warm-up failed (logs in $RUN)"; }
  log "cluster ready in $(since "$t0") on $(brokers) (logs in $RUN/node-N/logs)${owner:+, stopped when pid $owner exits}"
}

check_node() { [[ "${1:-}" =~ ^[123]$ ]] || die "node must be 1, 2 or 3 (got '${1:-}')" 2; }

cmd_kill() {
  check_node "$1"
  local pid
  pid="$(kill_node "$1")"
  if [[ -n "$pid" ]]; then log "SIGKILL node $1 (pid $pid)"; else log "node $1 was not running"; fi
}

cmd_restart() {
  check_node "$1"
  local n="$1" t0 before
  t0="$(now)"
  [[ -f "$(node_dir "$n")/server.properties" ]] || die "node $n was never started (run: cluster.sh start)"
  [[ -e "$RUN/stopped" ]] && die "the cluster was stopped (run: cluster.sh start)"
  kill_node "$n" >/dev/null
  before="$(started_count "$n")"
  launch "$n"
  wait_ready "$n" $((before + 1))
  # Stopped meanwhile (e.g. by the watchdog: its owner died): this node must not outlive the rest.
  if [[ -e "$RUN/stopped" ]]; then
    kill_node "$n" >/dev/null
    die "the cluster was stopped while node $n started"
  fi
  log "node $n back (pid $(node_pid "$n")) on 127.0.0.1:$(client_port "$n") after $(since "$t0")"
}

cmd_status() {
  local n pid up=0
  for n in "${NODES[@]}"; do
    if pid="$(node_pid "$n")" && port_open "$(client_port "$n")"; then
      echo "node $n: running (pid $pid, 127.0.0.1:$(client_port "$n"))"
      up=$((up + 1))
    else
      echo "node $n: stopped"
    fi
  done
  ((up == ${#NODES[@]}))
}

info() { PYRALLEL_CLUSTER_BROKERS="$(brokers)" "$NODE" "$HERE/cluster-info.ts" "$@"; }

case "${1:-}" in
  start) shift; cmd_start "$@" ;;
  stop) cmd_stop ;;
  kill) cmd_kill "${2:-}" ;;
  restart) cmd_restart "${2:-}" ;;
  status) cmd_status ;;
  leader) info leader "${2:?topic}" "${3:?partition}" ;;
  coordinator) info coordinator "${2:?group}" ;;
  in-sync) info in-sync "${2:-60}" ;;
  brokers) brokers ;;
  logs) check_node "${2:-}"; tail -n "${3:-100}" "$(node_dir "$2")/logs/server.log" ;;
  *)
    echo "usage: $0 start [--owner PID]|stop|kill <node>|restart <node>|status|leader <topic> <partition>|coordinator <group>|in-sync [timeout_s]|brokers|logs <node> [N]" >&2
    exit 2
    ;;
esac
