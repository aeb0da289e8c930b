#!/usr/bin/env bash
# scripts/bench.sh: the end-to-end benchmark. One guest traffic generator against two or three
# systems under test (SUT), measured alternately in one run (A B C A B C ..., one round of each
# per "pair"):
#   A: pmdnetd, one vhost-user port with a dpdk backend on net_null0, its busy worker pinned;
#   B: dpdk-testpmd with net_vhost0 and net_null0, io forwarding (the csum engine with GSO for
#      the TSO case), its forwarding lcore on the CPU A's worker uses;
#   C: Open vSwitch with DPDK (Debian's openvswitch-switch-dpdk, OVS 3.1 on DPDK 22.11), a private
#      ovsdb-server and ovs-vswitchd-dpdk in the work directory: a netdev bridge with a
#      dpdkvhostuser port and a dpdk port on net_null0, two OpenFlow rules between them (no NORMAL
#      flow), its PMD thread on the CPU A's worker uses, its other threads on the guest's CPU.
#      C does not run the tso case: OVS 3.1 cannot take 64 KB TSO frames from a guest (its
#      dpdkvhostuser ports offer no TSO even with userspace-tso-enable; on dpdkvhostuserclient
#      ports DPDK's vhost library drops every 65,536-byte frame, since an external mbuf buffer is
#      limited to 64 KB with its headroom), and net_null has no TSO for it to use.
# --systems AB leaves C out; the default is ABC when OVS-DPDK is installed (scripts/setup.sh
# --bench, which this script runs), AB otherwise; the first line of the output says which.
# The guest is dpdk-testpmd on net_virtio_user (txonly, rxonly or io), or bench/guest/pmdnet_guest
# for the TSO case (testpmd's txonly cannot make TSO frames); same settings for every system.
# Guest on one CPU, the SUT's worker on the other; main lcores share the guest's CPU (they sleep).
# Every DPDK process runs without hugepages, with its own --file-prefix.
#
#   scripts/bench.sh [--pairs N] [--duration S] [--warmup S] [--cases LIST] [--results DIR]
#                    [--max-other PCT] [--retries N] [--quiet-wait S] [--guest-cpu N]
#                    [--sut-cpu N] [--far-ns NS] [--ring split|packed] [--in-order 0|1] [--keep]
#                    [--no-plot] [--systems AB|ABC]
#
# The guest's rings (net_virtio_user's packed_vq= and in_order=, the same for every system; all
# offer packed rings and IN_ORDER): --ring split (default) or packed; --in-order 0 (default) or 1.
# net_virtio_user's own default is split with in_order=1.
#
# Cases (LIST is comma-separated; default: all seven):
#   tx64, tx1518      guest TX only: guest txonly -> SUT -> net_null (net_null's RX off)
#   rx64, rx1518      guest RX only: net_null generates -> SUT -> guest rxonly
#   loop64, loop1518  the PVP loop: net_null -> SUT -> guest io forwarding -> SUT -> net_null
#   tso               guest TX of 64 KB TCP/IPv4 frames with TSO requested (MSS 1448): A and B
#                     segment in software (pmdnetd's TSO fallback; testpmd's GSO); not C
# Any tx<size>, rx<size> or loop<size> (60..2048 bytes) works too.
#
# Each measurement starts the SUT and the guest afresh, lets traffic run --warmup seconds, then
# reads the counters over a --duration second window: the guest's (testpmd's "show fwd stats
# all", or pmdnet_guest's window line), and the SUT's (pmdnetctl --json workers/port for A, the
# same testpmd command for B, with --record-core-cycles; for C ovs-appctl
# dpif-netdev/pmd-stats-show and ovs-ofctl dump-ports, since OVS 3.1 reports no live counters for
# the vhost port: its side is the guest's counts). Prints a line per measurement, then the table
# (medians, A/B per pair, C/B and A/C, generator and SUT drops, cycles per packet), and writes
# <results>/<date>.json and .png (bench/e2e/report.py). Everything it started is stopped by PID
# (OVS's daemons by the PIDs in their pidfiles); its work directory, sockets, OVS's database and
# DPDK runtime directories are removed (--keep keeps the logs).
#
# Other load: during each window it counts the CPU time the two CPUs spent on anything but the
# guest and the SUT (other processes, interrupts, a hypervisor's steal), in percent of one CPU.
# A pair where any window saw more than --max-other percent (default 10) is measured again,
# up to --retries times (default 3); the discarded windows stay in the JSON, marked as such.
# Before each pair it waits up to --quiet-wait seconds (default 300) for the CPUs to be quiet.
#
# vCPU placement: a VM's two vCPUs may share a physical core or cache, or sit far apart (another
# socket), and the hypervisor moves them for tens of seconds at a time; the cache-line round trip
# between them, and with it every vhost-user datapath, changes several times over
# (docs/benchmarks.md, "The VM: two vCPU placements"). Before and after each window
# pmdnet_core_latency measures that round trip; below --far-ns (default 150) the window ran
# "near", else "far". A pair is measured again (same --retries budget) when a window's two probes
# disagree or the systems' placements differ, so they are compared on the same hardware; the
# JSON keeps each window's probes.
# Exit status: 0 if every measurement produced numbers, 1 if some failed, 2 for bad usage.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

