#!/usr/bin/env bash
# Builds the libFuzzer targets with clang 19 (ASan + UBSan, build-fuzz/) and runs each one in
# turn with its dictionary and seed corpus, then prints executions, exec/s, coverage and crashes
# per target. New inputs go to build-fuzz/corpus/<target>, crashes, leaks and timeouts to
# build-fuzz/crashes/, each target's log to build-fuzz/logs/<target>.log.
#   scripts/fuzz.sh [--execs N] [--seconds S] [target...]    default: --seconds 60, every target
#   e.g. scripts/fuzz.sh --execs 10000000 vhost_user_msg     (both given: whichever comes first)
# Exits with the first non-zero libFuzzer exit code (crash, leak, timeout, out of memory).
set -euo pipefail
cd "$(dirname "$0")/.."

all_targets=$(ls tests/fuzz/corpus)
limit=()
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --execs) limit+=("-runs=${2:?--execs N}"); shift 2 ;;
    --seconds) limit+=("-max_total_time=${2:?--seconds S}"); shift 2 ;;
    -h | --help)
      echo "usage: $0 [--execs N] [--seconds S] [target...]   targets:" $all_targets
      exit 0
      ;;
    -*) echo "unknown option: $1" >&2; exit 2 ;;
    *)
      [ -d "tests/fuzz/corpus/$1" ] || { echo "no such target: $1 (targets:" $all_targets")" >&2; exit 2; }
      targets+=("$1")
      shift
      ;;
  esac
done
[ ${#limit[@]} -gt 0 ] || limit=(-max_total_time=60)
[ ${#targets[@]} -gt 0 ] || read -r -a targets <<<"$(echo $all_targets)"

[ -n "${PMDNET_SKIP_SETUP:-}" ] || bash scripts/setup.sh
build=build-fuzz
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}" \
  -DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19 \
  -DPMDNET_SANITIZE=ON -DPMDNET_FUZZ=ON -DPMDNET_BUILD_TESTS=OFF -DPMDNET_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" --target "${targets[@]/#/fuzz_}"

mkdir -p "$build/crashes" "$build/logs"
# A 16 MB quarantine instead of ASan's 256 MB: freed memory is reused while still in the cache,
# not replaced by fresh pages (page faults, and a fill of each); one input frees far less, so a
# use after free within it is still caught. Set ASAN_OPTIONS to choose otherwise.
export ASAN_OPTIONS="${ASAN_OPTIONS:-quarantine_size_mb=16}"
# stat NAME LOG: a -print_final_stats=1 figure.
stat() { sed -n "s/^stat::$1: *//p" "$2" | tail -1; }
rows=()
status=0
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  log="$build/logs/$t.log"
  mkdir -p "$corpus"
  args=(-print_final_stats=1 -timeout=10 -rss_limit_mb=2048 "-artifact_prefix=$build/crashes/$t-")
  [ -f "tests/fuzz/dict/$t.dict" ] && args+=("-dict=tests/fuzz/dict/$t.dict")
  echo "== fuzz_$t ${limit[*]} (log: $log)"
  set +e
  "$build/tests/fuzz/fuzz_$t" "${args[@]}" "${limit[@]}" "$corpus" "tests/fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  set -e
  # The last status line: "#<execs> DONE|pulse|... cov: <edges> ft: <features> corp: ...".
  last=$(grep -E '^#[0-9]+.* cov: ' "$log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  crashes=0
  if [ "$rc" -ne 0 ]; then
    crashes=1
    grep -E '^(==[0-9]+==ERROR|SUMMARY|artifact_prefix|Test unit written)' "$log" | head -5
    [ "$status" -ne 0 ] || status=$rc
  fi
  rows+=("$(printf '%-16s %12s %8s %7s %7s %8s %4s' "$t" "$(stat number_of_executed_units "$log")" \
    "$(stat average_exec_per_sec "$log")" "${cov:-?}" "${ft:-?}" "$crashes" "$rc")")
done

echo
printf '%-16s %12s %8s %7s %7s %8s %4s\n' target executions exec/s cov ft crashes rc
printf '%s\n' "${rows[@]}"
exit "$status"
