#!/usr/bin/env bash
# Soak test for flaky tests: runs the integration and e2e CTest labels N times in a row under a
# CPU load (stress-ng --cpu 2), carries on through failures, and prints how often each test failed.
#
#   scripts/soak.sh [--runs N] [--build-dir DIR] [--exclude REGEX]
#
#   --runs N        how many times to run the two labels (default 50)
#   --build-dir DIR a configured and built tree (default: build/ in the repository); nothing is
#                   built here
#   --exclude REGEX tests left out (ctest -E), e.g. qemu_e2e, whose TCG guest takes minutes a run
#
# Each run is `ctest --test-dir DIR -L 'integration|e2e' --output-on-failure`, its output kept in
# DIR/soak/<start time>/run-<i>.log. The load is started here and stopped, by its PID, on any exit
# (also Ctrl-C). stress-ng is installed with apt-get if it is missing (as scripts/setup.sh does).
# Exit status: 0 when every run passed, 1 when any test failed in any run, 2 on bad usage or a
# missing build, 130 after Ctrl-C (143 TERM, 129 HUP), with the summary of the runs done.
set -uo pipefail
caller=$PWD
cd "$(dirname "$0")/.." || exit 2
abs() { case "$1" in /*) echo "$1" ;; *) echo "$caller/$1" ;; esac; }  # relative to the caller

runs=50
exclude=()
build_dir=${BUILD_DIR:-build}  # the default, and $BUILD_DIR, are relative to the repository
case "$build_dir" in /*) ;; *) build_dir=$PWD/$build_dir ;; esac
usage() { sed -n '5,10p' "$0" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) [ $# -ge 2 ] || usage; runs=$2; shift 2 ;;
    --build-dir) [ $# -ge 2 ] || usage; build_dir=$(abs "$2"); shift 2 ;;
    --exclude) [ $# -ge 2 ] || usage; exclude=(-E "$2"); shift 2 ;;
    -h|--help) usage ;;
    *) echo "soak.sh: unknown argument $1" >&2; usage ;;
  esac
done
case "$runs" in
  ''|*[!0-9]*|0) echo "soak.sh: --runs takes a positive integer, not '$runs'" >&2; exit 2 ;;
esac
if [ ! -f "$build_dir/CTestTestfile.cmake" ]; then
  echo "soak.sh: $build_dir is not a configured build (cmake -S . -B $build_dir; cmake --build $build_dir)" >&2
  exit 2
fi

if ! command -v stress-ng >/dev/null; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  echo "soak: installing stress-ng"
  if ! $SUDO apt-get update -qq ||
     ! $SUDO apt-get install -y -qq --no-install-recommends stress-ng; then
    echo "soak.sh: could not install stress-ng" >&2
    exit 2
  fi
fi

fmt_time() {  # seconds -> 1h02m03s / 2m03s / 3s
  local s=$1
  if [ "$s" -ge 3600 ]; then printf '%dh%02dm%02ds' $((s / 3600)) $((s % 3600 / 60)) $((s % 60))
  elif [ "$s" -ge 60 ]; then printf '%dm%02ds' $((s / 60)) $((s % 60))
  else printf '%ds' "$s"; fi
}

log_dir=$build_dir/soak/$(date +%Y%m%d-%H%M%S)
mkdir -p "$log_dir"

stress_pid=""
start_load() {
  stress-ng --cpu 2 >>"$log_dir/stress-ng.log" 2>&1 &
  stress_pid=$!
}
stop_load() {
  if [ -n "$stress_pid" ]; then
    kill -TERM "$stress_pid" 2>/dev/null
    wait "$stress_pid" 2>/dev/null
    stress_pid=""
  fi
}
interrupted=0
trap stop_load EXIT
# ctest runs in the foreground, so a signal is acted on when the current run ends: Ctrl-C ends
# that run at once (the terminal sends SIGINT to ctest and its tests too), a TERM or HUP sent to
# this script alone lets the run finish first.
trap 'interrupted=130' INT
trap 'interrupted=143' TERM
trap 'interrupted=129' HUP

declare -A fails=()   # test name -> runs in which it failed
declare -A kinds=()   # test name -> "Failed Timeout ..." as ctest said, one word per failed run
failed_runs=0
done_runs=0
durations=()
tests_per_run="?"
t0=$(date +%s)

start_load
echo "soak: $runs runs of ctest -L 'integration|e2e' ${exclude[*]} in $build_dir under stress-ng --cpu 2" \
     "(PID $stress_pid); logs in $log_dir"
for ((i = 1; i <= runs; i++)); do
  [ "$interrupted" -ne 0 ] && break
  if ! kill -0 "$stress_pid" 2>/dev/null; then
    echo "soak: stress-ng (PID $stress_pid) is gone; starting it again"
    start_load
  fi
  log=$(printf '%s/run-%02d.log' "$log_dir" "$i")
  r0=$(date +%s)
  ctest --test-dir "$build_dir" -L 'integration|e2e' "${exclude[@]}" --output-on-failure --no-tests=error \
    >"$log" 2>&1
  rc=$?
  d=$(( $(date +%s) - r0 ))
  [ "$interrupted" -ne 0 ] && break
  durations+=("$d")
  done_runs=$i

  total=$(sed -n 's/.*tests failed out of \([0-9][0-9]*\).*/\1/p' "$log" | tail -1)
  [ -n "$total" ] && tests_per_run=$total
  # ctest's list at the end: "	 12 - Suite.Name (Failed)" under "The following tests FAILED:"
  failed_names=()
  while IFS= read -r line; do
    name=$(sed -E 's/^[[:space:]]*[0-9]+ - (.*) \(([^()]*)\)[[:space:]]*$/\1/' <<<"$line")
    kind=$(sed -E 's/^[[:space:]]*[0-9]+ - (.*) \(([^()]*)\)[[:space:]]*$/\2/' <<<"$line")
    failed_names+=("$name")
    fails[$name]=$(( ${fails[$name]:-0} + 1 ))
    kinds[$name]="${kinds[$name]:-}${kinds[$name]:+ }${kind// /_}"
  done < <(sed -n '/^The following tests FAILED:/,$p' "$log" | grep -E '^[[:space:]]+[0-9]+ - ')
  if [ "$rc" -ne 0 ] && [ ${#failed_names[@]} -eq 0 ]; then
    name="(ctest itself, exit $rc)"   # no test list: ctest could not run the tests
    failed_names+=("$name")
    fails[$name]=$(( ${fails[$name]:-0} + 1 ))
    kinds[$name]="${kinds[$name]:-}${kinds[$name]:+ }exit_$rc"
  fi
  if [ ${#failed_names[@]} -eq 0 ]; then
    printf 'soak: run %d/%d passed (%s tests, %s)\n' "$i" "$runs" "$tests_per_run" "$(fmt_time "$d")"
  else
    failed_runs=$((failed_runs + 1))
    printf 'soak: run %d/%d FAILED (%s, %s): %s\n' "$i" "$runs" "$(fmt_time "$d")" \
      "$(basename "$log")" "${failed_names[*]}"
  fi
done
stop_load
elapsed=$(( $(date +%s) - t0 ))

{
  echo
  echo "== pmdnet soak summary ($build_dir, ctest -L 'integration|e2e' ${exclude[*]}, stress-ng --cpu 2) =="
  if [ "$interrupted" -ne 0 ]; then echo "interrupted during run $((done_runs + 1)); its log is incomplete"; fi
  echo "runs: $done_runs of $runs, $((done_runs - failed_runs)) passed, $failed_runs failed;" \
       "$tests_per_run tests per run"
  if [ ${#durations[@]} -gt 0 ]; then
    mapfile -t sorted < <(printf '%s\n' "${durations[@]}" | sort -n)
    echo "time: $(fmt_time "$elapsed") in all; a run took $(fmt_time "${sorted[0]}") to" \
         "$(fmt_time "${sorted[-1]}"), median $(fmt_time "${sorted[$(( ${#sorted[@]} / 2 ))]}")"
  else
    echo "time: $(fmt_time "$elapsed") in all"
  fi
  if [ ${#fails[@]} -eq 0 ]; then
    echo "failures per test: none"
  else
    echo "failures per test (runs failed / runs, how):"
    for name in "${!fails[@]}"; do
      printf '  %3d/%-3d %s (%s)\n' "${fails[$name]}" "$done_runs" "$name" \
        "$(tr ' ' '\n' <<<"${kinds[$name]}" | sort | uniq -c | awk '{printf "%s%s x%d", (NR > 1 ? ", " : ""), $2, $1}')"
    done | sort -k1,1nr -k2
  fi
  echo "logs: $log_dir"
} | tee "$log_dir/summary.txt"

[ "$interrupted" -ne 0 ] && exit "$interrupted"
[ "$failed_runs" -eq 0 ] && [ "$done_runs" -gt 0 ] || exit 1
exit 0
