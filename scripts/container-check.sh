#!/usr/bin/env bash
# Proves the Dockerfile's image: builds it from a temporary copy of the
# sources, then, against the Postgres and Redis of this machine (host
# network), runs the migrations, the api and the worker with a generated
# production environment and checks that each process answers /health, that
# the engine reports the HEALTHCHECK healthy, that the process is not root,
# and that a stop (SIGTERM) ends it with exit 0 within the stop timeout.
# Exit 0 = pass, or skipped when no container engine is running here (not
# part of .ci/run: CI machines have none).
#
#   bash scripts/container-check.sh
#
# Environment (all optional):
#   CONTAINER_ENGINE            docker or podman (default: the first that answers)
#   CONTAINER_CHECK_REF         build this commit (git archive) instead of the working tree
#   CONTAINER_CHECK_IMAGE       check this image as it is, without building
#   CONTAINER_CHECK_NODE_IMAGE  the Dockerfile's NODE_IMAGE (default node:20-bookworm-slim)
#   PGHOST PGPORT PGUSER        where the scratch database is made (127.0.0.1, 5432, postgres)
#   REDIS_URL                   default redis://127.0.0.1:6379
set -euo pipefail
cd "$(dirname "$0")/.."

STOP_TIMEOUT=20 # as the Dockerfile and docker-compose.yml say: 10 s of drain + 5 s to close the pools, and margin
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}

engine=${CONTAINER_ENGINE:-}
if [ -z "$engine" ]; then
  for e in docker podman; do
    if command -v "$e" >/dev/null 2>&1 && "$e" info >/dev/null 2>&1; then engine=$e; break; fi
  done
fi
if [ -z "$engine" ] || ! "$engine" info >/dev/null 2>&1; then
  echo "container check skipped: no container engine answers here (docker daemon or podman)"
  exit 0
fi

id=$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')
WORK=$(mktemp -d)
DB=sms_ctr_$id
PREFIX="{ctr-$id}"
CONTAINERS=()
failures=0
ok() { echo "ok   $*"; }
fail() { echo "FAIL $*" >&2; failures=$((failures + 1)); }

