#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Live migration, side by side with QEMU (issue 15).

The same tiny guests, 1 GiB of RAM, migrated over TCP on this host
(127.0.0.1) by vmkit and by QEMU (-M microvm), each to a second instance of
itself started with its -incoming/--incoming:

  idle      counter.elf: counts in one word of memory (a few pages written)
  busy      dirtier.elf: rewrites 32 MiB at CPL3 as fast as it can
  N MiB/s   dirtyrate.elf rate=N: writes pages of 256 MiB at N MiB/s (TSC-paced)

and the busy guest again over TLS (vmkit --tls-creds, QEMU's tls-creds-x509;
certificates made with openssl as tests/guest/test_migrate_tls.py does).

Both with the downtime limit 300 ms and no bandwidth cap (QEMU's
max-bandwidth set to 100 GiB/s). Reported, from each monitor's own
query-migrate: total time, downtime, bytes sent; and our wall time from
the migrate command to "completed". Medians of BENCH_MIG_RUNS runs
(default 5: a loaded 2-core host scatters single runs); ratios vmkit/QEMU (below 1: vmkit takes less).

    bench/migrate.py        # prints the table, writes build/bench/migrate.txt
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = Path(os.environ.get("VMKIT_BUILD_DIR", ROOT / "build"))
sys.path.insert(0, str(ROOT / "tests" / "guest"))
from qmp_client import QMP  # noqa: E402

