#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Linux guest user space, side by side: vmkit and QEMU on the same kernel and root disk.

Usage: bench/guest_user.py [--runs N] [--syscalls N] [--spawns N] [--out DIR]
                           [--monitors vmkit,qemu-kvm]

For each monitor (vmkit run, and QEMU on /dev/kvm with the same options as
tests/linux/linuxvm.py translates them), N times: boot build/guest/kernel
from a qcow2 overlay of build/guest/rootfs.ext4 to the shell prompt, then run
the guest's vmkit-sysbench (guest/tools/sysbench.c): getppid(2) in a loop and
fork+exec of /bin/true, and power off. The same program on the host is the
physical limit. Prints a table with medians and ratios (vmkit/QEMU,
guest/host) and writes it to DIR/report.txt (default build/bench/guest-user).
A monitor that does not reach the prompt is reported with its reason.
"""
import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "linux"))
from linuxvm import LinuxVM, root_overlay  # noqa: E402

BENCH_RE = re.compile(r"VMKIT-BENCH (\w+) n=(\d+) total_ns=(\d+) per_op_ns=(\d+)")


def one_run(monitor: str, syscalls: int, spawns: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="vmkit-bench-") as d:
        tmp = Path(d)
        vm = LinuxVM(tmp, monitor=monitor, disks=[f"path={root_overlay(tmp)},format=qcow2"])
        with vm:
            t0 = time.monotonic()
            vm.boot()
            res = {"boot_s": time.monotonic() - t0}
            for what, n in (("syscall", syscalls), ("spawn", spawns)):
                m = BENCH_RE.search(vm.sh(f"vmkit-sysbench {what} {n}", timeout=600))
                res[what + "_ns"] = int(m.group(4))
            vm.type("poweroff\n")
            vm.wait_exit(120)
        return res


def host_figures(syscalls: int, spawns: int, out: Path) -> dict:
    exe = out / "sysbench-host"
    subprocess.run(["cc", "-O2", "-static", "-o", str(exe), str(ROOT / "guest/tools/sysbench.c")],
                   check=True)
    res = {}
    for what, n in (("syscall", syscalls * 10), ("spawn", spawns)):
        m = BENCH_RE.search(subprocess.run([str(exe), what, str(n)], capture_output=True,
                                           text=True, check=True).stdout)
        res[what + "_ns"] = int(m.group(4))
    return res


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--syscalls", type=int, default=20000)
    ap.add_argument("--spawns", type=int, default=20)
    ap.add_argument("--out", default=str(ROOT / "build/bench/guest-user"))
    ap.add_argument("--monitors", default="vmkit,qemu-kvm",
                    help="comma-separated: vmkit, qemu-kvm, qemu-tcg (software emulation)")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)

    results, errors = {}, {}
    monitors = a.monitors.split(",")
    for monitor in monitors:
        runs = []
        for i in range(a.runs):
            print(f"[guest-user] {monitor} run {i + 1}/{a.runs}", file=sys.stderr)
            try:
                runs.append(one_run(monitor, a.syscalls, a.spawns))
            except Exception as e:  # reported in the table, the run goes on
                errors[monitor] = str(e).strip().splitlines()[0][:200]
                break
        if runs:
            results[monitor] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    host = host_figures(a.syscalls, a.spawns, out)

    lines = ["Linux guest user space (bench/guest_user.py): medians of "
             f"{a.runs} boots; {a.syscalls} getppid, {a.spawns} fork+exec per boot",
             f"{'':24}{monitors[0]:>12}{monitors[-1] if len(monitors) > 1 else '-':>12}"
             f"{'host':>12}{'ratio':>12}{'/host':>12}"]
    for key, label, unit, scale in (("boot_s", "boot to the prompt", "s", 1),
                                    ("syscall_ns", "getppid", "us", 1e3),
                                    ("spawn_ns", "fork+exec+wait", "ms", 1e6)):
        v = results.get(monitors[0], {}).get(key)
        q = results.get(monitors[-1], {}).get(key) if len(monitors) > 1 else None
        h = host.get(key)
        f = lambda x: f"{x / scale:.2f} {unit}" if x is not None else "-"
        r = lambda x, y: f"{x / y:.2f}x" if x is not None and y else "-"
        lines.append(f"{label:24}{f(v):>12}{f(q):>12}{f(h):>12}{r(v, q):>12}{r(v, h):>12}")
    for m, e in errors.items():
        lines.append(f"{m}: did not finish: {e}")
    text = "\n".join(lines) + "\n"
    (out / "report.txt").write_text(text)
    print(text, end="")
    return 0 if monitors[0] in results else 1


if __name__ == "__main__":
    sys.exit(main())
