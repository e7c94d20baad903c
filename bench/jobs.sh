#!/usr/bin/env bash
# Job launch-overhead benchmark: how long a job takes from its submit
# request to its process running, one at a time and in a burst of 1,000,
# against the floor of starting the same commands with `xargs -P` on the
# same machine. It starts `lode server` on a free 127.0.0.1 port with a
# throwaway data folder, runs bench/jobbench against it, then stops the
# server and removes everything. About 40 s on 2 cores. See
# docs/benchmarks.md.
#
#   bench/jobs.sh                    # 1,000 jobs one at a time, then a burst of 1,000
#   bench/jobs.sh -jobs 200 -json    # extra flags go to `jobbench run`
#
# Environment:
#   LODE_BIN            an already built lode (default: go build bin/lode here)
#   JOBS_PARALLEL       jobs running at once: the server's --job-cpus, each
#                       job asking 1 CPU, and xargs -P (default: the CPU count)
#   LODE_SERVER_FLAGS   more flags for `lode server`, e.g.
#                       "--sqlite-synchronous NORMAL" (default: none)
#   JOBS_OUT            also write jobbench's output to this file
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

parallel=${JOBS_PARALLEL:-$(nproc)}
out=${JOBS_OUT:-}
if [[ -n $out && $out != /* ]]; then out=$root/$out; fi
# Word-split on purpose: a list of flags.
read -r -a server_flags <<<"${LODE_SERVER_FLAGS:-}"

work=$(mktemp -d "${TMPDIR:-/tmp}/lode-jobs-bench.XXXXXX")
# The server, xargs and every job get this in their environment (jobs
# through jobbench's -env): the cleanup kills whatever still carries it.
# Jobs do not die with the server (a restarted server re-adopts them), so
# stopping the server alone would not do.
token=jobbench-$$-$RANDOM$RANDOM
pgid=
child=

# stop_server ends the server's process group: SIGTERM, then SIGKILL.
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
		if grep -qxzF "JOBBENCH_RUN=$token" "$env" 2>/dev/null; then
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
}

cleanup() {
	local rc=$?
	if [[ -n $child ]]; then
		kill -TERM "$child" 2>/dev/null || true
		wait "$child" 2>/dev/null || true
	fi
	stop_server
	sweep
	if [[ $rc -ne 0 && -f $work/server.log ]]; then
		echo "--- tail of the server's log" >&2
		tail -n 30 "$work/server.log" >&2
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

lode=${LODE_BIN:-}
if [[ -z $lode ]]; then
	lode=bin/lode
	version=$(git describe --tags --always --dirty 2>/dev/null || echo dev)
	echo "jobs bench: go build -o bin/lode ./cmd/lode" >&2
	go build -ldflags "-X main.version=$version" -o "$lode" ./cmd/lode
fi
[[ $lode == /* ]] || lode=$root/$lode

jb=$work/jobbench
go build -o "$jb" ./bench/jobbench
port=$("$jb" freeport)

# A fresh store and job folder in $work; --job-cpus bounds how many jobs
# (each asking 1 CPU) run at once. In its own process group (setsid),
# started from a subshell so that setsid need not fork and $! is the group.
mkdir -p "$work/server"
(cd "$work/server" && exec env JOBBENCH_RUN="$token" setsid "$lode" server --host 127.0.0.1 --port "$port" \
	--backend-store-uri "sqlite:///$work/server/lode.db" --artifacts-destination "$work/server/artifacts" \
	--job-dir "$work/server/jobs" --job-cpus "$parallel" ${server_flags[@]+"${server_flags[@]}"} \
	>"$work/server.log" 2>&1 </dev/null) &
pgid=$!

# In the background and waited for, so that a signal reaches the trap at
# once; the cleanup ends it too.
bg() {
	"$@" &
	child=$!
	local rc=0
	wait "$child" || rc=$?
	child=
	return "$rc"
}

bg "$jb" wait -url "http://127.0.0.1:$port" -pid "$pgid" -timeout 60s
echo "jobs bench: lode server on 127.0.0.1:$port, --job-cpus $parallel ${LODE_SERVER_FLAGS:-}" >&2
bg "$jb" run -url "http://127.0.0.1:$port" -parallel "$parallel" -cpus 1 -dir "$work" \
	-env "JOBBENCH_RUN=$token" "$@" >"$work/out.txt"
cat "$work/out.txt"
if [[ -n $out ]]; then cp "$work/out.txt" "$out"; fi
