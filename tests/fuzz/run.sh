#!/usr/bin/env bash
# tests/fuzz/run.sh - builds, replays and fuzzes the fuzz targets.
#
#   tests/fuzz/run.sh replay [TARGET...]            replay every seed corpus (no libFuzzer needed)
#   tests/fuzz/run.sh fuzz SECONDS [--merge] [TARGET...]
#                                                   replay, then fuzz each target for SECONDS
#   tests/fuzz/run.sh build [TARGET...]             build only
#   tests/fuzz/run.sh seeds                         rewrite the seeds made from real data
#                                                   (tests/fuzz/make_corpus.c), to review and commit
#
# Targets are tests/fuzz/fuzz_<name>.c (TARGET is <name> or fuzz_<name>). The
# first comment block of each holds two lines this script reads:
#   fuzz-sources: plugin/ingest/rtp_packet.c ...   project .c files (from the top) it links
#   fuzz-pkgs: glib-2.0 ...                 pkg-config names (may be empty)
# Each target is built twice into tests/out/fuzz/bin/: fuzz_<name> (clang,
# libFuzzer + ASan + UBSan) and replay_<name> (the system cc, ASan + UBSan,
# tests/fuzz/replay.c as main). Seeds: tests/fuzz/corpus/<name>/; dictionary:
# tests/fuzz/<name>.dict if present.
#
# Fuzzing writes new inputs to tests/out/fuzz/corpus/<name>/ only: the corpus
# in the tree never grows by itself. --merge minimises what fuzzing found into
# tests/fuzz/corpus/<name>/ for a developer to review and commit.
# A crash, leak, timeout or out-of-memory fails the run and prints the
# reproducer's path; replay it with tests/out/fuzz/bin/replay_<name> PATH.
# Per target figures (execs, execs/s, cov, ft) go to TAP comments and to
# tests/out/fuzz/summary.json.
#
# Environment: FUZZ_SEED (libFuzzer's -seed; CI sets 1 so that its runs repeat),
# FUZZ_RSS_LIMIT_MB (2048), FUZZ_TIMEOUT (10 s per input),
# FUZZ_OUT (tests/out/fuzz), CLANG (clang-14 or clang), CC (cc).
set -u

TOP=$(cd "$(dirname "$0")/../.." && pwd)
FUZZ_DIR="$TOP/tests/fuzz"
OUT=${FUZZ_OUT:-$TOP/tests/out/fuzz}
RSS_LIMIT_MB=${FUZZ_RSS_LIMIT_MB:-2048}
TIMEOUT=${FUZZ_TIMEOUT:-10}
if [ -z "${CLANG:-}" ]; then
	CLANG=$(command -v clang-14 || command -v clang || echo clang-14)
fi
CC=${CC:-cc}
# UBSan findings abort (they would be lost in libFuzzer's output otherwise);
# leaks are findings too.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

usage() {
	sed -n '2,11p' "$0"| sed 's/^# \{0,1\}//' >&2
	exit 2
}

mode=${1:-}
[ -n "$mode" ] || usage
shift
seconds=0
merge=0
case $mode in
	replay|build|seeds) ;;
	fuzz)
		seconds=${1:-}
		case $seconds in ''|*[!0-9]*) usage ;; esac
		shift ;;
	*) usage ;;