cleanup() {
  for c in "${CONTAINERS[@]}"; do "$engine" rm -f "$c" >/dev/null 2>&1 || true; done
  if command -v dropdb >/dev/null 2>&1; then dropdb --if-exists "$DB" 2>/dev/null || echo "warning: could not drop database $DB"; fi
  if command -v redis-cli >/dev/null 2>&1; then
    # BullMQ's keys are {ctr-<id>:<queue>}:…, one hash tag per queue.
    redis-cli -u "$REDIS_URL" --scan --pattern "{ctr-$id[:}]*" | xargs -r -n 500 redis-cli -u "$REDIS_URL" del >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# Podman keeps HEALTHCHECK only in the docker image format, and runs checks
# from systemd timers, which a bare host may lack: the loop below runs them.
build_flags=()
[ "$engine" = podman ] && build_flags+=(--format docker)

image=${CONTAINER_CHECK_IMAGE:-}
if [ -z "$image" ]; then
  image=sms-backend:container-check
  mkdir "$WORK/src"
  # A copy, so that nothing is built or written in the working tree; the
  # build context is then whatever .dockerignore lets through.
  if [ -n "${CONTAINER_CHECK_REF:-}" ]; then
    git archive --format=tar "$CONTAINER_CHECK_REF" | tar -x -C "$WORK/src"
  else
    git ls-files -z -co --exclude-standard | while IFS= read -r -d '' f; do if [ -e "$f" ]; then printf '%s\0' "$f"; fi; done |
      tar --null -T - -cf - | tar -xf - -C "$WORK/src"
  fi
  started=$(date +%s)
  if ! "$engine" build "${build_flags[@]}" --network host --build-arg "NODE_IMAGE=${CONTAINER_CHECK_NODE_IMAGE:-node:20-bookworm-slim}" \
    -t "$image" "$WORK/src" >"$WORK/build.log" 2>&1; then
    tail -40 "$WORK/build.log" >&2
    echo "FAIL image build ($engine build, log above)" >&2
    exit 1
  fi
  ok "built $image in $(($(date +%s) - started)) s"
fi
size=$("$engine" image inspect -f '{{.Size}}' "$image")
ok "image $image: $((size / 1000000)) MB"

# Production secrets, fresh for this run (the shapes of scripts/lib/production-env.ts).
hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 20000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
API_PORT=$(free_port)
WORKER_PORT=$(free_port)
LINKS_PORT=$(free_port)
METRICS_TOKEN=$(hex 32)
umask 077
cat >"$WORK/env" <<EOF
NODE_ENV=production
DATABASE_URL=postgresql://$PGUSER@$PGHOST:$PGPORT/$DB
REDIS_URL=$REDIS_URL
QUEUE_PREFIX=$PREFIX
LOG_LEVEL=warn
PUBLIC_BASE_URL=https://sms.example.com
SMS_PROVIDER=mitto
SMS_PROVIDER_URL=http://127.0.0.1:9
SHOPIFY_API_KEY=$(hex 16)
SHOPIFY_API_SECRET=shpss_$(hex 16)
STRIPE_SECRET_KEY=sk_live_$(hex 24)
STRIPE_WEBHOOK_SECRET=whsec_$(hex 16)
SMS_WEBHOOK_SECRET=$(hex 32)
SMS_PROVIDER_API_KEY=$(hex 24)
PHONE_HASH_KEY=$(hex 32)
LINK_SIGNING_KEY=$(hex 32)
METRICS_TOKEN=$METRICS_TOKEN
INTERNAL_SIGNING_SECRET=$(hex 32)
SHOP_TOKEN_ENCRYPTION_KEY=$(head -c 32 /dev/urandom | base64)
PORT=$API_PORT
WORKER_METRICS_PORT=$WORKER_PORT
LINKS_PORT=$LINKS_PORT
EOF
# Every port the HEALTHCHECK tries is this run's own (a host-network
# container would otherwise count another process's /health on 3000-3002).

run=("$engine" run --network host --env-file "$WORK/env")

# Migrations: the documented command, into a scratch database it creates.
if out=$("${run[@]}" --rm "$image" node dist/scripts/migrate.js 2>&1); then
  ok "$(echo "$out" | tail -1)"
else
  echo "$out" >&2
  fail "migrations exited non-zero"
  exit 1
fi

http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$@" || true; }

# $1 name, $2 port, $3... command (empty: the image's CMD, the api)
check_process() {
  local name=$1 port=$2
  shift 2
  local c=ctr-$name-$id
  CONTAINERS+=("$c")
  "${run[@]}" -d --name "$c" --stop-timeout "$STOP_TIMEOUT" "$image" "$@" >/dev/null
  local deadline=$((SECONDS + 60)) code=
  until [ "$(http_code "http://127.0.0.1:$port/health")" = 200 ]; do
    if [ "$("$engine" inspect -f '{{.State.Running}}' "$c")" != true ] || [ $SECONDS -ge $deadline ]; then
      "$engine" logs --tail 30 "$c" >&2 || true
      fail "$name: /health did not answer 200 within 60 s"
      return
    fi
    sleep 1
  done
  ok "$name /health: $(curl -s --max-time 3 "http://127.0.0.1:$port/health")"
  code=$(http_code "http://127.0.0.1:$port/metrics")
  local with
  with=$(http_code -H "authorization: Bearer $METRICS_TOKEN" "http://127.0.0.1:$port/metrics")
  if [ "$code" = 401 ] && [ "$with" = 200 ]; then ok "$name /metrics: 401 without the token, 200 with it"; else fail "$name /metrics: $code without the token, $with with it (want 401, 200)"; fi
  if [ "$name" = api ]; then
    code=$(http_code "http://127.0.0.1:$port/health/full")
    if [ "$code" = 200 ]; then ok "api /health/full: 200 (database, Redis, migrations)"; else fail "api /health/full: $code"; fi
  fi

  # The engine's own view: the Dockerfile's HEALTHCHECK (10 s interval).
  local health=starting
  deadline=$((SECONDS + 90))
  while [ "$health" != healthy ] && [ $SECONDS -lt $deadline ]; do
    [ "$engine" = podman ] && podman healthcheck run "$c" >/dev/null 2>&1 || true
    sleep 2
    health=$("$engine" inspect -f '{{.State.Health.Status}}' "$c" 2>/dev/null || echo unknown)
  done
  if [ "$health" = healthy ]; then ok "$name HEALTHCHECK: healthy"; else fail "$name HEALTHCHECK: $health after 90 s"; fi

  local who
  who=$("$engine" exec "$c" id)
  if [[ "$who" == uid=0\(* ]]; then fail "$name runs as root: $who"; else ok "$name runs as: $who"; fi

  local t0 elapsed exit_code
  t0=$(date +%s%N)
  "$engine" stop -t "$STOP_TIMEOUT" "$c" >/dev/null
  elapsed=$((($(date +%s%N) - t0) / 1000000))
  exit_code=$("$engine" inspect -f '{{.State.ExitCode}}' "$c")
  if [ "$exit_code" = 0 ] && [ "$elapsed" -lt $((STOP_TIMEOUT * 1000)) ]; then
    ok "$name stop (SIGTERM): exit 0 after $elapsed ms (stop timeout ${STOP_TIMEOUT} s)"
  else
    "$engine" logs --tail 30 "$c" >&2 || true
    fail "$name stop (SIGTERM): exit $exit_code after $elapsed ms (want 0 within ${STOP_TIMEOUT} s)"
  fi
}

check_process api "$API_PORT"
check_process worker "$WORKER_PORT" node --max-old-space-size=192 --max-semi-space-size=32 dist/apps/worker/src/main.js

if [ "$failures" -eq 0 ]; then echo "container check: passed ($engine, $image)"; else echo "container check: FAILED ($failures)"; exit 1; fi
