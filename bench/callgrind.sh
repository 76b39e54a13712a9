#!/usr/bin/env bash
# callgrind.sh counts the instructions per request of tokenguard's hit path
# (middleware + cache over the verifier client), of the floor (the least a
# cache-hit middleware can do: BenchmarkFloor) and of the bare handler, with
# valgrind's callgrind, which counts the same on a busy machine as on an idle
# one. It prints each one's cost over the bare handler, and that cost as a
# multiple of the floor's.
#
# Each benchmark runs twice, for N1 and N2 iterations; set-up (emulator,
# login, warm-up, test binary start) costs the same in both runs, so
#
#   instructions per request = (Ir(N2) - Ir(N1)) / (N2 - N1)
#
# The figure includes the garbage collector's share of the allocations. GC
# cycles are few and discrete, so it moves by up to ~10% from run to run;
# GOGC=off bench/callgrind.sh counts the mutator alone, which repeats to the
# instruction. GODEBUG=asyncpreemptoff=1 keeps the runtime's preemption
# signals out (valgrind does not survive them), GODEBUG=cpu.rdtscp=off keeps
# the runtime's lock spinning off RDTSCP (valgrind 3.19 does not decode it and
# the run dies with SIGILL), and -test.cpu=1 keeps idle Ps from spinning.
#
# For the hit benchmarks it breaks the figure down the same way: the
# inclusive cost per request of chosen functions (those the compiler did
# not inline; callgrind's inclusive costs can be inflated where the runtime
# switches stacks, as in GC assists) and the functions with the most self
# cost per request (exact).
#
# Usage: bench/callgrind.sh            (from anywhere in the repository)
#   N1, N2     iteration counts (default 100000, 300000)
#   BENCHES    benchmarks of ./bench to count (default: bare, hit, gateway hit)
#   OUT        where the profiles go (default: a new directory under /tmp)
#   REUSE=1    reuse the profiles already in OUT instead of running again
#   TOP        how many functions of the self-cost breakdown to list (default 25)
# Needs valgrind (Debian: apt-get install valgrind). Takes about two minutes.
set -euo pipefail

N1=${N1:-100000}
N2=${N2:-300000}
BENCHES=${BENCHES:-BenchmarkBareHandler BenchmarkFloor BenchmarkMiddlewareCacheHit BenchmarkGatewayHit}
BASE=BenchmarkBareHandler
FLOOR=BenchmarkFloor
# Functions whose inclusive per-request cost is reported for each benchmark,
# as name patterns of callgrind_annotate's output.
FUNCS=(
	'\(\*Middleware\)\.Handler\.func[0-9]+$'
	'middleware\.\(\*Middleware\)\.[aA]uthenticate$'
	'middleware\.bearerCredential$'
	'middleware\.\(\*Middleware\)\.stripIdentity$'
	'middleware\.\(\*Middleware\)\.IdentityHeaders$'
	'middleware\.printable$'
	'cache\.\(\*Cache\)\.Verify$'
	'cache\.\(\*keyer\)\.key$'
	'cache\.\(\*shard\)\.lookup$'
	'time\.Since$'
	'net/http\.\(\*Request\)\.WithContext$'
	'context\.WithValue$'
	'runtime\.mallocgc$'
	'runtime\.gcBgMarkWorker$'
)

command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind not found" >&2; exit 1; }
root=$(cd "$(dirname "$0")/.." && pwd)
out=${OUT:-$(mktemp -d /tmp/tokenguard-callgrind.XXXXXX)}
mkdir -p "$out"

(cd "$root" && go test -c -o "$out/bench.test" ./bench/)

