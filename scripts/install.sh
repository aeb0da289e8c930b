#!/usr/bin/env bash
# Installs pmdnetd (and pmdnetctl, when built), its systemd unit and a starting configuration.
# Idempotent: binaries and the unit are replaced by the built ones, an existing
# /etc/pmdnet/pmdnetd.yaml is never touched, and systemd is reloaded only when the unit changed.
#   scripts/install.sh [--build-dir DIR] [--prefix PREFIX] [--destdir DIR] [--dry-run]
#     --build-dir DIR  the CMake build directory (default: build/ in the repository)
#     --prefix PREFIX  binaries go to PREFIX/bin (default /usr/local); the unit's ExecStart follows
#     --destdir DIR    stage everything under DIR (also $DESTDIR), e.g. for packaging or tests;
#                      systemd is not reloaded then
#     --dry-run        print what would be done, change nothing
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=$repo/build
prefix=/usr/local
destdir=${DESTDIR:-}
dry_run=0

unit_dir=/etc/systemd/system
config_dir=/etc/pmdnet

usage() {
  echo "Usage:"
  sed -n '5,10s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

die_usage() {
  echo "install.sh: $*" >&2
  usage >&2
  exit 2
}

# Refuses a missing, empty or option-like value $2 for option $1.
need_value() {
  if [ "$2" = "__missing__" ] || [ -z "$2" ] || [[ "$2" == -* ]]; then
    die_usage "option '$1' needs a value"
  fi
}

while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir | --prefix | --destdir)
      need_value "$1" "${2-__missing__}"
      case "$1" in
        --build-dir) build_dir=$2 ;;
        --prefix) prefix=$2 ;;
        --destdir) destdir=$2 ;;
      esac
      shift 2
      ;;
    --build-dir=*) build_dir=${1#*=}; need_value --build-dir "$build_dir"; shift ;;
    --prefix=*) prefix=${1#*=}; need_value --prefix "$prefix"; shift ;;
    --destdir=*) destdir=${1#*=}; need_value --destdir "$destdir"; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die_usage "unknown argument '$1'" ;;
  esac
done

# The prefix is written into the unit's ExecStart: keep it to characters that need no quoting.
case "$prefix" in
  /*) ;;
  *) die_usage "--prefix must be an absolute path, got '$prefix'" ;;
esac
if [[ ! "$prefix" =~ ^[A-Za-z0-9/._+-]+$ ]]; then
  die_usage "--prefix may hold only A-Z a-z 0-9 / . _ + -, got '$prefix'"
fi
prefix=${prefix%/}
[ -n "$prefix" ] || prefix=/
destdir=${destdir%/}

if [ -z "$destdir" ] && [ "$dry_run" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: writing to $prefix and /etc needs root (or use --destdir / --dry-run)" >&2
  exit 1
fi

# Runs a command, or only prints it with --dry-run.
run() {
  if [ "$dry_run" -eq 1 ]; then
    printf '+ %s\n' "$*"
  else
    "$@"
  fi
}

bindir=${prefix%/}/bin

# 1. Binaries.
for name in pmdnetd pmdnetctl; do
  src=$build_dir/daemon/$name
  if [ -f "$src" ] && [ -x "$src" ]; then
    run install -D -m 0755 "$src" "$destdir$bindir/$name"
    echo "install.sh: $name -> $destdir$bindir/$name"
  else
    echo "install.sh: $src is not built; skipping $name" >&2
  fi
done

# 2. The unit, its ExecStart pointing at this prefix.
unit_src=$repo/scripts/pmdnetd.service
unit_dst=$destdir$unit_dir/pmdnetd.service
unit_tmp=$(mktemp)
trap 'rm -f "$unit_tmp"' EXIT
sed "s#/usr/local/bin/pmdnetd#$bindir/pmdnetd#g" "$unit_src" >"$unit_tmp"
unit_changed=1
if [ -f "$unit_dst" ] && cmp -s "$unit_tmp" "$unit_dst"; then
  unit_changed=0
  echo "install.sh: $unit_dst is up to date"
else
  run install -D -m 0644 "$unit_tmp" "$unit_dst"
  echo "install.sh: unit -> $unit_dst"
fi

# 3. A starting configuration, only if there is none: the operator's file is theirs.
config_src=$repo/config/examples/full.yaml
config_dst=$destdir$config_dir/pmdnetd.yaml
if [ -e "$config_dst" ] || [ -L "$config_dst" ]; then
  echo "install.sh: keeping the existing $config_dst"
else
  run install -D -m 0644 "$config_src" "$config_dst"
  echo "install.sh: configuration -> $config_dst (from config/examples/full.yaml; edit it)"
fi

# 4. Tell a running systemd about the new unit.
if [ -n "$destdir" ]; then
  echo "install.sh: staged under $destdir; not reloading systemd"
elif [ "$unit_changed" -eq 0 ]; then
  :
elif [ -d /run/systemd/system ]; then
  run systemctl daemon-reload
  echo "install.sh: systemd reloaded; start with: systemctl enable --now pmdnetd"
else
  echo "install.sh: systemd is not running here; not reloading it"
fi