esac
wanted=()
for a in "$@"; do
	case $a in
		--merge) merge=1 ;;
		-*) usage ;;
		*) a=${a#fuzz_}; wanted+=("${a%.c}") ;;
	esac
done

targets=()
for f in "$FUZZ_DIR"/fuzz_*.c; do
	[ -e "$f" ] || continue
	name=$(basename "$f" .c)
	name=${name#fuzz_}
	if [ ${#wanted[@]} -gt 0 ]; then
		keep=0
		for w in "${wanted[@]}"; do [ "$w" = "$name" ] && keep=1; done
		[ $keep = 1 ] || continue
	fi
	targets+=("$name")
done
for w in "${wanted[@]}"; do
	[ -e "$FUZZ_DIR/fuzz_$w.c" ] || { echo "not ok - fuzz: no target tests/fuzz/fuzz_$w.c"; exit 1; }
done

mkdir -p "$OUT/bin" "$OUT/log" "$OUT/corpus" "$OUT/crashes"
failures=0
declare -A built_fuzz built_replay

# A header line of the target: "fuzz-sources:" -> its value, from the first
# comment block (the first 60 lines are plenty).
header_field() {
	head -n 60 "$1" | sed -n "s/^.*$2:[[:space:]]*//p" | head -n 1 | sed 's/\*\/.*$//; s/[[:space:]]*$//'
}

# True when $1 is missing or older than any of the other files.
stale() {
	local out=$1
	shift
	[ -e "$out" ] || return 0
	local f
	for f in "$@"; do
		[ "$f" -nt "$out" ] && return 0
	done
	return 1
}

# Builds one target both ways. Sets built_fuzz[name], built_replay[name] to 1
# on success. Warnings count as failures (the project builds warning-free).
build_target() {
	local name=$1 src="$FUZZ_DIR/fuzz_$1.c"
	local sources pkgs
	sources=$(header_field "$src" fuzz-sources)
	pkgs=$(header_field "$src" fuzz-pkgs)
	local files=("$src") s
	for s in $sources; do
		if [ ! -e "$TOP/$s" ]; then
			echo "not ok - fuzz build $name: fuzz-sources names $s, which does not exist"
			failures=$((failures + 1))
			return
		fi
		files+=("$TOP/$s")
	done
	local pkg_cflags="" pkg_libs=""
	if [ -n "$pkgs" ]; then
		if ! pkg_cflags=$(pkg-config --cflags $pkgs 2>&1) || ! pkg_libs=$(pkg-config --libs $pkgs 2>&1); then
			echo "not ok - fuzz build $name: pkg-config $pkgs: $pkg_cflags"
			failures=$((failures + 1))
			return
		fi
	fi
	# Headers the target may include: every .h of the project directories.
	local deps=("${files[@]}" "$FUZZ_DIR/replay.c" "$0")
	# Like the tests, a target sees every project folder's headers.
	local incdirs=() d
	while IFS= read -r d; do
		incdirs+=(-I"$d")
	done < <(find "$TOP/common" "$TOP/plugin" "$TOP/worker" -type d | sort)
	while IFS= read -r s; do
		deps+=("$s")
	done < <(find "$TOP/common" "$TOP/plugin" "$TOP/worker" "$TOP/tests" -maxdepth 3 -name '*.h' | sort)
	local common_flags=(-g -O1 -std=gnu11 -D_GNU_SOURCE -pthread -Wall -Wextra -fno-omit-frame-pointer
		-DOOBLEX_FUZZ "${incdirs[@]}" -I"$TOP/tests" -I"$FUZZ_DIR")
	# A C++ source needs the C++ driver; split files by language.
	local cfiles=() cxxfiles=()
	for s in "${files[@]}"; do
		case $s in *.cpp|*.cc|*.cxx) cxxfiles+=("$s") ;; *) cfiles+=("$s") ;; esac
	done
	local kind compiler cxx bin log san extra
	for kind in fuzz replay; do
		if [ $kind = fuzz ]; then
			[ "$mode" = replay ] && continue
			compiler=$CLANG
			cxx=${CLANG/clang/clang++}
			san="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"
			extra=()
		else
			compiler=$CC
			cxx=${CXX:-c++}
			san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
			extra=("$FUZZ_DIR/replay.c")
		fi
		bin="$OUT/bin/${kind}_$name"
		log="$OUT/log/build_${kind}_$name.log"
		if stale "$bin" "${deps[@]}"; then
			rm -f "$bin"
			local objdir="$OUT/obj/${kind}_$name"
			rm -rf "$objdir"
			mkdir -p "$objdir"
			: >"$log"
			local ok=1 objs=() i=0
			for s in "${cxxfiles[@]}"; do
				i=$((i + 1))
				# shellcheck disable=SC2086
				"$cxx" -g -O1 -std=c++17 -Wall -Wextra -pthread $san -fno-omit-frame-pointer -DOOBLEX_FUZZ \
					-I"$TOP/common" -I"$TOP/plugin" -I"$TOP/worker" $pkg_cflags -c "$s" \
					-o "$objdir/$i.o" >>"$log" 2>&1 || ok=0
				objs+=("$objdir/$i.o")
			done
			local linker=$compiler
			[ ${#cxxfiles[@]} -gt 0 ] && linker=$cxx
			if [ $ok = 1 ]; then
				if [ ${#cxxfiles[@]} -gt 0 ]; then
					for s in "${cfiles[@]}" "${extra[@]}"; do
						i=$((i + 1))
						# shellcheck disable=SC2086
						"$compiler" "${common_flags[@]}" $san $pkg_cflags -c "$s" -o "$objdir/$i.o" \
							>>"$log" 2>&1 || ok=0
						objs+=("$objdir/$i.o")
					done
					# shellcheck disable=SC2086
					[ $ok = 1 ] && { "$linker" $san -pthread "${objs[@]}" -o "$bin" $pkg_libs -lm >>"$log" 2>&1 || ok=0; }
				else
					# shellcheck disable=SC2086
					"$compiler" "${common_flags[@]}" $san $pkg_cflags "${cfiles[@]}" "${extra[@]}" \
						-o "$bin" $pkg_libs -lm >>"$log" 2>&1 || ok=0
				fi
			fi
			if [ $ok = 1 ] && grep -q 'warning:' "$log"; then
				ok=0
			fi
			if [ $ok = 0 ]; then
				rm -f "$bin"
				echo "not ok - fuzz build $name ($kind): see $log"
				sed 's/^/#   /' "$log" | head -n 40
				failures=$((failures + 1))
				continue
			fi
		fi
		if [ $kind = fuzz ]; then built_fuzz[$name]=1; else built_replay[$name]=1; fi
	done
}

# Replays the seed corpus (and any regression files) with the standalone build.
replay_target() {
	local name=$1 corpus="$FUZZ_DIR/corpus/$1"
	[ "${built_replay[$name]:-0}" = 1 ] || return
	if [ ! -d "$corpus" ] || [ -z "$(ls -A "$corpus" 2>/dev/null)" ]; then
		echo "not ok - fuzz replay $name: no seed corpus in tests/fuzz/corpus/$name/"
		failures=$((failures + 1))
		return
	fi
	local log="$OUT/log/replay_$name.log" n
	n=$(find "$corpus" -maxdepth 1 -type f ! -name '.*' | wc -l)
	if "$OUT/bin/replay_$name" -v "$corpus" >"$log" 2>&1; then
		echo "ok - fuzz replay $name ($n inputs)"
	else
		echo "not ok - fuzz replay $name: see $log"
		# The last input named before the report is the culprit.
		grep '^replay: ' "$log" | tail -n 1 | sed 's/^/#   failing input: /'
		grep -E 'ERROR|runtime error|SUMMARY|invariant failed' "$log" | head -n 5 | sed 's/^/#   /'
		failures=$((failures + 1))
	fi
}

json_results=()

# Fuzzes one target for $seconds. New inputs go to the work corpus in OUT.
fuzz_target() {
	local name=$1
	[ "${built_fuzz[$name]:-0}" = 1 ] || return
	local work="$OUT/corpus/$name" crashes="$OUT/crashes/$name" log="$OUT/log/fuzz_$name.log"
	mkdir -p "$work" "$crashes"
	local args=(-max_total_time="$seconds" -rss_limit_mb="$RSS_LIMIT_MB" -timeout="$TIMEOUT"
		-print_final_stats=1 -artifact_prefix="$crashes/")
	local dict=""
	if [ -e "$FUZZ_DIR/$name.dict" ]; then
		dict="$FUZZ_DIR/$name.dict"
	elif [ -e "$FUZZ_DIR/fuzz_$name.dict" ]; then
		dict="$FUZZ_DIR/fuzz_$name.dict"
	fi
	[ -n "$dict" ] && args+=(-dict="$dict")
	# A fixed seed makes a run repeatable: the same inputs in the same order,
	# so a find comes from a change to the code, not from the luck of a run.
	[ -n "${FUZZ_SEED:-}" ] && args+=(-seed="$FUZZ_SEED")
	local seeds=()
	[ -d "$FUZZ_DIR/corpus/$name" ] && seeds+=("$FUZZ_DIR/corpus/$name")
	local rc=0
	"$OUT/bin/fuzz_$name" "${args[@]}" "$work" "${seeds[@]}" >"$log" 2>&1 || rc=$?
	local execs eps cov ft corp last
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1)
	cov=$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
	corp=$(echo "$last" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')
	local status=ok reproducer=""
	if [ $rc != 0 ]; then
		status=crash
		reproducer=$(sed -n 's/^.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
	fi
	echo "# fuzz $name: ${execs:-0} execs, ${eps:-0} execs/s, cov ${cov:-0}, ft ${ft:-0}, corpus ${corp:-0} (${seconds} s)"
	if [ $status = ok ]; then
		echo "ok - fuzz $name ${seconds} s"
	else
		echo "not ok - fuzz $name: exit $rc, reproducer ${reproducer:-none written}; log $log"
		grep -E '^==[0-9]+==ERROR|runtime error|^SUMMARY|ALARM|out-of-memory|leak|invariant failed' "$log" | head -n 5 | sed 's/^/#   /'
		[ -n "$reproducer" ] && echo "#   replay: tests/out/fuzz/bin/replay_$name $reproducer"
		failures=$((failures + 1))
	fi
	if [ $merge = 1 ] && [ $status = ok ]; then
		mkdir -p "$FUZZ_DIR/corpus/$name"
		local before after
		before=$(find "$FUZZ_DIR/corpus/$name" -maxdepth 1 -type f | wc -l)
		"$OUT/bin/fuzz_$name" -merge=1 -rss_limit_mb="$RSS_LIMIT_MB" -timeout="$TIMEOUT" \
			"$FUZZ_DIR/corpus/$name" "$work" >"$OUT/log/merge_$name.log" 2>&1
		after=$(find "$FUZZ_DIR/corpus/$name" -maxdepth 1 -type f | wc -l)
		echo "# merge $name: $((after - before)) new inputs in tests/fuzz/corpus/$name/ (review, then commit)"
	fi
	json_results+=("$(printf '{"target":"%s","seconds":%s,"status":"%s","execs":%s,"execs_per_sec":%s,"cov":%s,"ft":%s,"corpus":%s,"reproducer":"%s"}' \
		"$name" "$seconds" "$status" "${execs:-0}" "${eps:-0}" "${cov:-0}" "${ft:-0}" "${corp:-0}" "$reproducer")")
}

if [ "$mode" = seeds ]; then
	src="$FUZZ_DIR/make_corpus.c"
	files=("$src")
	for s in $(header_field "$src" fuzz-sources); do files+=("$TOP/$s"); done
	pkgs=$(header_field "$src" fuzz-pkgs)
	# Every project folder's headers, as the targets see them (since the
	# layout gave plugin/ subfolders, plugin/ alone no longer finds them).
	seed_incdirs=()
	while IFS= read -r d; do
		seed_incdirs+=(-I"$d")
	done < <(find "$TOP/common" "$TOP/plugin" "$TOP/worker" -type d | sort)
	mkdir -p "$OUT/bin"
	# shellcheck disable=SC2046,SC2086
	$CC -g -O1 -std=gnu11 -D_GNU_SOURCE -pthread -Wall -Wextra "${seed_incdirs[@]}" \
		-I"$TOP/tests" $(pkg-config --cflags $pkgs) "${files[@]}" -o "$OUT/bin/make_corpus" \
		$(pkg-config --libs $pkgs) -lm || exit 1
	exec "$OUT/bin/make_corpus" "$FUZZ_DIR/corpus"
fi
if [ ${#targets[@]} -eq 0 ]; then
	echo "not ok - fuzz: no targets in tests/fuzz/"
	exit 1
fi
if [ "$mode" != replay ] && ! command -v "$CLANG" >/dev/null; then
	echo "not ok - fuzz: $CLANG not found (deploy/install-deps.sh --test installs clang and libfuzzer-14-dev)"
	exit 1
fi

for t in "${targets[@]}"; do
	build_target "$t"
done
if [ "$mode" = build ]; then
	[ $failures = 0 ] && echo "ok - fuzz build (${#targets[@]} targets)"
	exit $((failures > 0))
fi
for t in "${targets[@]}"; do
	replay_target "$t"
done
if [ "$mode" = fuzz ]; then
	for t in "${targets[@]}"; do
		fuzz_target "$t"
	done
	{
		printf '{"seconds_per_target":%s,"targets":[' "$seconds"
		sep=""
		for j in "${json_results[@]}"; do
			printf '%s\n  %s' "$sep" "$j"
			sep=","
		done
		printf '\n]}\n'
	} >"$OUT/summary.json"
	echo "# fuzz summary: $OUT/summary.json"
fi
exit $((failures > 0))
