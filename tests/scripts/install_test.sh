#!/usr/bin/env bash
# Tests scripts/install.sh in a temporary DESTDIR with fake binaries: the files, their modes, the
# unit's ExecStart following --prefix, idempotence (an edited configuration survives), --dry-run,
# bad arguments; and systemd-analyze verify on the installed unit when systemd-analyze exists.
#   tests/scripts/install_test.sh [REPO]   (CTest passes the source directory)
set -euo pipefail

repo=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
install_sh=$repo/scripts/install.sh
work=$(mktemp -d "${TMPDIR:-/tmp}/pmdnet-install-test.XXXXXX")
trap 'rm -rf "$work"' EXIT

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}
check() {  # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if ! "$@"; then fail "$what"; fi
}
mode_of() { stat -c %a "$1"; }

build=$work/build
mkdir -p "$build/daemon"
printf '#!/bin/sh\necho fake pmdnetd v1\n' >"$build/daemon/pmdnetd"
chmod 0755 "$build/daemon/pmdnetd"

# ---- 1. A first install into DESTDIR (the environment variable) ----
root=$work/root
if ! DESTDIR=$root bash "$install_sh" --build-dir "$build" >"$work/out1" 2>&1; then
  cat "$work/out1" >&2
  fail "install into DESTDIR failed"
fi
check "pmdnetd installed" cmp -s "$build/daemon/pmdnetd" "$root/usr/local/bin/pmdnetd"
check "pmdnetd is 755" [ "$(mode_of "$root/usr/local/bin/pmdnetd")" = 755 ]
check "pmdnetctl not installed when not built" [ ! -e "$root/usr/local/bin/pmdnetctl" ]
check "missing pmdnetctl reported" grep -q "skipping pmdnetctl" "$work/out1"
unit=$root/etc/systemd/system/pmdnetd.service
check "unit installed unchanged with the default prefix" \
  cmp -s "$repo/scripts/pmdnetd.service" "$unit"
check "unit is 644" [ "$(mode_of "$unit")" = 644 ]
config=$root/etc/pmdnet/pmdnetd.yaml
check "configuration installed from full.yaml" cmp -s "$repo/config/examples/full.yaml" "$config"
check "systemd not reloaded for a DESTDIR install" grep -q "not reloading systemd" "$work/out1"
expected_files=$(printf '%s\n' etc/pmdnet/pmdnetd.yaml etc/systemd/system/pmdnetd.service \
  usr/local/bin/pmdnetd)
check "nothing else installed" [ "$(cd "$root" && find . -type f | sed 's#^\./##' | sort)" = \
  "$expected_files" ]

# ---- 2. Again, with a new pmdnetd, a pmdnetctl, and an edited configuration ----
printf '#!/bin/sh\necho fake pmdnetd v2\n' >"$build/daemon/pmdnetd"
printf '#!/bin/sh\necho fake pmdnetctl\n' >"$build/daemon/pmdnetctl"
chmod 0755 "$build/daemon/pmdnetd" "$build/daemon/pmdnetctl"
echo "# edited by the operator" >>"$config"
cp "$config" "$work/config.edited"
if ! bash "$install_sh" --build-dir "$build" --destdir "$root" >"$work/out2" 2>&1; then
  cat "$work/out2" >&2
  fail "second install failed"
fi
check "pmdnetd replaced" cmp -s "$build/daemon/pmdnetd" "$root/usr/local/bin/pmdnetd"
check "pmdnetctl installed" cmp -s "$build/daemon/pmdnetctl" "$root/usr/local/bin/pmdnetctl"
check "pmdnetctl is 755" [ "$(mode_of "$root/usr/local/bin/pmdnetctl")" = 755 ]
check "edited configuration kept" cmp -s "$work/config.edited" "$config"
check "kept configuration reported" grep -q "keeping the existing" "$work/out2"
check "unchanged unit reported" grep -q "up to date" "$work/out2"

