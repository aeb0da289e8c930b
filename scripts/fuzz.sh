#!/usr/bin/env bash
# Runs one fuzz target coverage-guided for a while, in an ASan + UBSan + coverage build in
# build-fuzz/; its corpus grows in build-fuzz/corpus/<target>.
#   scripts/fuzz.sh <target> [seconds]      e.g. scripts/fuzz.sh guest_memory 600
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: $0 <target> [seconds]   targets: $(ls tests/fuzz/corpus | tr '\n' ' ')}
seconds=${2:-300}
[ -d "tests/fuzz/corpus/$target" ] || { echo "no such target: $target" >&2; exit 2; }

bash scripts/setup.sh
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPMDNET_SANITIZE=ON -DPMDNET_FUZZ=ON -DPMDNET_BUILD_TESTS=OFF -DPMDNET_BUILD_BENCH=OFF
cmake --build build-fuzz --target "fuzz_$target"
mkdir -p build-fuzz/corpus/"$target" build-fuzz/crashes
exec build-fuzz/tests/fuzz/fuzz_"$target" --fuzz "$seconds" --max-len 1024 \
  --corpus build-fuzz/corpus/"$target" --crash-dir build-fuzz/crashes "tests/fuzz/corpus/$target"
