#!/usr/bin/env bash
# Serving benchmark: the same scikit-learn model (an ElasticNet on synthetic
# wine data, bench/servingmodel.py) served by Lode (ONNX Runtime in-process,
# and pyfunc Python workers), MLServer and `mlflow models serve`, plus a Go
# net/http handler that answers a constant (the ceiling). One server at a
# time on a free 127.0.0.1 port, each loaded by bench/servingbench at the
# same fixed concurrency; it prints a Markdown table. About 3 minutes on
# 2 cores, more the first time (the MLServer virtualenv). The load generator
# runs on the same cores as the servers.
#
#   bench/serving.sh                     # all targets
#   bench/serving.sh -duration 5s        # extra flags go to `servingbench run`
#
# Environment:
#   LODE_BIN          an already built lode (default: go build bin/lode here)
#   MLFLOW_PYTHON     interpreter with mlflow, scikit-learn, skl2onnx (default
#                     .venv/mlflow3/bin/python): trains the model, runs
#                     `mlflow models serve` and Lode's Python workers
#   PYTHON            base interpreter of the MLServer virtualenv (default
#                     python3; MLServer 1.7.1 needs Python 3.9 to 3.12)
#   MLSERVER_VENV     MLServer's virtualenv, built from
#                     bench/requirements-mlserver.txt (default .venv/mlserver)
#   MLSERVER_WORKERS  MLServer's parallel_workers (default 2, as many as Lode's
#                     Python workers and CPUs here; MLServer's own default is 1)
#   SERVING_TARGETS   which to measure, in order (default: ceiling lode-onnx
#                     lode-pyfunc mlserver mlflow)
#   SERVING_OUT       also write the Markdown table to this file
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

