#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Firmware boot, vmkit against QEMU (issue 12): the same bios-256k.bin, the
same media, one run.

    /usr/bin/python3 bench/fwboot.py [RUNS]        (default 3; from the repository root)

Two boots, each timed from the monitor's start, both monitors on KVM:
  - cd:   an isolinux CD on a SATA (AHCI) CD-ROM with the guest kernel and
          initramfs, whose /init prints VMKIT-INFO and powers off;
  - disk: an MBR disk with extlinux on virtio-blk, the guest's root file
          system on it, to its shell (VMKIT-ROOTFS-READY; then stopped).
The media are tests/linux/bootmedia.py's, built here (needs root for the
disk's loop mount). For each: time to the boot loader's first output (its
banner on the serial port), to the guest's user space, and the ratio
vmkit/QEMU (the issue's goal: at most 0.5 to the boot loader).

QEMU gets the same machine: -M pc, SeaBIOS, an AHCI controller with the CD
(ide-cd on it), virtio-blk-pci for the disk, no network, no VGA (vmkit has
none without --vga). Prints a table; results in build/bench/fwboot/.
"""
import json
import os
import re
import selectors
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "linux"))
sys.path.insert(0, str(ROOT / "tests" / "guest"))
import bootmedia  # noqa: E402

VMKIT = ROOT / "build" / "vmkit"
OUT = ROOT / "build" / "bench" / "fwboot"
QEMU = os.environ.get("BENCH_QEMU", "qemu-system-x86_64")
TIMEOUT = float(os.environ.get("BENCH_FW_TIMEOUT", "600"))
LOADER = re.compile(r"(SYS|EXT|ISO)LINUX \d")
USER = {"cd": "VMKIT-INFO", "disk": "VMKIT-ROOTFS-READY"}


def argv(monitor: str, case: str, media: dict) -> list[str]:
    if monitor == "vmkit":
        a = [str(VMKIT), "run", "--firmware", "bios", "--memory", "256M", "--console", "stdio",
             "--no-reboot"]
        if case == "cd":
            return a + ["--cdrom", str(media["cd"])]
        return a + ["--disk", f"path={media['disk']},format=qcow2"]
    # -arch-capabilities: QEMU refuses a PVM host's ARCH_CAPABILITIES (as bench/run.sh).
    q = [QEMU, "-accel", "kvm", "-cpu", "host,-arch-capabilities", "-M", "pc", "-m", "256",
         "-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio",
         "-monitor", "none", "-no-reboot"]
    if case == "cd":
        return q + ["-device", "ahci,id=ahci", "-drive",
                    f"if=none,id=cd,media=cdrom,readonly=on,file={media['cd']}",
                    "-device", "ide-cd,drive=cd,bus=ahci.0"]
    return q + ["-drive", f"if=virtio,format=qcow2,file={media['disk']}"]


def one(monitor: str, case: str, media: dict, log: Path) -> dict:
    """Run one boot; seconds to the loader's banner, to user space, and in all."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv(monitor, case, media), stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    text, res = "", {"loader_s": None, "user_s": None}
    while time.monotonic() - t0 < TIMEOUT:
        if not sel.select(timeout=0.5):
            if p.poll() is not None:
                break
            continue
        chunk = os.read(p.stdout.fileno(), 65536)
        if not chunk:
            break
        text += chunk.decode(errors="replace")
        now = round(time.monotonic() - t0, 3)
        if res["loader_s"] is None and LOADER.search(text):
            res["loader_s"] = now
        if res["user_s"] is None and USER[case] in text:
            res["user_s"] = now
            if case == "disk":      # a shell does not end: stop it there
                break
    if p.poll() is None:
        p.kill()
    p.wait()
    res["total_s"] = round(time.monotonic() - t0, 3)
    log.write_text(text)
    return res


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    return xs[len(xs) // 2] if xs else None


def main() -> int:
    arg = sys.argv[1] if len(sys.argv) > 1 else "3"
    if not arg.isdigit() or int(arg) < 1:
        print(f"fwboot: RUNS {arg!r}: expected a number of runs, 1 or more", file=sys.stderr)
        return 2
    runs = int(arg)
    if not os.path.exists("/dev/kvm"):
        print("fwboot: no /dev/kvm here (scripts/kvm-under-tcg.sh runs this on a KVM under "
              "emulation, where times mean little)")
        return 1
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    media_dir = OUT / "media"
    media_dir.mkdir()
    disk = OUT / "disk.qcow2"
    subprocess.run([str(VMKIT), "img", "create", "-q", "-f", "qcow2", "-b",
                    str(bootmedia.bios_disk(media_dir)), "-F", "raw", str(disk)], check=True)
    media = {"cd": bootmedia.boot_iso(media_dir), "disk": disk}
    results = {}
    for case in ("cd", "disk"):
        for monitor in ("vmkit", "qemu"):
            rs = [one(monitor, case, media, OUT / f"{case}-{monitor}-{i}.log")
                  for i in range(runs)]
            results[(case, monitor)] = rs
    (OUT / "results.json").write_text(json.dumps({f"{c}/{m}": r for (c, m), r
                                                  in results.items()}, indent=1))
    seabios = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "seabios"],
                             capture_output=True, text=True).stdout or "?"
    print(f"Firmware boot (SeaBIOS {seabios}), median of {runs} runs, "
          f"seconds from the monitor's start; QEMU: {QEMU}")
    print(f"{'boot':6} {'to':10} {'vmkit':>8} {'qemu':>8} {'vmkit/qemu':>11}")
    for case in ("cd", "disk"):
        for key, what in (("loader_s", "loader"), ("user_s", "user space")):
            v = median(r[key] for r in results[(case, "vmkit")])
            q = median(r[key] for r in results[(case, "qemu")])
            ratio = f"{v / q:.2f}" if v and q else "-"
            print(f"{case:6} {what:10} {v if v is not None else '-':>8} "
                  f"{q if q is not None else '-':>8} {ratio:>11}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