pairs=5
duration=5
warmup=2
cases=tx64,tx1518,rx64,rx1518,loop64,loop1518,tso
results=bench/results
guest_cpu=0
sut_cpu=1
max_other=10
retries=3
quiet_wait=300
far_ns=150
ring=split
in_order=0
keep=0
plot=1
systems=""  # AB or ABC; empty: ABC when OVS-DPDK is installed
usage() {
  echo "usage: scripts/bench.sh [--pairs N] [--duration S] [--warmup S] [--cases LIST]" \
    "[--results DIR] [--max-other PCT] [--retries N] [--quiet-wait S] [--guest-cpu N]" \
    "[--sut-cpu N] [--far-ns NS] [--ring split|packed] [--in-order 0|1] [--keep] [--no-plot]" \
    "[--systems AB|ABC]" >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case "$1" in
    --pairs) [ $# -ge 2 ] || usage; pairs=$2; shift 2 ;;
    --duration) [ $# -ge 2 ] || usage; duration=$2; shift 2 ;;
    --warmup) [ $# -ge 2 ] || usage; warmup=$2; shift 2 ;;
    --cases) [ $# -ge 2 ] || usage; cases=$2; shift 2 ;;
    --results) [ $# -ge 2 ] || usage; results=$2; shift 2 ;;
    --guest-cpu) [ $# -ge 2 ] || usage; guest_cpu=$2; shift 2 ;;
    --sut-cpu) [ $# -ge 2 ] || usage; sut_cpu=$2; shift 2 ;;
    --max-other) [ $# -ge 2 ] || usage; max_other=$2; shift 2 ;;
    --retries) [ $# -ge 2 ] || usage; retries=$2; shift 2 ;;
    --quiet-wait) [ $# -ge 2 ] || usage; quiet_wait=$2; shift 2 ;;
    --far-ns) [ $# -ge 2 ] || usage; far_ns=$2; shift 2 ;;
    --ring) [ $# -ge 2 ] || usage; ring=$2; shift 2 ;;
    --in-order) [ $# -ge 2 ] || usage; in_order=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --no-plot) plot=0; shift ;;
    --systems) [ $# -ge 2 ] || usage; systems=$2; shift 2 ;;
    *) usage ;;
  esac
done
for n in "$pairs" "$duration" "$warmup" "$guest_cpu" "$sut_cpu" "$max_other" "$retries" \
         "$quiet_wait" "$far_ns"; do
  [[ "$n" =~ ^[0-9]+$ ]] || usage
done
[ "$pairs" -ge 1 ] && [ "$duration" -ge 1 ] || usage
case "$ring" in split) packed_vq=0 ;; packed) packed_vq=1 ;; *) usage ;; esac
case "$in_order" in 0 | 1) ;; *) usage ;; esac
case "$systems" in "" | AB | ABC) ;; *) usage ;; esac
if [ "$guest_cpu" = "$sut_cpu" ]; then
  echo "bench.sh: the guest and the SUT need two different CPUs" >&2
  exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "bench.sh: needs root (DPDK runtime directories in /var/run/dpdk, vhost-user)" >&2
  exit 2
fi
command_line="scripts/bench.sh --pairs $pairs --duration $duration --warmup $warmup"
command_line+=" --cases $cases --max-other $max_other --retries $retries"
command_line+=" --quiet-wait $quiet_wait --far-ns $far_ns --ring $ring --in-order $in_order"

if [ -z "${PMDNET_SKIP_SETUP:-}" ]; then bash scripts/setup.sh --bench; fi
# System C: the DPDK build of ovs-vswitchd, called by its path (whatever the ovs-vswitchd
# alternative points at), and the package's database schema.
ovs_vswitchd=/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk
ovs_schema=/usr/share/openvswitch/vswitch.ovsschema
systems_note=""
if [ -z "$systems" ]; then
  if [ -x "$ovs_vswitchd" ] && [ -r "$ovs_schema" ]; then systems=ABC; else
    systems=AB
    systems_note=" (no C: $ovs_vswitchd is not installed; scripts/setup.sh --bench installs it)"
  fi
