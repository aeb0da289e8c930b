#!/usr/bin/env python3
"""The QEMU end-to-end test's driver (scripts/qemu_e2e.sh runs it; docs/qemu_e2e.md explains it).

A Linux guest (Debian's kernel, a busybox initramfs) under qemu-system-x86_64, its virtio-net NIC
(2 queue pairs, mrg_rxbuf, csum, guest_csum, host/guest TSO) on a vhost-user socket served by
pmdnetd, whose backend is a net_tap interface in a network namespace: the host kernel is the
peer, and checks every checksum and segment the guest's traffic becomes.

Phase A: pmdnetd is the vhost-user server, QEMU a client that reconnects (reconnect=1).
Phase B: QEMU is the server (server=on), pmdnetd a client.
--ring split|packed: the virtqueue layout QEMU asks for (virtio-net-pci packed=off|on); the guest
must have negotiated exactly that layout (VIRTIO_F_RING_PACKED, bit 34, in its features).

The guest is driven over its second serial port (guest_init.sh); the host side of every
transfer is vmtest in the namespace. Every check prints PASS or FAIL with its figures; the last
line is "qemu_e2e: N passed, M failed". Every process started is ended by its PID, and the
namespace and the work directory are removed, whatever happens.
"""
import argparse
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

T0 = time.monotonic()
MB = 1 << 20

HOST4, GUEST4 = "198.18.0.1", "198.18.0.2"
HOST6, GUEST6 = "fd00:198:18::1", "fd00:198:18::2"
PREFIX4, PREFIX6 = 24, 64
GUEST_MAC = "52:54:00:12:34:56"
TAP = "pq0"
TAP_MAC = "02:00:00:00:00:01"
# The migration phase: a bridge holding the host's addresses, with one tap per pmdnetd port.
BRIDGE = "pbr0"
MIG_TAPS = ("pq0", "pq1")
QUEUE_PAIRS = 2

# virtio-net feature bits (virtio 1.2, 5.1.3)
FEATURES = {
    "CSUM": 0, "GUEST_CSUM": 1, "MTU": 3, "GUEST_TSO4": 7, "GUEST_TSO6": 8, "GUEST_ECN": 9,
    "GUEST_UFO": 10, "HOST_TSO4": 11, "HOST_TSO6": 12, "HOST_UFO": 14, "MRG_RXBUF": 15,
    "STATUS": 16, "CTRL_VQ": 17, "GUEST_ANNOUNCE": 21, "MQ": 22, "INDIRECT_DESC": 28, "EVENT_IDX": 29, "VERSION_1": 32,
    "RING_PACKED": 34, "IN_ORDER": 35, "GUEST_USO4": 54, "GUEST_USO6": 55, "HOST_USO": 56,
}
REQUIRED = ["CSUM", "GUEST_CSUM", "HOST_TSO4", "HOST_TSO6", "MRG_RXBUF", "MQ", "VERSION_1"]


