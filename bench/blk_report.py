#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The virtio-blk section of the bench report, from bench/blk.sh's results.

    blk_report.py RESULTS_DIR ELAPSED_SECONDS

RESULTS_DIR holds env.txt, commands.txt, failures.txt (if any) and logs/:
<system>-<run>.txt (guest consoles: VMKIT-INFO <test>_ops=, _cycles=,
_notifies=, _qd=, tsc_khz=) and fio-<test>-<run>.json.

Rates are recomputed from the guest's TSC cycles with the host's TSC
frequency when the host knows it (tsc_known_freq: 'cpu MHz' is the TSC),
otherwise with the guest's own PIT calibration (tsc_khz=).
"""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
from pathlib import Path
from typing import Optional

TESTS = [
    # name, block size, what the row shows first
    ("randread", 4096, "iops"),
    ("randwrite", 4096, "iops"),
    ("seqread", 1 << 20, "mbps"),
    ("seqwrite", 1 << 20, "mbps"),
    ("randread_qd1", 4096, "iops"),
    ("randwrite_qd1", 4096, "iops"),
]
QD = {"randread": 32, "randwrite": 32, "seqread": 4, "seqwrite": 4, "randread_qd1": 1,
      "randwrite_qd1": 1}
QCOW2_KINDS = [
    ("qcow2", "metadata preallocated, every cluster written"),
    ("qcow2_meta", "metadata preallocated, data never written; a new image per run"),
    ("qcow2_sparse", "empty, writes allocate; a new image per run"),
]
MiB = 1 << 20
INFO_RE = re.compile(r"VMKIT-INFO ([^=\s]+)=(\S*)")


def host_tsc_hz() -> Optional[float]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    flags = re.search(r"^flags\s*:(.*)$", text, re.M)
    mhz = re.search(r"^cpu MHz\s*:\s*([\d.]+)", text, re.M)
    if flags and mhz and "tsc_known_freq" in flags.group(1).split() and \
            "constant_tsc" in flags.group(1).split():
        return float(mhz.group(1)) * 1e6
    return None


def parse_guest(path: Path) -> dict[str, str]:
    info: dict[str, str] = {}
    for line in path.read_text(errors="replace").splitlines():
        m = INFO_RE.search(line)
        if m:
            info[m.group(1)] = m.group(2)
    return info


def guest_rates(info: dict[str, str], hz: Optional[float]) -> dict[str, dict[str, float]]:
    """Per test: iops, mbps, lat_us, notifies per request."""
    out: dict[str, dict[str, float]] = {}
    f = hz or float(info.get("tsc_khz", "0")) * 1000
    if not f:
        return out
    for name, bs, _ in TESTS:
        try:
            ops = int(info[f"{name}_ops"])
            cyc = int(info[f"{name}_cycles"])
            qd = int(info.get(f"{name}_qd", QD[name]))
            notifies = int(info.get(f"{name}_notifies", "0"))
        except (KeyError, ValueError):
            continue
        if not ops or not cyc:
            continue
        secs = cyc / f
        out[name] = {"iops": ops / secs, "mbps": ops * bs / MiB / secs,
                     "lat_us": secs * 1e6 * qd / ops, "notify_per_req": notifies / ops}
    return out


def parse_fio(path: Path) -> Optional[dict[str, float]]:
    try:
        job = json.loads(path.read_text())["jobs"][0]
    except (OSError, ValueError, KeyError, IndexError):
        return None
    for k in ("read", "write"):
        d = job.get(k, {})
        if d.get("io_bytes"):
            return {"iops": d["iops"], "mbps": d["bw_bytes"] / MiB,
                    "lat_us": d["lat_ns"]["mean"] / 1000}
    return None


def median(xs: list[float]) -> Optional[float]:
    return statistics.median(xs) if xs else None


def fmt(v: Optional[float], metric: str) -> str:
    if v is None:
        return "-"
    if metric == "iops":
        return f"{v:,.0f}"
    if metric == "ratio":
        return f"{v:.2f}"
    if metric == "lat_us":
        return f"{v:,.1f}"
    return f"{v:,.1f}"


def ratio(a: Optional[float], b: Optional[float], lower_is_better: bool = False) -> Optional[float]:
    if a is None or b is None or not a or not b:
        return None
    return b / a if lower_is_better else a / b


def main() -> int:
    res = Path(sys.argv[1])
    elapsed = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    logs = res / "logs"
    hz = host_tsc_hz()

    # system -> test -> metric -> [per run]
    runs: dict[str, dict[str, dict[str, list[float]]]] = {}
    guest_khz: dict[str, list[str]] = {}
    for p in sorted(logs.glob("*.txt")):
        m = re.match(r"^(.*)-(\d+)\.txt$", p.name)
        if not m:
            continue
        system = m.group(1)
        info = parse_guest(p)
        if "tsc_khz" in info:
            guest_khz.setdefault(system, []).append(info["tsc_khz"])
        for t, vals in guest_rates(info, hz).items():
            for k, v in vals.items():
                runs.setdefault(system, {}).setdefault(t, {}).setdefault(k, []).append(v)
    for p in sorted(logs.glob("fio-*.json")):
        m = re.match(r"^fio-(.*)-(\d+)\.json$", p.name)
        r = parse_fio(p) if m else None
        if r:
            for k, v in r.items():
                runs.setdefault("host", {}).setdefault(m.group(1), {}).setdefault(k, []).append(v)

    def med(system: str, test: str, metric: str) -> Optional[float]:
        return median(runs.get(system, {}).get(test, {}).get(metric, []))

    def nruns(system: str) -> int:
        return max((len(v.get("iops", [])) for v in runs.get(system, {}).values()), default=0)

    p = print
    p("=" * 78)
    p("4. virtio-blk: polling guest at CPL3 (tests/guest/virtio_blkbench.c), cache=none,")
    p("   raw file; vmkit and QEMU (-M q35, aio=" + os.environ.get("BENCH_BLK_QEMU_AIO", "io_uring") + ") vs fio on the host, same file")
    p("=" * 78)
    env = res / "env.txt"
    if env.exists():
        p(env.read_text().rstrip())
    tsc_src = f"host TSC {hz / 1e6:.3f} MHz (tsc_known_freq)" if hz else \
        "each guest's own PIT calibration"
    p(f"rates from guest TSC cycles at {tsc_src}; guest PIT calibrations (kHz): " +
      ", ".join(f"{s} {'/'.join(v)}" for s, v in sorted(guest_khz.items())))
    p(f"runs: vmkit {nruns('vmkit')}, QEMU {nruns('qemu')}, host fio {nruns('host')}; "
      f"medians; section time {elapsed:.0f} s")
    p("")

    hdr = f"{'test':<13} {'qd':>3} {'metric':<7} {'vmkit':>10} {'QEMU':>10} {'host fio':>10} " \
          f"{'vmkit/QEMU':>10} {'vmkit/host':>10}"
    p(hdr)
    p("-" * len(hdr))
    for name, bs, first in TESTS:
        metrics = [first] + (["mbps"] if first == "iops" and QD[name] > 1 else [])
        if QD[name] == 1:
            metrics.append("lat_us")
        for metric in metrics:
            v, q, f = (med(s, name, metric) for s in ("vmkit", "qemu", "host"))
            low = metric == "lat_us"
            unit = {"iops": "IOPS", "mbps": "MiB/s", "lat_us": "lat us"}[metric]
            p(f"{name:<13} {QD[name]:>3} {unit:<7} {fmt(v, metric):>10} {fmt(q, metric):>10} "
              f"{fmt(f, metric):>10} {fmt(ratio(v, q, low), 'ratio'):>10} "
              f"{fmt(ratio(v, f, low), 'ratio'):>10}")
    p("(ratios: above 1 means vmkit is faster; for latency, host or QEMU latency / vmkit's)")
    p("")

    for kind, what in QCOW2_KINDS:
        vs, qs = f"vmkit_{kind}", f"qemu_{kind}"
        if vs not in runs and qs not in runs:
            continue
        p(f"{kind} ({what}; runs: vmkit {nruns(vs)}, QEMU {nruns(qs)}); "
          "q/raw is each VMM's qcow2 against its own raw")
        h4 = f"{'test':<13} {'metric':<7} {'vmkit':>10} {'QEMU':>10} {'vmkit/QEMU':>10} " \
             f"{'vmkit q/raw':>11} {'QEMU q/raw':>10}"
        p(h4)
        p("-" * len(h4))
        for name, _, first in TESTS:
            unit = {"iops": "IOPS", "mbps": "MiB/s"}[first]
            vq, qq = med(vs, name, first), med(qs, name, first)
            vr, qr = med("vmkit", name, first), med("qemu", name, first)
            p(f"{name:<13} {unit:<7} {fmt(vq, first):>10} {fmt(qq, first):>10} "
              f"{fmt(ratio(vq, qq), 'ratio'):>10} {fmt(ratio(vq, vr), 'ratio'):>11} "
              f"{fmt(ratio(qq, qr), 'ratio'):>10}")
        p("")

    engines = sorted(s for s in runs if s.startswith("vmkit_aio="))
    if engines:
        cols = ["vmkit"] + engines
        names = ["default"] + [e.split("=", 1)[1] for e in engines]
        p("vmkit by I/O engine (--disk ...,aio=; " +
          ", ".join(f"{n}: {nruns(c)} run(s)" for n, c in zip(names, cols)) + ")")
        h2 = f"{'test':<13} {'metric':<7} " + " ".join(f"{n:>10}" for n in names) + f" {'QEMU':>10}"
        p(h2)
        p("-" * len(h2))
        for name, _, first in TESTS:
            unit = {"iops": "IOPS", "mbps": "MiB/s"}[first]
            p(f"{name:<13} {unit:<7} " + " ".join(f"{fmt(med(c, name, first), first):>10}" for c in cols)
              + f" {fmt(med('qemu', name, first), first):>10}")
        p("")

    polls = [s for s in ("vmkit_nopoll", "qemu_iothread") if s in runs]
    if polls:
        cols = ["vmkit", "vmkit_nopoll", "qemu", "qemu_iothread"]
        p("polling, raw (vmkit's device loop polls up to --poll-max-ns, default 100 us;")
        p("QEMU's main loop does not poll, its iothread does, up to 32 us; runs: " +
          ", ".join(f"{c} {nruns(c)}" for c in cols) + ")")
        h5 = f"{'test':<13} {'metric':<7} {'vmkit':>9} {'no poll':>9} {'QEMU':>9} " \
             f"{'QEMU ioth':>9} {'v/QEMU':>7} {'v/ioth':>7}"
        p(h5)
        p("-" * len(h5))
        for name, _, first in TESTS:
            unit = {"iops": "IOPS", "mbps": "MiB/s"}[first]
            v, n, q, qi = (med(c, name, first) for c in cols)
            p(f"{name:<13} {unit:<7} {fmt(v, first):>9} {fmt(n, first):>9} {fmt(q, first):>9} "
              f"{fmt(qi, first):>9} {fmt(ratio(v, q), 'ratio'):>7} {fmt(ratio(v, qi), 'ratio'):>7}")
        p("")

    nsys = ["vmkit", "qemu"] + polls
    p("guest notifications per request (each one an exit to the monitor; medians)")
    h3 = f"{'test':<13} " + " ".join(f"{s:>13}" for s in nsys)
    p(h3)
    for name, _, _ in TESTS:
        p(f"{name:<13} " + " ".join(f"{fmt(med(s, name, 'notify_per_req'), 'ratio'):>13}"
                                    for s in nsys))
    p("")

    p("per run (primary metric):")
    qsys = [f"{m}_{k}" for k, _ in QCOW2_KINDS for m in ("vmkit", "qemu")]
    for system in ["vmkit", "qemu", "host"] + polls + qsys + engines:
        for name, _, first in TESTS:
            vals = runs.get(system, {}).get(name, {}).get(first, [])
            if vals:
                p(f"  {system:<18} {name:<13} " + ", ".join(fmt(v, first) for v in vals))
    p("")

    v1, h1 = med("vmkit", "randread_qd1", "lat_us"), med("host", "randread_qd1", "lat_us")
    q1 = med("qemu", "randread_qd1", "lat_us")
    p("Notes:")
    p("- The host's /dev/kvm is PVM (kvm_pvm): each guest notify write (MMIO) is an exit")
    p("  through PVM's switcher (ioeventfd in both VMMs); the guest takes no interrupts (it")
    p("  polls the used ring at CPL3, natively), so completions cost no exits here. A Linux")
    p("  guest would add an interrupt (injection + EOI exits) per completion batch, and its")
    p("  CPL0 driver code runs emulated (~5000x slower) on this host.")
    if v1 and h1:
        extra = f", QEMU {q1 - h1:,.0f} us" if q1 else ""
        p(f"- Most distorted: randread_qd1 (one notify per request). Per-request overhead over")
        p(f"  host fio: vmkit {v1 - h1:,.0f} us{extra}. The QD32 and 1 MiB rows amortise the")
        p("  exits over many requests or bytes and are closer to what the host I/O path allows.")
    p("- The 'host' is itself a VM: fio measures its virtual disk (/dev/vda), so the limit is")
    p("  that disk as this machine sees it, not a physical device, and it varies run to run.")
    p("- 1 MiB rows: QEMU's virtio-blk merges adjacent requests (multireq), so the guest's")
    p("  1 MiB reads reach the host as preadv calls of up to 4 MiB; fio issues exactly 1 MiB.")
    p("  A VMM can beat 'host fio' there, and one that does not merge gets no such help.")
    p("- QEMU runs its virtio-blk in the main loop (no iothread) with aio=" + os.environ.get("BENCH_BLK_QEMU_AIO", "io_uring") + "")
    p("  except in the 'QEMU ioth' column; vmkit rows use its default engine and polling")
    p("  unless labelled. Polling costs host CPU: the loop spins while requests flow.")
    fails = res / "failures.txt"
    if fails.exists():
        p("- FAILED runs (not in the medians): " + ", ".join(fails.read_text().split("\n")).strip(", "))
    cmds = res / "commands.txt"
    if cmds.exists():
        first = {}
        for line in cmds.read_text().splitlines():
            key = line.split()[0] if line else ""
            if "aio=" in line and "vmkit" in key:
                key += " aio=" + line.split("aio=")[1].split()[0].split(",")[0]
            first.setdefault(key, line)
        p("commands:")
        for line in first.values():
            p("  " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
