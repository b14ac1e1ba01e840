#!/usr/bin/env bash
# Starts api + worker on free loopback ports and a real Prometheus (Debian's
# `prometheus`) scraping both for a few seconds, then asserts through
# Prometheus' HTTP API that both targets are up and key series exist.
# Stops everything it started. Exit 0 = pass.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v prometheus >/dev/null || { echo "prometheus is not installed (apt-get install prometheus)" >&2; exit 1; }

# Three ports held open together, so the kernel cannot hand out one twice (two
# separate listen(0) calls once gave api and worker the same port: the worker
# answered for both and the api's series were missing).
read -r API_PORT WORKER_PORT PROM_PORT < <(node -e '
const net = require("net");
const servers = [0, 1, 2].map(() => net.createServer());
Promise.all(servers.map((s) => new Promise((r) => s.listen(0, "127.0.0.1", r)))).then(() => {
  console.log(servers.map((s) => s.address().port).join(" "));
  servers.forEach((s) => s.close());
});')
WORK=$(mktemp -d)
PIDS=()
# Each process runs in its own session (setsid), so killing the group also
# ends the node child that tsx spawns; nothing outlives the check.
cleanup() {
  for pid in "${PIDS[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; done
  sleep 0.5
  for pid in "${PIDS[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

export PORT=$API_PORT WORKER_METRICS_PORT=$WORKER_PORT LOG_LEVEL=warn
# Scrapes carry the bearer token, as production requires (METRICS_TOKEN).
METRICS_TOKEN=$(node -e 'console.log(require("crypto").randomBytes(32).toString("hex"))')
export METRICS_TOKEN
export QUEUE_PREFIX="{obs-$$}"
setsid node node_modules/tsx/dist/cli.mjs apps/api/src/server.ts >"$WORK/api.log" 2>&1 & PIDS+=($!)
setsid node node_modules/tsx/dist/cli.mjs apps/worker/src/main.ts >"$WORK/worker.log" 2>&1 & PIDS+=($!)

wait_http() { for _ in $(seq 1 100); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done; echo "not answering: $1" >&2; cat "$WORK"/*.log >&2; return 1; }
wait_http "http://127.0.0.1:$API_PORT/health"
wait_http "http://127.0.0.1:$WORKER_PORT/health"
curl -fsS "http://127.0.0.1:$API_PORT/health/full" >/dev/null || true

cat >"$WORK/prometheus.yml" <<YAML
global: { scrape_interval: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: api
    authorization: { credentials: '$METRICS_TOKEN' }
    static_configs: [{ targets: ['127.0.0.1:$API_PORT'] }]
  - job_name: worker
    authorization: { credentials: '$METRICS_TOKEN' }
    static_configs: [{ targets: ['127.0.0.1:$WORKER_PORT'] }]
YAML
promtool check config "$WORK/prometheus.yml" >/dev/null
setsid prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/data" \
  --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn >"$WORK/prom.log" 2>&1 & PIDS+=($!)
wait_http "http://127.0.0.1:$PROM_PORT/-/ready"

query() { curl -fsS --get "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode "query=$1"; }
fail=0
for _ in $(seq 1 40); do
  ups=$(query 'sum(up{job=~"api|worker"})' | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s).data.result;console.log(r.length?r[0].value[1]:0)})')
  [ "$ups" = "2" ] && break
  sleep 0.5
done
echo "targets up: $ups/2"
[ "$ups" = "2" ] || fail=1

for series in 'http_requests_total{job="api"}' 'process_cpu_seconds_total{job="worker"}' 'queue_jobs{job="worker",queue="sends"}' 'queue_jobs{job="api",queue="campaigns"}' 'nodejs_heap_size_used_bytes{job="api"}'; do
  n=$(query "count($series)" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s).data.result;console.log(r.length?r[0].value[1]:0)})')
  if [ "${n:-0}" -ge 1 ] 2>/dev/null; then echo "ok      $series ($n series)"; else echo "MISSING $series" ; fail=1; fi
done
# Without the token the same endpoints refuse the scrape.
for port in "$API_PORT" "$WORKER_PORT"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/metrics")
  if [ "$code" = "401" ]; then echo "ok      /metrics on $port refuses a scrape without the token"; else echo "OPEN    /metrics on $port answered $code without the token"; fail=1; fi
done
[ $fail = 0 ] && echo "observability check: passed" || { echo "observability check: FAILED" >&2; tail -n 20 "$WORK"/*.log >&2; }
exit $fail