VMKIT = BUILD / "vmkit"
QEMU = os.environ.get("BENCH_QEMU", "qemu-system-x86_64")
RUNS = int(os.environ.get("BENCH_MIG_RUNS", "5"))
MEM_MIB = 1024
GUESTS = {"idle": ("counter", b"count=", ""), "busy": ("dirtier", b"round=", ""),
          "64MiB/s": ("dirtyrate", b"round=", "rate=64"),
          "512MiB/s": ("dirtyrate", b"round=", "rate=512")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


TLS_WORKLOADS = ["busy"]
TSC_KHZ = 0     # dirtyrate's time base under vmkit, handed to QEMU's runs (no PIT there)
PKI: Path | None = None


def make_pki(tmp: Path) -> Path:
    """One directory both ends use: ca-cert.pem, server-*.pem, client-*.pem."""
    from test_migrate_tls import make_ca, make_cert  # noqa: E402
    d = tmp / "pki"
    d.mkdir()
    make_ca(d, "ca")
    make_cert(d, "ca", "server", "localhost", "IP:127.0.0.1")
    make_cert(d, "ca", "client", "client", usage="clientAuth")
    return d


def argv(monitor: str, guest: Path, sock: Path, incoming: str | None,
         cmdline: str = "") -> list[str]:
    tls = monitor.endswith("+tls")
    monitor = monitor.removesuffix("+tls")
    if monitor == "vmkit":
        a = [str(VMKIT), "run", "--kernel", str(guest), "--memory", str(MEM_MIB),
             "--console", "stdio", "--qmp", f"unix:{sock},server=on,wait=off"]
        a += ["--cmdline", cmdline] if cmdline else []
        a += ["--tls-creds", str(PKI)] if tls else []
        return a + (["--incoming", incoming] if incoming else [])
    a = [QEMU, "-M", "microvm", "-accel", "kvm", "-cpu", "host,-arch-capabilities",
         "-nodefaults", "-no-user-config", "-nographic", "-serial", "stdio", "-no-reboot",
         "-kernel", str(guest), "-m", str(MEM_MIB), "-qmp", f"unix:{sock},server=on,wait=off"]
    a += ["-append", cmdline] if cmdline else []
    if tls:
        a += ["-object", f"tls-creds-x509,id=tls0,dir={PKI},"
                         f"endpoint={'server' if incoming else 'client'}"]
        # its destination takes tls-creds before it listens: -incoming defer, then QMP
        return a + (["-incoming", "defer"] if incoming else [])
    return a + (["-incoming", incoming] if incoming else [])


def wait_for(path: Path, text: bytes, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if text in path.read_bytes():
            return
        time.sleep(0.02)
    raise RuntimeError(f"no {text!r} in {path} after {timeout} s")


def one(monitor: str, workload: str, tmp: Path) -> dict[str, float]:
    global TSC_KHZ
    name, mark, cmdline = GUESTS[workload]
    if name == "dirtyrate" and monitor.startswith("qemu"):
        if not TSC_KHZ:
            raise RuntimeError("no tsc_khz from vmkit's run to pace the guest with")
        cmdline += f" tsc_khz={TSC_KHZ}"
    guest = BUILD / "tests" / "guest" / f"{name}.elf"
    port = free_port()
    uri = f"tcp:127.0.0.1:{port}"
    procs = []
    try:
        outs = {}
        for role, inc in (("dst", uri), ("src", None)):
            outs[role] = tmp / f"{role}.out"
            with open(outs[role], "wb") as f:
                procs.append(subprocess.Popen(argv(monitor, guest, tmp / f"{role}.sock", inc,
                                                   cmdline),
                                              stdin=subprocess.DEVNULL, stdout=f,
                                              stderr=subprocess.STDOUT))
        if monitor == "qemu+tls":
            for _ in range(200):
                if (tmp / "dst.sock").exists():
                    break
                time.sleep(0.05)
            qd = QMP(tmp / "dst.sock")
            qd.negotiate()
            qd.cmd("migrate-set-parameters", {"tls-creds": "tls0"})
            qd.cmd("migrate-incoming", {"uri": uri})
        wait_for(outs["src"], mark)
        m = re.search(rb"tsc_khz=(\d+)", outs["src"].read_bytes())
        if m and monitor.startswith("vmkit"):
            TSC_KHZ = int(m.group(1))
        q = QMP(tmp / "src.sock")
        q.negotiate()
        params = {"downtime-limit": 300,
                  "max-bandwidth": 0 if monitor.startswith("vmkit") else 100 << 30}
        if monitor.endswith("+tls"):
            params["tls-creds"] = "tls0"
        q.cmd("migrate-set-parameters", params)
        time.sleep(0.5)
        t0 = time.monotonic()
        q.cmd("migrate", {"uri": uri})
        while True:
            r = q.cmd("query-migrate")
            if r.get("status") in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.005)
        wall = (time.monotonic() - t0) * 1000
        if r["status"] != "completed":
            raise RuntimeError(f"{monitor} {workload}: {r}")
        # the destination runs on
        n = outs["dst"].read_bytes().count(mark)
        end = time.monotonic() + 30
        while outs["dst"].read_bytes().count(mark) <= n + 1 and time.monotonic() < end:
            time.sleep(0.02)
        if outs["dst"].read_bytes().count(mark) <= n + 1:
            raise RuntimeError(f"{monitor} {workload}: the destination does not run")
        return {"total": r["total-time"], "downtime": r["downtime"], "wall": wall,
                "mib": r["ram"]["transferred"] / (1 << 20)}
    finally:
        for p in procs:
            p.kill()
            p.wait()


def median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def main() -> int:
    if not VMKIT.exists():
        print(f"migrate.py: build first ({VMKIT})", file=sys.stderr)
        return 2
    global PKI
    monitors = ["vmkit"] + (["qemu"] if shutil.which(QEMU) else [])
    res: dict[tuple[str, str], dict[str, float] | str] = {}
    pki_tmp = tempfile.TemporaryDirectory(prefix="vmkit-mig-pki-")
    PKI = make_pki(Path(pki_tmp.name))
    rows = [(w, m) for w in GUESTS for m in monitors] + \
        [(w, m + "+tls") for w in TLS_WORKLOADS for m in monitors]
    for workload, m in rows:
        runs = []
        try:
            for _ in range(RUNS):
                with tempfile.TemporaryDirectory(prefix="vmkit-mig-") as d:
                    runs.append(one(m, workload, Path(d)))
            res[(m, workload)] = median(runs)
        except (RuntimeError, OSError) as e:
            res[(m, workload)] = str(e)
        print(f"{m} {workload}: {res[(m, workload)]}", file=sys.stderr)
    lines = [f"live migration over 127.0.0.1, {MEM_MIB} MiB guest, downtime limit 300 ms, "
             f"median of {RUNS} runs",
             f"{'':18} {'total ms':>9} {'downtime ms':>12} {'sent MiB':>9} {'wall ms':>8}"]
    for workload, tls in [(w, "") for w in GUESTS] + [(w, "+tls") for w in TLS_WORKLOADS]:
        for m in (x + tls for x in monitors):
            v = res[(m, workload)]
            if isinstance(v, str):
                lines.append(f"{m + ' ' + workload:18} failed: {v[:200]}")
                continue
            lines.append(f"{m + ' ' + workload:18} {v['total']:9.0f} {v['downtime']:12.0f} "
                         f"{v['mib']:9.1f} {v['wall']:8.0f}")
        a, b = res.get(("vmkit" + tls, workload)), res.get(("qemu" + tls, workload))
        if isinstance(a, dict) and isinstance(b, dict):
            ratio = lambda k: f"{a[k] / b[k]:.2f}" if b[k] else "-"  # noqa: E731
            lines.append(f"{'  vmkit/QEMU':18} {ratio('total'):>9} {ratio('downtime'):>12} "
                         f"{ratio('mib'):>9} {ratio('wall'):>8}")
    text = "\n".join(lines)
    print(text)
    out = BUILD / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / "migrate.txt").write_text(text + "\n")
    pki_tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
