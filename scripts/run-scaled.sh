#!/usr/bin/env bash
# `make run-scaled`: the app on several workers, as it runs for many users on one machine. Redis holds the
# tabs' state and the answers in flight (Reflex's state manager and chatapp's job registry), PostgreSQL the
# history; both are Debian's servers, run here from .data/ on loopback ports of their own.
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=${SCALED_DATA:-$PWD/.data}
REDIS_PORT=${SCALED_REDIS_PORT:-6390}
PG_PORT=${SCALED_PG_PORT:-5490}
WORKERS=${GRANIAN_WORKERS:-$(nproc)}
mkdir -p "$DATA"

# Redis: nothing in it needs to outlive a restart (tabs reload their state from the database).
if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
		--daemonize yes --pidfile "$DATA/redis.pid" --logfile "$DATA/redis.log"
fi

# PostgreSQL: one cluster in .data/postgres, made on first use. initdb refuses root: as root it runs as
# the postgres system user.
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ ! -s "$DATA/postgres/PG_VERSION" ]; then
	mkdir -p "$DATA/postgres"
	[ "$(id -u)" = 0 ] && chown postgres "$DATA" "$DATA/postgres"
	as_pg "$PG_BIN/initdb" -D "$DATA/postgres" -U postgres --auth=trust --encoding=UTF8 >/dev/null
fi
if ! as_pg "$PG_BIN/pg_ctl" -D "$DATA/postgres" status >/dev/null 2>&1; then
	as_pg "$PG_BIN/pg_ctl" -D "$DATA/postgres" -l "$DATA/postgres.log" -w \
		-o "-c listen_addresses=127.0.0.1 -c port=$PG_PORT -c unix_socket_directories=$DATA/postgres" start
fi
as_pg "$PG_BIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -tc "SELECT 1 FROM pg_database WHERE datname='chatapp'" \
	| grep -q 1 || as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres chatapp

export CHATAPP_DB_URL=${CHATAPP_DB_URL:-postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/chatapp}
export REFLEX_REDIS_URL=${REFLEX_REDIS_URL:-redis://127.0.0.1:$REDIS_PORT/0}
export GRANIAN_WORKERS=$WORKERS
# Prometheus (CHATAPP_METRICS): each worker keeps its values in files here, so a scrape of any worker sees all.
# Its files are emptied at each start, as prometheus-client asks (only those: the directory may be yours).
export PROMETHEUS_MULTIPROC_DIR=${PROMETHEUS_MULTIPROC_DIR:-$DATA/prometheus}
mkdir -p "$PROMETHEUS_MULTIPROC_DIR" && rm -f "$PROMETHEUS_MULTIPROC_DIR"/*.db
.venv/bin/reflex db migrate
echo "chatapp on $WORKERS workers at http://localhost:${PORT:-3000} (Redis :$REDIS_PORT, PostgreSQL :$PG_PORT)"
exec .venv/bin/python scripts/reflex-respawning run --env prod --frontend-port "${PORT:-3000}" --backend-port "${PORT:-3000}"
