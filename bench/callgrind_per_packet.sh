#!/usr/bin/env bash
# Instructions per packet of one Google Benchmark case: a figure that does not depend on the vCPU
# placement or on other load (docs/benchmarks.md). callgrind counts the whole process; Google
# Benchmark runs the case as trials of growing iteration counts, each with its own set-up, which
# its --v=2 log lists. Runs of different lengths give
#   Ir = start-up + trials * set-up + iterations * per_iteration,
# solved for per_iteration, divided by the packets in one iteration.
# With COLLECT (a callgrind --toggle-collect pattern, which may be given more than once,
# separated by commas), only the instructions inside those functions count: the device side of a
# ring benchmark without its fake driver. The pattern's functions must not call each other.
#   bench/callgrind_per_packet.sh BINARY FILTER PACKETS_PER_ITERATION [COLLECT]
#   e.g. bench/callgrind_per_packet.sh build/bench/pmdnet_core_bench '^BM_GuestTxChainToUsed/64$' 32
set -euo pipefail
bin=$1 filter=$2 per=$3
collect=()
IFS=, read -ra patterns <<< "${4:-}"
for p in "${patterns[@]}"; do collect+=("--toggle-collect=$p"); done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for t in 0.000000001 0.02 0.2 0.5; do
  valgrind --tool=callgrind "${collect[@]}" --callgrind-out-file="$tmp/cg.$t" "$bin" --benchmark_filter="$filter" \
    --benchmark_min_time="$t" --v=2 > "$tmp/out.$t" 2>&1
  ir=$(grep -E '^(summary|totals):' "$tmp/cg.$t" | head -1 | awk '{print $2}')
  k=$(grep -c 'LOG(2): Running .* for ' "$tmp/out.$t")
  s=$(grep 'LOG(2): Running .* for ' "$tmp/out.$t" | awk '{s += $NF} END {print s}')
  echo "$ir $k $s" >> "$tmp/rows"
done
python3 - "$tmp/rows" "$per" "$filter" <<'PY'
import sys
from fractions import Fraction as F
rows = [list(map(int, l.split())) for l in open(sys.argv[1])]
per, name = int(sys.argv[2]), sys.argv[3]
(i1, k1, s1) = rows[0]
c = None
for j in range(1, len(rows)):
    for k in range(j + 1, len(rows)):
        (i2, k2, s2), (i3, k3, s3) = rows[j], rows[k]
        if k2 == k3 and s3 != s2:
            c = F(i3 - i2, s3 - s2)
        else:
            a1, b1, r1 = k2 - k1, s2 - s1, i2 - i1
            a2, b2, r2 = k3 - k1, s3 - s1, i3 - i1
            if b2 * a1 - b1 * a2 != 0:
                c = F(r2 * a1 - r1 * a2, b2 * a1 - b1 * a2)
        if c is not None:
            break
    if c is not None:
        break
print(f"{name}: {float(c) / per:.1f} instructions/packet (runs, trials/iterations: "
      + ", ".join(f"{r[1]}/{r[2]}" for r in rows[1:]) + ")")
PY