elif [ "$systems" = ABC ] && { [ ! -x "$ovs_vswitchd" ] || [ ! -r "$ovs_schema" ]; }; then
  echo "bench.sh: --systems ABC needs $ovs_vswitchd and $ovs_schema" \
    "(openvswitch-switch-dpdk: scripts/setup.sh --bench)" >&2
  exit 2
fi
command_line+=" --systems $systems"
systems_list=(A B)
if [ "$systems" = ABC ]; then systems_list+=(C); fi
build_dir=${BUILD_DIR:-build}
if [ ! -f "$build_dir/build.ninja" ]; then
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build "$build_dir" --target pmdnetd pmdnetctl pmdnet_guest pmdnet_core_latency
pmdnetd=$build_dir/daemon/pmdnetd
pmdnetctl=$build_dir/daemon/pmdnetctl
pmdnet_guest=$build_dir/bench/guest/pmdnet_guest
core_latency=$build_dir/bench/pmdnet_core_latency
testpmd=$(command -v dpdk-testpmd) || { echo "bench.sh: dpdk-testpmd not found" >&2; exit 1; }
py=/usr/bin/python3  # Debian's, which has python3-matplotlib (not a pyenv or venv one)
[ -x "$py" ] || py=$(command -v python3)
report=$root/bench/e2e/report.py
IFS=, read -r -a case_list <<<"$cases"
for c in "${case_list[@]}"; do
  "$py" "$report" case-info "$c" >/dev/null || usage
done

# ---- processes, directories, cleanup ----

work=$(mktemp -d /tmp/pmdnet-bench.XXXXXX)
ab_socket=$work/vm0.sock  # A's and B's vhost-user socket
# C's private OVS: OVS_RUNDIR (database socket, pidfiles, control sockets, bridge management
# socket; conf.db too), with its vhost-user sockets in the vhost-sock-dir "vhost" inside it.
ovs_dir=$work/ovs
c_socket=$ovs_dir/vhost/vm0
socket=$ab_socket  # the socket of the system being measured
prefix=pmdnet-bench-$$
a_prefix=$prefix-a
b_prefix=$prefix-b
c_prefix=$prefix-c
g_prefix=$prefix-g
rundir=/var/run/dpdk
sut_pid=""     # the processes running now (each measurement starts and stops its own)
guest_pid=""
ovsdb_pid=""   # C's ovsdb-server (sut_pid is its ovs-vswitchd)
sut_fd=""
guest_fd=""
last_other=0   # other load in the last measurement's window, in percent of one CPU
last_placement=none  # near, far or mixed: the last measurement's vCPU placement (probes)