py=${MLFLOW_PYTHON:-.venv/mlflow3/bin/python}
if [[ $py == */* && $py != /* ]]; then py=$root/$py; fi
base_python=${PYTHON:-python3}
msvenv=${MLSERVER_VENV:-.venv/mlserver}
[[ $msvenv == /* ]] || msvenv=$root/$msvenv
ms_workers=${MLSERVER_WORKERS:-2}
targets=${SERVING_TARGETS:-ceiling lode-onnx lode-pyfunc mlserver mlflow}
out=${SERVING_OUT:-}
if [[ -n $out && $out != /* ]]; then out=$root/$out; fi

if [[ ! -x $py ]]; then
	echo "serving bench: no Python at $py" >&2
	echo "serving bench: make venvs (or: python3 -m venv .venv/mlflow3 && .venv/mlflow3/bin/pip install -r tests/python/requirements-mlflow3.txt)" >&2
	exit 2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/lode-serving-bench.XXXXXX")
# Every server gets this in its environment, and so do its children: the
# cleanup kills whatever still carries it.
token=servingbench-$$-$RANDOM$RANDOM
pgid=
child=

# stop_server ends the current server's process group: SIGTERM, then SIGKILL.
stop_server() {
	[[ -n $pgid ]] || return 0
	kill -TERM -- "-$pgid" 2>/dev/null || true
	for _ in $(seq 1 100); do
		kill -0 -- "-$pgid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL -- "-$pgid" 2>/dev/null || true
	pgid=
}

# sweep kills any process left with this run's token, in whatever group.
sweep() {
	local env pid
	for env in /proc/[0-9]*/environ; do
		pid=${env#/proc/}
		pid=${pid%/environ}
		if grep -qxzF "SERVINGBENCH_RUN=$token" "$env" 2>/dev/null; then
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
}

# bg runs a command in the background and waits for it, so that a signal
# reaches the traps at once; the cleanup ends the command too.
bg() {
	"$@" &
	child=$!
	local rc=0
	wait "$child" || rc=$?
	child=
	return "$rc"
}

cleanup() {
	local rc=$?
	if [[ -n $child ]]; then
		kill -TERM "$child" 2>/dev/null || true
		wait "$child" 2>/dev/null || true
	fi
	stop_server
	sweep
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# What's missing: lode, ONNX Runtime's library, the MLServer virtualenv.
lode=${LODE_BIN:-}
if [[ -z $lode ]]; then
	lode=bin/lode
	version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
	echo "serving bench: go build -o bin/lode ./cmd/lode" >&2
	go build -ldflags "-X main.version=$version" -o "$lode" ./cmd/lode
fi
[[ $lode == /* ]] || lode=$root/$lode
if [[ -z ${LODE_ONNXRUNTIME_LIB:-} ]]; then
	[[ -f lib/onnxruntime/libonnxruntime.so.1 ]] || bash scripts/fetch-onnxruntime.sh lib/onnxruntime
	export LODE_ONNXRUNTIME_LIB=$root/lib/onnxruntime/libonnxruntime.so.1
fi
if [[ " $targets " == *" mlserver "* ]] &&
	[[ ! -f $msvenv/.installed || bench/requirements-mlserver.txt -nt $msvenv/.installed ]]; then
	echo "serving bench: building $msvenv from bench/requirements-mlserver.txt" >&2
	rm -rf "$msvenv"
	"$base_python" -m venv "$msvenv"
	"$msvenv/bin/pip" install --quiet --disable-pip-version-check -r bench/requirements-mlserver.txt
	touch "$msvenv/.installed"
fi

sb=$work/servingbench
go build -o "$sb" ./bench/servingbench
echo "serving bench: training the model" >&2
MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true "$py" bench/servingmodel.py "$work/models" >&2
models=$work/models
results=$work/results.jsonl

# start_server NAME CMD... runs CMD in its own process group (pgid), in
# $work/NAME, logging to $work/NAME/server.log.
start_server() {
	local name=$1
	shift
	mkdir -p "$work/$name"
	(cd "$work/$name" && exec env SERVINGBENCH_RUN="$token" MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true \
		setsid "$@" >"$work/$name/server.log" 2>&1 </dev/null) &
	pgid=$!
}

# measure NAME READY_PATH INFER_PATH PROTO SETUP [servingbench flags]: waits
# for the server started last, then loads it.
measure() {
	local name=$1 ready=$2 path=$3 proto=$4 setup=$5
	shift 5
	local t0=$SECONDS
	if ! bg "$sb" wait -url "http://127.0.0.1:$port$ready" -pid "$pgid" -timeout 180s; then
		echo "--- $name: tail of its log" >&2
		tail -n 30 "$work/$name/server.log" >&2
		return 1
	fi
	echo "serving bench: $name ready in $((SECONDS - t0)) s" >&2
	bg "$sb" run -name "$name" -setup "$setup" -url "http://127.0.0.1:$port$path" -proto "$proto" \
		-request "$models/request.json" -results "$results" "$@"
}

# run_target NAME measures one target, extra arguments going to servingbench.
run_target() {
	local name=$1
	shift
	port=$("$sb" freeport) || return 1
	case $name in
	ceiling)
		bg "$sb" ceiling -setup "in-process in the load generator" -results "$results" "$@"
		;;
	lode-onnx)
		start_server "$name" "$lode" serve -m "$models/onnx" -p "$port" --access-log=false
		measure "$name" /ping /invocations mlflow \
			"\`lode serve\`, ONNX Runtime $(cat lib/onnxruntime/VERSION 2>/dev/null), $(nproc) concurrent runs (default: CPUs)" \
			-open-loop 0.5 -server-metrics "http://127.0.0.1:$port/metrics" "$@"
		;;
	lode-pyfunc)
		start_server "$name" "$lode" serve -m "$models/sklearn" -p "$port" --access-log=false \
			--env-manager local --python "$py"
		measure "$name" /ping /invocations mlflow \
			"\`lode serve --env-manager local\`, 2 Python workers (default)" "$@"
		;;
	mlflow)
		# mlflow runs uvicorn from PATH: its virtualenv's.
		start_server "$name" env PATH="$(dirname "$py"):$PATH" "$(dirname "$py")/mlflow" models serve \
			-m "$models/sklearn" --env-manager local -h 127.0.0.1 -p "$port"
		measure "$name" /ping /invocations mlflow \
			"mlflow $("$py" -c 'import mlflow; print(mlflow.__version__)' 2>/dev/null), uvicorn, 1 worker (default), access log on (default)" "$@"
		;;
	mlserver)
		local repo=$work/mlserver/repo gport mport
		gport=$("$sb" freeport) && mport=$("$sb" freeport) || return 1
		mkdir -p "$repo/wine"
		# Defaults but for the ports and debug (whose access log is off).
		cat >"$repo/settings.json" <<-EOF
			{"host": "127.0.0.1", "http_port": $port, "grpc_port": $gport, "metrics_port": $mport,
			 "parallel_workers": $ms_workers, "debug": false}
		EOF
		cat >"$repo/wine/model-settings.json" <<-EOF
			{"name": "wine", "implementation": "mlserver_mlflow.MLflowRuntime",
			 "parameters": {"uri": "$models/sklearn"}}
		EOF
		start_server "$name" "$msvenv/bin/mlserver" start "$repo"
		measure "$name" /v2/models/wine/ready /v2/models/wine/infer v2 \
			"MLServer 1.7.1, mlserver-mlflow, parallel_workers $ms_workers, KServe V2 REST" "$@"
		;;
	*)
		echo "serving bench: unknown target $name" >&2
		return 1
		;;
	esac
}

failed=()
for t in $targets; do
	echo "serving bench: == $t" >&2
	rc=0
	run_target "$t" "$@" || rc=$?
	stop_server
	sweep
	if [[ $rc -ne 0 ]]; then
		failed+=("$t")
	fi
done

echo
if [[ -f $results ]]; then
	"$sb" report -results "$results" ${out:+-out "$out"}
fi
if [[ ${#failed[@]} -gt 0 ]]; then
	echo "serving bench: failed: ${failed[*]}" >&2
	exit 1
fi
