#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""VNC frame rate and bandwidth of a full-screen update loop, vmkit against QEMU (issue 13).

The same guest under each monitor in turn: build/tests/guest/vgafill.elf on
the standard VGA at VBE 1024x768x32, rewriting every pixel of the screen
frame after frame at CPL3 as fast as it can (vmkit run --vga std --vnc;
QEMU 7.2 -M pc -vga std -vnc, SeaBIOS placing the BAR). A viewer written in
Python (tests/display/rfb_client.py: RFB 3.8, security None, shared,
32-bit true colour) waits for the 1024x768 mode (DesktopSize) and the
guest's first report, then for D seconds keeps one incremental
FramebufferUpdateRequest for the whole screen outstanding, asking for the
next as soon as an update is read whole, as viewers do. Two configurations:

  raw     encodings [Raw, DesktopSize]
  zrle    encodings [ZRLE, DesktopSize] (ZRLE, 16: libvncserver and QEMU 7.2 both
          have it; its length-prefixed rectangles are read whole, not decoded)

and zlib (Zlib, 6, with CompressLevel 6 asked for: QEMU's default level is 9,
libvncserver's 5) on request. Reported, medians of R runs (the monitors
alternate run by run): full-screen frames per second (pixels updated / 1024 x
768), updates per second, MiB/s received, the share of those pixels a
server sent again unchanged (rows that already showed the same; Raw and Zlib,
whose pixels the viewer decodes), the CPU time of the monitor with all
its threads and child processes (vmkit's vmkit-vnc helper) in % of one CPU,
the same without the vCPU threads (the display and VNC work alone: the
guest's vCPU spins at 100%), and the guest's own frames written per second
over the run; ratios vmkit/QEMU.

    bench/vnc.py [--seconds D] [--runs R] [--configs raw,zrle[,zlib]]

Defaults: BENCH_VNC_SECS (10), BENCH_VNC_RUNS (3). Prints the table and
writes build/bench/vnc/report.txt. Needs /dev/kvm and QEMU (BENCH_QEMU).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = Path(os.environ.get("VMKIT_BUILD_DIR", ROOT / "build"))
sys.path.insert(0, str(ROOT / "tests" / "display"))
from rfb_client import (DESKTOP_SIZE, RAW, ZLIB, ZRLE, RFBClient, RFBError,  # noqa: E402
                        free_display)

VMKIT = BUILD / "vmkit"
GUEST = BUILD / "tests" / "guest" / "vgafill.elf"
QEMU = os.environ.get("BENCH_QEMU", "qemu-system-x86_64")
WIDTH, HEIGHT = 1024, 768
MONITORS = ["vmkit", "qemu"]
VCPU_THREAD = re.compile(r"vcpu \d+|CPU \d+/KVM")     # vmkit's and QEMU's (debug-threads=on)
FPS_RE = re.compile(rb"VMKIT-INFO fps=(\d+)")
TICK = os.sysconf("SC_CLK_TCK")
COLUMNS = ["fps", "ups", "mibs", "repeat", "cpu", "cpu_dev", "guest_fps"]
COMPRESS_LEVEL_6 = -256 + 6
# Zlib's level is the client's to say (QEMU's default is 9, libvncserver's 5);
# ZRLE is level 6 in both whatever the client says.
ENCODINGS = {"raw": [RAW, DESKTOP_SIZE], "zrle": [ZRLE, DESKTOP_SIZE],
             "zlib": [ZLIB, COMPRESS_LEVEL_6, DESKTOP_SIZE]}


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:
        print(f"vnc.py: {message}", file=sys.stderr)
        sys.exit(2)


def positive(kind):
    def conv(s: str):
        try:
            v = kind(s)
        except ValueError:
            v = 0
        if v <= 0:
            raise argparse.ArgumentTypeError(f"'{s}' is not a positive number")
        return v
    return conv


def configs(s: str) -> list[str]:
    names = s.split(",")
    for n in names:
        if n not in ENCODINGS:
            raise argparse.ArgumentTypeError(f"'{n}' is not one of {', '.join(ENCODINGS)}")
    return names


def argv(monitor: str, display: int) -> list[str]:
    if monitor == "vmkit":
        return [str(VMKIT), "run", "--kernel", str(GUEST), "--vga", "std",
                "--vnc", f"127.0.0.1:{display}", "--memory", "128M", "--console", "stdio"]
    return [QEMU, "-accel", "kvm", "-cpu", "host,-arch-capabilities", "-M", "pc",
            "-nodefaults", "-no-user-config", "-no-reboot", "-name", "vgafill,debug-threads=on",
            "-vga", "std", "-vnc", f"127.0.0.1:{display}", "-kernel", str(GUEST), "-m", "128",
            "-serial", "stdio"]


# ---- CPU time from /proc ----

def descendants(pid: int) -> list[int]:
    """pid and every process below it (vmkit-vnc, vmkit-slirp...)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                todo += [int(c) for c in Path(f"/proc/{p}/task/{t}/children").read_text().split()]
        except OSError:
            pass
    return out


def stat_ticks(path: str) -> tuple[str, int]:
    """(comm, utime + stime) of a /proc stat file."""
    text = Path(path).read_text()
    comm = text[text.index("(") + 1:text.rindex(")")]
    f = text[text.rindex(")") + 2:].split()
    return comm, int(f[11]) + int(f[12])


def cpu_ticks(pid: int) -> tuple[int, int]:
    """(all, vCPU threads) CPU ticks of the monitor and its children."""
    total = vcpu = 0
    for p in descendants(pid):
        try:
            total += stat_ticks(f"/proc/{p}/stat")[1]
            for t in os.listdir(f"/proc/{p}/task"):
                comm, ticks = stat_ticks(f"/proc/{p}/task/{t}/stat")
                vcpu += ticks if VCPU_THREAD.fullmatch(comm) else 0
        except OSError:
            pass
    return total, vcpu


# ---- one run ----

def wait_picture(c: RFBClient, out: Path, p: subprocess.Popen, timeout: float = 90) -> None:
    """Read updates until the mode is 1024x768 and the guest draws whole frames."""
    end = time.monotonic() + timeout
    c.request(incremental=False)
    while time.monotonic() < end:
        u = c.read_update()
        c.request(incremental=not u.resized)
        if (c.width, c.height) == (WIDTH, HEIGHT) and u.pixels and \
                FPS_RE.search(out.read_bytes()):
            return
        if p.poll() is not None:
            break
    text = out.read_bytes().decode(errors="replace")[-1000:]
    raise RuntimeError(f"no {WIDTH}x{HEIGHT} picture in {timeout:.0f} s "
                       f"(screen {c.width}x{c.height}): {text}")


def measure(c: RFBClient, pid: int, out: Path, secs: float) -> dict[str, float]:
    cpu0, vcpu0 = cpu_ticks(pid)
    fps0 = len(FPS_RE.findall(out.read_bytes()))
    t0 = now = time.monotonic()
    bytes0, updates, pixels, repeated = c.bytes_in, 0, 0, 0
    while now - t0 < secs:
        u = c.read_update()
        now = time.monotonic()
        c.request(incremental=not u.resized)
        updates += 1
        pixels += u.pixels
        repeated += u.repeated
    cpu1, vcpu1 = cpu_ticks(pid)
    el = now - t0
    guest = [int(v) for v in FPS_RE.findall(out.read_bytes())[fps0:]]
    return {"fps": pixels / (WIDTH * HEIGHT) / el, "ups": updates / el,
            "mibs": (c.bytes_in - bytes0) / el / (1 << 20),
            "repeat": repeated / pixels * 100 if c.decode and pixels else -1.0,
            "cpu": (cpu1 - cpu0) / TICK / el * 100,
            "cpu_dev": ((cpu1 - cpu0) - (vcpu1 - vcpu0)) / TICK / el * 100,
            "guest_fps": statistics.median(guest) if guest else 0.0}


def one(monitor: str, config: str, secs: float, tmp: Path) -> dict[str, float]:
    display = free_display()
    if display is None:
        raise RuntimeError("no free VNC port")
    out = tmp / f"{monitor}.out"
    with open(out, "wb") as f:
        p = subprocess.Popen(argv(monitor, display), stdin=subprocess.DEVNULL, stdout=f,
                             stderr=subprocess.STDOUT)
    try:
        # ZRLE is read, not decoded: no repeats counted there
        with RFBClient.connect("127.0.0.1", 5900 + display, timeout=30, wait=30,
                               decode=config != "zrle") as c:
            c.set_pixel_format()
            c.set_encodings(ENCODINGS[config])
            wait_picture(c, out, p)
            return measure(c, p.pid, out, secs)
    finally:
        p.kill()
        p.wait()


# ---- the report ----

def row(label: str, v: dict[str, float]) -> str:
    repeat = f"{v['repeat']:.1f}" if v["repeat"] >= 0 else "-"
    return (f"{label:18} {v['fps']:7.1f} {v['ups']:9.1f} {v['mibs']:8.1f} {repeat:>7} "
            f"{v['cpu']:7.0f} {v['cpu_dev']:9.0f} {v['guest_fps']:9.0f}")


def report(res: dict, cfgs: list[str], secs: float, runs: int, load: list[str]) -> str:
    lines = [f"VNC, a full-screen update loop (vgafill.elf, {WIDTH}x{HEIGHT}x32 rewritten at "
             f"CPL3), one viewer over 127.0.0.1,",
             f"one incremental request outstanding; {secs:g} s a run, median of {runs} runs; "
             f"load average {load[0]} at the start, {load[1]} at the end",
             "  fps: full-screen frames/s received (pixels / 1024x768); repeat: % of those "
             "pixels in rows that",
             "  showed the same before (sent again; not counted for ZRLE); CPU %: monitor with "
             "threads and helpers,",
             "  of one CPU; w/o vCPU: the same without the vCPU threads; guest: frames/s "
             "the guest wrote",
             f"{'':18} {'fps':>7} {'updates/s':>9} {'MiB/s':>8} {'repeat%':>7} {'CPU %':>7} "
             f"{'w/o vCPU':>9} {'guest':>9}"]
    for cfg in cfgs:
        for m in MONITORS:
            v = res[(cfg, m)]
            lines.append(row(f"{cfg} {m}", v) if isinstance(v, dict)
                         else f"{cfg + ' ' + m:18} failed: {v[:200]}")
        a, b = res[(cfg, "vmkit")], res[(cfg, "qemu")]
        if isinstance(a, dict) and isinstance(b, dict):
            r = [f"{a[k] / b[k]:.2f}" if b[k] > 0 else "-" for k in COLUMNS]
            lines.append(f"{'  vmkit/QEMU':18} {r[0]:>7} {r[1]:>9} {r[2]:>8} {'':>7} {r[4]:>7} "
                         f"{r[5]:>9} {r[6]:>9}")
    return "\n".join(lines)


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def kvm_usable() -> bool:
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC))
        return True
    except OSError:
        return False


def main() -> int:
    ap = Parser(description="VNC frame rate and bandwidth, vmkit against QEMU")
    ap.add_argument("--seconds", type=positive(float),
                    default=float(os.environ.get("BENCH_VNC_SECS", "10")))
    ap.add_argument("--runs", type=positive(int), default=int(os.environ.get("BENCH_VNC_RUNS", "3")))
    ap.add_argument("--configs", type=configs, default=["raw", "zrle"])
    a = ap.parse_args()
    if not kvm_usable():
        print("vnc.py: /dev/kvm is missing or not usable", file=sys.stderr)
        return 1
    if not shutil.which(QEMU):
        print(f"vnc.py: {QEMU} not found (BENCH_QEMU)", file=sys.stderr)
        return 1
    for f in (VMKIT, GUEST):
        if not f.exists():
            print(f"vnc.py: build first ({f})", file=sys.stderr)
            return 1
    res: dict[tuple[str, str], dict[str, float] | str] = {}
    load = [loadavg()]
    for cfg in a.configs:
        runs: dict[str, list] = {m: [] for m in MONITORS}
        for i in range(a.runs):
            for m in MONITORS:
                if isinstance(res.get((cfg, m)), str):
                    continue
                try:
                    with tempfile.TemporaryDirectory(prefix="vmkit-vnc-") as d:
                        runs[m].append(one(m, cfg, a.seconds, Path(d)))
                    print(f"{cfg} {m} run {i + 1}: {row('', runs[m][-1]).strip()}",
                          file=sys.stderr)
                except (RuntimeError, RFBError, OSError) as e:
                    res[(cfg, m)] = str(e) or type(e).__name__
                    print(f"{cfg} {m}: failed: {res[(cfg, m)]}", file=sys.stderr)
        for m in MONITORS:
            if runs[m] and not isinstance(res.get((cfg, m)), str):
                res[(cfg, m)] = {k: statistics.median(r[k] for r in runs[m]) for k in COLUMNS}
    load.append(loadavg())
    text = report(res, a.configs, a.seconds, a.runs, load)
    print(text)
    out = BUILD / "bench" / "vnc"
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.txt").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