alive() {  # PID: running (not exited, not a zombie)
  local state
  [ -r "/proc/$1/stat" ] || return 1
  state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

stop_pid() {  # PID [GRACE]: waits GRACE seconds (default 5) for it to end, then SIGTERM, SIGKILL
  local pid=$1 grace=${2:-5} i
  [ -n "$pid" ] || return 0
  for ((i = 0; i < grace * 10; i++)); do alive "$pid" || break; sleep 0.1; done
  if alive "$pid"; then kill -TERM "$pid" 2>/dev/null || true; fi
  for ((i = 0; i < 50; i++)); do alive "$pid" || break; sleep 0.1; done
  if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
}

close_fd() {  # NAME of a variable holding a file descriptor
  local fd=${!1}
  if [ -n "$fd" ]; then exec {fd}>&-; fi
  printf -v "$1" '%s' ""
}

remove_runtime() {
  rm -rf "${rundir:?}/$a_prefix" "${rundir:?}/$b_prefix" "${rundir:?}/$c_prefix" \
    "${rundir:?}/$g_prefix" "${ovs_dir:?}"
  rm -f "$ab_socket"
}

# The PID in an OVS pidfile, if that process runs (ovsdb-server and ovs-vswitchd detach: they are
# not children of this script).
ovs_pid() {  # PIDFILE
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 0
  if [[ "$pid" =~ ^[0-9]+$ ]] && alive "$pid"; then echo "$pid"; fi
}

# Stops C's ovs-vswitchd, then its ovsdb-server: SIGTERM, SIGKILL after 5 s. By the PIDs
# recorded at start, or else read from their pidfiles.
stop_ovs() {
  local pid
  [ -n "$sut_pid" ] || sut_pid=$(ovs_pid "$ovs_dir/ovs-vswitchd.pid")
  [ -n "$ovsdb_pid" ] || ovsdb_pid=$(ovs_pid "$ovs_dir/ovsdb-server.pid")
  for pid in "$sut_pid" "$ovsdb_pid"; do stop_pid "$pid" 0; done
  sut_pid=""
  ovsdb_pid=""
}

cleanup() {
  trap - EXIT INT TERM
  close_fd guest_fd
  close_fd sut_fd
  stop_pid "$guest_pid" 0
  stop_pid "$sut_pid" 0
  guest_pid=""
  sut_pid=""
  stop_ovs
  remove_runtime
  if [ "$keep" = 1 ]; then
    echo "bench.sh: logs kept in $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- one measurement ----

# OVS's tools on C's private instance: its directories through OVS_RUNDIR and friends (never the
# system's /var/run/openvswitch or /etc/openvswitch), its daemons' control socket by path.
ovs_env() {
  env OVS_RUNDIR="$ovs_dir" OVS_DBDIR="$ovs_dir" OVS_SYSCONFDIR="$ovs_dir" \
    OVS_LOGDIR="$ovs_dir" OVS_PKGDATADIR=/usr/share/openvswitch "$@"
}
ovs_vsctl() { ovs_env ovs-vsctl --db="unix:$ovs_dir/db.sock" --no-wait --timeout=20 "$@"; }
ovs_appctl() { ovs_env ovs-appctl --timeout=20 -t "$ovs_dir/ovs-vswitchd.ctl" "$@"; }
cpu_mask() { printf '0x%x' $((1 << $1)); }

# Starts system C for a case: a fresh database, ovsdb-server, the configuration (before
# ovs-vswitchd starts, so DPDK starts with it), ovs-vswitchd-dpdk, then the two OpenFlow rules.
# Both daemons start on the guest's CPU (taskset); the PMD thread moves itself to pmd-cpu-mask.
# Sets sut_pid and ovsdb_pid; returns non-zero (its log says why) if something failed.
start_ovs() {  # NULL_DEVARGS DIR
  local null=$1 dir=$2
  mkdir -p "$ovs_dir/vhost"
  ovs_env ovsdb-tool create "$ovs_dir/conf.db" "$ovs_schema" >"$dir/ovsdb-server.log" 2>&1 ||
    return 1
  ovs_env taskset -c "$guest_cpu" ovsdb-server "$ovs_dir/conf.db" \
    --remote="punix:$ovs_dir/db.sock" --pidfile="$ovs_dir/ovsdb-server.pid" \
    --unixctl="$ovs_dir/ovsdb-server.ctl" --log-file="$dir/ovsdb-server.log" --detach \
    --no-chdir >>"$dir/ovsdb-server.log" 2>&1 || return 1
  ovsdb_pid=$(ovs_pid "$ovs_dir/ovsdb-server.pid")
  [ -n "$ovsdb_pid" ] || return 1
  # dpdk-extra: --legacy-mem, or OVS adds --in-memory, which EAL refuses with --no-huge;
  # per-port-memory: a mempool per port instead of the shared one (about 1 GB at start).
  ovs_vsctl init -- set Open_vSwitch . other_config:dpdk-init=true \
    "other_config:dpdk-lcore-mask=$(cpu_mask "$guest_cpu")" \
    "other_config:pmd-cpu-mask=$(cpu_mask "$sut_cpu")" \
    "other_config:dpdk-extra=--no-huge -m 1024 --legacy-mem --file-prefix $c_prefix --no-pci" \
    other_config:per-port-memory=true other_config:vhost-sock-dir=vhost \
    -- add-br br0 -- set Bridge br0 datapath_type=netdev \
    -- add-port br0 vm0 -- set Interface vm0 type=dpdkvhostuser ofport_request=1 \
    -- add-port br0 null0 -- set Interface null0 type=dpdk "options:dpdk-devargs=$null" \
    ofport_request=2 >>"$dir/ovsdb-server.log" 2>&1 || return 1
  ovs_env taskset -c "$guest_cpu" "$ovs_vswitchd" "unix:$ovs_dir/db.sock" \
    --pidfile="$ovs_dir/ovs-vswitchd.pid" --unixctl="$ovs_dir/ovs-vswitchd.ctl" \
    --log-file="$dir/sut.log" --detach --no-chdir >"$dir/ovs-vswitchd.out" 2>&1 || return 1
  sut_pid=$(ovs_pid "$ovs_dir/ovs-vswitchd.pid")
  [ -n "$sut_pid" ] || return 1
  { ovs_env ovs-ofctl del-flows br0 &&
    ovs_env ovs-ofctl add-flow br0 in_port=1,actions=output:2 &&
    ovs_env ovs-ofctl add-flow br0 in_port=2,actions=output:1; } >>"$dir/sut.log" 2>&1
}

# Starts the SUT for CASE (kind, size) on $socket; sets sut_pid (and sut_fd for testpmd).
start_sut() {
  local sys=$1 kind=$2 size=$3 dir=$4 null="net_null0,size=$3"
  if [ "$kind" = tx ] || [ "$kind" = tso ]; then null="$null,no-rx=1"; fi
  if [ "$sys" = C ]; then
    if ! start_ovs "$null" "$dir"; then
      echo "bench.sh: system C (OVS) did not start" >>"$dir/sut.log"
      stop_ovs
    fi
  elif [ "$sys" = A ]; then
    cat >"$dir/pmdnetd.yaml" <<EOF
# Written by scripts/bench.sh: system A for case $kind$size.
eal:
  lcores: "0@$guest_cpu,1@$sut_cpu"
  main_lcore: 0
  no_huge: true
  memory_mb: 1024
  file_prefix: $a_prefix
state_dir: $dir
workers:
  - lcore: 1
    idle: busy
ports:
  - name: vm0
    vhost_user:
      socket: $socket
    backend:
      type: dpdk
      device: "$null"
logging:
  level: warn
EOF
    "$pmdnetd" --config "$dir/pmdnetd.yaml" >"$dir/sut.log" 2>&1 &
    sut_pid=$!
  else
    local vhost="net_vhost0,iface=$socket,queues=1,client=0" mode=io extra=()
    if [ "$kind" = tso ]; then
      vhost="$vhost,tso=1"
      mode=csum
      extra=(--total-num-mbufs=32768)
    fi
    mkfifo "$dir/sut.in"
    stdbuf -o0 -e0 "$testpmd" --lcores "0@$guest_cpu,1@$sut_cpu" --no-huge -m 1024 \
      --file-prefix "$b_prefix" --no-pci --vdev "$vhost" --vdev "$null" --log-level '*:notice' \
      -- -i --nb-cores=1 --rxq=1 --txq=1 --burst=32 --record-core-cycles \
      --forward-mode=$mode "${extra[@]}" <"$dir/sut.in" >"$dir/sut.log" 2>&1 &
    sut_pid=$!
    exec {sut_fd}<>"$dir/sut.in"
    if [ "$kind" = tso ]; then
      # No software checksum of whole 64 KB frames on vhost RX (net_vhost does one unless the
      # port asks for the offload); no MAC rewrite; GSO into 1514-byte frames (MSS 1448 + 66).
      printf '%s\n' "port stop 0" "port config 0 rx_offload tcp_cksum on" "port start 0" \
        "csum mac-swap off 1" "set port 1 gso on" "set gso segsz 1514" >&"$sut_fd"
    fi
    echo start >&"$sut_fd"
  fi
}

# Starts the guest for CASE; sets guest_pid (and guest_fd for testpmd).
start_guest() {
  local kind=$1 size=$2 dir=$3 mode
  if [ "$kind" = tso ]; then
    local rings=()
    if [ "$in_order" = 0 ]; then rings+=(--no-in-order); fi
    if [ "$ring" = packed ]; then rings+=(--packed); fi
    "$pmdnet_guest" --socket "$socket" --lcore "$guest_cpu" --file-prefix "$g_prefix" \
      --tso 1448 --ring 1024 "${rings[@]}" --warmup "$warmup" --duration "$duration" \
      --drain-ms 100 >"$dir/guest.log" 2>&1 &
    guest_pid=$!
  else
    case "$kind" in tx) mode=txonly ;; rx) mode=rxonly ;; *) mode=io ;; esac
    local vdev="net_virtio_user0,path=$socket,queues=1,queue_size=1024,mrg_rxbuf=1"
    vdev+=",in_order=$in_order,packed_vq=$packed_vq"
    mkfifo "$dir/guest.in"
    stdbuf -o0 -e0 "$testpmd" --lcores "0@$guest_cpu,1@$guest_cpu" --no-huge -m 1024 \
      --file-prefix "$g_prefix" --no-pci --log-level '*:notice' \
      --vdev "$vdev" \
      -- -i --nb-cores=1 --rxq=1 --txq=1 --rxd=1024 --txd=1024 --burst=32 \
      --forward-mode=$mode --txpkts="$size" <"$dir/guest.in" >"$dir/guest.log" 2>&1 &
    guest_pid=$!
    exec {guest_fd}<>"$dir/guest.in"
    echo start >&"$guest_fd"
  fi
}