# The migration phase's listener on a tap (run in the namespace as
# `python3 sniff.py TAP SECONDS OUT MAC`): one line per announcement received from MAC, with the
# host's monotonic time: "T garp|arp|rarp|na DETAIL". Gratuitous ARP: sender IP = target IP.
SNIFFER = r"""
import socket, struct, sys, time
tap, seconds, out, mac = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
s.bind((tap, 0))
s.settimeout(0.2)
end = time.monotonic() + seconds
with open(out, "w", buffering=1) as f:
    while time.monotonic() < end:
        try:
            data, addr = s.recvfrom(4096)
        except socket.timeout:
            continue
        except OSError:  # ENETDOWN, once, when net_tap cycles the link: the socket stays bound
            time.sleep(0.01)
            continue
        if addr[2] == socket.PACKET_OUTGOING or len(data) < 42 or data[6:12].hex(":") != mac:
            continue
        t = time.monotonic()
        et = struct.unpack("!H", data[12:14])[0]
        if et == 0x0806:
            spa, tpa = socket.inet_ntoa(data[28:32]), socket.inet_ntoa(data[38:42])
            op = struct.unpack("!H", data[20:22])[0]
            kind = "garp" if spa == tpa else "arp"
            f.write(f"{t:.3f} {kind} op={op} {spa}->{tpa}\n")
        elif et == 0x8035:
            op = struct.unpack("!H", data[20:22])[0]
            f.write(f"{t:.3f} rarp op={op} sha={data[22:28].hex(':')} tha={data[32:38].hex(':')}\n")
        elif et == 0x86dd and len(data) > 54 and data[20] == 58 and data[54] == 136:
            f.write(f"{t:.3f} na {socket.inet_ntop(socket.AF_INET6, data[62:78])}\n")
"""

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def _die_with_driver():
    """In each child: SIGKILL when the driver dies, even by SIGKILL (a CTest time-out)."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def log(msg):
    print(f"[{time.monotonic() - T0:7.1f}s] {msg}", flush=True)


class Failure(Exception):
    """A step that cannot go on (the checks after it would only repeat the failure)."""


class Results:
    def __init__(self):
        self.passed, self.failed = [], []
        self.info = []

    def check(self, name, ok, detail=""):
        (self.passed if ok else self.failed).append(name)
        log(f"{'PASS' if ok else 'FAIL'}: {name}{': ' + detail if detail else ''}")
        return ok

    def note(self, text):
        self.info.append(text)
        log(f"INFO: {text}")


def parse_result(text, kind):
    """The key=value pairs of the last 'RESULT <kind> ...' line in text, or None."""
    found = None
    for line in text.splitlines():
        if line.startswith(f"RESULT {kind} "):
            found = dict(kv.split("=", 1) for kv in line.split()[2:] if "=" in kv)
    return found


def pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def remove_stale_runs(tmp):
    """What a run that was killed (SIGKILL: no cleanup of its own) left: its namespace, work
    directory and DPDK runtime directory. Its processes died with it (PR_SET_PDEATHSIG)."""
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    for line in r.stdout.splitlines():
        m = re.match(r"pmdnet-qe2e-(\d+)\b", line)
        if m and not pid_alive(int(m.group(1))):
            log(f"removing the namespace of a dead run: {m.group(0)}")
            subprocess.run(["ip", "netns", "del", m.group(0)], capture_output=True)
    for d in os.listdir(tmp):
        path = os.path.join(tmp, d)
        if not d.startswith("pmdnet-qe2e."):
            continue
        try:
            with open(os.path.join(path, "owner")) as f:
                owner = int(f.read().strip())
        except (OSError, ValueError):
            continue
        if not pid_alive(owner):
            log(f"removing the work directory of a dead run: {path}")
            shutil.rmtree(path, ignore_errors=True)
    for d in os.listdir("/var/run/dpdk") if os.path.isdir("/var/run/dpdk") else []:
        m = re.match(r"pmdnet-qe2e-(\d+)", d)
        if m and not pid_alive(int(m.group(1))):
            shutil.rmtree(os.path.join("/var/run/dpdk", d), ignore_errors=True)


class Context:
    def __init__(self, args):
        self.args = args
        self.results = Results()
        self.procs = []  # every Popen we started, ended by PID at cleanup
        self.ns = f"pmdnet-qe2e-{os.getpid()}"
        remove_stale_runs(args.tmp)
        self.work = tempfile.mkdtemp(prefix="pmdnet-qe2e.", dir=args.tmp)
        with open(os.path.join(self.work, "owner"), "w") as f:
            f.write(str(os.getpid()))
        self.prefix = f"pmdnet-qe2e-{os.getpid()}"
        self.art = args.artifacts
        self.vmtest = os.path.join(self.art, "vmtest")
        self.busybox = os.path.join(self.art, "busybox")
        self.ns_created = False
        self.seed = 1000

    def next_seed(self):
        self.seed += 1
        return self.seed

    def path(self, name):
        return os.path.join(self.work, name)

    def spawn(self, argv, logname, netns=False):
        if netns:
            argv = ["ip", "netns", "exec", self.ns] + argv
        out = open(self.path(logname), "ab")
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             preexec_fn=_die_with_driver)
        out.close()
        p.logname = logname
        self.procs.append(p)
        return p

    def read_log(self, logname):
        try:
            with open(self.path(logname), "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def ns_run(self, argv, timeout=60, check=False):
        r = subprocess.run(["ip", "netns", "exec", self.ns] + argv, capture_output=True,
                           text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise Failure(f"{' '.join(argv)}: exit {r.returncode}: {r.stdout}{r.stderr}")
        return r

    def sh(self, argv, check=True):
        r = subprocess.run(argv, capture_output=True, text=True)
        if check and r.returncode != 0:
            raise Failure(f"{' '.join(argv)}: exit {r.returncode}: {r.stderr.strip()}")
        return r

    @staticmethod
    def finish(p, timeout=60):
        """Waits for a process that should be ending by itself; ends it after `timeout`."""
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            Context.end(p)
        return p

    @staticmethod
    def end(p, sig=signal.SIGTERM, timeout=5.0):
        """Ends one process we started, by its PID: sig, then SIGKILL after timeout."""
        if p.poll() is not None:
            return p.returncode
        try:
            os.kill(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            return p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            return p.wait(timeout=10)

    def cleanup(self):
        for p in reversed(self.procs):
            try:
                self.end(p, signal.SIGTERM, 5.0)
            except Exception as e:  # noqa: BLE001 - cleanup goes on
                log(f"cleanup: pid {p.pid}: {e}")
        if self.ns_created:
            subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
        shutil.rmtree(os.path.join("/var/run/dpdk", self.prefix), ignore_errors=True)
        for p in self.procs:
            pre = getattr(p, "dpdk_prefix", None)
            if pre:
                shutil.rmtree(os.path.join("/var/run/dpdk", pre), ignore_errors=True)
        if self.args.keep_logs:
            log(f"logs kept in {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# pmdnetd


class Daemon:
    def __init__(self, ctx, mode, migration=False):
        self.ctx, self.mode, self.migration = ctx, mode, migration
        self.socket = ctx.path("vm0.sock")
        self.socket1 = ctx.path("vm1.sock")
        self.config = ctx.path(f"pmdnetd-{mode}{'-migration' if migration else ''}.yaml")
        self.proc = None
        self.starts = 0
        self.write_config()

    def migration_port(self, name, device, tap):
        """A port on one of the bridged taps: the migration's source or destination."""
        return (f"  - name: {name}\n"
                "    vhost_user:\n"
                f"      socket: {self.ctx.path(name + '.sock')}\n"
                f"      mode: {self.mode}\n"
                f"      queue_pairs: {QUEUE_PAIRS}\n"
                f"      packed_ring: {'true' if self.ctx.args.ring == 'packed' else 'false'}\n"
                "    backend:\n"
                "      type: dpdk\n"
                f"      device: {device},iface={tap}\n"
                f"      queues: {QUEUE_PAIRS}\n")

    def write_config(self):
        gro = "      offloads:\n        gro: true\n" if self.ctx.gro else ""
        if self.migration:
            # Two ports, each on its own tap of the namespace's bridge: one network, two places
            # where the guest can be.
            yaml = (f"eal:\n  no_huge: true\n  memory_mb: 512\n  file_prefix: {self.ctx.prefix}\n"
                    "workers:\n  - lcore: 1\n    idle: adaptive\n"
                    "ports:\n" + self.migration_port("mig0", "net_tap0", MIG_TAPS[0]) +
                    self.migration_port("mig1", "net_tap1", MIG_TAPS[1]))
            with open(self.config, "w") as f:
                f.write(yaml)
            return
        yaml = (
            f"eal:\n  no_huge: true\n  memory_mb: 512\n  file_prefix: {self.ctx.prefix}\n"
            # The packed rings' positions across a restart, inside the work directory.
            f"state_dir: {self.ctx.path('state')}\n"
            "workers:\n  - lcore: 1\n    idle: adaptive\n"
            "ports:\n"
            "  - name: vm0\n"
            "    vhost_user:\n"
            f"      socket: {self.socket}\n"
            f"      mode: {self.mode}\n"
            f"      queue_pairs: {QUEUE_PAIRS}\n"
            f"      packed_ring: {'true' if self.ctx.args.ring == 'packed' else 'false'}\n"
            "    backend:\n"
            "      type: dpdk\n"
            f"      device: net_tap0,iface={TAP},mac={TAP_MAC}\n"
            f"      queues: {QUEUE_PAIRS}\n" + gro +
            # The second port: a loopback that pmdnet_guest drives while the QEMU guest is killed.
            "  - name: vm1\n"
            "    vhost_user:\n"
            f"      socket: {self.socket1}\n"
            "    backend:\n"
            "      type: loopback\n")
        with open(self.config, "w") as f:
            f.write(yaml)

    def start(self, timeout=30):
        self.starts += 1
        self.proc = self.ctx.spawn([self.ctx.args.pmdnetd, "--config", self.config],
                                   f"pmdnetd-{self.mode}-{self.starts}.log", netns=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(r"ready: \d+ ports", self.log()):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise Failure(f"pmdnetd did not start (exit {self.proc.poll()}):\n{self.log()[-3000:]}")

    def log(self):
        return self.ctx.read_log(self.proc.logname) if self.proc else ""

    def stop(self, timeout=5.0):
        if not self.proc:
            return None, 0.0
        t = time.monotonic()
        rc = Context.end(self.proc, signal.SIGTERM, timeout)
        return rc, time.monotonic() - t

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def telemetry(self, *command):
        r = subprocess.run([self.ctx.args.pmdnetctl, "--file-prefix", self.ctx.prefix, "--json",
                            *command], capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            return None
        try:
            reply = json.loads(r.stdout)
        except json.JSONDecodeError:
            return None
        return next(iter(reply.values())) if isinstance(reply, dict) and reply else None

    def port(self, name="vm0"):
        return self.telemetry("port", name)

    def totals(self, name="vm0"):
        """Guest and backend counters summed over the running queue pairs, plus per-pair ones."""
        p = self.port(name) or {}
        tot, per = {}, []
        for key, qp in sorted(p.items()):
            if not (key.startswith("qp") and isinstance(qp, dict)):
                continue
            pair = {}
            for group in ("guest", "backend"):
                for k, v in (qp.get(group) or {}).items():
                    if isinstance(v, int):
                        tot[k] = tot.get(k, 0) + v
                        pair[k] = v
            per.append(pair)
        tot["connected"] = p.get("connected", 0)
        tot["queue_pairs"] = p.get("queue_pairs", 0)
        return tot, per

    def ring_errors(self, name="vm0"):
        """The guest ring errors (tx_ring_*, rx_ring_*) counted on the running queue pairs, the
        non-zero ones summed over the pairs."""
        out = {}
        for key, qp in (self.port(name) or {}).items():
            if key.startswith("qp") and isinstance(qp, dict):
                for k, v in (qp.get("guest") or {}).items():
                    if k.startswith(("tx_ring_", "rx_ring_")) and isinstance(v, int) and v:
                        out[k] = out.get(k, 0) + v
        return out

    def wait_running(self, pairs, timeout=30, port="vm0"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            p = self.port(port)
            if p and p.get("connected") == 1 and p.get("queue_pairs") == pairs:
                return time.monotonic()
            time.sleep(0.02)
        return None

    def wait_disconnected(self, timeout=10, port="vm0"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            p = self.port(port)
            if p and p.get("connected") == 0:
                return True
            time.sleep(0.05)
        return False

    def resources(self):
        pid = self.proc.pid
        with open(f"/proc/{pid}/status") as f:
            rss = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        with open(f"/proc/{pid}/maps") as f:
            maps = f.read()
        # QEMU's guest RAM (memory-backend-memfd), as rte_vhost mapped it from SET_MEM_TABLE.
        memfd = len({line.split()[4] for line in maps.splitlines()
                     if "memfd:memory-backend-memfd" in line})
        return {"rss_kb": rss, "fds": fds, "guest_mappings": memfd}


# ---------------------------------------------------------------------------------------------
# The guest


class Guest:
    serial = 0

    def __init__(self, ctx, daemon_mode, accel, socket_name="vm0.sock", incoming=None,
                 device_options=""):
        Guest.serial += 1
        self.ctx, self.mode, self.accel = ctx, daemon_mode, accel
        self.socket_name, self.incoming, self.device_options = socket_name, incoming, device_options
        self.migratable = socket_name.startswith("mig")  # a guest of the migration phase
        self.n = Guest.serial
        self.ctl = ctx.path(f"ctl{self.n}.sock")
        self.console = f"console{self.n}.log"
        self.proc = None
        self.sock = None
        self.text = ""
        self.pos = 0
        self.cond = threading.Condition()
        self.closed = False
        self.cmd_id = 0
        self.boot_id = None
        self.booted_at = None

    def argv(self):
        a = self.ctx.args
        mem = a.guest_mb
        sock = os.path.join(self.ctx.work, self.socket_name)
        if self.mode == "server":  # pmdnetd listens; QEMU connects and reconnects
            chardev = f"socket,id=chr0,path={sock},reconnect=1"
        else:  # pmdnetd connects; QEMU listens
            chardev = f"socket,id=chr0,path={sock},server=on,wait=off"
        cmdline = (f"console=ttyS0 loglevel=4 panic=-1 mitigations=off "
                   f"pmdnet.ip={GUEST4}/{PREFIX4} pmdnet.ip6={GUEST6}/{PREFIX6} "
                   f"pmdnet.queues={QUEUE_PAIRS}")
        # MSI-X needs irqfd under vhost-user: QEMU 7.2 crashes in vhost_net_start
        # (msix_set_vector_notifiers) without KVM, so TCG guests use INTx (vectors=0).
        vectors = 2 * QUEUE_PAIRS + 2 if self.accel == "kvm" else 0
        dev = (f"virtio-net-pci,netdev=net0,mq=on,vectors={vectors},mac={GUEST_MAC},romfile=,"
               "mrg_rxbuf=on,csum=on,guest_csum=on,host_tso4=on,host_tso6=on,"
               f"guest_tso4=on,guest_tso6=on,packed={'on' if a.ring == 'packed' else 'off'}")
        if self.ctx.qemu_has_uso:
            dev += ",host_uso=on,guest_uso4=on,guest_uso6=on"
        dev += self.device_options
        incoming = ["-incoming", self.incoming] if self.incoming else []
        # A migrating TCG guest gets a named CPU model: `max` is not migration-safe (its state
        # includes features QEMU does not migrate, and the guest crashes on the destination).
        accel = (["-accel", "kvm", "-cpu", "host"] if self.accel == "kvm"
                 else ["-accel", "tcg,thread=multi",
                       "-cpu", "qemu64" if self.incoming or self.migratable else "max"])
        return ["qemu-system-x86_64", "-name", f"pmdnet-e2e-{self.n}", "-machine", "q35",
                *accel, "-smp", "2", "-m", f"{mem}M",
                "-object", f"memory-backend-memfd,id=mem,size={mem}M,share=on",
                "-numa", "node,memdev=mem",
                "-nodefaults", "-no-user-config", "-display", "none",
                "-kernel", os.path.join(self.ctx.art, "vmlinuz"),
                "-initrd", os.path.join(self.ctx.art, "initramfs.cpio.gz"),
                "-append", cmdline,
                "-serial", f"file:{self.ctx.path(self.console)}",
                "-serial", f"unix:{self.ctl},server=on,wait=off",
                "-monitor", f"unix:{self.ctx.path(f'monitor{self.n}.sock')},server=on,wait=off",
                "-chardev", chardev,
                "-netdev", f"vhost-user,id=net0,chardev=chr0,queues={QUEUE_PAIRS}",
                "-device", dev, *incoming]

    def start(self):
        return self.spawn().connect()

    def spawn(self):
        self.proc = self.ctx.spawn(self.argv(), f"qemu{self.n}.log")
        self.started_at = time.monotonic()
        return self

    def connect(self):
        """Connects to the control serial port (QEMU creates it after the vhost-user netdev is
        up: as a server, QEMU waits for its backend first)."""
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                # QEMU is gone (a KVM it cannot use, say): wait_ready() answers None at once.
                self.closed = True
                return self
            if os.path.exists(self.ctl):
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    sock.connect(self.ctl)
                    self.sock = sock
                    break
                except OSError:
                    sock.close()
            if time.monotonic() > deadline:
                raise Failure(f"QEMU did not start: {self.ctx.read_log(self.proc.logname)}")
            time.sleep(0.02)
        threading.Thread(target=self._reader, daemon=True).start()
        return self

    def _reader(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            with self.cond:
                if not data:
                    self.closed = True
                    self.cond.notify_all()
                    return
                self.text += data.decode("utf-8", "replace")
                self.cond.notify_all()

    def wait_for(self, pattern, timeout):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                m = rx.search(self.text, self.pos)
                if m:
                    self.pos = m.end()
                    return m
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    return None
                self.cond.wait(min(left, 0.5))

    def wait_ready(self, timeout):
        m = self.wait_for(r"@@READY (\S+)\r?\n", timeout)
        if not m:
            return None
        self.boot_id = m.group(1)
        self.booted_at = time.monotonic()
        return self.boot_id

    def send(self, line):
        self.sock.sendall((line + "\n").encode())

    def run(self, cmd, timeout=120, check=True, retries=0):
        """Runs cmd in the guest; returns (exit code, output). With retries (for commands that may
        run twice: reads), a silent guest is asked again, after a bare newline that completes a
        half-received line."""
        for attempt in range(retries + 1):
            self.cmd_id += 1
            cid = self.cmd_id
            with self.cond:
                start = self.pos = len(self.text)
            self.send(("\n" if attempt else "") + f"{cid} {cmd}")
            m = self.wait_for(rf"@@DONE {cid} (\d+)\r?\n", timeout)
            if m or self.proc.poll() is not None:
                break
            if attempt < retries:
                log(f"guest: no answer to '{cmd}' within {timeout}s, asking again "
                    f"({self.diagnose()})")
        if not m:
            raise Failure(f"guest: no answer to '{cmd}' within {timeout}s "
                          f"(QEMU {'exited' if self.proc.poll() is not None else 'running'}; "
                          f"{self.diagnose()})\nconsole tail:\n{self.console_tail()}")
        out = self.text[start:m.start()]
        rc = int(m.group(1))
        if check and rc != 0:
            raise Failure(f"guest: '{cmd}' exited {rc}:\n{out}")
        return rc, out

    def wait_file_result(self, path, kind, timeout):
        """Polls a guest file until it holds a RESULT <kind> line."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _, out = self.run(f"cat {path} 2>/dev/null", timeout=20, check=False, retries=3)
            r = parse_result(out, kind)
            if r is not None:
                return r, out
            time.sleep(0.5)
        _, out = self.run(f"cat {path} 2>/dev/null", timeout=20, check=False, retries=3)
        return None, out

    def monitor(self, command, timeout=5):
        """One human-monitor command's reply, or '' when QEMU does not answer."""
        path = self.ctx.path(f"monitor{self.n}.sock")
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as m:
                m.settimeout(timeout)
                m.connect(path)
                m.sendall((command + "\n").encode())
                out, end = b"", time.monotonic() + timeout
                while time.monotonic() < end and out.count(b"(qemu)") < 2:
                    try:
                        data = m.recv(65536)
                    except socket.timeout:
                        break
                    if not data:
                        break
                    out += data
                return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", out.decode("utf-8", "replace"))
        except OSError:
            return ""

    def diagnose(self):
        """Why the guest may be silent: is its kernel alive (ping), is QEMU running?"""
        r = self.ctx.ns_run([self.ctx.busybox, "ping", "-c", "2", "-W", "2", GUEST4], timeout=10)
        status = re.search(r"VM status: (\w+)", self.monitor("info status"))
        return (f"guest kernel {'answers' if r.returncode == 0 else 'does not answer'} ping, "
                f"VM status {status.group(1) if status else '?'}")

    def console_tail(self, n=40):
        return "\n".join(self.ctx.read_log(self.console).splitlines()[-n:])

    def poweroff(self, timeout=30):
        if self.proc.poll() is None:
            try:
                self.send(f"{self.cmd_id + 1} poweroff -f")
            except OSError:
                pass
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                Context.end(self.proc, signal.SIGTERM, 5)
        self.close()

    def close(self):
        if self.sock:
            try:
                self.sock.close()
            except OSError:
                pass


# ---------------------------------------------------------------------------------------------
# The test


class Suite:
    def __init__(self, ctx):
        self.ctx = ctx
        self.r = ctx.results
        self.args = ctx.args
        self.daemon = None
        self.guest = None
        self.accel, self.accel_reason = None, ""
        self.throughput = {}
        self.v6_fixes = 0
        self.ring_error_samples = []  # (where, {counter: n}) with a non-zero counter
        self.host_dev = BRIDGE if "m" in ctx.args.phases else TAP  # where the host's addresses are
        self.ring_error_points = 0

    def sample_ring_errors(self, where):
        """pmdnetd's guest ring error counters, read before what ends the queue pairs (a stop, a
        reboot, a poweroff, a kill) takes them away."""
        if self.daemon is None or not self.daemon.alive():
            return
        self.ring_error_points += 1
        errors = {}
        for name in (("mig0", "mig1") if self.daemon.migration else ("vm0",)):
            for k, v in self.daemon.ring_errors(name).items():
                errors[k] = errors.get(k, 0) + v
        if errors:
            self.ring_error_samples.append((where, errors))
            log(f"pmdnetd ring errors before {where}: {errors}")

    def check_ring_errors(self):
        """No guest ring errors: the telemetry samples, and pmdnetd's own reports of new errors
        (a line a second in its logs) for the moments between them."""
        logged = []
        for p in self.ctx.procs:
            if p.logname.startswith("pmdnetd"):
                logged += [f"{p.logname}: {line.split('guest error: ', 1)[1]}"
                           for line in self.ctx.read_log(p.logname).splitlines()
                           if "guest error: " in line and (" ring: " in line)]
        seen = "; ".join(f"before {w}: " + ", ".join(f"{k}={v}" for k, v in e.items())
                         for w, e in self.ring_error_samples)
        self.r.check(f"pmdnetd counted no guest ring errors ({self.args.ring} ring)",
                     not self.ring_error_samples and not logged,
                     f"tx_ring_* and rx_ring_* 0 at {self.ring_error_points} telemetry reads, no "
                     "ring error in pmdnetd's logs" if not seen and not logged else
                     (seen + ("; " if seen and logged else "") + "; ".join(logged[:12])))

    # ---- set-up ----

    def choose_accel(self):
        want = self.args.accel
        if want == "tcg":
            return "tcg", "--accel tcg"
        usable = os.path.exists("/dev/kvm") and os.access("/dev/kvm", os.R_OK | os.W_OK)
        if not usable:
            if want == "kvm":
                raise Failure("--accel kvm, but /dev/kvm is missing or not usable")
            return "tcg", "no usable /dev/kvm"
        if (os.path.isdir("/sys/module/kvm_pvm") and want != "kvm" and
                not os.environ.get("PMDNET_E2E_TRY_KVM")):
            return "tcg", ("/dev/kvm is served by kvm_pvm (software 'pagetable' virtualization, no "
                           "VMX/SVM): an unmodified Debian kernel stalls in its decompressor and, "
                           "booted directly (PVH), stops on instructions kvm_pvm cannot emulate "
                           "(cmpxchg16b, xsaves/xrstor, int3); see docs/qemu_e2e.md")
        return "kvm", "/dev/kvm usable" + (" (forced)" if want == "kvm" else "")

    def setup_netns(self):
        c = self.ctx
        c.sh(["ip", "netns", "add", c.ns])
        c.ns_created = True
        for cmd in (["ip", "link", "set", "lo", "up"],
                    # A persistent multi-queue tap that net_tap attaches to: it and its addresses
                    # outlive a pmdnetd restart.
                    ["ip", "tuntap", "add", "dev", TAP, "mode", "tap", "multi_queue"],
                    ["sysctl", "-qw", "net.ipv6.conf.all.keep_addr_on_down=1"],
                    ["sysctl", "-qw", f"net.ipv6.conf.{TAP}.keep_addr_on_down=1"],
                    ["sysctl", "-qw", f"net.ipv6.conf.{TAP}.accept_dad=0"],
                    # Up before the addresses: an IPv6 address added to an interface that is
                    # down gets no local route when it comes up (Ip6InAddrErrors for every packet).
                    ["ip", "link", "set", TAP, "up"],
                    ["ip", "addr", "add", f"{HOST4}/{PREFIX4}", "dev", TAP],
                    ["ip", "-6", "addr", "add", f"{HOST6}/{PREFIX6}", "dev", TAP, "nodad"]):
            c.ns_run(cmd, check=True)

    def ensure_host_v6(self):
        """The host's IPv6 address keeps its local route. net_tap takes the interface down and up
        as the guest's queue pairs stop and start; now and then the kernel brings the address
        (kept: keep_addr_on_down) back without its local route, and every packet to it counts
        as Ip6InAddrErrors. Re-adding the address restores the route."""
        r = self.ctx.ns_run(["ip", "-6", "route", "show", "table", "local"])
        if f"local {HOST6} " in r.stdout:
            return
        self.ctx.ns_run(["ip", "-6", "addr", "del", f"{HOST6}/{PREFIX6}", "dev", self.host_dev])
        self.ctx.ns_run(["ip", "-6", "addr", "add", f"{HOST6}/{PREFIX6}", "dev", self.host_dev, "nodad"],
                        check=True)
        self.v6_fixes += 1
        log(f"host: re-added {HOST6} on {self.host_dev} (its local route was gone after a link cycle)")

    def host_snmp(self):
        out = {}
        for f in ("/proc/net/snmp", "/proc/net/snmp6", "/proc/net/netstat"):
            r = self.ctx.ns_run(["cat", f])
            out.update(parse_snmp(r.stdout, f.endswith("6")))
        return out

    def tap_stats(self):
        """The tap's rx_packets, tx_packets and tx_dropped (frames the kernel dropped because
        pmdnetd did not read them in time)."""
        r = self.ctx.ns_run(["cat"] + [f"/sys/class/net/{TAP}/statistics/{k}" for k in
                                       ("rx_packets", "tx_packets", "tx_dropped")])
        rx, tx, dropped = (int(x) for x in r.stdout.split())
        return rx, tx, dropped

    def boot(self, mode, label):
        """Starts a QEMU guest and waits for its /init; falls back from KVM to TCG in auto mode."""
        g = Guest(self.ctx, mode, self.accel).start()
        # A working KVM boots this guest in seconds; one that hangs should not cost the full time.
        timeout = min(self.args.boot_timeout, 30) if self.accel == "kvm" else self.args.boot_timeout
        if g.wait_ready(timeout) is None:
            tail = g.console_tail()
            if self.accel == "kvm" and self.args.accel == "auto":
                log(f"KVM guest not ready (QEMU exit status {g.proc.poll()}): "
                    f"{self.ctx.read_log(g.proc.logname)[-600:]}\nconsole tail:\n{tail}")
                Context.end(g.proc, signal.SIGKILL)
                g.close()
                self.accel = "tcg"
                why = (f"QEMU exited ({g.proc.poll()})" if g.proc.poll() is not None else
                       f"the guest did not boot within {timeout}s")
                self.accel_reason = f"KVM tried first: {why}; fell back to TCG"
                log(f"accelerator: TCG ({self.accel_reason})")
                size_transfers(self.args, "tcg")
                g = Guest(self.ctx, mode, self.accel).start()
                timeout = self.args.boot_timeout
                if g.wait_ready(timeout) is None:
                    raise Failure(f"{label}: guest not ready:\n{g.console_tail()}")
            else:
                raise Failure(f"{label}: guest not ready within {timeout}s "
                              f"(QEMU {g.proc.poll()}):\n{tail}\n"
                              f"{self.ctx.read_log(g.proc.logname)[-2000:]}")
        log(f"{label}: guest up in {g.booted_at - g.started_at:.1f}s ({self.accel.upper()}), "
            f"boot id {g.boot_id}")
        return g

    # ---- checks ----

    def start_failure_hint(self):
        text = self.daemon.log()
        lines = [l for l in text.splitlines() if "[warning]" in l or "[error]" in l or
                 "queue pair" in l]
        hint = ""
        if "queues already created" in text:
            hint = ("\n  pmdnetd could not start the guest's queue pairs: its dpdk backend creates "
                    "queues once per port (EthdevEndpoint::get_queues refuses a second call), but "
                    "QEMU starts the queue pairs one after the other (pair 0, then 0+1), and every "
                    "reset or reconnect asks again; see docs/qemu_e2e.md")
        return "pmdnetd log:\n" + "\n".join(lines[-12:]) + hint

    def check_negotiated(self, g, label):
        """The guest's negotiated features: the required ones, and the ring layout asked for
        (VIRTIO_F_RING_PACKED exactly when --ring packed: a fallback to split is a failure), which
        pmdnetd's telemetry (ring_layout) must report too."""
        _, feat = g.run("cat /sys/class/net/eth0/device/features")
        bits = feat.strip().splitlines()[-1].strip()
        has = {name: len(bits) > b and bits[b] == "1" for name, b in FEATURES.items()}
        packed = self.args.ring == "packed"
        missing = [n for n in REQUIRED + (["RING_PACKED"] if packed else []) if not has[n]]
        unwanted = ["RING_PACKED"] if has["RING_PACKED"] and not packed else []
        on = sorted((n for n, v in has.items() if v), key=lambda n: FEATURES[n])
        layout = (self.daemon.port() or {}).get("ring_layout")
        detail = f"guest: {' '.join(on)}"
        if missing:
            detail += f"; missing: {' '.join(missing)}"
        if unwanted:
            detail += f"; not asked for: {' '.join(unwanted)}"
        detail += f"; pmdnetd telemetry: ring_layout {layout!r}"
        self.r.check(f"{label}: {self.args.ring} ring",
                     not missing and not unwanted and layout == self.args.ring, detail)
        return has

    def check_features(self, g):
        has = self.features = self.check_negotiated(g, "negotiated features")
        if self.args.ring == "packed":
            tel = (self.daemon.port() or {}).get("in_order")
            self.r.note(f"IN_ORDER {'negotiated' if has['IN_ORDER'] else 'NOT negotiated'} "
                        f"(pmdnetd telemetry in_order {tel}; QEMU "
                        f"{self.ctx.qemu_version} has no in_order property for virtio-net-pci; "
                        "Linux 6.1's virtio_ring does not accept VIRTIO_F_IN_ORDER)")
        gt = "negotiated" if has["GUEST_TSO4"] and has["GUEST_TSO6"] else "NOT negotiated"
        self.r.note(f"GUEST_TSO4/6 {gt} (QEMU asks with guest_tso4/6=on; pmdnetd offers them only "
                    "when its port says so)")
        uso = "negotiated" if has["HOST_USO"] else "NOT negotiated"
        why = []
        if not self.ctx.qemu_has_uso:
            why.append(f"QEMU {self.ctx.qemu_version} has no host_uso property (QEMU >= 8.2)")
        if not has["HOST_USO"]:
            why.append("Debian 12's 6.1 guest kernel does not offer HOST_USO (Linux >= 6.2)")
        self.r.note(f"USO (HOST_USO) {uso}" + (": " + "; ".join(why) if why else ""))
        _, k = g.run("ethtool -k eth0")
        offl = dict(re.findall(r"^\s*([a-z0-9-]+): (on|off)", k, re.M))
        want = ["tx-checksumming", "rx-checksumming", "tcp-segmentation-offload",
                "tx-tcp-segmentation", "tx-tcp6-segmentation", "scatter-gather"]
        bad = [w for w in want if offl.get(w) != "on"]
        self.r.check("guest ethtool -k: checksum and TSO offloads on", not bad,
                     " ".join(f"{w}={offl.get(w)}" for w in want))
        self.r.note("guest ethtool -k: " + " ".join(
            f"{w}={offl.get(w)}" for w in ("generic-receive-offload", "large-receive-offload",
                                           "tx-udp-segmentation", "rx-gro-hw")))
        _, l = g.run("ethtool -l eth0")
        combined = re.findall(r"Combined:\s+(\d+)", l)
        self.r.check("guest uses 2 queue pairs (ethtool -l)",
                     len(combined) == 2 and combined[1] == str(QUEUE_PAIRS),
                     f"max/current combined: {'/'.join(combined)}")

    def check_ping(self, g, label):
        self.ensure_host_v6()
        bb = self.ctx.busybox
        rc4, out4 = g.run(f"ping -c 3 -i 0.2 -W 3 {HOST4}", check=False)
        rc6, out6 = g.run(f"ping6 -c 3 -i 0.2 -W 3 {HOST6}", check=False)
        h4 = self.ctx.ns_run([bb, "ping", "-c", "3", "-i", "0.2", "-W", "3", GUEST4], timeout=30)
        h6 = self.ctx.ns_run([bb, "ping6", "-c", "3", "-i", "0.2", "-W", "3", GUEST6], timeout=30)

        def loss(text):
            m = re.search(r"(\d+)% packet loss", text)
            return m.group(0) if m else "no reply"
        ok = rc4 == 0 and rc6 == 0 and h4.returncode == 0 and h6.returncode == 0
        self.r.check(f"{label}: ping both ways (IPv4 and IPv6)", ok,
                     f"guest->host v4 {loss(out4)}, v6 {loss(out6)}; host->guest v4 "
                     f"{loss(h4.stdout)}, v6 {loss(h6.stdout)}")
        return ok

    def tcp_guest_to_host(self, g, label, size, addr=HOST4, port=5001):
        c = self.ctx
        seed = c.next_seed()
        recv = c.spawn([c.vmtest, "tcp-recv", str(port), str(size + MB)], f"recv-{port}-{seed}.log",
                       netns=True)
        self._wait_listening(recv)
        before = self.daemon.totals()[0]
        tap_before = self.tap_stats()
        _, out = g.run(f"vmtest tcp-send {addr} {port} {size} {seed}", timeout=self.args.xfer_timeout,
                       check=False)
        try:
            recv.wait(timeout=60)
        except subprocess.TimeoutExpired:
            Context.end(recv)
        after = self.daemon.totals()[0]
        tap_after = self.tap_stats()
        s = parse_result(out, "tcp-send")
        h = parse_result(c.read_log(recv.logname), "tcp-recv")
        ok = (s is not None and h is not None and s["sha256"] == h["sha256"] and
              int(h["bytes"]) == size)
        detail = (f"{size // MB} MB, sha256 guest {s['sha256'][:16] if s else '?'}… host "
                  f"{h['sha256'][:16] if h else '?'}…, {float(h['mbps']) if h else 0:.0f} Mbit/s"
                  if s and h else f"guest: {out.strip()[-300:]} host: {c.read_log(recv.logname)[-300:]}")
        self.r.check(f"{label}: TCP guest->host byte-exact", ok, detail)
        d = {k: after.get(k, 0) - before.get(k, 0) for k in after if isinstance(after.get(k), int)}
        d["tap_rx"] = tap_after[0] - tap_before[0]
        return ok, (float(h["mbps"]) if h else 0.0), d

    def tcp_host_to_guest(self, g, label, size, addr=GUEST4, port=5002):
        c = self.ctx
        seed = c.next_seed()
        out_file = f"/tmp/tcp-recv-{seed}"
        g.run(f"vmtest tcp-recv {port} {size + MB} > {out_file} 2>&1 &")
        self._wait_guest_listening(g, out_file)
        before = self.daemon.totals()[0]
        send = c.spawn([c.vmtest, "tcp-send", addr, str(port), str(size), str(seed)],
                       f"send-{port}-{seed}.log", netns=True)
        try:
            send.wait(timeout=self.args.xfer_timeout)
        except subprocess.TimeoutExpired:
            Context.end(send)
        h = parse_result(c.read_log(send.logname), "tcp-send")
        gr, gout = g.wait_file_result(out_file, "tcp-recv", 60)
        after = self.daemon.totals()[0]
        ok = (h is not None and gr is not None and h["sha256"] == gr["sha256"] and
              int(gr["bytes"]) == size)
        detail = (f"{size // MB} MB, sha256 host {h['sha256'][:16]}… guest {gr['sha256'][:16]}…, "
                  f"{float(gr['mbps']):.0f} Mbit/s" if h and gr else
                  f"host: {c.read_log(send.logname)[-300:]} guest: {gout[-300:]}")
        self.r.check(f"{label}: TCP host->guest byte-exact", ok, detail)
        d = {k: after.get(k, 0) - before.get(k, 0) for k in after if isinstance(after.get(k), int)}
        return ok, (float(gr["mbps"]) if gr else 0.0), d

    def udp_guest_to_host(self, g, label, count, gso=0, addr=HOST4, port=6001):
        c = self.ctx
        seed = c.next_seed()
        recv = c.spawn([c.vmtest, "udp-recv", str(port), str(seed), str(count), "3000"],
                       f"udp-recv-{seed}.log", netns=True)
        self._wait_listening(recv)
        _, out = g.run(f"vmtest udp-send {addr} {port} {count} {seed}" + (f" {gso}" if gso else ""),
                       timeout=self.args.xfer_timeout, check=False)
        try:
            recv.wait(timeout=90)
        except subprocess.TimeoutExpired:
            Context.end(recv)
        return self._udp_verdict(f"{label}: UDP guest->host" + (f" (UDP_SEGMENT {gso})" if gso
                                 else " mixed sizes"), parse_result(out, "udp-send"),
                                 parse_result(c.read_log(recv.logname), "udp-recv"), gso)

    def udp_host_to_guest(self, g, label, count, addr=GUEST4, port=6002):
        c = self.ctx
        seed = c.next_seed()
        out_file = f"/tmp/udp-recv-{seed}"
        g.run(f"vmtest udp-recv {port} {seed} {count} 3000 > {out_file} 2>&1 &")
        self._wait_guest_listening(g, out_file)
        before, snmp_before, tap_before = self.daemon.totals()[0], self.guest_snmp(g), \
            self.tap_stats()
        send = c.spawn([c.vmtest, "udp-send", addr, str(port), str(count), str(seed)],
                       f"udp-send-{seed}.log", netns=True)
        try:
            send.wait(timeout=self.args.xfer_timeout)
        except subprocess.TimeoutExpired:
            Context.end(send)
        gr, _ = g.wait_file_result(out_file, "udp-recv", 90)
        ok = self._udp_verdict(f"{label}: UDP host->guest mixed sizes",
                               parse_result(c.read_log(send.logname), "udp-send"), gr, 0)
        if gr is not None and int(gr["lost"]) > 0:
            # Where the datagrams went: the frames along the path, pmdnetd's drops, the guest's
            # IP reassembly and UDP.
            after, snmp_after, tap_after = self.daemon.totals()[0], self.guest_snmp(g), \
                self.tap_stats()
            traffic = ("guest_rx_packets", "guest_rx_bytes", "guest_tx_packets", "guest_tx_bytes",
                       "guest_rx_merged_buffers", "notifications")
            drops = {k: after[k] - before.get(k, 0) for k in after
                     if k not in traffic and after[k] != before.get(k, 0)}
            guest = {k: snmp_after.get(k, 0) - snmp_before.get(k, 0) for k in
                     ("IpInReceives", "IpReasmFails", "IpReasmTimeout", "UdpInDatagrams",
                      "UdpRcvbufErrors", "UdpInErrors")}
            self.r.note(f"{label}: {gr['lost']} datagrams host->guest lost; frames: {TAP} sent "
                        f"{tap_after[1] - tap_before[1]} and dropped "
                        f"{tap_after[2] - tap_before[2]} (not read in time), pmdnetd gave the guest "
                        f"{after.get('guest_rx_packets', 0) - before.get('guest_rx_packets', 0)}; "
                        f"other pmdnetd counters that moved: {drops or 'none'}; guest kernel {guest}")
        return ok

    def guest_snmp(self, g):
        _, out = g.run("cat /proc/net/snmp", timeout=20, check=False, retries=1)
        return parse_snmp(out, False)

    def _udp_verdict(self, name, s, h, gso):
        if s is None or h is None:
            return self.r.check(name, False, f"sender {s}, receiver {h}")
        expected = int(h["expected"])
        lost, corrupt = int(h["lost"]), int(h["corrupt"])
        sizes = h["sizes_seen"]
        # Loss is UDP's right (a guest busy elsewhere, a full socket buffer); corruption is not.
        ok = corrupt == 0 and int(h["duplicate"]) == 0 and lost <= max(2, expected // 20)
        if not gso:
            ok = ok and sizes.split("/")[0] == sizes.split("/")[1]
        shape = f"{gso}-byte segments" if gso else f"sizes {sizes}"
        return self.r.check(name, ok, f"{h['good']}/{expected} datagrams intact, lost {lost}, "
                            f"corrupt {corrupt}, {shape}, {int(h['bytes']) // 1024} KiB")

    def _wait_listening(self, proc, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "LISTENING" in self.ctx.read_log(proc.logname):
                return
            if proc.poll() is not None:
                break
            time.sleep(0.02)
        raise Failure(f"host-side vmtest not listening: {self.ctx.read_log(proc.logname)}")

    def _wait_guest_listening(self, g, path, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _, out = g.run(f"cat {path} 2>/dev/null", timeout=20, check=False, retries=3)
            if "LISTENING" in out:
                return
            time.sleep(0.2)
        raise Failure(f"guest-side vmtest not listening: {out}")

    def both_tx_queues(self, g, label):
        """One UDP sender pinned to each vCPU: XPS maps vCPU n to TX queue n."""
        c = self.ctx
        seed = c.next_seed()
        count = 400
        recv = c.spawn([c.vmtest, "udp-recv", "6003", str(seed), str(2 * count), "3000"],
                       f"udp-mq-{seed}.log", netns=True)
        self._wait_listening(recv)
        before = self.daemon.totals()[1]
        g.run(f"taskset -c 0 vmtest udp-send {HOST4} 6003 {count} {seed} >/dev/null & "
              f"taskset -c 1 vmtest udp-send {HOST4} 6003 {count} {seed} >/dev/null & wait",
              timeout=self.args.xfer_timeout, check=False)
        try:
            recv.wait(timeout=60)
        except subprocess.TimeoutExpired:
            Context.end(recv)
        after = self.daemon.totals()[1]
        tx = [a.get("guest_tx_packets", 0) - (before[i].get("guest_tx_packets", 0)
                                              if i < len(before) else 0)
              for i, a in enumerate(after)]
        rx = [a.get("guest_rx_packets", 0) for a in after]
        ok = len(tx) == QUEUE_PAIRS and all(t > 0 for t in tx)
        self.r.check(f"{label}: guest TX spreads over both queue pairs", ok,
                     f"guest TX packets per pair from two pinned senders: {tx}; guest RX packets "
                     f"per pair so far: {rx}")

    def offload_evidence(self, d, label, native_expected):
        pk, by = d.get("guest_tx_packets", 0), d.get("guest_tx_bytes", 0)
        avg = by / pk if pk else 0
        sw_tso = d.get("tx_sw_tso", 0)
        sw_csum = d.get("tx_sw_checksum", 0)
        tap = d.get("tap_rx", 0)
        self.r.check(f"{label}: guest TX arrives as TSO superframes (pmdnetd telemetry)",
                     avg > 1600,
                     f"{pk} guest TX frames, {avg:.0f} bytes on average (> MTU: TSO), "
                     f"kernel got {tap} frames on {TAP}; pmdnetd software fallbacks: tx_sw_tso "
                     f"{sw_tso}, tx_sw_checksum {sw_csum}, tx_segments {d.get('tx_segments', 0)}; "
                     f"{'native net_tap TSO (rte_gso)' if sw_tso == 0 else 'software TSO'}")
        if native_expected is not None:
            self.r.note(f"{label}: TSO done by {'net_tap' if sw_tso == 0 else 'pmdnetd software'} "
                        f"({sw_tso} software-segmented superframes)")

    def restart_mid_transfer(self, g, label):
        """Restarts pmdnetd during a guest->host TCP transfer; the guest is not touched."""
        c = self.ctx
        # Paced, so that the restart falls mid-transfer whatever the accelerator: 64 MB at
        # 8 MB/s, 8 s.
        size, rate = 64 * MB, 8
        seed = c.next_seed()
        g.run("vmtest udp-echo 7001 120 > /tmp/echo 2>&1 &")
        self._wait_guest_listening(g, "/tmp/echo")
        probe_secs = 30
        probe = c.spawn([c.vmtest, "udp-probe", GUEST4, "7001", str(probe_secs), "20"],
                        f"probe-{seed}.log", netns=True)
        recv = c.spawn([c.vmtest, "tcp-recv", "5011", str(size + MB)], f"recv-restart-{seed}.log",
                       netns=True)
        self._wait_listening(recv)
        base = self.daemon.totals()[0].get("guest_tx_bytes", 0)
        g.run(f"vmtest tcp-send {HOST4} 5011 {size} {seed} {rate} > /tmp/restart-send 2>&1 &")
        # Mid-transfer: a quarter of it through pmdnetd (the guest first fills and hashes it).
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.daemon.totals()[0].get("guest_tx_bytes", 0) - base > size // 4:
                break
            time.sleep(0.05)
        else:
            self.r.check(f"{label}: the transfer started", False, "no quarter of it in 120 s")
            return False
        self.sample_ring_errors(label)
        t_stop = time.monotonic()
        rc, took = self.daemon.stop(timeout=5)
        self.r.check(f"{label}: pmdnetd stops on SIGTERM within 2 s", rc == 0 and took <= 2.0,
                     f"exit {rc} after {took:.2f}s")
        t_exec = time.monotonic()
        self.daemon.start()
        t_up = self.daemon.wait_running(QUEUE_PAIRS, timeout=30)
        if t_up is None:
            self.r.check(f"{label}: pmdnetd back with the guest's queue pairs running", False,
                         f"not running 30 s after restart; log:\n{self.daemon.log()[-2000:]}")
            return False
        log(f"{label}: pmdnetd down {t_exec - t_stop:.2f}s, up again {t_up - t_exec:.2f}s after "
            f"exec (vhost-user reconnected, {QUEUE_PAIRS} pairs running)")
        if self.args.ring == "packed":
            port = self.daemon.port() or {}
            resumed = port.get("resumed_rings")
            self.r.check(f"{label}: every packed ring resumed where the old pmdnetd saved it",
                         resumed == 2 * QUEUE_PAIRS,
                         f"resumed_rings {resumed} of {2 * QUEUE_PAIRS}; pmdnetd's log:\n"
                         + "\n".join(l for l in self.daemon.log().splitlines()
                                      if "packed ring" in l or "resumes" in l)[-1500:])
        s, sout = g.wait_file_result("/tmp/restart-send", "tcp-send", self.args.xfer_timeout)
        try:
            recv.wait(timeout=60)
        except subprocess.TimeoutExpired:
            Context.end(recv)
        h = parse_result(c.read_log(recv.logname), "tcp-recv")
        probe.wait(timeout=probe_secs + 30)
        p = parse_result(c.read_log(probe.logname), "udp-probe")
        ok = s is not None and h is not None and s["sha256"] == h["sha256"] and \
            int(h["bytes"]) == size
        # The restart fell inside the transfer: bytes came before the stop and after the return.
        across = h is not None and float(h["first"]) < t_stop and float(h["last"]) > t_up
        if not (ok and across):
            _, dmesg = g.run("dmesg | tail -n 12", timeout=20, check=False, retries=1)
            errors = self.daemon.ring_errors() if self.daemon.alive() else {}
            dmesg += self.packed_restart_hint(g)
        self.r.check(f"{label}: a transfer across the restart completes byte-exact, no guest "
                     "reboot", ok and across and g.proc.poll() is None,
                     f"{size // MB} MB paced at {rate} MB/s, sha256 {h['sha256'][:16]}… on both "
                     f"sides, data before the stop and {float(h['last']) - t_up:.1f}s of it after "
                     "pmdnetd was back" if ok and across else
                     f"across the restart: {across}; guest: {sout[-400:]} host: "
                     f"{c.read_log(recv.logname)[-400:]}\npmdnetd ring errors now: {errors}; "
                     f"guest dmesg (tail):\n{dmesg}")
        # Replies after pmdnetd was back, or the path never came back (the longest silence
        # between replies then lies before the stop).
        if p and float(p["gap_end"]) > 0 and float(p["last_reply"]) > t_up:
            resume = float(p["gap_end"]) - t_up
            self.r.check(f"{label}: traffic resumes within 2 s of pmdnetd being back", resume <= 2.0,
                         f"UDP probe (every 20 ms) silent {float(p['max_gap_ms']) / 1000:.2f}s, "
                         f"first reply {resume:+.2f}s after the guest's queues ran again "
                         f"({p['replies']}/{p['sent']} replies)")
        else:
            self.r.check(f"{label}: traffic resumes within 2 s of pmdnetd being back", False,
                         "no reply after pmdnetd was back (last reply "
                         f"{float(p['last_reply']) - t_up:+.2f}s from then)" if p else
                         f"probe: {c.read_log(probe.logname)[-300:]}")
        if h and float(h["max_gap_ms"]) > 300:
            self.r.note(f"{label}: TCP stalled {float(h['max_gap_ms']) / 1000:.2f}s and resumed "
                        f"{float(h['gap_end']) - t_up:+.2f}s after pmdnetd was back (TCP "
                        "retransmission backoff included)")
        return ok

    def packed_restart_hint(self, g):
        """Why a packed ring may not survive a back-end restart: what QEMU logged, explained."""
        if self.args.ring != "packed" or "ring restore failed" not in self.ctx.read_log(
                g.proc.logname):
            return ""
        return ("\n  QEMU logged 'vhost VQ n ring restore failed' (the old pmdnetd was gone before "
                "GET_VRING_BASE). For a split ring QEMU then takes the position from the used "
                "ring's idx in guest memory; for a packed ring it keeps the last position it knew "
                f"(QEMU {self.ctx.qemu_version}: virtio_queue_packed_restore_last_avail_idx does "
                "nothing) and hands the new pmdnetd that stale base: the rings resume only from "
                "the positions the old pmdnetd saved in state_dir (pmdnetd's log says whether it "
                "saved and resumed them); see docs/vhost_user.md")

    # ---- live migration ----

    def setup_bridge(self):
        """The migration's network: the host's addresses on a bridge (no STP: ports forward at
        once), one persistent multi-queue tap per pmdnetd port on it. The bridge learns where the
        guest's MAC is from the frames it sees, so after a migration only the guest's announcement
        (or pmdnetd's RARP for it) moves the MAC to the destination's tap before the guest sends
        anything else."""
        c = self.ctx
        c.sh(["ip", "netns", "add", c.ns])
        c.ns_created = True
        for cmd in (["ip", "link", "set", "lo", "up"],
                    ["ip", "link", "add", BRIDGE, "type", "bridge"],
                    ["sysctl", "-qw", f"net.ipv6.conf.{BRIDGE}.keep_addr_on_down=1"],
                    ["sysctl", "-qw", f"net.ipv6.conf.{BRIDGE}.accept_dad=0"],
                    ["ip", "link", "set", BRIDGE, "up"],
                    ["ip", "addr", "add", f"{HOST4}/{PREFIX4}", "dev", BRIDGE],
                    ["ip", "-6", "addr", "add", f"{HOST6}/{PREFIX6}", "dev", BRIDGE, "nodad"]):
            c.ns_run(cmd, check=True)
        for tap in MIG_TAPS:
            for cmd in (["ip", "tuntap", "add", "dev", tap, "mode", "tap", "multi_queue"],
                        ["ip", "link", "set", tap, "master", BRIDGE],
                        ["ip", "link", "set", tap, "up"]):
                c.ns_run(cmd, check=True)

    def start_sniffer(self, tap, seconds, name):
        """Records the announcements that arrive on `tap` from the guest's MAC (ARP, RARP, IPv6
        neighbour advertisements), with the host's monotonic time, for `seconds`."""
        c = self.ctx
        script = c.path("sniff.py")
        if not os.path.exists(script):
            with open(script, "w") as f:
                f.write(SNIFFER)
        out = c.path(f"{name}.txt")
        p = c.spawn([sys.executable, script, tap, str(seconds), out, GUEST_MAC], f"{name}.log",
                    netns=True)
        deadline = time.monotonic() + 10
        while not os.path.exists(out):
            if p.poll() is not None or time.monotonic() > deadline:
                raise Failure(f"sniffer on {tap} did not start: {c.read_log(p.logname)}")
            time.sleep(0.02)
        return p, out

    @staticmethod
    def read_sniffed(out):
        seen = []
        with open(out) as f:
            for line in f:
                t, kind, detail = line.split(maxsplit=2)
                seen.append((float(t), kind, detail.strip()))
        return seen

    def wait_connected(self, port, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (self.daemon.port(port) or {}).get("connected") == 1:
                return True
            time.sleep(0.05)
        return False

    def migrate(self, src, src_port, dst_port, announce, label):
        """Migrates the guest `src` (on pmdnetd port `src_port`) to a new QEMU on `dst_port` while
        TCP runs both ways, paced, and a UDP probe echoes; returns the destination Guest."""
        c, a = self.ctx, self.args
        dst_tap = MIG_TAPS[int(dst_port[-1])]
        uri = f"unix:{c.path(f'migrate-{Guest.serial + 1}.sock')}"
        dst = Guest(c, self.daemon.mode, self.accel, f"{dst_port}.sock", incoming=uri,
                    device_options=src.device_options)
        dst.spawn()
        if self.daemon.mode == "client":  # QEMU listens; pmdnetd's client port reconnects to it
            deadline = time.monotonic() + 20
            while not os.path.exists(c.path(f"{dst_port}.sock")):
                if dst.proc.poll() is not None or time.monotonic() > deadline:
                    raise Failure(f"{label}: the destination QEMU made no vhost-user socket: "
                                  f"{c.read_log(dst.proc.logname)[-1500:]}")
                time.sleep(0.02)
        dst.connect()
        if not self.wait_connected(dst_port, 30):
            raise Failure(f"{label}: the destination QEMU never connected to pmdnetd port "
                          f"{dst_port}: {c.read_log(dst.proc.logname)[-1500:]}")
        before = self.daemon.resources()

        # Traffic across the migration: TCP both ways, paced so that it runs before, during and
        # after it (64 MB at 2 MB/s, 32 s), and a UDP echo probed every 20 ms.
        size, rate = 64 * MB, 2
        s_h2g, s_g2h = c.next_seed(), c.next_seed()
        snmp_before = self.guest_snmp(src)
        g_recv = f"/tmp/mig-recv-{s_h2g}"
        src.run(f"vmtest tcp-recv 5031 {size + MB} > {g_recv} 2>&1 &")
        self._wait_guest_listening(src, g_recv)
        src.run("vmtest udp-echo 7001 120 > /tmp/mig-echo 2>&1 &")
        self._wait_guest_listening(src, "/tmp/mig-echo")
        h_recv = c.spawn([c.vmtest, "tcp-recv", "5032", str(size + MB)],
                         f"mig-recv-{s_g2h}.log", netns=True)
        self._wait_listening(h_recv)
        sniff, sniffed = self.start_sniffer(dst_tap, 120, f"sniff-{s_h2g}")
        # Where the bridge believes the guest's MAC is, each time that changes.
        fdb = c.spawn(["bridge", "monitor", "fdb"], f"fdb-{s_h2g}.log", netns=True)
        probe_secs = 50
        probe = c.spawn([c.vmtest, "udp-probe", GUEST4, "7001", str(probe_secs), "20"],
                        f"mig-probe-{s_h2g}.log", netns=True)
        h_send = c.spawn([c.vmtest, "tcp-send", GUEST4, "5031", str(size), str(s_h2g), str(rate)],
                         f"mig-send-{s_h2g}.log", netns=True)
        src.run(f"vmtest tcp-send {HOST4} 5032 {size} {s_g2h} {rate} > /tmp/mig-send-{s_g2h} "
                "2>&1 &")
        # Some of each way through pmdnetd first (2 s of it).
        base = self.daemon.totals(src_port)[0]
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            now = self.daemon.totals(src_port)[0]
            if all(now.get(k, 0) - base.get(k, 0) > 2 * rate * MB for k in
                   ("guest_rx_bytes", "guest_tx_bytes")):
                break
            time.sleep(0.05)
        else:
            raise Failure(f"{label}: the transfers did not start within 120 s\n" +
                          self.traffic_report(src, (src_port, dst_port)))

        self.sample_ring_errors(f"{label}: the migration")
        # The bandwidth cap (128 MiB/s by default) only slows a migration over a local socket.
        src.monitor("migrate_set_parameter max-bandwidth 8192")
        t_start = time.monotonic()
        src.monitor(f"migrate -d {uri}")
        status, info = "?", ""
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            info = src.monitor("info migrate")
            m = re.search(r"Migration status: (\S+)", info)
            status = m.group(1) if m else "?"
            if status in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.1)
        t_done = time.monotonic()
        downtime = re.search(r"downtime: (\d+) ms", info)
        total = re.search(r"total time: (\d+) ms", info)
        ok = status == "completed" and downtime is not None
        self.r.check(f"{label}: migration completes", ok,
                     f"QEMU: downtime {downtime.group(1)} ms, total {total.group(1) if total else '?'}"
                     f" ms ({t_done - t_start:.1f} s as seen here)" if ok else
                     f"status {status}:\n{info[-1500:]}\n{c.read_log(src.proc.logname)[-1500:]}")
        if not ok:
            raise Failure(f"{label}: no migration to go on with")
        self.migration_downtimes.append(int(downtime.group(1)))
        t_up = self.daemon.wait_running(QUEUE_PAIRS, timeout=30, port=dst_port)
        dst.boot_id = src.boot_id
        _, boot = dst.run("cat /proc/sys/kernel/random/boot_id", timeout=15, retries=6)
        self.r.check(f"{label}: the same guest runs on the destination",
                     src.boot_id in boot and t_up is not None,
                     f"boot id {src.boot_id}, {QUEUE_PAIRS} queue pairs running on {dst_port} "
                     f"{t_up - t_done:+.2f}s after QEMU said completed" if t_up else
                     f"boot id now {boot.strip()!r}, was {src.boot_id}; pmdnetd: "
                     f"{self.daemon.log()[-1500:]}")

        # The source: QEMU quits (as libvirt ends it), its port lets go of everything.
        src.monitor("quit")
        try:
            src.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            Context.end(src.proc)
        src.close()
        gone = self.daemon.wait_disconnected(20, port=src_port)
        time.sleep(0.5)
        after = self.daemon.resources()
        self.r.check(f"{label}: the source port lets go of the guest's fds and memory",
                     gone and after["fds"] <= before["fds"] and after["guest_mappings"] == 1,
                     f"{src_port} disconnected; pmdnetd fds {before['fds']} with both QEMUs "
                     f"connected, {after['fds']} after the source quit; guest memory files mapped "
                     f"{before['guest_mappings']} -> {after['guest_mappings']}")

        # The transfers, both ways, byte-exact across the migration.
        gr, gout = dst.wait_file_result(g_recv, "tcp-recv", a.xfer_timeout)
        hs = parse_result(c.read_log(Context.finish(h_send).logname), "tcp-send")
        ok = same_stream(hs, gr, size)
        # The guest verifies every checksum itself (guest_csum=off): a page pmdnetd wrote but did
        # not log reaches the destination stale, and fails the guest's TCP checksum there.
        snmp_after = self.guest_snmp(dst)
        csum = {k: snmp_after.get(k, 0) - snmp_before.get(k, 0) for k in
                ("TcpInCsumErrors", "IpInHdrErrors", "UdpInCsumErrors")}
        self.r.check(f"{label}: the guest's checksums all verify across the migration",
                     not any(csum.values()), ", ".join(f"{k} +{v}" for k, v in csum.items()))
        self.r.check(f"{label}: TCP host->guest across the migration byte-exact", ok,
                     f"{size // MB} MB paced at {rate} MB/s, sha256 {gr['sha256'][:16]}… on both "
                     f"sides, longest stall {float(gr['max_gap_ms']) / 1000:.2f}s" if ok else
                     f"host: {c.read_log(h_send.logname)[-300:]} guest: {gout[-300:]}")
        gs, sout = dst.wait_file_result(f"/tmp/mig-send-{s_g2h}", "tcp-send", a.xfer_timeout)
        hr = parse_result(c.read_log(Context.finish(h_recv).logname), "tcp-recv")
        ok = same_stream(gs, hr, size)
        across = ok and float(hr["first"]) < t_start and float(hr["last"]) > t_done
        self.r.check(f"{label}: TCP guest->host across the migration byte-exact", ok and across,
                     f"{size // MB} MB paced at {rate} MB/s, sha256 {hr['sha256'][:16]}… on both "
                     f"sides, {float(hr['last']) - t_done:.1f}s of it after the switch-over, "
                     f"longest stall {float(hr['max_gap_ms']) / 1000:.2f}s" if ok and across else
                     f"across the migration: {across}; guest: {sout[-300:]} host: "
                     f"{c.read_log(h_recv.logname)[-300:]}")

        # The announcement, heard on the destination's tap after the switch-over.
        time.sleep(1.0)
        Context.end(sniff)
        seen = [s for s in self.read_sniffed(sniffed) if s[0] >= t_start]
        port = self.daemon.port(dst_port) or {}
        if announce == "guest":
            heard = [s for s in seen if s[1] == "garp"]
            self.r.check(f"{label}: the guest announces itself from its new place (GUEST_ANNOUNCE)",
                         bool(heard) and self.features_of(dst).get("GUEST_ANNOUNCE", False),
                         f"{len(heard)} gratuitous ARP(s) for {GUEST4} from {GUEST_MAC} on "
                         f"{dst_tap}, the first {heard[0][0] - t_done:+.2f}s after the "
                         f"switch-over; {sum(s[1] == 'na' for s in seen)} neighbour "
                         "advertisement(s); GUEST_ANNOUNCE negotiated" if heard else
                         f"heard on {dst_tap}: {seen}; guest features: {self.features_of(dst)}")
        else:
            heard = [s for s in seen if s[1] == "rarp"]
            sent = port.get("announcements", 0)
            self.r.check(f"{label}: pmdnetd announces the guest with a RARP (SEND_RARP)",
                         bool(heard) and sent >= 1 and
                         not self.features_of(dst).get("GUEST_ANNOUNCE", True),
                         f"{len(heard)} RARP(s) for {GUEST_MAC} on {dst_tap}, the first "
                         f"{heard[0][0] - t_done:+.2f}s after the switch-over; pmdnetd port "
                         f"{dst_port}: {sent} announcement(s) sent, "
                         f"{port.get('announce_failures')} given up" if heard else
                         f"heard on {dst_tap}: {seen}; pmdnetd {dst_port}: {port}")

        probe.wait(timeout=probe_secs + 30)
        p = parse_result(c.read_log(probe.logname), "udp-probe")
        # One silence around the switch-over, and answers otherwise: at most 5 s of the 50 s lost.
        if p and float(p["last_reply"]) > t_done:
            gap = float(p["max_gap_ms"])
            self.migration_gaps.append(gap)
            ok = gap <= 5000 and int(p["replies"]) >= 0.9 * int(p["sent"])
            self.r.check(f"{label}: the guest answers again within 5 s, and keeps answering", ok,
                         f"UDP probe every 20 ms: longest silence {gap:.0f} ms, ending "
                         f"{float(p['gap_end']) - t_done:+.2f}s from the switch-over "
                         f"({p['replies']}/{p['sent']} replies)" +
                         ("" if ok else "\n" + self.traffic_report(dst, (src_port, dst_port))))
        else:
            self.r.check(f"{label}: the guest answers again within 5 s, and keeps answering", False,
                         f"probe: {c.read_log(probe.logname)[-300:]}\n" +
                         self.traffic_report(dst, (src_port, dst_port)))

        # The bridge learnt the guest's new place from the announcement, and nothing moved it back.
        Context.end(fdb)
        moves = [line.split()[2] for line in c.read_log(fdb.logname).splitlines()
                 if line.lower().startswith(GUEST_MAC) and not line.startswith("Deleted") and
                 len(line.split()) > 2 and line.split()[1] == "dev"]
        src_tap = MIG_TAPS[int(src_port[-1])]
        after = moves[moves.index(dst_tap):] if dst_tap in moves else []
        self.r.check(f"{label}: the bridge learns the guest's MAC on {dst_tap} and keeps it there",
                     bool(after) and src_tap not in after,
                     f"the guest's MAC moved {' -> '.join(moves)}" if after and src_tap not in after
                     else f"the guest's MAC moved {' -> '.join(moves) or 'nowhere'}\n" +
                     self.traffic_report(dst, (src_port, dst_port)))
        return dst

    def traffic_report(self, g, ports):
        """What the ports, the bridge and the guest counted: printed when traffic falters."""
        c, out = self.ctx, []
        for name in ports:
            p = self.daemon.port(name) if self.daemon.alive() else None
            if not p:
                out.append(f"pmdnetd port {name}: no telemetry")
                continue
            out.append(f"pmdnetd port {name}: connected {p.get('connected')}, queue pairs "
                       f"{p.get('queue_pairs')}, announcements {p.get('announcements')}, link "
                       f"changes {p.get('link_changes')}, device configured "
                       f"{p.get('backend_configurations')} times")
            for key, qp in sorted(p.items()):
                if key.startswith("qp") and isinstance(qp, dict):
                    for group in ("guest", "backend"):
                        nz = {k: v for k, v in (qp.get(group) or {}).items() if v}
                        out.append(f"  {key} {group}: {nz}")
        fdb = c.ns_run(["bridge", "fdb", "show", "br", BRIDGE], timeout=10).stdout
        out.append("bridge fdb (the guest's MAC): " + "; ".join(
            line for line in fdb.splitlines() if line.lower().startswith(GUEST_MAC)))
        for tap in MIG_TAPS:
            link = c.ns_run(["ip", "-s", "link", "show", tap], timeout=10).stdout
            out.append(f"{tap}: " + " ".join(link.split()))
        if g is not None and g.proc.poll() is None:
            _, irq = g.run("grep -i -e virtio -e ' 1[01]:' /proc/interrupts", timeout=20,
                           check=False, retries=1)
            _, stats = g.run("ethtool -S eth0 | grep -v ': 0$'", timeout=20, check=False,
                             retries=1)
            out.append(f"guest interrupts:\n{irq.strip()}\nguest ethtool -S eth0:\n"
                       f"{stats.strip()}")
        if self.daemon.proc is not None:
            out.append("pmdnetd log (tail):\n" + self.daemon.log()[-2500:])
        return "\n".join(out)

    def features_of(self, g):
        _, feat = g.run("cat /sys/class/net/eth0/device/features", retries=3)
        bits = feat.strip().splitlines()[-1].strip()
        return {name: len(bits) > b and bits[b] == "1" for name, b in FEATURES.items()}

    def phase_migration(self):
        """Live migration through pmdnetd, in both socket modes: there and back again, with the
        guest announcing itself (GUEST_ANNOUNCE) in server mode and pmdnetd announcing it
        (SEND_RARP, guest_announce=off on the device) in client mode."""
        c = self.ctx
        self.migration_downtimes, self.migration_gaps = [], []
        for mode in self.args.migration_modes.split(","):
            announce = "guest" if mode == "server" else "rarp"
            label = f"migration ({'pmdnetd server' if mode == 'server' else 'pmdnetd client'})"
            log(f"== {label}: there and back, announced by "
                f"{'the guest' if announce == 'guest' else 'pmdnetd (RARP)'}")
            self.daemon = Daemon(c, mode, migration=True)
            # No GUEST_CSUM: the guest checks every TCP checksum of what pmdnetd wrote into it.
            options = ",guest_csum=off,guest_tso4=off,guest_tso6=off" + \
                ("" if announce == "guest" else ",guest_announce=off")
            if mode == "server":
                self.daemon.start()
                g = self.guest = self.boot_on("mig0.sock", mode, options, label)
            else:
                g = Guest(c, mode, self.accel, "mig0.sock", device_options=options).spawn()
                deadline = time.monotonic() + 20
                while not os.path.exists(c.path("mig0.sock")):
                    if g.proc.poll() is not None or time.monotonic() > deadline:
                        raise Failure(f"{label}: QEMU did not create the vhost-user socket")
                    time.sleep(0.02)
                self.daemon.start()
                g.connect()
                if g.wait_ready(self.args.boot_timeout) is None:
                    raise Failure(f"{label}: guest not ready:\n{g.console_tail()}")
                self.guest = g
            if self.daemon.wait_running(QUEUE_PAIRS, timeout=60, port="mig0") is None:
                raise Failure(f"{label}: the guest's queue pairs never ran on mig0")
            self.check_ping(g, label)
            g = self.guest = self.migrate(g, "mig0", "mig1", announce, f"{label}, there")
            g = self.guest = self.migrate(g, "mig1", "mig0", announce, f"{label}, back")
            self.check_ping(g, f"{label}, after coming back")
            self.sample_ring_errors(f"{label}: the poweroff")
            g.poweroff()
            self.guest = None
            self.daemon.stop()
        log(f"migration downtimes (QEMU): {self.migration_downtimes} ms; longest UDP silence "
            f"per migration: {[round(g) for g in self.migration_gaps]} ms")

    def boot_on(self, socket_name, mode, options, label):
        g = Guest(self.ctx, mode, self.accel, socket_name, device_options=options).start()
        if g.wait_ready(self.args.boot_timeout) is None:
            raise Failure(f"{label}: guest not ready:\n{g.console_tail()}")
        log(f"{label}: guest up in {g.booted_at - g.started_at:.1f}s, boot id {g.boot_id}")
        return g

    # ---- phases ----

    def phase_server(self):
        c, a = self.ctx, self.args
        log("== phase A: pmdnetd is the vhost-user server, QEMU a reconnecting client")
        self.daemon = Daemon(c, "server")
        self.daemon.start()
        base0 = self.daemon.resources()
        g = self.guest = self.boot("server", "phase A")
        t_run = self.daemon.wait_running(QUEUE_PAIRS, 30)
        self.r.check("phase A: vhost-user session up with 2 queue pairs", t_run is not None,
                     "pmdnetd telemetry: connected, 2 queue pairs running" if t_run else
                     self.start_failure_hint())
        if t_run is None:
            raise Failure("the datapath never started")
        self.check_features(g)
        if not self.check_ping(g, "phase A"):
            raise Failure("no connectivity")

        ok, mbps, d = self.tcp_guest_to_host(g, "phase A", a.tcp_mb * MB)
        self.throughput["g2h"] = mbps
        self.offload_evidence(d, "phase A IPv4", native_expected=True)
        ok, mbps, d2 = self.tcp_host_to_guest(g, "phase A", a.tcp_mb * MB)
        self.throughput["h2g"] = mbps
        gro = d2.get("rx_gro_frames", 0)
        rxp, rxb = d2.get("guest_rx_packets", 0), d2.get("guest_rx_bytes", 0)
        self.r.note(f"phase A host->guest: {rxp} frames to the guest, {rxb / rxp if rxp else 0:.0f} "
                    f"bytes on average, rx_gro_frames {gro} (coalesced frames need GUEST_TSO4 and "
                    "the port's gro)")
        self.ensure_host_v6()
        ok6, mbps6, d6 = self.tcp_guest_to_host(g, "phase A IPv6", a.tcp6_mb * MB, addr=HOST6,
                                                port=5003)
        self.offload_evidence(d6, "phase A IPv6", native_expected=False)
        self.udp_guest_to_host(g, "phase A", a.udp_count)
        self.udp_host_to_guest(g, "phase A", a.udp_count)
        self.ensure_host_v6()
        self.udp_guest_to_host(g, "phase A IPv6", max(a.udp_count // 3, 100), addr=HOST6, port=6011)
        self.udp_guest_to_host(g, "phase A", a.udp_count, gso=1400, port=6012)
        self.both_tx_queues(g, "phase A")

        # Reboot: the same QEMU, the guest driver resets the device and starts again.
        log("== phase A: guest reboot")
        old = g.boot_id
        self.sample_ring_errors("the reboot")
        g.send(f"{g.cmd_id + 1} reboot -f")
        t = time.monotonic()
        ready = g.wait_ready(a.boot_timeout)
        self.r.check("reboot: the guest comes back", ready is not None and ready != old,
                     f"new boot id after {time.monotonic() - t:.1f}s" if ready else
                     g.console_tail())
        if ready:
            self.daemon.wait_running(QUEUE_PAIRS, 30)
            self.check_negotiated(g, "after reboot: negotiated features")
            self.check_ping(g, "after reboot")
            self.tcp_guest_to_host(g, "after reboot", a.small_mb * MB)
            self.tcp_host_to_guest(g, "after reboot", a.small_mb * MB)

        self.kill_guest_mid_transfer(base0)
        if self.args.restart:
            self.restart_mid_transfer(self.guest, "restart (server mode, QEMU reconnects)")
        else:
            log("INFO: restart of pmdnetd under a running guest not run (--no-restart)")
        self.check_guest_snmp(self.guest, "phase A")
        self.sample_ring_errors("the poweroff at the end of phase A")
        self.guest.poweroff()
        self.daemon.stop()

    def kill_guest_mid_transfer(self, base0):
        c, a = self.ctx, self.args
        log("== bad input: the guest's QEMU killed (SIGKILL) mid-transfer")
        self.sample_ring_errors("the poweroff before the kill test")
        self.guest.poweroff()
        self.daemon.wait_disconnected(20)
        time.sleep(0.5)
        base = self.daemon.resources()
        self.r.note(f"pmdnetd before any guest: {base0}; idle after a guest: {base}")
        g = self.guest = self.boot("server", "kill test")
        self.daemon.wait_running(QUEUE_PAIRS, 30)
        seed = c.next_seed()
        size = 64 * MB  # paced at 8 MB/s: still running when the kill comes
        recv = c.spawn([c.vmtest, "tcp-recv", "5021", str(size + MB)], f"recv-kill-{seed}.log",
                       netns=True)
        self._wait_listening(recv)
        base_tx = self.daemon.totals()[0].get("guest_tx_bytes", 0)
        g.run(f"vmtest tcp-send {HOST4} 5021 {size} {seed} 8 > /tmp/doomed 2>&1 &")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.daemon.totals()[0].get("guest_tx_bytes", 0) - base_tx > 4 * MB:
                break
            time.sleep(0.05)
        # The other port's guest: pmdnet_guest (net_virtio_user) echoing through vm1, paced, from
        # before the kill until after it (stopped with SIGTERM, it drains and reports).
        other = None
        if a.pmdnet_guest:
            pre = f"{c.prefix}-g1"
            other = c.spawn([a.pmdnet_guest, "--socket", self.daemon.socket1, "--file-prefix", pre,
                             "--lcore", "0", "--echo", "--rate", "1000", "--size", "256",
                             "--duration", "300"], "pmdnet_guest.log")
            other.dpdk_prefix = pre
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if self.daemon.totals("vm1")[0].get("guest_tx_packets", 0) > 500:
                    break
                time.sleep(0.05)
        vm1_before = (self.daemon.port("vm1") or {}).get("connected", 0)
        mid = self.daemon.resources()
        self.sample_ring_errors("the kill -9")
        os.kill(g.proc.pid, signal.SIGKILL)
        g.proc.wait(timeout=10)
        g.close()
        t_kill = time.monotonic()
        gone = self.daemon.wait_disconnected(10)
        self.r.check("kill -9: pmdnetd notices the dead guest and stays up",
                     gone and self.daemon.alive(),
                     f"port vm0 disconnected after {time.monotonic() - t_kill:.2f}s, pmdnetd "
                     f"pid {self.daemon.proc.pid} alive" if gone else self.daemon.log()[-2000:])
        Context.end(recv, signal.SIGKILL)
        if other is not None:
            t1, _ = self.daemon.totals("vm1")
            time.sleep(1.0)
            t2, _ = self.daemon.totals("vm1")
            moved = t2.get("guest_tx_packets", 0) - t1.get("guest_tx_packets", 0)
            Context.end(other, signal.SIGTERM, 30)
            out = c.read_log(other.logname)
            ok = vm1_before == 1 and moved > 0 and other.returncode == 0 and \
                "lost=0 corrupt=0" in out
            res = re.search(r"sent=\S+ received=\S+ lost=\S+ corrupt=\S+", out)
            self.r.check("kill -9: the other port keeps forwarding", ok,
                         f"vm1 (loopback, pmdnet_guest --echo): {moved} frames in the second after "
                         f"the kill; guest exit {other.returncode}, "
                         f"{res.group(0) if res else out[-300:]}")
        else:
            self.r.check("kill -9: the other port keeps forwarding", False,
                         "pmdnet_guest not built: no second guest")
        time.sleep(1.0)
        after = self.daemon.resources()
        slack_kb = 16 * 1024
        ok = (after["fds"] == base["fds"] and after["guest_mappings"] == 0 and
              after["rss_kb"] <= base["rss_kb"] + slack_kb)
        self.r.check("kill -9: pmdnetd's fds and memory return to their baseline", ok,
                     f"idle before: {base['fds']} fds, {base['rss_kb'] // 1024} MiB RSS, "
                     f"{base['guest_mappings']} guest mappings; with the guest: {mid['fds']} fds, "
                     f"{mid['rss_kb'] // 1024} MiB, {mid['guest_mappings']} mappings; after the "
                     f"kill: {after['fds']} fds, {after['rss_kb'] // 1024} MiB, "
                     f"{after['guest_mappings']} mappings")
        g = self.guest = self.boot("server", "new QEMU on the same socket")
        up = self.daemon.wait_running(QUEUE_PAIRS, 30)
        self.r.check("kill -9: a new QEMU on the same socket gets its queue pairs", up is not None,
                     "2 queue pairs running" if up else self.daemon.log()[-2000:])
        self.check_ping(g, "new QEMU")
        self.tcp_guest_to_host(g, "new QEMU", a.small_mb * MB)

    def phase_client(self):
        c, a = self.ctx, self.args
        log("== phase B: QEMU is the vhost-user server, pmdnetd a client")
        self.daemon = Daemon(c, "client")
        # QEMU first: it listens, and waits for its backend (pmdnetd) before the guest runs.
        g = self.guest = Guest(c, "client", self.accel).spawn()
        deadline = time.monotonic() + 20
        while not os.path.exists(self.daemon.socket) and g.proc.poll() is None:
            if time.monotonic() > deadline:
                raise Failure("phase B: QEMU did not create the vhost-user socket")
            time.sleep(0.02)
        self.daemon.start()
        g.connect()
        ready = g.wait_ready(a.boot_timeout)
        if ready is None:
            raise Failure(f"phase B: guest not ready:\n{g.console_tail()}\n{self.daemon.log()[-2000:]}")
        log(f"phase B: guest up in {g.booted_at - g.started_at:.1f}s ({self.accel.upper()})")
        t_run = self.daemon.wait_running(QUEUE_PAIRS, 30)
        self.r.check("phase B: pmdnetd (client) connected, 2 queue pairs running", t_run is not None,
                     "" if t_run else self.start_failure_hint())
        if t_run is None:
            raise Failure("phase B: the datapath never started")
        self.check_negotiated(g, "phase B: negotiated features")
        self.check_ping(g, "phase B")
        self.tcp_guest_to_host(g, "phase B", a.client_mb * MB)
        self.tcp_host_to_guest(g, "phase B", a.client_mb * MB)
        self.udp_guest_to_host(g, "phase B", max(a.udp_count // 2, 100))
        self.udp_host_to_guest(g, "phase B", max(a.udp_count // 2, 100))
        if self.args.restart:
            self.restart_mid_transfer(g, "restart (client mode, QEMU is the server)")
            self.check_ping(g, "phase B after the restart")
        else:
            log("INFO: restart of pmdnetd under a running guest not run (--no-restart)")
        self.check_guest_snmp(g, "phase B")
        self.sample_ring_errors("the poweroff at the end of phase B")
        g.poweroff()
        self.daemon.stop()

    def check_guest_snmp(self, g, label):
        _, out = g.run("cat /proc/net/snmp /proc/net/snmp6")
        snmp = parse_snmp(out, False)
        snmp.update(parse_snmp(out, True))
        bad = {k: v for k, v in snmp.items() if k.endswith("CsumErrors") and v}
        self.r.check(f"{label}: the guest kernel saw no checksum errors", not bad,
                     ", ".join(f"{k}={v}" for k, v in bad.items()) or
                     "Tcp/Udp/Udp6 InCsumErrors all 0")

    def run(self):
        c = self.ctx
        self.accel, self.accel_reason = self.choose_accel()
        log(f"accelerator: {self.accel.upper()} ({self.accel_reason})")
        log(f"virtqueues: {self.args.ring} (virtio-net-pci packed="
            f"{'on' if self.args.ring == 'packed' else 'off'})")
        if "m" in self.args.phases:
            self.setup_bridge()
        else:
            self.setup_netns()
        snmp0 = self.host_snmp()
        try:
            if "a" in self.args.phases:
                self.phase_server()
            if "b" in self.args.phases:
                self.phase_client()
            if "m" in self.args.phases:
                self.phase_migration()
        finally:
            try:
                snmp1 = self.host_snmp()
            except Exception:  # noqa: BLE001 - the namespace may be what failed
                snmp1 = snmp0
            d = {k: snmp1.get(k, 0) - snmp0.get(k, 0) for k in snmp1}
            bad = {k: v for k, v in d.items()
                   if v and (k.endswith("CsumErrors") or k in ("IpInHdrErrors", "Ip6InHdrErrors",
                                                                "TcpInErrs"))}
            segs = d.get("TcpInSegs", 0)
            self.r.check("host kernel: no checksum or header errors in everything it received",
                         not bad, (", ".join(f"{k}={v}" for k, v in bad.items()) + "; ")
                         if bad else f"{segs} TCP segments, {d.get('UdpInDatagrams', 0)} UDP and "
                         f"{d.get('Udp6InDatagrams', 0)} UDP6 datagrams verified; "
                         "Ip/Tcp/Udp(6) InCsumErrors and InHdrErrors 0")
            self.check_ring_errors()
        if self.v6_fixes:
            self.r.note(f"the host's IPv6 local route was restored {self.v6_fixes} time(s) after "
                        "net_tap link cycles (a kernel quirk with keep_addr_on_down, not pmdnetd)")
        log(f"accelerator used: {self.accel.upper()} ({self.accel_reason})")
        g2h, h2g = self.throughput.get("g2h"), self.throughput.get("h2g")
        if g2h is not None:
            log(f"TCP throughput (IPv4, {self.args.tcp_mb} MB, {self.accel.upper()}, "
                f"{self.args.ring} ring): "
                f"guest->host {g2h:.0f} Mbit/s, host->guest {h2g or 0:.0f} Mbit/s")


class Tee:
    def __init__(self, *streams):
        self.streams = streams

    def write(self, text):
        for st in self.streams:
            st.write(text)
        return len(text)

    def flush(self):
        for st in self.streams:
            st.flush()


def same_stream(sent, received, size):
    """Whether a vmtest transfer arrived whole: the same sha256 on both sides, `size` bytes."""
    return sent is not None and received is not None and sent["sha256"] == received["sha256"] \
        and int(received["bytes"]) == size


def parse_snmp(text, v6):
    out = {}
    lines = text.splitlines()
    if v6:
        for line in lines:
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit() and parts[0][:3] in ("Ip6", "Udp", "Icm"):
                out[parts[0]] = int(parts[1])
        return out
    for i in range(len(lines) - 1):
        a, b = lines[i].split(), lines[i + 1].split()
        if a and b and a[0] == b[0] and a[0].endswith(":") and not b[1:2] == a[1:2]:
            proto = a[0][:-1]
            for k, v in zip(a[1:], b[1:]):
                try:
                    out[proto + k] = int(v)
                except ValueError:
                    pass
    return out


def size_transfers(args, accel):
    """The transfer sizes: full ones, or smaller ones in CI mode under TCG."""
    small = args.ci and accel == "tcg"
    if not args.tcp_mb_given:
        args.tcp_mb = 48 if small else 200
    args.tcp6_mb = max(args.tcp_mb // 4, 8)
    args.client_mb = max(args.tcp_mb // 3, 8)
    args.small_mb = 8
    args.udp_count = 1200 if small else 3000
    if small:
        log(f"CI mode under TCG (no usable KVM): smaller transfers, TCP {args.tcp_mb} MB "
            f"(200 MB without --ci)")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--artifacts", required=True, help="build_guest.sh's output directory")
    ap.add_argument("--pmdnetd", required=True)
    ap.add_argument("--pmdnetctl", required=True)
    ap.add_argument("--pmdnet-guest", default="", help="pmdnet_guest, for the second port")
    ap.add_argument("--accel", choices=["auto", "kvm", "tcg"], default="auto")
    ap.add_argument("--ci", action="store_true", help="smaller transfers under TCG")
    ap.add_argument("--phases", default="ab", help="a: pmdnetd the server, b: pmdnetd the client "
                    "(default ab); m: live migration, both modes")
    ap.add_argument("--ring", choices=["split", "packed"], default="split",
                    help="the virtqueue layout QEMU asks for (virtio-net-pci packed=off|on)")
    ap.add_argument("--tcp-mb", type=int, default=0, help="the main TCP transfers (default 200; "
                    "48 with --ci under TCG)")
    ap.add_argument("--guest-mb", type=int, default=1024)
    ap.add_argument("--boot-timeout", type=int, default=90)
    ap.add_argument("--xfer-timeout", type=int, default=600)
    ap.add_argument("--gro", choices=["auto", "on", "off"], default="auto",
                    help="backend.offloads.gro: true (auto: when this pmdnetd knows the key)")
    ap.add_argument("--no-restart", dest="restart", action="store_false",
                    help="skip the restarts of pmdnetd under a running guest")
    ap.add_argument("--migration-modes", default="server,client",
                    help="phase m: the socket modes to migrate in, in order (server, client)")
    ap.add_argument("--keep-logs", action="store_true")
    ap.add_argument("--log", default="", help="also write this output to LOG")
    ap.add_argument("--tmp", default=os.environ.get("TMPDIR", "/tmp"))
    args = ap.parse_args()
    args.tcp_mb_given = args.tcp_mb > 0
    if args.phases not in ("a", "b", "ab", "m"):
        ap.error("--phases: a, b, ab, or m (live migration, on a network of its own)")
    if any(m not in ("server", "client") for m in args.migration_modes.split(",")):
        ap.error("--migration-modes: server, client or both, comma-separated")
    if args.log:
        sys.stdout = Tee(sys.stdout, open(args.log, "w"))

    ctx = Context(args)
    r = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True)
    ctx.qemu_version = (re.search(r"version (\S+)", r.stdout) or [None, "?"])[1]
    r = subprocess.run(["qemu-system-x86_64", "-device", "virtio-net-pci,help"],
                       capture_output=True, text=True)
    ctx.qemu_has_uso = "host_uso" in r.stdout

    def on_signal(sig, _frame):
        raise KeyboardInterrupt(f"signal {sig}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    # backend.offloads.gro (coalesced TCP to the guest, with GUEST_TSO4) where pmdnetd knows it.
    ctx.gro = args.gro == "on"
    if args.gro == "auto":
        probe = ctx.path("gro-probe.yaml")
        with open(probe, "w") as f:
            f.write("workers: [1]\nports:\n  - name: p\n    vhost_user: {socket: /tmp/x.sock}\n"
                    "    backend: {type: dpdk, device: net_tap0, offloads: {gro: true}}\n")
        ctx.gro = subprocess.run([args.pmdnetd, "--check-config", "--config", probe],
                                 capture_output=True).returncode == 0
    log(f"pmdnetd backend.offloads.gro: {'on' if ctx.gro else 'off (this pmdnetd has no such key)' if args.gro == 'auto' else 'off'}")

    suite = Suite(ctx)
    rc = 1
    try:
        accel, _ = suite.choose_accel()
        size_transfers(args, accel)
        with open(os.path.join(args.artifacts, "kernel.txt")) as f:
            kinfo = dict(line.split("=", 1) for line in f.read().split())
        log(f"QEMU {ctx.qemu_version}, guest kernel {kinfo.get('kernel')} ({kinfo.get('package')} "
            f"{kinfo.get('version')}), work dir {ctx.work}")
        suite.run()
    except Failure as e:
        ctx.results.check("the run went to the end", False, str(e))
    except KeyboardInterrupt as e:
        ctx.results.check("the run went to the end", False, f"interrupted ({e})")
    except Exception as e:  # noqa: BLE001 - reported as a failure, then cleaned up
        import traceback
        traceback.print_exc()
        ctx.results.check("the run went to the end", False, f"{type(e).__name__}: {e}")
    finally:
        failed = ctx.results.failed
        if failed:
            for p in ctx.procs:
                if p.logname.startswith("pmdnetd") or p.logname.startswith("qemu"):
                    tail = ctx.read_log(p.logname)[-1500:]
                    if tail.strip():
                        log(f"--- {p.logname} (tail)\n{tail}")
        pause = int(os.environ.get("PMDNET_E2E_PAUSE_ON_FAIL", "0"))
        if failed and pause > 0:
            log(f"PMDNET_E2E_PAUSE_ON_FAIL: {pause}s before cleanup (netns {ctx.ns}, "
                f"work {ctx.work})")
            try:
                time.sleep(pause)
            except KeyboardInterrupt:
                pass
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # the cleanup below runs to its end
        ctx.cleanup()
        n_pass, n_fail = len(ctx.results.passed), len(ctx.results.failed)
        log(f"elapsed {time.monotonic() - T0:.0f}s")
        for name in failed:
            log(f"failed: {name}")
        print(f"qemu_e2e: {n_pass} passed, {n_fail} failed", flush=True)
        rc = 0 if n_fail == 0 and n_pass > 0 else 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
