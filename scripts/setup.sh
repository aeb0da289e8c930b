#!/usr/bin/env bash
# Installs every Debian package pmdnet needs to build, test, run and benchmark.
# Idempotent and non-interactive: packages already present are not touched again.
set -euo pipefail

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
  # clang tools and the libFuzzer / sanitizer runtime
  clang clang-format clang-tidy libclang-rt-dev
  # coverage-guided fuzzing with g++ (afl-g++-fast): scripts/fuzz.sh
  afl++
  # test helpers: namespaces and veth pairs; systemd-analyze verify for scripts/pmdnetd.service
  iproute2 python3 systemd
  # scripts/qemu_e2e.sh: QEMU, and what builds the guest's initramfs (cpio, depmod/modprobe over
  # the kernel package's modules, ethtool copied in, zstd/xz for compressed modules); the kernel
  # and busybox-static are fetched with apt-get download into its cache, not installed
  qemu-system-x86 cpio kmod ethtool zstd xz-utils
)

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
echo "setup: installing ${missing[*]}"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