# Stops the SUT or the guest (WHO: sut or guest) and forgets its PID: testpmd gets "quit" (then
# SIGTERM after 10 s), pmdnetd SIGTERM, OVS SIGTERM to both daemons, pmdnet_guest GRACE seconds
# (default 0) to end by itself.
stop() {  # WHO [GRACE]
  local pid_var=${1}_pid fd_var=${1}_fd grace=${2:-0}
  if [ "$1" = sut ] && [ -n "$ovsdb_pid" ]; then
    stop_ovs
    return 0
  fi
  if [ -n "${!fd_var}" ]; then
    echo quit >&"${!fd_var}" 2>/dev/null || true
    grace=10
  fi
  stop_pid "${!pid_var}" "$grace"
  close_fd "$fd_var"
  printf -v "$pid_var" '%s' ""
}

wait_for() {  # LOG PATTERN SECONDS PID: until LOG has PATTERN; fails if PID ends first
  local i
  for ((i = 0; i < $3 * 10; i++)); do
    if grep -q -- "$2" "$1" 2>/dev/null; then return 0; fi
    alive "$4" || return 1
    sleep 0.1
  done
  return 1
}

size_of() { stat -c %s "$1"; }
now() { date +%s.%N; }
hz=$(getconf CLK_TCK)

# Waits (up to --quiet-wait seconds) until the two CPUs are quiet: over one second, no more than
# --max-other percent of a CPU busy (nothing of ours runs then).
wait_quiet() {
  local waited=0 busy
  while :; do
    busy=$(cpu_ticks | cut -d' ' -f1)
    sleep 1
    busy=$(awk -v a="$busy" -v b="$(cpu_ticks | cut -d' ' -f1)" -v hz="$hz" \
      'BEGIN { printf "%.0f", (b - a) * 100 / hz }')
    if [ "$busy" -le "$max_other" ] || [ "$waited" -ge "$quiet_wait" ]; then break; fi
    if [ "$waited" = 0 ]; then
      echo "  (the CPUs are ${busy}% busy with other work: waiting up to ${quiet_wait}s)" >&2
    fi
    sleep 4
    waited=$((waited + 5))
  done
}

