#!/usr/bin/env bash
# Installs every Debian package pmdnet needs to build, test, run and benchmark.
# Idempotent and non-interactive: packages already present are not touched again.
#   scripts/setup.sh           what building, testing and scripts/bench.sh's systems A and B need
#   scripts/setup.sh --bench   also Open vSwitch with DPDK (openvswitch-switch-dpdk), bench.sh's
#                              system C, installed with service starts forbidden (policy-rc.d):
#                              bench.sh runs a private instance; the system's OVS is never started
set -euo pipefail

bench=0
for arg in "$@"; do
  case "$arg" in
    --bench) bench=1 ;;
    *) echo "usage: $0 [--bench]" >&2; exit 2 ;;
  esac
done

PACKAGES=(
  # toolchain
  g++ cmake ninja-build pkg-config make
  # DPDK: headers and libraries, plus dpdk-testpmd and the PMD plugins
  dpdk dpdk-dev libdpdk-dev
  # libraries
  libyaml-cpp-dev libspdlog-dev libfmt-dev libsystemd-dev libnuma-dev
  # pmdnetctl parses the telemetry replies with nlohmann::json
  nlohmann-json3-dev
  # tests and benchmarks; scripts/bench.sh draws its chart with matplotlib (bench/e2e/report.py)
  libgtest-dev libgmock-dev googletest libbenchmark-dev python3-matplotlib stress-ng
  # clang 19: the sanitizer build (scripts/test.sh --sanitize), libFuzzer and its sanitizer
  # runtimes (scripts/fuzz.sh), clang-tidy; clang-format for the code's format
  clang-19 libfuzzer-19-dev libclang-rt-19-dev clang-tidy-19 clang-format
  # test helpers: namespaces and veth pairs; systemd-analyze verify for scripts/pmdnetd.service
  iproute2 python3 systemd
  # scripts/qemu_e2e.sh: QEMU, and what builds the guest's initramfs (cpio, depmod/modprobe over
  # the kernel package's modules, ethtool copied in, zstd/xz for compressed modules); the kernel
  # and busybox-static are fetched with apt-get download into its cache, not installed
  qemu-system-x86 cpio kmod ethtool zstd xz-utils
)
# scripts/bench.sh's system C: OVS 3.1 on DPDK 22.11 (/usr/lib/openvswitch-switch-dpdk/)
BENCH_PACKAGES=(openvswitch-switch-dpdk)
if [ "$bench" = 1 ]; then PACKAGES+=("${BENCH_PACKAGES[@]}"); fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
# Debian's maintainer scripts start services through invoke-rc.d / deb-systemd-invoke, which
# ask /usr/sbin/policy-rc.d first (exit 101: forbidden). The OVS packages would start the
# system's ovsdb-server and ovs-vswitchd: unless the policy present already forbids that, a
# forbidding one stands in for the install and the original (or none) is put back after it.
policy=/usr/sbin/policy-rc.d
policy_saved=""  # where the original policy waits during the install
policy_ours=0    # 1: the policy in place is the stand-in
restore_policy() {
  if [ -n "$policy_saved" ]; then
    $SUDO mv -f "$policy_saved" "$policy"
  elif [ "$policy_ours" = 1 ]; then
    $SUDO rm -f "$policy"
  fi
}
if [ "$bench" = 1 ]; then
  forbids=0
  if [ -x "$policy" ]; then
    "$policy" openvswitch-switch start >/dev/null 2>&1 || [ $? -ne 101 ] || forbids=1
  fi
  if [ "$forbids" = 0 ]; then
    trap restore_policy EXIT
    if [ -e "$policy" ]; then
      policy_saved=$($SUDO mktemp /usr/sbin/.policy-rc.d.XXXXXX)
      $SUDO mv -f "$policy" "$policy_saved"
    fi
    policy_ours=1
    printf '#!/bin/sh\n# scripts/setup.sh --bench: no service starts while installing\nexit 101\n' |
      $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
  fi
fi

echo "setup: installing ${missing[*]}"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
