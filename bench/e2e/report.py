#!/usr/bin/env python3
# bench/e2e/report.py: the analysis half of scripts/bench.sh (parsing, records, table, JSON, PNG).
"""The analysis half of scripts/bench.sh: parses testpmd, pmdnetctl, pmdnet_guest and Open
vSwitch (ovs-appctl, ovs-ofctl) output, turns one measurement window into a record, and
summarizes the records of a run into a table, bench/results/<date>.json and a PNG bar chart
(A vs B, and C when measured, per case).

Subcommands (bench.sh calls them; each is usable by hand on a kept work directory):
  testpmd-block LOG OFFSET    the first complete `show fwd stats all` reply after byte OFFSET of
                              a testpmd log, as JSON; exit 3 if it is not complete yet
  measure ...                 one window of one system: prints a JSON record (one line)
  summarize RAW.jsonl ...     the table on stdout, and the JSON and PNG files
Standard library only, except matplotlib for the PNG (Debian's python3-matplotlib).
"""

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import sys
import textwrap

# ---- Cases ----

TSO_FRAME = 65536  # bytes of one guest TSO frame (headers included)
TSO_MSS = 1448
TSO_HEADERS = 14 + 20 + 32  # Ethernet, IPv4, TCP with the timestamp option


def tso_segments(frame=TSO_FRAME, mss=TSO_MSS, headers=TSO_HEADERS):
    return -(-(frame - headers) // mss)


def parse_case(name):
    """'tx64' -> ('tx', 64); 'tso' -> ('tso', 65536). Raises ValueError."""
    if name == "tso":
        return "tso", TSO_FRAME
    m = re.fullmatch(r"(tx|rx|loop)(\d+)", name)
    if not m or not 60 <= int(m.group(2)) <= 2048:
        raise ValueError(f"unknown case '{name}' (tx<size>, rx<size>, loop<size>, tso)")
    return m.group(1), int(m.group(2))


def describe_case(name):
    kind, size = parse_case(name)
    return {
        "tx": f"guest TX only, {size} B: guest txonly -> SUT -> net_null",
        "rx": f"guest RX only, {size} B: net_null -> SUT -> guest rxonly",
        "loop": f"loop (PVP), {size} B: net_null -> SUT -> guest io fwd -> SUT -> net_null",
        "tso": (f"guest TX of {TSO_FRAME} B TCP/IPv4 TSO frames, MSS {TSO_MSS} "
                f"({tso_segments()} segments each), segmented in software by the SUT"),
    }[kind]


# ---- Parsers ----

PORT_RE = re.compile(
    r"Forward statistics for port (\d+).*?RX-packets:\s*(\d+)\s+RX-dropped:\s*(\d+)"
    r".*?TX-packets:\s*(\d+)\s+TX-dropped:\s*(\d+)", re.S)
CYCLES_RE = re.compile(r"CPU cycles/packet=[\d.]+ \(total cycles=(\d+)")


def testpmd_block(text):
    """The first complete `show fwd stats all` reply in `text`, or None. Complete means the
    accumulated section and the next prompt are there (the cycles line, if any, comes before
    the prompt)."""
    acc = text.find("Accumulated forward statistics")
    if acc < 0:
        return None
    end = text.find("testpmd>", acc)
    if end < 0:
        return None
    ports = {}
    for m in PORT_RE.finditer(text[:acc]):
        ports[m.group(1)] = {"rx": int(m.group(2)), "rx_dropped": int(m.group(3)),
                             "tx": int(m.group(4)), "tx_dropped": int(m.group(5))}
    cycles = CYCLES_RE.search(text[acc:end])
    return {"ports": ports, "cycles": int(cycles.group(1)) if cycles else None}


def read_from(path, offset):
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read().decode("utf-8", "replace")


def guest_window(path):
    """pmdnet_guest's 'window:' line: sent, received, ring_full, seconds."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("window:"):
                kv = dict(re.findall(r"(\w+)=([\d.]+)", line))
                return {"tx": int(kv["sent"]), "rx": int(kv["received"]),
                        "tx_dropped": int(kv["ring_full"]), "seconds": float(kv["seconds"])}
    return None


def pmdnetctl_json(path):
    """pmdnetctl --json prints one reply per line (one per page); merged into one dict."""
    merged = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            for value in json.loads(line).values():
                if isinstance(value, dict):
                    merged.update(value)
    return merged


def pmdnetd_counters(workers_path, port_path, lcore):
    w = pmdnetctl_json(workers_path)
    p = pmdnetctl_json(port_path)
    worker = w.get(f"lcore{lcore}", {})
    out = {"busy_cycles": worker.get("busy_cycles", 0), "packets": worker.get("packets", 0),
           "passes": worker.get("passes", 0), "tsc_hz": w.get("tsc_hz", 0),
           "guest_tx": 0, "guest_rx": 0, "drops": 0,
           "nic_tx": 0, "nic_rx": 0}
    for key, qp in p.items():
        if not key.startswith("qp") or not isinstance(qp, dict):
            continue
        guest = qp.get("guest", {}) or {}
        backend = qp.get("backend", {}) or {}
        out["guest_tx"] += guest.get("guest_tx_packets", 0)
        out["guest_rx"] += guest.get("guest_rx_packets", 0)
        out["drops"] += sum(v for k, v in guest.items() if k.startswith("drop_"))
        # tx_packets counts the frames the queue took, tx_segments the frames its software
        # TSO/USO made of tx_sw_tso + tx_sw_uso of them: what reached the NIC is the difference.
        out["nic_tx"] += (backend.get("tx_packets", 0) + backend.get("tx_segments", 0) -
                          backend.get("tx_sw_tso", 0) - backend.get("tx_sw_uso", 0))
        out["nic_rx"] += backend.get("rx_packets", 0)
    return out


def testpmd_sut_counters(block, vhost_port="0", null_port="1"):
    v = block["ports"].get(vhost_port, {})
    n = block["ports"].get(null_port, {})
    return {"busy_cycles": block["cycles"] or 0, "packets": v.get("rx", 0) + v.get("tx", 0),
            "guest_tx": v.get("rx", 0), "guest_rx": v.get("tx", 0),
            "drops": v.get("tx_dropped", 0) + n.get("tx_dropped", 0),
            "nic_tx": n.get("tx", 0), "nic_rx": n.get("rx", 0)}


# Open vSwitch (system C): `ovs-appctl dpif-netdev/pmd-stats-show` and `ovs-ofctl dump-ports`.
PMD_BLOCK_RE = re.compile(r"pmd thread numa_id \d+ core_id \d+:(.*?)(?=\n\S|\Z)", re.S)
OFCTL_PORT_RE = re.compile(
    r"port\s+\d+: rx pkts=(\d+|\?), bytes=\S+ drop=(\d+|\?),.*?"
    r"tx pkts=(\d+|\?), bytes=\S+ drop=(\d+|\?),", re.S)


def ovs_counters(pmd_path, ports_path):
    """The PMD thread's processing cycles and received packets (from every port), and the
    net_null port's counters. OVS 3.1 cannot read a dpdkvhostuser port's counters live, so the
    guest side is left to the guest's own counters (cmd_measure)."""
    with open(pmd_path, encoding="utf-8", errors="replace") as f:
        pmd = PMD_BLOCK_RE.search(f.read())
    if pmd is None:
        raise RuntimeError("OVS printed no PMD statistics")
    cycles = re.search(r"processing cycles: (\d+)", pmd.group(1))
    received = re.search(r"packets received: (\d+)", pmd.group(1))
    with open(ports_path, encoding="utf-8", errors="replace") as f:
        port = OFCTL_PORT_RE.search(f.read())
    if cycles is None or received is None or port is None:
        raise RuntimeError("OVS's PMD or port statistics are incomplete")

    def num(v):
        return 0 if v == "?" else int(v)
    return {"busy_cycles": int(cycles.group(1)), "pmd_packets": int(received.group(1)),
            "nic_rx": num(port.group(1)), "nic_tx": num(port.group(3)),
            "nic_tx_dropped": num(port.group(4))}


def delta(after, before):
    return {k: after[k] - before.get(k, 0) for k in after if isinstance(after[k], int)}


# ---- measure ----

def cmd_measure(a):
    kind, size = parse_case(a.case)
    rec = {"case": a.case, "system": a.system, "pair": a.pair, "seconds": a.seconds,
           "sut_seconds": a.seconds, "frame_bytes": size, "error": None,
           "other_cpu_percent": a.other_cpu}
    if a.core_latency is not None:
        rec["core_latency_ns"] = a.core_latency
        rec["placement"] = placement(a.core_latency, a.far_ns)
    try:
        if a.guest_kind == "testpmd":
            b0 = testpmd_block(read_from(a.guest_log, a.guest_offsets[0]))
            b1 = testpmd_block(read_from(a.guest_log, a.guest_offsets[1]))
            if b0 is None or b1 is None:
                raise RuntimeError("the guest's testpmd did not print its statistics")
            g0, g1 = b0["ports"].get("0", {}), b1["ports"].get("0", {})
            rec["guest"] = delta(g1, g0)
        else:
            w = guest_window(a.guest_log)
            if w is None:
                raise RuntimeError("pmdnet_guest printed no 'window:' line")
            rec["seconds"] = w.pop("seconds")
            rec["guest"] = w
        if a.system == "A":
            s0 = pmdnetd_counters(a.a_workers[0], a.a_port[0], a.lcore)
            s1 = pmdnetd_counters(a.a_workers[1], a.a_port[1], a.lcore)
            tsc_hz = s1["tsc_hz"]
            rec["sut"] = delta(s1, s0)
            rec["sut"]["tsc_hz"] = tsc_hz
        elif a.system == "C":
            s = delta(ovs_counters(a.c_pmd[1], a.c_ports[1]),
                      ovs_counters(a.c_pmd[0], a.c_ports[0]))
            # The vhost side from the guest's counters (the same window, read just before);
            # drops: what OVS took in and neither port sent, in-flight frames aside.
            g = rec["guest"]
            s["guest_tx"], s["guest_rx"] = g.get("tx", 0), g.get("rx", 0)
            s["packets"] = s["guest_tx"] + s["guest_rx"]
            s["drops"] = max(0, s["nic_rx"] + s["guest_tx"] - s["nic_tx"] - s["guest_rx"])
            rec["sut"] = s
        else:
            b0 = testpmd_block(read_from(a.sut_log, a.sut_offsets[0]))
            b1 = testpmd_block(read_from(a.sut_log, a.sut_offsets[1]))
            if b0 is None or b1 is None:
                raise RuntimeError("testpmd (B) did not print its statistics")
            rec["sut"] = delta(testpmd_sut_counters(b1), testpmd_sut_counters(b0))
            if b1["cycles"] is None:
                rec["sut"]["busy_cycles"] = None
        metric = rec["guest"]["rx" if kind == "rx" else "tx"]
        if metric <= 0:
            raise RuntimeError("no traffic in the window (see the logs)")
        if kind == "tso" and rec["sut"]["guest_tx"] > 0:
            rec["sut"]["segments_per_frame"] = round(rec["sut"]["nic_tx"] /
                                                     rec["sut"]["guest_tx"], 2)
    except (OSError, KeyError, ValueError, RuntimeError) as e:
        rec["error"] = str(e)
    print(json.dumps(rec, sort_keys=True))
    if rec["error"]:
        print(f"  {a.case} pair {a.pair} {a.system}: FAILED: {rec['error']}", file=sys.stderr)
    else:
        r = rates(rec)
        print(f"  {a.case} pair {a.pair} {a.system}: {r['mpps']:.4f} Mpps {r['gbps']:.2f} Gbps, "
              f"gen drops {fmt_m(r['gen_drops_mpps'])}/s, SUT drops "
              f"{fmt_m(r['sut_drops_mpps'])}/s, {fmt(r['cycles_per_packet'], '.0f')} cyc/pkt, "
              f"other load {fmt(a.other_cpu, '.1f')}% of a CPU", file=sys.stderr)
    return 0


def placement(probes, far_ns):
    """near or far when both probes (ns, -1: failed) agree on the side of far_ns, else mixed."""
    if any(p < 0 for p in probes):
        return "mixed"
    sides = {"near" if p < far_ns else "far" for p in probes}
    return sides.pop() if len(sides) == 1 else "mixed"


# ---- summarize ----

def rates(rec):
    """Per-measurement figures: mpps (generator's counter), gbps, gen/sut drops per second,
    cycles per packet."""
    kind, size = parse_case(rec["case"])
    secs = rec["seconds"]
    g, s = rec["guest"], rec["sut"]
    pkts = g["rx" if kind == "rx" else "tx"]
    out = {"mpps": pkts / secs / 1e6, "gbps": pkts * size * 8 / secs / 1e9}
    if kind == "tso":
        out["segments_mpps"] = out["mpps"] * tso_segments(size)
    out["gen_drops_mpps"] = g.get("tx_dropped", 0) / secs / 1e6 if kind != "rx" else None
    sut_secs = rec.get("sut_seconds") or secs
    out["sut_drops_mpps"] = s.get("drops", 0) / sut_secs / 1e6
    busy, moved = s.get("busy_cycles"), s.get("packets", 0)
    out["cycles_per_packet"] = busy / moved if busy and moved else None
    if s.get("tsc_hz") and busy:
        out["sut_busy_percent"] = 100.0 * busy / (s["tsc_hz"] * sut_secs)
    # pmdnetd: packets a pass moved (both directions); near the 32-packet bursts when the worker
    # is the bottleneck, a few when it waits for the guest or the NIC.
    if s.get("passes") and moved:
        out["packets_per_pass"] = moved / s["passes"]
    if "segments_per_frame" in s:
        out["segments_per_frame"] = s["segments_per_frame"]
    return out


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


# Why bench.sh leaves C out of the tso case (the JSON and the table say so).
C_NO_TSO = ("OVS 3.1 cannot take 64 KB TSO frames from the guest (no TSO on dpdkvhostuser "
            "ports; on dpdkvhostuserclient ports with userspace-tso-enable DPDK's vhost drops "
            "frames over 64 KB with headroom), and net_null has no TSO")

# The ratios a run reports: A/B always, C/B and A/C when C was measured.
RATIOS = (("A", "B"), ("C", "B"), ("A", "C"))


def ratio_key(num, den):
    return f"ratio_{num.lower()}_over_{den.lower()}"


def ratio_entry(by_pair, num, den):
    """NUM/DEN per pair (both measured), with the median overall and by placement."""
    ratios = []
    for p, v in sorted(by_pair.items()):
        if num in v and den in v and v[den] > 0:
            same = v.get(num + "_placement") == v.get(den + "_placement")
            ratios.append({"pair": p, "ratio": v[num] / v[den],
                           "placement": v.get(num + "_placement") if same else "mixed"})
    return {
        "per_pair": ratios,
        "median": med([x["ratio"] for x in ratios]),
        "min": min((x["ratio"] for x in ratios), default=None),
        "max": max((x["ratio"] for x in ratios), default=None),
        # The same, over the pairs whose two windows both ran near (or both far).
        "by_placement": {
            where: {"pairs": sum(1 for x in ratios if x["placement"] == where),
                    "median": med([x["ratio"] for x in ratios if x["placement"] == where])}
            for where in ("near", "far")},
    }


def pair_placements(by_pair, systems):
    """Per pair: near or far when every system's window ran there, else mixed."""
    out = []
    for p, v in sorted(by_pair.items()):
        places = {v.get(s + "_placement") for s in systems}
        out.append({"pair": p, "placement": places.pop() if len(places) == 1 and
                    all(s in v for s in systems) else "mixed"})
    return out


def summarize(records, cases, systems=("A", "B")):
    out = []
    for case in cases:
        entry = {"case": case, "description": describe_case(case),
                 "frame_bytes": parse_case(case)[1],
                 "discarded_windows": sum(1 for r in records
                                          if r["case"] == case and r.get("discarded"))}
        by_pair = {}
        for sys_name in systems:
            runs = []
            for r in records:
                if r["case"] != case or r["system"] != sys_name or r.get("discarded"):
                    continue
                run = {"pair": r["pair"], "error": r["error"],
                       "other_cpu_percent": r.get("other_cpu_percent"),
                       "placement": r.get("placement"),
                       "core_latency_ns": r.get("core_latency_ns")}
                if not r["error"]:
                    run.update(rates(r))
                    by_pair.setdefault(r["pair"], {})[sys_name] = run["mpps"]
                    by_pair[r["pair"]][sys_name + "_placement"] = r.get("placement")
                runs.append(run)
            ok = [x for x in runs if not x["error"]]
            entry[sys_name] = {
                "runs": runs,
                "failed": len(runs) - len(ok),
                "median_mpps": med([x["mpps"] for x in ok]),
                "median_gbps": med([x["gbps"] for x in ok]),
                "min_mpps": min((x["mpps"] for x in ok), default=None),
                "max_mpps": max((x["mpps"] for x in ok), default=None),
                "median_gen_drops_mpps": med([x["gen_drops_mpps"] for x in ok]),
                "median_sut_drops_mpps": med([x["sut_drops_mpps"] for x in ok]),
                "median_cycles_per_packet": med([x["cycles_per_packet"] for x in ok]),
                "median_sut_busy_percent": med([x.get("sut_busy_percent") for x in ok]),
                "max_other_cpu_percent": max((x["other_cpu_percent"] for x in runs
                                              if x["other_cpu_percent"] is not None),
                                             default=None),
            }
            if sys_name == "C" and case == "tso":
                entry[sys_name]["not_measured"] = C_NO_TSO
            if case == "tso":
                entry[sys_name]["median_segments_per_frame"] = med(
                    [x.get("segments_per_frame") for x in ok])
        for num, den in RATIOS:
            if num in systems and den in systems:
                entry[ratio_key(num, den)] = ratio_entry(by_pair, num, den)
        entry["placement_per_pair"] = pair_placements(by_pair, systems)
        out.append(entry)
    return out


def fmt(v, spec=".2f", none="-"):
    return none if v is None else format(v, spec)


def fmt_m(v):
    """A rate in M/s, compact: 12.3M, 0.41M, 3.2k."""
    if v is None:
        return "-"
    if v == 0:
        return "0"
    if v >= 1:
        return f"{v:.1f}M"
    if v >= 0.001:
        return f"{v * 1e3:.0f}k"
    return f"{v * 1e6:.0f}"


def table(summary, systems=("A", "B")):
    ratios = [(n, d) for n, d in RATIOS if n in systems and d in systems]
    sep = " | "
    head = (["case"] + [f"{x} Mpps" for x in systems] + [f"{n}/{d}" for n, d in ratios] +
            ["A/B per pair", "placement", "Gbps " + "|".join(systems),
             "gen drops/s " + "|".join(systems), "SUT drops/s " + "|".join(systems),
             "cyc/pkt " + "|".join(systems), "other% max"])
    left = {0, len(systems) + len(ratios) + 1, len(systems) + len(ratios) + 2}
    rows = [head]
    for e in summary:
        per = [e[x] for x in systems]
        r = e["ratio_a_over_b"]
        per_pair = " ".join(fmt(x["ratio"]) for x in r["per_pair"])
        if any(x["failed"] for x in per):
            per_pair += " (failed: " + ", ".join(
                f"{name} {x['failed']}" for name, x in zip(systems, per)) + ")"
        mpps_spec = ".4f" if e["case"] == "tso" else ".3f"
        rows.append(
            [e["case"]] + [fmt(x["median_mpps"], mpps_spec) for x in per] +
            [fmt(e[ratio_key(n, d)]["median"]) for n, d in ratios] +
            [per_pair,
             "".join({"near": "n", "far": "f"}.get(x["placement"], "?")
                     for x in e["placement_per_pair"]),
             sep.join(fmt(x["median_gbps"]) for x in per),
             sep.join(fmt_m(x["median_gen_drops_mpps"]) for x in per),
             sep.join(fmt_m(x["median_sut_drops_mpps"]) for x in per),
             sep.join(fmt(x["median_cycles_per_packet"], ".0f") for x in per),
             fmt(max([x["max_other_cpu_percent"] for x in per
                      if x["max_other_cpu_percent"] is not None], default=None), ".1f")])
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = []
    for n, row in enumerate(rows):
        cells = [c.ljust(widths[i]) if i in left else c.rjust(widths[i])
                 for i, c in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [
        "Mpps: medians of the generator's counter over the window (guest TX for tx/loop/tso,",
        "guest RX for rx); tso counts 64 KB frames (Gbps is guest bytes). A/B (C/B, A/C): median",
        "of the per-pair ratios. gen drops: frames the guest's TX ring refused (testpmd",
        "TX-dropped, pmdnet_guest ring_full): high means the SUT is the bottleneck. SUT drops:",
        "frames the SUT dropped (pmdnetd drop_*, testpmd TX-dropped; OVS: an estimate, frames it",
        "took in and did not send, from net_null's and the guest's counters read some ms apart).",
        "cyc/pkt: the SUT worker's busy cycles (OVS: its PMD's processing cycles) per guest-side",
        "packet (guest TX frames + frames delivered to the guest; tso: per 64 KB frame). other%",
        "max: the most CPU time (percent of one CPU) that anything but the guest and the SUT took",
        "from their two CPUs during a kept window. placement: per pair, n when every window ran",
        "with the vCPUs near each other (cache-line round trip under --far-ns, probed before and",
        "after each window), f when all ran far, ? otherwise.",
    ]
    if "C" in systems and any(e["case"] == "tso" for e in summary):
        notes += textwrap.wrap("C does not run the tso case: " + C_NO_TSO + ".", 90)
    return "\n".join(lines + [""] + notes)


def host_info():
    info = {"nproc": os.cpu_count(), "kernel": platform.release()}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return info


def plot(summary, path, title, systems=("A", "B")):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(summary)
    width = 2.2 if len(systems) == 2 else 2.6
    fig, axes = plt.subplots(1, n, figsize=(max(width * n, 5.0), 4.4), squeeze=False)
    colors = {"A": "#1f77b4", "B": "#ff7f0e", "C": "#2ca02c"}
    for ax, e in zip(axes[0], summary):
        tso = e["case"] == "tso"
        key = "gbps" if tso else "mpps"
        vals, lows, highs, labels = [], [], [], []
        for s in systems:
            ok = [x[key] for x in e[s]["runs"] if not x["error"]]
            m = statistics.median(ok) if ok else 0.0
            vals.append(m)
            lows.append(m - min(ok) if ok else 0.0)
            highs.append(max(ok) - m if ok else 0.0)
            labels.append(f"{m:.2f}" if ok else
                          "not run" if e[s].get("not_measured") else "failed")
        ax.bar(list(systems), vals, color=[colors[s] for s in systems],
               yerr=[lows, highs], capsize=4)
        for i, v in enumerate(vals):
            ax.annotate(labels[i], (i, v), ha="center", va="bottom", fontsize=8,
                        xytext=(0, 2), textcoords="offset points")
        ratios = "  ".join(f"{num}/{den} {fmt(e[ratio_key(num, den)]['median'])}"
                           for num, den in RATIOS if ratio_key(num, den) in e)
        ax.set_title(f"{e['case']}\n{ratios}", fontsize=8 if "C" in systems else 9)
        ax.set_ylabel("Gbit/s (64 KB frames)" if tso else "Mpps", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.set_ylim(0, max([v + h for v, h in zip(vals, highs)] + [1e-9]) * 1.15)
    fig.suptitle(title, fontsize=9)
    legend = "A: pmdnetd (vhost-user, net_null)   B: dpdk-testpmd (net_vhost + net_null)"
    if "C" in systems:
        legend += "   C: OVS-DPDK (dpdkvhostuser + dpdk net_null, two OpenFlow rules)"
    fig.text(0.5, 0.01, legend + "\nbars: median, whiskers: min-max over the pairs",
             ha="center", fontsize=7)
    fig.tight_layout(rect=(0, 0.07, 1, 0.93))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def cmd_summarize(a):
    with open(a.raw, encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    cases = a.cases.split(",") if a.cases else sorted({r["case"] for r in records})
    systems = tuple(a.systems) if a.systems else tuple(
        x for x in "ABC" if any(r["system"] == x for r in records))
    summary = summarize(records, cases, systems)
    print(table(summary, systems))
    doc = {
        "schema": 1,
        "date": a.date or datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": a.command,
        "settings": json.loads(a.settings) if a.settings else {},
        "host": host_info(),
        "load": json.loads(a.load) if a.load else None,
        "systems": {
            "A": "pmdnetd: one vhost-user port, backend dpdk net_null0, one busy worker",
            "B": "dpdk-testpmd: net_vhost0 + net_null0, io forwarding (csum engine with GSO "
                 "for tso), one forwarding lcore",
            **({"C": "Open vSwitch 3.1 with DPDK (ovs-vswitchd-dpdk, private instance): netdev "
                     "bridge, dpdkvhostuser port + dpdk port on net_null0, two OpenFlow rules "
                     "(no NORMAL flow), one PMD thread, userspace-tso-enable off; not in the tso "
                     "case"}
               if "C" in systems else {}),
            "guest": "dpdk-testpmd on net_virtio_user (txonly/rxonly/io), pmdnet_guest --tso "
                     "for tso",
        },
        "cases": summary,
        "measurements": records,
    }
    if a.out_json:
        with open(a.out_json, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1, sort_keys=False)
            f.write("\n")
        print(f"\nwrote {a.out_json}")
    if a.out_png:
        try:
            plot(summary, a.out_png, a.title or (
                f"pmdnet vs DPDK vhost{' vs OVS-DPDK' if 'C' in systems else ''}, "
                f"{doc['date']}"), systems)
            print(f"wrote {a.out_png}")
        except ImportError:
            print("report.py: matplotlib is missing (python3-matplotlib); no PNG",
                  file=sys.stderr)
            return 1
    failed = sum(1 for r in records if r["error"])
    return 1 if failed and a.fail_on_error else 0


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)

    c = sub.add_parser("case-info", help="prints the kind and frame size of a case")
    c.add_argument("case")

    t = sub.add_parser("testpmd-block")
    t.add_argument("log")
    t.add_argument("offset", type=int)

    m = sub.add_parser("measure")
    m.add_argument("--case", required=True)
    m.add_argument("--system", choices=("A", "B", "C"), required=True)
    m.add_argument("--pair", type=int, required=True)
    m.add_argument("--seconds", type=float, required=True, help="the harness's window")
    m.add_argument("--other-cpu", type=float, help="others' CPU time in the window, % of a CPU")
    m.add_argument("--guest-kind", choices=("testpmd", "pmdnet_guest"), required=True)
    m.add_argument("--guest-log", required=True)
    m.add_argument("--guest-offsets", type=int, nargs=2, default=[0, 0])
    m.add_argument("--sut-log")
    m.add_argument("--sut-offsets", type=int, nargs=2, default=[0, 0])
    m.add_argument("--a-workers", nargs=2, help="pmdnetctl --json workers, before and after")
    m.add_argument("--a-port", nargs=2, help="pmdnetctl --json port, before and after")
    m.add_argument("--lcore", type=int, default=1, help="pmdnetd's worker lcore")
    m.add_argument("--c-pmd", nargs=2,
                   help="ovs-appctl dpif-netdev/pmd-stats-show, before and after")
    m.add_argument("--c-ports", nargs=2,
                   help="ovs-ofctl dump-ports of the net_null port, before and after")
    m.add_argument("--core-latency", type=float, nargs=2,
                   help="pmdnet_core_latency before and after the window, ns (-1: failed)")
    m.add_argument("--far-ns", type=float, default=150,
                   help="a round trip at or above this is a far placement")

    s = sub.add_parser("summarize")
    s.add_argument("raw")
    s.add_argument("--cases", help="comma-separated, in table order")
    s.add_argument("--systems", choices=("AB", "ABC"),
                   help="the systems measured (default: those in the records)")
    s.add_argument("--out-json")
    s.add_argument("--out-png")
    s.add_argument("--command", default="")
    s.add_argument("--settings", help="JSON")
    s.add_argument("--load", help="JSON")
    s.add_argument("--date")
    s.add_argument("--title")
    s.add_argument("--fail-on-error", action="store_true")

    a = p.parse_args(argv)
    if a.cmd == "case-info":
        try:
            print(*parse_case(a.case))
        except ValueError as e:
            print(f"report.py: {e}", file=sys.stderr)
            return 2
        return 0
    if a.cmd == "testpmd-block":
        block = testpmd_block(read_from(a.log, a.offset))
        if block is None:
            return 3
        print(json.dumps(block))
        return 0
    if a.cmd == "measure":
        return cmd_measure(a)
    return cmd_summarize(a)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
