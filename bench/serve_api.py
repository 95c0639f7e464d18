#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The REST API's latency with many VMs: vmkit serve on a private VMKIT_HOME.

Usage: bench/serve_api.py [--vms N] [--runs N]

Defines N VMs through POST /api/vms (each a job in a forked child, as every
change is), then times GET /api/vms (the list with state and live figures),
GET /api/vms/NAME and GET /api/node/status over HTTPS with keep-alive off (a
new TLS connection per request, as a browser's first request pays), and
`vmkit list --all` for the same VMs as the CLI's cost for the same answer.
Prints medians and 95th percentiles in milliseconds. There is no Proxmox
here to run side by side; the CLI is the reference.
"""
import argparse
import json
import os
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = Path(os.environ.get("VMKIT_BUILD_DIR", ROOT / "build"))
TLS = ssl.create_default_context()
TLS.check_hostname = False
TLS.verify_mode = ssl.CERT_NONE


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url, token, method="GET", body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Authorization": token, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, context=TLS, timeout=60) as r:
        return json.loads(r.read())


def timed(fn, runs):
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    out.sort()
    return statistics.median(out), out[min(len(out) - 1, int(len(out) * 0.95))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vms", type=int, default=100)
    ap.add_argument("--runs", type=int, default=50)
    a = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="vmkit-bench-serve-"))
    env = dict(os.environ, VMKIT_HOME=str(home))
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    tok = subprocess.run([str(BUILD / "vmkit-serve"), "token", "add", "root@pam", "bench"], env=env,
                         capture_output=True, text=True, check=True).stdout.strip()
    token = "VMKitAPIToken=" + tok
    srv = subprocess.Popen([str(BUILD / "vmkit-serve"), "serve", "--listen", f"127.0.0.1:{port}"],
                           env=env, stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                time.sleep(0.05)
        kernel = home / "bzImage"
        kernel.write_bytes(b"\0" * 4096)
        t = time.perf_counter()
        for i in range(a.vms):
            call(url + "/api/vms", token, "POST",
                 {"name": f"vm{i:03d}", "kernel": str(kernel), "memory": "256M",
                  "nets": ["virtio,user"], "config": {"description": f"bench VM {i}"}})
        create_ms = (time.perf_counter() - t) * 1000 / a.vms
        n = len(call(url + "/api/vms", token)["data"])
        assert n == a.vms, n
        rows = [
            (f"GET /api/vms ({a.vms} VMs)", timed(lambda: call(url + "/api/vms", token), a.runs)),
            ("GET /api/vms/vm050", timed(lambda: call(url + "/api/vms/vm050", token), a.runs)),
            ("GET /api/node/status", timed(lambda: call(url + "/api/node/status", token), a.runs)),
            (f"vmkit list --all ({a.vms} VMs, CLI)",
             timed(lambda: subprocess.run([str(BUILD / "vmkit"), "list", "--all"], env=env,
                                          stdout=subprocess.DEVNULL, check=True), a.runs)),
        ]
    finally:
        srv.terminate()
        srv.wait()
    print(f"POST /api/vms: {create_ms:.1f} ms per VM (mean of {a.vms})")
    print(f"{'request':40s} {'median ms':>10s} {'p95 ms':>8s}")
    for name, (med, p95) in rows:
        print(f"{name:40s} {med:10.2f} {p95:8.2f}")
    print(f"ratio GET /api/vms / vmkit list: {rows[0][1][0] / rows[3][1][0]:.2f}")
    subprocess.run(["rm", "-rf", str(home)])


if __name__ == "__main__":
    sys.exit(main())
