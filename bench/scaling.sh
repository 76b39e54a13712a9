#!/usr/bin/env bash
# scaling.sh measures how hit throughput grows with cores: the b.RunParallel
# benchmarks of the hit path (middleware + cache, and the cache alone) and
# of the bare handler and of the floor (the hit's two allocations, no shared
# write), at each of CPUS, for ROUNDS rounds.
#
# One run of a parallel benchmark swings by tens of percent on a shared
# machine, and the swings of runs minutes apart are unrelated. So each round
# runs every CPUS setting back to back (go test -cpu), the speed-up of a
# round is taken within that round (ns/op at 1 CPU over ns/op at n), and the
# script reports, per benchmark and CPU count, the median ns/op and the
# median and best of those per-round speed-ups. cpu-ns/op (process CPU time
# per request) rising with the cores is the sign of contention.
#
# Usage: bench/scaling.sh                  (from anywhere in the repository)
#   CPUS     the -cpu list (default 1,2; on a 16-core machine 1,2,4,8,16)
#   ROUNDS   rounds (default 10)
#   BENCHTIME  -benchtime of each run (default 1s)
#   OUT      where the raw output goes (default: a new directory under /tmp)
set -euo pipefail

CPUS=${CPUS:-1,2}
ROUNDS=${ROUNDS:-10}
BENCHTIME=${BENCHTIME:-1s}
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$(mktemp -d /tmp/tokenguard-scaling.XXXXXX)}
mkdir -p "$out"

(cd "$root" && go test -c -o "$out/bench.test" ./bench/ && go test -c -o "$out/cache.test" ./cache/)

raw="$out/raw.txt"
: >"$raw"
for ((i = 1; i <= ROUNDS; i++)); do
	echo "round $i" >>"$raw"
	"$out/bench.test" -test.run='^$' -test.cpu="$CPUS" -test.benchmem -test.benchtime="$BENCHTIME" \
		-test.bench='^(BenchmarkBareHandlerParallel|BenchmarkFloorParallel|BenchmarkMiddlewareCacheHitParallel)$' >>"$raw"
	"$out/cache.test" -test.run='^$' -test.cpu="$CPUS" -test.benchmem -test.benchtime="$BENCHTIME" \
		-test.bench='^BenchmarkHitParallel$' >>"$raw"
done

echo "hit throughput by cores: $ROUNDS rounds, -cpu $CPUS, -benchtime $BENCHTIME; raw output in $raw"
echo
awk '
	function median(list,    a, n, i, j, t) {
		n = split(list, a, " ")
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
		return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
	}
	/^round / { round = $2; next }
	/^Benchmark/ {
		name = $1; cpu = 1
		if (match(name, /-[0-9]+$/)) { cpu = substr(name, RSTART + 1); name = substr(name, 1, RSTART - 1) }
		sub(/^Benchmark/, "", name)
		ns = $3; cns = "-"
		for (f = 4; f < NF; f++) if ($(f+1) == "cpu-ns/op") cns = $f
		key = name SUBSEP cpu
		nsl[key] = nsl[key] " " ns
		if (cns != "-") cnsl[key] = cnsl[key] " " cns
		at[name, cpu, round] = ns
		if (!(name in seen)) { seen[name] = 1; names[++nn] = name }
		if (!(cpu in cseen)) { cseen[cpu] = 1; cpus[++nc] = cpu }
	}
	END {
		printf "%-28s %4s %12s %14s %16s %14s\n", "benchmark", "cpu", "ns/op (med)", "cpu-ns/op (med)", "speed-up (med)", "speed-up (best)"
		for (i = 1; i <= nn; i++) {
			name = names[i]
			for (j = 1; j <= nc; j++) {
				cpu = cpus[j]; key = name SUBSEP cpu
				if (nsl[key] == "") continue
				r = ""; best = 0
				for (k = 1; k <= '"$ROUNDS"'; k++)
					if (at[name, 1, k] != "" && at[name, cpu, k] != "") {
						x = at[name, 1, k] / at[name, cpu, k]; r = r " " x
						if (x > best) best = x
					}
				printf "%-28s %4s %12.1f %14s %15.2fx %14.2fx\n", name, cpu, median(nsl[key]),
					cnsl[key] == "" ? "-" : sprintf("%.1f", median(cnsl[key])), median(r), best
			}
		}
	}' "$raw"