# run BENCH N: profile BENCH for N iterations; print total Ir.
run() {
	local f="$out/$1.$2"
	if [[ ${REUSE:-0} != 1 || ! -s $f.out ]]; then
		GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off valgrind --tool=callgrind --callgrind-out-file="$f.out" \
			"$out/bench.test" -test.run='^$' -test.bench="^$1\$" -test.benchtime="$2x" \
			-test.cpu=1 -test.benchmem >"$f.txt" 2>"$f.log" ||
			{ echo "callgrind.sh: $1 failed, see $f.log" >&2; exit 1; }
	fi
	callgrind_annotate --auto=no --inclusive=yes --threshold=100 "$f.out" >"$f.annotate" 2>/dev/null
	callgrind_annotate --auto=no --threshold=100 "$f.out" >"$f.self" 2>/dev/null
	sed -n 's/^totals: //p' "$f.out"
}

# incl FILE PATTERN: the inclusive Ir of the function matching PATTERN, 0 if
# absent. A function appears once per source file its inlined code comes
# from, each with the same inclusive cost or less: take the largest.
incl() {
	awk -v pat="$2" '
		/^ *[0-9,]+ +\( *[0-9.]+%\) / {
			fn = $0; sub(/ \[[^]]*\]$/, "", fn); sub(/^.*:/, "", fn)
			v = $1; gsub(/,/, "", v)
			if (fn ~ pat && v + 0 > m) m = v + 0
		}
		END { printf "%.0f\n", m }' "$1"
}

# top FILE1 FILE2: the functions with the most self cost per request.
top() {
	awk -v d="$((N2 - N1))" '
		/^ *[0-9,]+ +\( *[0-9.]+%\) / {
			fn = $0; sub(/ \[[^]]*\]$/, "", fn); sub(/^.*:/, "", fn)
			v = $1; gsub(/,/, "", v)
			if (FILENAME == ARGV[1]) a[fn] += v; else b[fn] += v
		}
		END { for (fn in b) { x = (b[fn] - a[fn]) / d; if (x >= 10 && fn !~ /PROGRAM TOTALS/) printf "%10.1f  %s\n", x, fn } }' "$1" "$2" |
		sort -nr | awk -v n="${TOP:-25}" 'NR <= n'
}

per() { echo "scale=1; ($2 - $1) / ($N2 - $N1)" | bc; }

declare -A ir
for b in $BENCHES; do
	i1=$(run "$b" "$N1")
	i2=$(run "$b" "$N2")
	ir[$b]=$(per "$i1" "$i2")
done

echo "instructions per request, (Ir($N2) - Ir($N1)) / $((N2 - N1)); profiles in $out"
echo
printf '%-34s %12s %12s %12s\n' benchmark Ir/request "over $BASE" "x the floor"
for b in $BENCHES; do
	over=- x=-
	[[ -n ${ir[$BASE]:-} ]] && over=$(echo "${ir[$b]} - ${ir[$BASE]}" | bc)
	[[ -n ${ir[$BASE]:-} && -n ${ir[$FLOOR]:-} && $b != "$BASE" ]] &&
		x=$(echo "scale=2; (${ir[$b]} - ${ir[$BASE]}) / (${ir[$FLOOR]} - ${ir[$BASE]})" | bc)
	printf '%-34s %12s %12s %12s\n' "$b" "${ir[$b]}" "$over" "$x"
done
for b in $BENCHES; do
	[[ $b == "$BASE" || $b == "$FLOOR" ]] && continue
	echo
	echo "$b, inclusive Ir per request of:"
	for p in "${FUNCS[@]}"; do
		v=$(per "$(incl "$out/$b.$N1.annotate" "$p")" "$(incl "$out/$b.$N2.annotate" "$p")")
		[[ $(echo "$v < 1" | bc) == 1 ]] && continue
		printf '  %-44s %10s\n' "$(echo "$p" | sed 's/\[0-9\]+/N/' | tr -d '\\$')" "$v"
	done
	echo
	echo "$b, self Ir per request (top ${TOP:-25}, >= 10):"
	top "$out/$b.$N1.self" "$out/$b.$N2.self"
done
echo
echo "allocations per request (from -benchmem):"
for b in $BENCHES; do
	printf '  %-34s %s\n' "$b" "$(grep -o '[0-9.]* allocs/op' "$out/$b.$N2.txt" || echo '?')"
done
