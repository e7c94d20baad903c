#!/usr/bin/env bash
# Tracking benchmark: Lode vs `mlflow server`, one after the other on this
# machine, all traffic on 127.0.0.1. Called by `make bench`; callable from
# anywhere. Takes about 11 minutes on 2 cores, 10 of them MLflow's.
# See docs/benchmarks.md.
#
#   bench/run.sh                      # both servers, updates docs/benchmarks.md
#   bench/run.sh -servers mlflow      # extra flags go to bench/trackingbench
#   bench/run.sh -auth                # what authentication costs (make bench-auth):
#                                     # Lode without auth, with Basic, with a token,
#                                     # and `mlflow server --app-name basic-auth`;
#                                     # about 7 minutes
#
# Environment: MLFLOW (mlflow executable, default .venv/mlflow3/bin/mlflow),
# LODE_BIN (an already built lode binary; default: build bin/lode here),
# BENCH_DOC (Markdown file to update, default docs/benchmarks.md; empty: none).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

mlflow=${MLFLOW:-$root/.venv/mlflow3/bin/mlflow}
doc=${BENCH_DOC-docs/benchmarks.md}

if [[ ! -x $mlflow ]]; then
	echo "bench: no mlflow at $mlflow" >&2
	echo "bench: make venvs (or: python3 -m venv .venv/mlflow3 && .venv/mlflow3/bin/pip install -r tests/python/requirements-mlflow3.txt)" >&2
	exit 2
fi

for a in "$@"; do
	if [[ $a == -auth || $a == --auth ]] && ! "$(dirname "$mlflow")/python" -c 'import flask_wtf' 2>/dev/null; then
		echo "bench: $(dirname "$mlflow")/python cannot import flask_wtf, which mlflow's basic-auth app needs: make venvs" >&2
		exit 2
	fi
done

work=$(mktemp -d "${TMPDIR:-/tmp}/lode-bench.XXXXXX")
tb=
cleanup() {
	local rc=$?
	# The load generator stops its servers itself on SIGTERM.
	if [[ -n $tb ]] && kill -0 "$tb" 2>/dev/null; then
		kill -TERM "$tb" 2>/dev/null || true
		for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15; do
			kill -0 "$tb" 2>/dev/null || break
			sleep 1
		done
		kill -KILL "$tb" 2>/dev/null || true
	fi
	# Process groups of the servers trackingbench started, should it have
	# died without stopping them: only groups that still hold a process
	# running in this run's scratch directory (the servers' working dir).
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
	if [[ $rc -ne 0 && -d $work ]]; then
		for log in "$work"/*/server.log; do
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
	echo "bench: go build -o bin/lode ./cmd/lode" >&2
	go build -ldflags "-X main.version=$version" -o "$lode" ./cmd/lode
fi
lode=${lode:-bin/lode}
[[ $lode == /* ]] || lode=$root/$lode
go build -o "$work/trackingbench" ./bench/trackingbench

# In the background so that a signal to this script reaches the trap at once.
"$work/trackingbench" -lode "$lode" -mlflow "$mlflow" -workdir "$work" \
	${doc:+-doc "$doc"} "$@" &
tb=$!
wait "$tb"
