#!/usr/bin/env bash
# A local Redis Cluster from Debian's redis-server: 3 primaries and 3 replicas
# (one each) on 127.0.0.1, ports 7000–7005 by default, for the cluster subset
# of the tests and chaos (npm run test:cluster) and for trying a failover by
# hand. Not for production: no persistence, loopback only, no password.
#
#   bash scripts/redis-cluster.sh start    start (or reuse, or heal) the cluster; prints REDIS_CLUSTER_NODES
#   bash scripts/redis-cluster.sh nodes    prints the REDIS_CLUSTER_NODES value
#   bash scripts/redis-cluster.sh status   cluster state and nodes
#   bash scripts/redis-cluster.sh stop     shuts every node down
#   bash scripts/redis-cluster.sh reset    stop, then forget the cluster (its node files)
#
# `start` is idempotent: nodes that answer are left alone, a node that is down
# (a crash, a chaos kill) is started again from its node file and rejoins (a
# killed primary comes back as its promoted replica's replica), and the
# cluster is created only when no node has slots yet. It returns once every
# slot is served, no node is marked failed, and every primary has a replica
# in sync.
#
# REDIS_CLUSTER_PORT (first port, default 7000), REDIS_CLUSTER_DIR (node
# files and logs, default /tmp/sms-redis-cluster), REDIS_CLUSTER_NODE_TIMEOUT
# (ms a primary may be unreachable before its replica takes over; default
# 2000, production uses Redis's 15000 or what the provider sets).
set -euo pipefail

BASE="${REDIS_CLUSTER_PORT:-7000}"
DIR="${REDIS_CLUSTER_DIR:-/tmp/sms-redis-cluster}"
NODE_TIMEOUT="${REDIS_CLUSTER_NODE_TIMEOUT:-2000}"
COUNT=6
PORTS=()
for i in $(seq 0 $((COUNT - 1))); do PORTS+=($((BASE + i))); done

log() { echo "[redis-cluster] $*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }
cli() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}"; }
alive() { [ "$(cli "$1" ping 2>/dev/null)" = "PONG" ]; }
# info_field PORT FIELD COMMAND…: one field of an INFO-style answer.
info_field() { local port=$1 field=$2; shift 2; cli "$port" "$@" 2>/dev/null | tr -d '\r' | sed -n "s/^$field:\(.*\)$/\1/p"; }
seeds() { local IFS=,; local out=(); for p in "${PORTS[@]:0:3}"; do out+=("127.0.0.1:$p"); done; echo "${out[*]}"; }

require_redis() {
  if have redis-server && have redis-cli; then return; fi
  if [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ] && have apt-get; then
    log "installing Debian's redis-server"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    echo "redis-server and redis-cli (Redis 7+) are required: apt-get install redis-server" >&2
    exit 1
  fi
}

start_node() {
  local port=$1
  mkdir -p "$DIR"
  # cluster-require-full-coverage no: while one primary fails over, the
  # queues whose slots the other primaries serve keep working.
  redis-server --port "$port" --bind 127.0.0.1 --protected-mode yes \
    --cluster-enabled yes --cluster-config-file "nodes-$port.conf" --cluster-node-timeout "$NODE_TIMEOUT" \
    --cluster-require-full-coverage no --dir "$DIR" \
    --save "" --appendonly no --daemonize yes \
    --pidfile "$DIR/redis-$port.pid" --logfile "$DIR/redis-$port.log"
}

wait_alive() {
  for _ in $(seq 1 100); do alive "$1" && return 0; sleep 0.1; done
  echo "redis-server on port $1 did not answer; see $DIR/redis-$1.log" >&2
  exit 1
}

# Every slot served, no node failed, every primary with a replica whose link is up.
healthy() {
  local nodes
  [ "$(info_field "$BASE" cluster_state cluster info)" = "ok" ] || return 1
  [ "$(info_field "$BASE" cluster_slots_ok cluster info)" = "16384" ] || return 1
  nodes=$(cli "$BASE" cluster nodes 2>/dev/null) || return 1
  # Third field: the node's flags (myself,master / slave / master,fail? …).
  [ "$(awk '$3 ~ /fail|handshake|noaddr/' <<<"$nodes" | wc -l)" = 0 ] || return 1
  [ "$(awk '$3 ~ /master/' <<<"$nodes" | wc -l)" -ge 3 ] || return 1
  [ "$(awk '$3 ~ /slave/' <<<"$nodes" | wc -l)" -ge 3 ] || return 1
  for p in "${PORTS[@]}"; do
    if [ "$(info_field "$p" role info replication)" = "slave" ]; then
      [ "$(info_field "$p" master_link_status info replication)" = "up" ] || return 1
    fi
  done
}

cmd_start() {
  require_redis
  for p in "${PORTS[@]}"; do
    if ! alive "$p"; then
      log "starting node $p"
      start_node "$p"
    fi
  done
  for p in "${PORTS[@]}"; do wait_alive "$p"; done
  local assigned=0
  for p in "${PORTS[@]}"; do
    local n
    n=$(info_field "$p" cluster_slots_assigned cluster info)
    [ "${n:-0}" -gt "$assigned" ] && assigned=$n
  done
  if [ "$assigned" = 0 ]; then
    log "creating the cluster: 3 primaries, 1 replica each, node timeout ${NODE_TIMEOUT} ms"
    local addrs=()
    for p in "${PORTS[@]}"; do addrs+=("127.0.0.1:$p"); done
    redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >"$DIR/create.log" 2>&1 || { cat "$DIR/create.log" >&2; exit 1; }
  fi
  for _ in $(seq 1 300); do
    if healthy; then
      log "cluster ok on ports ${PORTS[0]}–${PORTS[-1]} (dir $DIR)"
      seeds
      return 0
    fi
    sleep 0.2
  done
  echo "the cluster did not become healthy within 60 s:" >&2
  cli "$BASE" cluster nodes >&2 || true
  echo "(\`bash scripts/redis-cluster.sh reset\` and start again to rebuild it from scratch)" >&2
  exit 1
}

cmd_stop() {
  for p in "${PORTS[@]}"; do
    if alive "$p"; then
      cli "$p" shutdown nosave >/dev/null 2>&1 || true
      log "stopped node $p"
    fi
  done
}

cmd_status() {
  if ! alive "$BASE"; then echo "node $BASE is not running"; exit 1; fi
  cli "$BASE" cluster info | tr -d '\r' | grep -E '^cluster_(state|slots_ok|known_nodes|size):'
  cli "$BASE" cluster nodes | awk '{print $2, $3, $9}' | sort
  healthy && echo "healthy" || { echo "not healthy"; exit 1; }
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  nodes) seeds ;;
  reset)
    cmd_stop
    rm -f "$DIR"/nodes-*.conf "$DIR"/create.log "$DIR"/*.rdb "$DIR"/appendonly*
    log "node files removed; the next start creates a new cluster"
    ;;
  *)
    echo "usage: bash scripts/redis-cluster.sh start|stop|status|nodes|reset" >&2
    exit 2
    ;;
esac