# Busy clock ticks of the guest's and the SUT's CPUs (steal included), then those of our guest
# and SUT processes (every thread; C's ovsdb-server too): the difference over a window is
# everyone else's.
cpu_ticks() {
  local pid t=0
  awk -v a="cpu$guest_cpu" -v b="cpu$sut_cpu" \
    '$1 == a || $1 == b { busy += $2 + $3 + $4 + $7 + $8 + $9 } END { printf "%d ", busy }' \
    /proc/stat
  for pid in "$guest_pid" "$sut_pid" "$ovsdb_pid"; do
    if [ -n "$pid" ] && [ -r "/proc/$pid/stat" ]; then
      t=$((t + $(sed 's/^.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }')))
    fi
  done
  echo "$t"
}

wait_block() {  # LOG OFFSET: until testpmd's reply after OFFSET is complete (10 s at most)
  local i
  for ((i = 0; i < 100; i++)); do
    "$py" "$report" testpmd-block "$1" "$2" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

# Waits up to SECONDS for C's PMD to poll the guest's TX queue (vm0's rx queue enabled).
wait_ovs_vhost() {  # SECONDS
  local i
  for ((i = 0; i < $1 * 10; i++)); do
    if ovs_appctl dpif-netdev/pmd-rxq-show 2>/dev/null | grep -q 'port: vm0 .*(enabled)'; then
      return 0
    fi
    alive "$sut_pid" && alive "$guest_pid" || return 1
    sleep 0.1
  done
  return 1
}

# The cache-line round trip between the guest's CPU and the SUT's, in ns (-1 if it failed).
probe() { "$core_latency" "$guest_cpu" "$sut_cpu" 200 2>/dev/null || echo -1; }
placement_of() {  # NS_BEFORE NS_AFTER: near, far, or mixed (they disagree, or a probe failed)
  awk -v a="$1" -v b="$2" -v f="$far_ns" 'BEGIN {
    if (a < 0 || b < 0) { print "mixed"; exit }
    pa = a < f ? "near" : "far"; pb = b < f ? "near" : "far"
    print (pa == pb ? pa : "mixed") }'
}

# A record for a measurement that could not run at all.
fail_record() {  # CASE SYS PAIR MESSAGE
  printf '{"case": "%s", "system": "%s", "pair": %d, "error": "%s"}\n' "$1" "$2" "$3" "$4" \
    >>"$work/pair.jsonl"
  last_other=0
  echo "  $1 pair $3 $2: FAILED: $4" >&2
}