# ---- 3. --prefix moves the binaries and the unit's ExecStart ----
opt=$work/opt-root
if ! bash "$install_sh" --build-dir="$build" --prefix=/opt/pmdnet/ --destdir="$opt" \
  >"$work/out3" 2>&1; then
  cat "$work/out3" >&2
  fail "install with --prefix failed"
fi
check "pmdnetd under the prefix" [ -x "$opt/opt/pmdnet/bin/pmdnetd" ]
check "nothing under /usr/local" [ ! -e "$opt/usr/local" ]
check "ExecStart follows the prefix" grep -qx \
  'ExecStart=/opt/pmdnet/bin/pmdnetd --config /etc/pmdnet/pmdnetd.yaml' \
  "$opt/etc/systemd/system/pmdnetd.service"
check "only ExecStart differs" [ "$(diff "$repo/scripts/pmdnetd.service" \
  "$opt/etc/systemd/system/pmdnetd.service" | grep -c '^[<>]')" = 2 ]

# ---- 4. --dry-run changes nothing ----
dry=$work/dry-root
if ! bash "$install_sh" --build-dir "$build" --destdir "$dry" --dry-run >"$work/out4" 2>&1; then
  cat "$work/out4" >&2
  fail "--dry-run failed"
fi
check "--dry-run creates nothing" [ ! -e "$dry" ]
check "--dry-run prints the install commands" grep -q "^+ install .*$dry/usr/local/bin/pmdnetd" \
  "$work/out4"

# ---- 5. Bad arguments exit 2 and name the argument ----
bad_args() {  # bad_args EXPECTED_TEXT ARGS...
  local expected=$1 rc=0
  shift
  bash "$install_sh" "$@" >"$work/bad" 2>&1 || rc=$?
  check "'$*' exits 2 (got $rc)" [ "$rc" = 2 ]
  check "'$*' says '$expected'" grep -qF -- "$expected" "$work/bad"
}
bad_args "unknown argument '--bogus'" --destdir "$work/x" --bogus
bad_args "unknown argument 'stray'" --destdir "$work/x" stray
bad_args "'--build-dir' needs a value" --destdir "$work/x" --build-dir
bad_args "'--prefix' needs a value" --destdir "$work/x" --prefix --dry-run
bad_args "absolute path" --destdir "$work/x" --prefix relative/dir
bad_args "may hold only" --destdir "$work/x" --prefix '/opt/a#b'
check "bad arguments installed nothing" [ ! -e "$work/x" ]

# ---- 6. systemd-analyze verify on the installed unit ----
# verify exits non-zero for a missing ExecStart binary, and only warns (exit 0) about unknown
# keys and bad values: point ExecStart at the fake binary and require silence as well.
if command -v systemd-analyze >/dev/null 2>&1; then
  verify_unit() {  # verify_unit UNIT_FILE; prints systemd-analyze's complaints
    systemd-analyze verify --man=no "$1" 2>&1
  }
  mkdir -p "$work/verify" "$work/verify-bad"
  sed "s#^ExecStart=/usr/local/bin/pmdnetd#ExecStart=$root/usr/local/bin/pmdnetd#" "$unit" \
    >"$work/verify/pmdnetd.service"
  check "ExecStart rewritten for verify" grep -q "^ExecStart=$root/" "$work/verify/pmdnetd.service"
  if out=$(verify_unit "$work/verify/pmdnetd.service"); then
    check "systemd-analyze verify is silent: $out" [ -z "$out" ]
  else
    fail "systemd-analyze verify failed: $out"
  fi
  # The check can fail: a misspelt key in an otherwise identical unit is reported.
  sed 's/^WatchdogSec=/WatchdogSecs=/' "$work/verify/pmdnetd.service" \
    >"$work/verify-bad/pmdnetd.service"
  out=$(verify_unit "$work/verify-bad/pmdnetd.service" || true)
  check "systemd-analyze verify reports a misspelt key" grep -q "WatchdogSecs" <<<"$out"
else
  echo "install_test: systemd-analyze not found; unit not verified"
fi

if [ "$failures" -ne 0 ]; then
  echo "install_test: $failures check(s) failed" >&2
  exit 1
fi
echo "install_test: all checks passed"
