#!/usr/bin/env bash
# Installs what pmdnet needs, configures, builds, and runs every test with CTest, printing a
# test-count summary. Exits non-zero if anything fails.
#   scripts/test.sh              RelWithDebInfo build in build/
#   scripts/test.sh --sanitize   clang 19 ASan + UBSan build in build-asan/, which also runs
#                                every fuzz target under libFuzzer (PMDNET_FUZZ) for 20 s
set -euo pipefail
cd "$(dirname "$0")/.."

sanitize=OFF
build_dir=build
compilers=()
for arg in "$@"; do
  case "$arg" in
    --sanitize)
      sanitize=ON
      build_dir=build-asan
      compilers=(-DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19)
      ;;
    *) echo "usage: $0 [--sanitize]" >&2; exit 2 ;;
  esac
done
build_dir=${BUILD_DIR:-$build_dir}
jobs=$(nproc)

bash scripts/setup.sh

cmake -S . -B "$build_dir" -G Ninja "${compilers[@]}" \
  -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
  -DPMDNET_SANITIZE="$sanitize" -DPMDNET_FUZZ="$sanitize"
cmake --build "$build_dir" -j "$jobs"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
log="$build_dir/ctest.log"
set +e
ctest --test-dir "$build_dir" --output-on-failure -j "$jobs" --timeout 600 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
set -e

echo
echo "== pmdnet test summary ($build_dir, sanitize=$sanitize) =="
grep -E 'tests passed|tests failed out of' "$log" | tail -1
grep -A20 '^Label Time Summary' "$log" | sed -n '2,20p' | grep -E '^[a-z]' || true
exit "$rc"
