#!/usr/bin/env bash
# End-to-end with a real Linux guest: QEMU + Linux's virtio-net driver over vhost-user to pmdnetd,
# whose net_tap backend leads into a network namespace, so the host kernel is the peer of every
# packet. Builds (and caches) a Debian kernel + busybox initramfs, boots it under KVM where KVM
# works and TCG otherwise, and checks ping, byte-exact TCP both ways with TSO and checksum
# offload, UDP of mixed sizes, pmdnetd restarts mid-transfer (server and client socket modes),
# a guest reboot, and a guest killed with SIGKILL. docs/qemu_e2e.md has the details.
#
#   scripts/qemu_e2e.sh [--ci] [--accel auto|kvm|tcg] [--ring split|packed] [--tcp-mb N]
#                       [--phases ab|m] [--migration-modes server,client] [--gro auto|on|off]
#                       [--no-restart] [--keep-logs] [--log FILE]
#                       [--build-dir DIR] [--no-build] [--cache DIR]
#
#   --ci          CI mode: under TCG (no usable KVM) the transfers are smaller (TCP 48 MB instead
#                 of 200 MB), and the output says so
#   --accel       auto (default): KVM when /dev/kvm works and can boot the guest, else TCG
#   --ring        the guest's virtqueues: split (default) or packed (virtio-net-pci packed=on);
#                 the guest must have negotiated that layout (VIRTIO_F_RING_PACKED, bit 34)
#   --phases      a: pmdnetd the server, b: pmdnetd the client (default ab); m: live migration
#   --migration-modes  phase m: the socket modes to migrate in (default server,client)
#   --keep-logs   keep the work directory (pmdnetd, QEMU, console and transfer logs)
#   --log FILE    a copy of the output
#   --build-dir   where pmdnetd, pmdnetctl and pmdnet_guest are built (default build/)
#   --no-build    do not run cmake --build (CTest: the build is already there)
#   --cache DIR   where the kernel and initramfs are kept (default /var/cache/pmdnet-e2e,
#                 or $PMDNET_E2E_CACHE)
# Exit status: 0 when every check passed, 1 otherwise, 2 on bad usage.
set -euo pipefail
caller=$PWD
cd "$(dirname "$0")/.."
abs() { case "$1" in /*) echo "$1" ;; *) echo "$caller/$1" ;; esac; }  # relative to the caller

build_dir=${BUILD_DIR:-build}
build=1
cache=${PMDNET_E2E_CACHE:-/var/cache/pmdnet-e2e}
driver_args=()
usage() { sed -n '9,28p' "$0" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --ci|--keep-logs|--no-restart) driver_args+=("$1"); shift ;;
    --accel|--ring|--tcp-mb|--phases|--migration-modes|--gro|--guest-mb|--boot-timeout)
      [ $# -ge 2 ] || usage; driver_args+=("$1" "$2"); shift 2 ;;
    --log) [ $# -ge 2 ] || usage; driver_args+=("$1" "$(abs "$2")"); shift 2 ;;
    --build-dir) [ $# -ge 2 ] || usage; build_dir=$(abs "$2"); shift 2 ;;
    --no-build) build=0; shift ;;
    --cache) [ $# -ge 2 ] || usage; cache=$(abs "$2"); shift 2 ;;
    -h|--help) usage ;;
    *) echo "qemu_e2e.sh: unknown argument $1" >&2; usage ;;
  esac
done
if [ "$(id -u)" -ne 0 ]; then
  echo "qemu_e2e.sh: needs root (network namespaces, taps, DPDK)" >&2
  exit 2
fi

if [ -z "${PMDNET_SKIP_SETUP:-}" ]; then bash scripts/setup.sh; fi
for tool in qemu-system-x86_64 cpio depmod modprobe ethtool ip cc apt-get dpkg-deb; do
  command -v "$tool" >/dev/null || { echo "qemu_e2e.sh: $tool missing (scripts/setup.sh)" >&2; exit 1; }
done
if [ "$build" = 1 ]; then
  if [ ! -f "$build_dir/build.ninja" ]; then
    cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
  fi
  cmake --build "$build_dir" -j "$(nproc)" --target pmdnetd pmdnetctl pmdnet_guest
fi
pmdnetd=$build_dir/daemon/pmdnetd
pmdnetctl=$build_dir/daemon/pmdnetctl
guest=$build_dir/bench/guest/pmdnet_guest
for b in "$pmdnetd" "$pmdnetctl"; do
  [ -x "$b" ] || { echo "qemu_e2e.sh: $b not built" >&2; exit 1; }
done
[ -x "$guest" ] || guest=""

echo "== guest image (cache: $cache)"
artifacts=$(bash scripts/qemu_e2e/build_guest.sh "$cache" | tail -1)

python=python3
if [ -x /usr/bin/python3 ]; then python=/usr/bin/python3; fi
echo "== qemu_e2e: pmdnetd $(realpath "$pmdnetd")"
exec "$python" scripts/qemu_e2e/driver.py --artifacts "$artifacts" \
  --pmdnetd "$(realpath "$pmdnetd")" --pmdnetctl "$(realpath "$pmdnetctl")" \
  --pmdnet-guest "${guest:+$(realpath "$guest")}" "${driver_args[@]}"
