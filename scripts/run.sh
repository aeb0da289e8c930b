#!/usr/bin/env bash
# The demo, from a fresh machine: installs what pmdnet needs, builds it, starts pmdnetd on
# config/examples/demo.yaml (one vhost-user port backed by a net_tap vdev, no hugepages) inside a
# network namespace of its own, connects a guest (pmdnet_guest: DPDK's net_virtio_user) that
# sends UDP traffic through it into the kernel, and prints the port's live packet and bit rates
# once a second. Stops on Ctrl-C or after --duration N seconds, then removes everything it
# started (processes by PID, the namespace, the socket, DPDK's runtime directories).
#
#   scripts/run.sh [--duration N] [--rate PPS] [--size BYTES]
# Exit status: 0 if frames went through the port, 1 otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=0
rate=200000
size=512
usage() { echo "usage: $0 [--duration N] [--rate PPS] [--size BYTES]" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) [ $# -ge 2 ] || usage; duration=$2; shift 2 ;;
    --rate) [ $# -ge 2 ] || usage; rate=$2; shift 2 ;;
    --size) [ $# -ge 2 ] || usage; size=$2; shift 2 ;;
    -h|--help) usage ;;
    *) usage ;;
  esac
done
[[ "$duration" =~ ^[0-9]+$ && "$rate" =~ ^[0-9]+$ && "$size" =~ ^[0-9]+$ ]] || usage
if [ "$(id -u)" -ne 0 ]; then
  echo "run.sh: needs root (network namespaces, net_tap, DPDK)" >&2
  exit 2
fi

build_dir=${BUILD_DIR:-build}
config=config/examples/demo.yaml
socket=/tmp/pmdnet-demo-vm0.sock  # as demo.yaml says
prefix=pmdnet-demo                # demo.yaml's eal.file_prefix
guest_prefix=pmdnet-demo-guest-$$
ns=pmdnet-demo-$$
work=$(mktemp -d /tmp/pmdnet-demo.XXXXXX)

if [ -z "${PMDNET_SKIP_SETUP:-}" ]; then bash scripts/setup.sh; fi
if [ ! -f "$build_dir/build.ninja" ]; then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build "$build_dir" -j "$(nproc)" --target pmdnetd pmdnet_guest pmdnetctl

pmdnetd=$build_dir/daemon/pmdnetd
guest=$build_dir/bench/guest/pmdnet_guest
pmdnetctl=$build_dir/daemon/pmdnetctl

daemon_pid=""
guest_pid=""
cleanup() {
  trap - EXIT INT TERM
  if [ -n "$guest_pid" ] && kill -0 "$guest_pid" 2>/dev/null; then
    kill -TERM "$guest_pid" 2>/dev/null || true
    wait "$guest_pid" 2>/dev/null || true
  fi
  if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work" "/var/run/dpdk/$prefix" "/var/run/dpdk/$guest_prefix"
  if [ -S "$socket" ]; then rm -f "$socket"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -S "$socket" ]; then
  echo "run.sh: $socket exists: is another pmdnetd demo running?" >&2
  exit 1
fi

ip netns add "$ns"
echo "== pmdnetd --config $config (in network namespace $ns)"
ip netns exec "$ns" "$pmdnetd" --config "$config" >"$work/pmdnetd.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do
  [ -S "$socket" ] && break
  kill -0 "$daemon_pid" 2>/dev/null || break
  sleep 0.1
done
if [ ! -S "$socket" ]; then
  echo "run.sh: pmdnetd did not start; its log:" >&2
  cat "$work/pmdnetd.log" >&2
  exit 1
fi
sed 's/^/  pmdnetd: /' "$work/pmdnetd.log"
# The kernel side of the tap: up, with the address the guest's frames are sent to.
ip -n "$ns" link set pmdnet-demo0 up
ip -n "$ns" addr add 198.18.0.2/24 dev pmdnet-demo0

echo "== guest: pmdnet_guest on $socket, ${size}-byte UDP frames at ${rate} frames/s"
guest_args=(--socket "$socket" --file-prefix "$guest_prefix" --lcore 0 --rate "$rate"
            --size "$size" --flows 4)
"$guest" "${guest_args[@]}" >"$work/guest.log" 2>&1 &
guest_pid=$!

echo "== live rates (pmdnetctl watch), Ctrl-C to stop"
count_args=()
if [ "$duration" -gt 0 ]; then count_args=(--count "$duration"); fi
# The first sample needs the guest connected; give it a moment.
for _ in $(seq 100); do
  "$pmdnetctl" --file-prefix "$prefix" --json ports 2>/dev/null | grep -q '"connected": *1' && break
  sleep 0.1
done
"$pmdnetctl" --file-prefix "$prefix" watch --interval 1 "${count_args[@]}"

echo "== totals (the guest still connected)"
"$pmdnetctl" --file-prefix "$prefix" ports
kernel_rx=$(ip netns exec "$ns" cat /sys/class/net/pmdnet-demo0/statistics/rx_packets 2>/dev/null \
  || echo 0)
echo "kernel: pmdnet-demo0 received $kernel_rx frames"
if [ "${kernel_rx:-0}" -gt 0 ]; then
  echo "run.sh: OK, frames went guest -> pmdnetd -> net_tap -> kernel"
  exit 0
fi
echo "run.sh: no frame reached the kernel; pmdnetd's log:" >&2
cat "$work/pmdnetd.log" >&2
exit 1
