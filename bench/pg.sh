#!/usr/bin/env bash
# Tracking benchmark on PostgreSQL: Lode vs `mlflow server`, one after the
# other, each on its own database of the SAME throwaway PostgreSQL server
# (bench/pgserver: initdb + postgres in a temporary directory on a free
# 127.0.0.1 port, as postgres/pgtest does for the tests). All traffic on
# 127.0.0.1. Measures log-batch throughput and search_runs latency over
# 100,000 runs with bench/trackingbench, and rewrites the "Tracking on
# PostgreSQL" results in docs/benchmarks.md. About 9 minutes on 2 cores.
#
#   bench/pg.sh                       # both servers, 100,000 runs
#   bench/pg.sh -runs 20000           # extra flags go to bench/trackingbench
#
# Lode fills its search experiment through its REST API (runs/create +
# runs/log-batch, 16 clients). MLflow's would take about an hour that way
# (about 30 runs/s on SQLite), so bench/pgserver seed-mlflow writes it in SQL: run 0
# through MLflow's REST API, then copies of its rows in MLflow's own tables
# with trackingbench's names, metrics and params. Both databases are
# ANALYZEd before the searches.
#
# Environment: MLFLOW (mlflow executable with psycopg2, default
# .venv/mlflow3/bin/mlflow, which `make venvs` builds from
# tests/python/requirements-mlflow3.txt), LODE_BIN (an
# already built lode; default: build bin/lode here), BENCH_DOC (Markdown
# file to update, default docs/benchmarks.md; empty: none), LODE_PG_BIN
# (PostgreSQL's bin directory; default /usr/lib/postgresql/<newest>/bin).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

mlflow=${MLFLOW:-$root/.venv/mlflow3/bin/mlflow}
doc=${BENCH_DOC-docs/benchmarks.md}

if [[ ! -x $mlflow ]]; then
	echo "bench-pg: no mlflow at $mlflow" >&2
	echo "bench-pg: make venvs (or MLFLOW=<an mlflow executable with psycopg2>)" >&2
	exit 2
fi
if ! "$(dirname "$mlflow")/python" -c 'import psycopg2' 2>/dev/null; then
	echo "bench-pg: $(dirname "$mlflow")/python cannot import psycopg2 (MLflow's PostgreSQL driver): make venvs" >&2
	exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/lode-bench-pg.XXXXXX")
tb=
pgs=
stopped() { # stopped PID SECONDS: TERM, wait, KILL
	local pid=$1
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq "$2"); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 1
	done
	kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
	local rc=$?
	# The load generator stops its servers itself on SIGTERM.
	[[ -n $tb ]] && stopped "$tb" 15
	# Process groups of the servers trackingbench started, should it have
	# died without stopping them (see bench/run.sh).
	if [[ -f $work/pgids ]]; then
		local pg pid sig
		for sig in TERM KILL; do
			while read -r pg; do
				for pid in $(ps -eo pid=,pgid= | awk -v g="$pg" '$2 == g {print $1}'); do
					if [[ $(readlink "/proc/$pid/cwd" 2>/dev/null) == "$work"* ]]; then
						kill "-$sig" -- "-$pg" 2>/dev/null || true
						break
					fi
				done
			done <"$work/pgids"
			[[ $sig == TERM ]] && sleep 2
		done
	fi
	# pgserver stops PostgreSQL and removes its directory on SIGTERM.
	[[ -n $pgs ]] && stopped "$pgs" 30
	if [[ $rc -ne 0 && -d $work ]]; then
		for log in "$work"/*/server.log "$work"/pgserver.log; do
			[[ -f $log ]] || continue
			echo "--- tail of $log" >&2
			tail -n 20 "$log" >&2
		done
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

servers=lode,mlflow
for a in "$@"; do
	case $a in -servers=*) servers=${a#-servers=} ;; esac
done
prev=
for a in "$@"; do
	[[ $prev == -servers ]] && servers=$a
	prev=$a
done

lode=${LODE_BIN:-}
if [[ -z $lode && $servers == *lode* ]]; then
	lode=bin/lode
	version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
	echo "bench-pg: go build -o bin/lode ./cmd/lode" >&2
	go build -ldflags "-X main.version=$version" -o "$lode" ./cmd/lode
fi
lode=${lode:-bin/lode}
[[ $lode == /* ]] || lode=$root/$lode
go build -o "$work/trackingbench" ./bench/trackingbench
go build -o "$work/pgserver" ./bench/pgserver

"$work/pgserver" serve -dbs lode,mlflow -env "$work/pg.env" 2>"$work/pgserver.log" &
pgs=$!
for _ in $(seq 600); do
	[[ -f $work/pg.env ]] && break
	kill -0 "$pgs" 2>/dev/null || { echo "bench-pg: pgserver failed:" >&2; cat "$work/pgserver.log" >&2; exit 1; }
	sleep 0.1
done
[[ -f $work/pg.env ]] || { echo "bench-pg: PostgreSQL did not start in 60 s" >&2; exit 1; }
# shellcheck disable=SC1091
source "$work/pg.env" # PG_VERSION, PG_DSN_LODE, PG_DSN_MLFLOW
cat "$work/pgserver.log" >&2

# SQLAlchemy 2.1 maps postgresql:// to psycopg 3; MLflow's documented
# driver is psycopg2, named explicitly.
mlflow_store=${PG_DSN_MLFLOW/#postgresql:/postgresql+psycopg2:}

# MLflow with one uvicorn worker and without its job runner (huey).
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false
export PGSERVER="$work/pgserver"
seed='"$PGSERVER" seed-mlflow -dsn "$PG_DSN_MLFLOW" -base "$BENCH_BASE_URL" -experiment "$BENCH_EXPERIMENT_ID" -runs "$BENCH_RUNS"'
analyze='case $BENCH_SERVER in lode) d=$PG_DSN_LODE ;; *) d=$PG_DSN_MLFLOW ;; esac; "$PGSERVER" analyze -dsn "$d"'

# In the background so that a signal to this script reaches the trap at once.
"$work/trackingbench" -lode "$lode" -mlflow "$mlflow" -workdir "$work" \
	-lode-store "$PG_DSN_LODE" -mlflow-store "$mlflow_store" -mlflow-workers 1 \
	-mlflow-seed "$seed" -after-populate "$analyze" \
	-runs 100000 -populate-timeout 12m -search-requests 200 -search-time 90s \
	-section pg -store-label "PostgreSQL $PG_VERSION (one server, a database each)" \
	-command '`make bench-pg` (runs `bench/pg.sh`)' \
	${doc:+-doc "$doc"} "$@" &
tb=$!
wait "$tb"
