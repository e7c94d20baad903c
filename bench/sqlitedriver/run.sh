#!/usr/bin/env bash
# Driver comparison for docs/storage.md. Five rounds; each round runs every
# benchmark once, mattn and modernc back to back, so that both drivers see the
# same background load on a shared machine. Then benchstat.
#
#   bench/sqlitedriver/run.sh [rounds]      (from anywhere; about 25 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
rounds=${1:-5}
out=${OUT:-/tmp/sqlitedriver.txt}
go test -c -o /tmp/sqlitedriver.test .
: >"$out"
for ((i = 1; i <= rounds; i++)); do
	echo "round $i/$rounds" >&2
	# Fixed iteration counts for writes: the tables grow as they run, so
	# equal work keeps rounds and drivers comparable.
	/tmp/sqlitedriver.test -test.run '^$' -test.bench 'LogBatch' -test.benchtime 160x | tee -a "$out"
	/tmp/sqlitedriver.test -test.run '^$' -test.bench 'Search|GetRun' -test.benchtime 1s | tee -a "$out"
done
go run golang.org/x/perf/cmd/benchstat@latest -col /driver "$out"