run_one() {  # CASE SYS PAIR
  local case=$1 sys=$2 pair=$3 kind size dir i t0 t1 g_off=(0 0) s_off=(0 0) window
  read -r kind size < <("$py" "$report" case-info "$case")
  dir=$work/$case-$sys-$pair.$attempt
  mkdir -p "$dir"
  remove_runtime
  if [ "$sys" = C ]; then socket=$c_socket; else socket=$ab_socket; fi
  last_placement=none
  local probe0 probe1
  probe0=$(probe)
  start_sut "$sys" "$kind" "$size" "$dir"
  for ((i = 0; i < 100; i++)); do
    [ -S "$socket" ] && break
    alive "$sut_pid" || break
    sleep 0.1
  done
  if [ "$sys" = B ] && [ -S "$socket" ] &&
     ! wait_for "$dir/sut.log" "packet forwarding - ports=2" 10 "$sut_pid"; then
    rm -f "$socket"  # testpmd did not start forwarding: treated as not started
  fi
  if [ ! -S "$socket" ]; then
    fail_record "$case" "$sys" "$pair" "the SUT did not start (see its log below)"
    tail -5 "$dir/sut.log" | sed 's/^/    sut: /' >&2
    stop sut
    return 0
  fi
  start_guest "$kind" "$size" "$dir"
  if [ "$kind" != tso ] && ! wait_for "$dir/guest.log" "packet forwarding - ports=1" 15 \
       "$guest_pid"; then
    fail_record "$case" "$sys" "$pair" "the guest did not start (see its log below)"
    tail -5 "$dir/guest.log" | sed 's/^/    guest: /' >&2
    stop guest
    stop sut
    return 0
  fi
  # OVS polls the guest's queues only once its main thread has handled their enabling (it shares
  # the guest's CPU, and takes a second or more): the warm-up starts from there.
  if [ "$sys" = C ] && ! wait_ovs_vhost 30; then
    fail_record "$case" "$sys" "$pair" "OVS did not enable the guest's queues (see its log)"
    grep -E 'WARN|ERR|EMER' "$dir/sut.log" | tail -n 3 | sed 's/^/    sut: /' >&2 || true
    stop guest
    stop sut
    return 0
  fi
  if [ "$kind" = tso ]; then
    # pmdnet_guest times its own window (after its warm-up); the SUT's counters are read inside
    # it, half a second after its start until half a second before its end, at least 0.5 s.
    sleep "$warmup.5"
    window=$(awk -v d="$duration" 'BEGIN { w = d - 1; if (w < 0.5) w = 0.5; print w }')
  else
    sleep "$warmup"
    window=$duration
  fi

  # The window: guest first, then the SUT, in the same order at both ends.
  local ticks0 ticks1
  ticks0=$(cpu_ticks)
  for i in 0 1; do
    if [ -n "$guest_fd" ]; then
      g_off[$i]=$(size_of "$dir/guest.log")
      echo "show fwd stats all" >&"$guest_fd"
    fi
    if [ "$i" = 0 ]; then t0=$(now); else t1=$(now); fi
    if [ "$sys" = A ]; then
      "$pmdnetctl" --file-prefix "$a_prefix" --json workers >"$dir/workers$i.json" 2>&1 || true
      "$pmdnetctl" --file-prefix "$a_prefix" --json port vm0 >"$dir/port$i.json" 2>&1 || true
    elif [ "$sys" = C ]; then
      # net_null's counters first: with the guest's, they make the drop estimate.
      ovs_env ovs-ofctl dump-ports br0 2 >"$dir/ports$i.txt" 2>&1 || true
      ovs_appctl dpif-netdev/pmd-stats-show >"$dir/pmd$i.txt" 2>&1 || true
    else
      s_off[$i]=$(size_of "$dir/sut.log")
      echo "show fwd stats all" >&"$sut_fd"
    fi
    if [ "$i" = 0 ]; then sleep "$window"; fi
  done
  ticks1=$(cpu_ticks)
  if [ -n "$guest_fd" ]; then wait_block "$dir/guest.log" "${g_off[1]}" || true; fi
  if [ "$sys" = B ]; then wait_block "$dir/sut.log" "${s_off[1]}" || true; fi

  stop guest $((warmup + duration + 15))  # pmdnet_guest ends by itself after its window
  stop sut
  remove_runtime
  probe1=$(probe)

  local seconds other
  seconds=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
  other=$(awk -v s0="$ticks0" -v s1="$ticks1" -v hz="$hz" -v secs="$seconds" 'BEGIN {
    split(s0, a, " "); split(s1, b, " ")
    v = ((b[1] - a[1]) - (b[2] - a[2])) * 100 / hz / secs; printf "%.1f", v < 0 ? 0 : v }')
  local args=(measure --case "$case" --system "$sys" --pair "$pair" --seconds "$seconds"
              --other-cpu "$other" --guest-log "$dir/guest.log"
              --core-latency "$probe0" "$probe1" --far-ns "$far_ns")
  if [ "$kind" = tso ]; then args+=(--guest-kind pmdnet_guest); else
    args+=(--guest-kind testpmd --guest-offsets "${g_off[0]}" "${g_off[1]}")
  fi
  if [ "$sys" = A ]; then
    args+=(--a-workers "$dir/workers0.json" "$dir/workers1.json"
           --a-port "$dir/port0.json" "$dir/port1.json" --lcore 1)
  elif [ "$sys" = C ]; then
    args+=(--c-pmd "$dir/pmd0.txt" "$dir/pmd1.txt" --c-ports "$dir/ports0.txt" "$dir/ports1.txt")
  else
    args+=(--sut-log "$dir/sut.log" --sut-offsets "${s_off[0]}" "${s_off[1]}")
  fi
  "$py" "$report" "${args[@]}" >>"$work/pair.jsonl"
  last_other=$other
  last_placement=$(placement_of "$probe0" "$probe1")
  if tail -n 1 "$work/pair.jsonl" | grep -q '"error": "'; then
    grep -i -E 'warn|error|fail|cannot' "$dir/sut.log" | grep -v TELEMETRY | tail -n 3 |
      sed 's/^/    sut: /' >&2 || true
  fi
}

