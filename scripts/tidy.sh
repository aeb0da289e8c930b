#!/usr/bin/env bash
# Runs clang-tidy 19 (.clang-tidy) over every translation unit of pmdnet's own code (core/,
# config/, pmd_backends/, daemon/, tests/, bench/) listed in BUILD_DIR/compile_commands.json,
# TIDY_JOBS (default 2) at a time. Exits non-zero on any finding (WarningsAsErrors: '*').
#   scripts/tidy.sh [BUILD_DIR]      BUILD_DIR defaults to build-asan; configure it with clang 19
#                                    so that the compile flags are clang's
#   TIDY_FILTER=REGEX                only the sources whose path from the repository root matches
# docs/clang_tidy.md says what runs and how to suppress a finding.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=$(cd "${1:-$root/build-asan}" && pwd)
tidy=${CLANG_TIDY:-clang-tidy-19}
jobs=${TIDY_JOBS:-2}

db="$build_dir/compile_commands.json"
[[ -f "$db" ]] || { echo "tidy: no $db (configure with -DCMAKE_EXPORT_COMPILE_COMMANDS=ON)" >&2; exit 2; }
command -v "$tidy" >/dev/null || { echo "tidy: $tidy not found" >&2; exit 2; }

# Our own sources only: not DPDK, not the build dirs' generated files, each file once.
mapfile -t files < <(python3 - "$db" "$root" "${TIDY_FILTER:-}" <<'PY'
import json, os, re, sys
db, root, only = sys.argv[1], sys.argv[2], re.compile(sys.argv[3])
ours = ("core/", "config/", "pmd_backends/", "daemon/", "tests/", "bench/")
seen = set()
for entry in json.load(open(db)):
    path = os.path.normpath(os.path.join(entry["directory"], entry["file"]))
    rel = os.path.relpath(path, root)
    if rel.startswith(ours) and only.search(rel) and path not in seen:
        seen.add(path)
        print(path)
PY
)
[[ ${#files[@]} -gt 0 ]] || { echo "tidy: no sources of ours in $db" >&2; exit 2; }

# Compiler warnings are the build's business (-Werror there), not tidy's: -Wno-error keeps a
# warning from stopping the analysis, and '-*' in .clang-tidy hides clang-diagnostic-*.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$SECONDS
set +e
printf '%s\0' "${files[@]}" |
  xargs -0 -P "$jobs" -n 1 "$tidy" -p "$build_dir" --quiet --extra-arg=-Wno-error \
    --extra-arg=-Wno-unknown-warning-option >"$log" 2>&1
rc=$?
set -e
# clang-tidy prints "N warnings generated." for warnings it then hides; drop those lines.
grep -vE '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$|^Suppressed [0-9]+ warnings|^Use -header-filter|^$' "$log" || true
findings=$(grep -cE '(warning|error): .*\[[a-z0-9.,-]+\]$' "$log" || true)
echo "tidy: ${#files[@]} files, $findings findings, $((SECONDS - start)) s ($jobs jobs)"
if [[ $rc -ne 0 || $findings -ne 0 ]]; then
  exit 1
fi
