#!/usr/bin/env bash
# Makes Postgres and Redis reachable for DATABASE_URL / REDIS_URL:
#  1. already answering → nothing to do;
#  2. installed but stopped → start them;
#  3. absent → docker compose if a Docker engine answers, else Debian packages
#     when root on Debian/Ubuntu, else print exactly what to install;
# then create the role/database named in DATABASE_URL if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

DATABASE_URL="${DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/sms_dev}"
REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"

pg_host=$(node -e 'const u=new URL(process.argv[1]);console.log(u.hostname||"127.0.0.1")' "$DATABASE_URL")
pg_port=$(node -e 'const u=new URL(process.argv[1]);console.log(u.port||5432)' "$DATABASE_URL")
redis_host=$(node -e 'const u=new URL(process.argv[1]);console.log(u.hostname||"127.0.0.1")' "$REDIS_URL")
redis_port=$(node -e 'const u=new URL(process.argv[1]);console.log(u.port||6379)' "$REDIS_URL")

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
wait_port() { for _ in $(seq 1 60); do port_open "$1" "$2" && return 0; sleep 0.5; done; return 1; }
log() { echo "[services] $*"; }
have() { command -v "$1" >/dev/null 2>&1; }
is_root_debian() { [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ] && have apt-get; }
docker_ok() { have docker && docker info >/dev/null 2>&1; }

start_postgres() {
  if ls /etc/postgresql/*/main >/dev/null 2>&1 && have pg_ctlcluster; then
    log "starting installed PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
  elif docker_ok; then
    log "starting PostgreSQL with docker compose"; docker compose up -d postgres
  elif is_root_debian; then
    log "installing Debian's postgresql"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
  else
    echo "PostgreSQL 15+ is required on $pg_host:$pg_port. Install it (e.g. 'apt-get install postgresql' or 'docker compose up -d postgres') and re-run." >&2
    exit 1
  fi
}

start_redis() {
  if have redis-server; then
    log "starting installed Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no >/dev/null
  elif docker_ok; then
    log "starting Redis with docker compose"; docker compose up -d redis
  elif is_root_debian; then
    log "installing Debian's redis-server"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
    redis-server --daemonize yes --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no >/dev/null
  else
    echo "Redis 7+ is required on $redis_host:$redis_port. Install it (e.g. 'apt-get install redis-server' or 'docker compose up -d redis') and re-run." >&2
    exit 1
  fi
}

if ! port_open "$pg_host" "$pg_port"; then start_postgres; wait_port "$pg_host" "$pg_port" || { echo "PostgreSQL did not come up on $pg_host:$pg_port" >&2; exit 1; }; fi
if ! port_open "$redis_host" "$redis_port"; then start_redis; wait_port "$redis_host" "$redis_port" || { echo "Redis did not come up on $redis_host:$redis_port" >&2; exit 1; }; fi

# Role and database from DATABASE_URL (local trust/peer set-ups only; managed
# databases are created by their owners).
db_user=$(node -e 'const u=new URL(process.argv[1]);console.log(decodeURIComponent(u.username)||"postgres")' "$DATABASE_URL")
db_name=$(node -e 'const u=new URL(process.argv[1]);console.log(u.pathname.slice(1)||"postgres")' "$DATABASE_URL")
if have psql; then
  as_admin() {
    if psql -h "$pg_host" -p "$pg_port" -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1; then
      psql -h "$pg_host" -p "$pg_port" -U postgres -d postgres -v ON_ERROR_STOP=1 -tAc "$1"
    elif [ "$(id -u)" = 0 ] && have runuser; then
      runuser -u postgres -- psql -p "$pg_port" -d postgres -v ON_ERROR_STOP=1 -tAc "$1"
    else
      return 1
    fi
  }
  if [ "$(as_admin "select 1 from pg_roles where rolname='$db_user'" 2>/dev/null)" != "1" ]; then
    as_admin "create role \"$db_user\" login superuser" >/dev/null 2>&1 && log "created role $db_user" || true
  fi
  if [ "$(as_admin "select 1 from pg_database where datname='$db_name'" 2>/dev/null)" != "1" ]; then
    as_admin "create database \"$db_name\" owner \"$db_user\"" >/dev/null 2>&1 && log "created database $db_name" || true
  fi
fi
log "PostgreSQL on $pg_host:$pg_port and Redis on $redis_host:$redis_port are up"