# ---- the run ----

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
load_start=$(loadavg)
echo "== bench: ${#case_list[@]} case(s) x $pairs pair(s) (${systems_list[*]}), ${warmup}s" \
  "warm-up + ${duration}s window each; guest on CPU $guest_cpu, SUT worker on CPU $sut_cpu;" \
  "load average $load_start"
echo "   systems $systems$systems_note"
echo "   A: $pmdnetd   B: $testpmd"
if [ "$systems" = ABC ]; then
  echo "   C: $ovs_vswitchd (not in the tso case: OVS 3.1 cannot take 64 KB TSO frames)"
fi
echo "   guest: dpdk-testpmd on net_virtio_user (tso: pmdnet_guest), $ring rings," \
  "in_order=$in_order"
n=0
total=$((${#case_list[@]} * pairs))
retried=0
: >"$work/raw.jsonl"
for c in "${case_list[@]}"; do
  for ((p = 1; p <= pairs; p++)); do
    n=$((n + 1))
    for ((attempt = 0; ; attempt++)); do
      wait_quiet
      : >"$work/pair.jsonl"
      worst=0
      places=()
      for s in "${systems_list[@]}"; do
        if [ "$s" = C ] && [ "$c" = tso ]; then continue; fi
        echo "[$n/$total] $c pair $p $s" >&2
        run_one "$c" "$s" "$p"
        worst=$(awk -v a="$worst" -v b="$last_other" 'BEGIN { print (b > a ? b : a) }')
        places+=("$last_placement")
      done
      same_place=1
      for place in "${places[@]}"; do
        if [ "$place" != "${places[0]}" ] || [ "$place" = mixed ]; then same_place=0; fi
      done
      if { [ "$same_place" = 1 ] &&
           awk -v w="$worst" -v m="$max_other" 'BEGIN { exit !(w <= m) }'; } ||
         [ "$attempt" -ge "$retries" ]; then
        cat "$work/pair.jsonl" >>"$work/raw.jsonl"
        break
      fi
      if [ "$same_place" = 0 ]; then
        echo "  (vCPU placement ${systems_list[*]}: ${places[*]}: measuring the pair again)" >&2
      else
        echo "  (other load reached ${worst}% of a CPU, over ${max_other}%: measuring the pair" \
          "again)" >&2
      fi
      sed 's/^{/{"discarded": true, /' "$work/pair.jsonl" >>"$work/raw.jsonl"
      retried=$((retried + 1))
    done
  done
done
load_end=$(loadavg)

mkdir -p "$results"
stamp=$(date +%F)
out=$results/$stamp
for ((i = 2; ; i++)); do
  [ -e "$out.json" ] || [ -e "$out.png" ] || break
  out=$results/$stamp-$i
done
settings=$(printf '{"pairs": %d, "duration_s": %d, "warmup_s": %d, "cases": "%s", %s, %s, %s}' \
  "$pairs" "$duration" "$warmup" "$cases" \
  "$(printf '"ring": "%s", "in_order": %d, "systems": "%s"' "$ring" "$in_order" "$systems")" \
  "$(printf '"guest_cpu": %d, "sut_cpu": %d, "far_ns": %d' "$guest_cpu" "$sut_cpu" "$far_ns")" \
  "$(printf '"max_other_cpu_percent": %d, "retries": %d, "pairs_retried": %d' \
     "$max_other" "$retries" "$retried")")
load=$(printf '{"start": "%s", "end": "%s"}' "$load_start" "$load_end")
summary_args=(summarize "$work/raw.jsonl" --cases "$cases" --systems "$systems"
              --out-json "$out.json" --command "$command_line" --settings "$settings"
              --load "$load" --fail-on-error)
if [ "$plot" = 1 ]; then summary_args+=(--out-png "$out.png"); fi
echo
echo "== results (load average at start $load_start, at end $load_end; $retried pair(s)" \
  "measured again because of other load or a vCPU placement change)"
"$py" "$report" "${summary_args[@]}"
