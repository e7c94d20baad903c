#!/usr/bin/env bash
# Import at scale: `lode import mlflow` from an MLflow database on
# PostgreSQL holding N runs into Lode on PostgreSQL, once with --workers 1
# and once with --workers W, then once more with nothing new. One
# throwaway PostgreSQL server (bench/pgserver, as in bench/pg.sh); MLflow's
# schema is made by `mlflow server` itself, and its runs are seeded in SQL
# as bench/pg.sh seeds them (3 params, 3 metrics and a tag each). Prints
# wall and CPU time and peak RSS of each import, then the row counts of
# both Lode databases, which must agree.
#
#   bench/import.sh            # N=20000 W=4 (about 5 minutes on 2 cores)
#   N=100000 bench/import.sh
#
# Environment: MLFLOW (default .venv/mlflow3/bin/mlflow, with psycopg2).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
N=${N:-20000}
W=${W:-4}
mlflow=${MLFLOW:-$root/.venv/mlflow3/bin/mlflow}
[[ -x $mlflow ]] || { echo "bench-import: no mlflow at $mlflow (make venvs)" >&2; exit 2; }
for tool in /usr/bin/time curl psql; do
	command -v "$tool" >/dev/null || { echo "bench-import: needs $tool (Debian packages time, curl, postgresql-client)" >&2; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/lode-bench-import.XXXXXX")
pgs=
ml=
cleanup() {
	[[ -n $ml ]] && kill -TERM -- "-$ml" 2>/dev/null
	[[ -n $pgs ]] && kill -TERM "$pgs" 2>/dev/null && wait "$pgs" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

go build -o "$work/pgserver" ./bench/pgserver
go build -o "$work/lode" ./cmd/lode
mkdir -p "$work/mlart"
"$work/pgserver" serve -dbs lode1,lodew,mlflow -env "$work/pg.env" 2>"$work/pgserver.log" &
pgs=$!
for _ in $(seq 600); do
	[[ -f $work/pg.env ]] && break
	kill -0 "$pgs" 2>/dev/null || { cat "$work/pgserver.log" >&2; exit 1; }
	sleep 0.1
done
# shellcheck disable=SC1091
source "$work/pg.env" # PG_DSN_LODE1, PG_DSN_LODEW, PG_DSN_MLFLOW
mlstore=${PG_DSN_MLFLOW/#postgresql:/postgresql+psycopg2:}

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false setsid "$mlflow" server --backend-store-uri "$mlstore" \
	--artifacts-destination "$work/mlart" --host 127.0.0.1 --port "$port" --workers 1 >"$work/mlflow.log" 2>&1 &
ml=$!
base=http://127.0.0.1:$port
for _ in $(seq 240); do
	curl -sf "$base/health" >/dev/null && break
	sleep 0.5
done
exp=$(curl -sf -X POST -H 'Content-Type: application/json' -d '{"name":"bench-search"}' "$base/api/2.0/mlflow/experiments/create" |
	python3 -c 'import json, sys; print(json.load(sys.stdin)["experiment_id"])')
"$work/pgserver" seed-mlflow -dsn "$PG_DSN_MLFLOW" -base "$base" -experiment "$exp" -runs "$N"
kill -TERM -- "-$ml"
wait "$ml" 2>/dev/null || true
ml=

imp() { # imp DSN WORKERS
	/usr/bin/time -f "  => %e s wall, %U s user, %S s sys, max RSS %M KiB" \
		"$work/lode" import mlflow --from "$mlstore" --artifacts "$work/mlart" \
		--backend-store-uri "$1" --artifacts-destination "$work/art-$2" --workers "$2" 2>&1 |
		tr '\r' '\n' | grep -E '^  runs |^  written|=>'
}
echo "== $N runs, --workers 1"
imp "$PG_DSN_LODE1" 1
echo "== $N runs, --workers $W"
imp "$PG_DSN_LODEW" "$W"
echo "== again, nothing new, --workers $W"
imp "$PG_DSN_LODEW" "$W"
echo "== runs, params, latest metrics, tags in each Lode database"
for d in "$PG_DSN_LODE1" "$PG_DSN_LODEW"; do
	psql "$d" -Atc "SELECT count(*), (SELECT count(*) FROM params), (SELECT count(*) FROM latest_metrics), (SELECT count(*) FROM tags) FROM runs"
done
