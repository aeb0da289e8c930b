#!/bin/busybox sh
# /init of the QEMU end-to-end test's guest (scripts/qemu_e2e.sh). Loads the virtio-net driver,
# configures eth0 from the kernel command line, then serves the host on the second serial port
# (ttyS1; ttyS0 is the kernel console): each line the host sends is "ID COMMAND", run with sh -c;
# its output follows, then "@@DONE ID RC". "@@READY BOOT_ID" is printed at every boot.
#
# Kernel command line keys (read from /proc/cmdline; unknown dotted keys are ignored by Linux):
#   pmdnet.ip=ADDR/LEN   IPv4 address of eth0        pmdnet.ip6=ADDR/LEN  IPv6 address of eth0
#   pmdnet.queues=N      queue pairs to enable (ethtool -L eth0 combined N)
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /bin /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
export PATH=/usr/local/sbin:/usr/local/bin:/usr/bin:/usr/sbin:/bin:/sbin

log() { echo "guest-init: $*" >/dev/console; }

arg() {  # arg KEY: the value of KEY=... on the kernel command line
  for kv in $(cat /proc/cmdline); do
    case "$kv" in "$1"=*) echo "${kv#*=}"; return ;; esac
  done
}

# The modules, in dependency order (the host resolved it with modprobe --show-depends).
while read -r m; do
  [ -n "$m" ] && insmod "/lib/modules/$m" 2>/dev/console
done </etc/modules.order

ip4=$(arg pmdnet.ip)
ip6=$(arg pmdnet.ip6)
queues=$(arg pmdnet.queues)
i=0
while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
if [ -e /sys/class/net/eth0 ]; then
  echo 1 >/proc/sys/net/ipv6/conf/all/keep_addr_on_down
  echo 0 >/proc/sys/net/ipv6/conf/eth0/accept_dad
  # By full path: busybox sh runs its own applets (its ip has no nodad) before PATH.
  ip=/usr/local/sbin/ip
  $ip link set lo up
  $ip link set eth0 up
  [ -n "$ip4" ] && $ip addr add "$ip4" dev eth0
  [ -n "$ip6" ] && $ip -6 addr add "$ip6" dev eth0 nodad
  [ -n "$queues" ] && ethtool -L eth0 combined "$queues" 2>/dev/console
  log "eth0 up: $ip4 $ip6, $queues queue pairs"
else
  log "no eth0"
fi

# The control channel. Raw, no echo: the host's lines arrive as sent.
stty -F /dev/ttyS1 raw -echo -echoe -echok -echonl 2>/dev/console
exec 3<>/dev/ttyS1
echo "@@READY $(cat /proc/sys/kernel/random/boot_id)" >&3
while IFS= read -r line <&3; do
  id=${line%% *}
  cmd=${line#* }
  sh -c "$cmd" </dev/null >&3 2>&1
  echo "@@DONE $id $?" >&3
done
log "control channel closed"
poweroff -f
