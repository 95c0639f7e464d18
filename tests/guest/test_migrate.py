# SPDX-License-Identifier: GPL-2.0-or-later
"""Live migration (issue 15): QMP migrate tcp:, vmkit run --incoming tcp:.

The dirtier guest (tests/guest/dirtier.c) rewrites 32 MiB round after
round at CPL3 and checks each page against the round before, so a page
the migration left stale on the destination stops it with "stale=N". The
source and destination run in network namespaces of their own, joined by
a veth pair, as two hosts would be.
"""
import os
import re
import shutil
import socket
import struct
import subprocess
import time
import uuid

import pytest

import vmkit_harness as h
from qmp_client import QMP, QMPError, Monitor

ROUND = re.compile(r"round=(\d+)\r?\n")
MEM = "128"


def rounds(text):
    return [int(m) for m in ROUND.findall(text)]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Netns:
    def __init__(self, name, addr):
        self.name, self.addr = name, addr

    def prefix(self):
        return ["ip", "netns", "exec", self.name]


@pytest.fixture
def hosts():
    """Two namespaces, a veth pair between them: 10.77.0.1 (source), 10.77.0.2."""
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("network namespaces need root and iproute2")
    tag = uuid.uuid4().hex[:6]
    a, b = Netns(f"vkmA-{tag}", "10.77.0.1"), Netns(f"vkmB-{tag}", "10.77.0.2")
    made = []
    try:
        for ns in (a, b):
            subprocess.run(["ip", "netns", "add", ns.name], check=True)
            made.append(ns.name)
        subprocess.run(["ip", "link", "add", f"vkm{tag}a", "netns", a.name, "type", "veth",
                        "peer", "name", f"vkm{tag}b", "netns", b.name], check=True)
        for ns, dev in ((a, f"vkm{tag}a"), (b, f"vkm{tag}b")):
            for cmd in (["ip", "addr", "add", f"{ns.addr}/24", "dev", dev],
                        ["ip", "link", "set", dev, "up"], ["ip", "link", "set", "lo", "up"]):
                subprocess.run(ns.prefix() + cmd, check=True)
        yield a, b
    finally:
        for name in made:
            subprocess.run(["ip", "netns", "del", name])


def source(tmp_path, ns=None, guest="dirtier", mem=MEM, extra=()):
    h.require_vmkit()
    sock = tmp_path / "src.sock"
    argv = h.vmkit_argv(h.guest(guest), memory=mem,
                        extra_args=["--qmp", f"unix:{sock},server=on,wait=off", *extra])
    d = tmp_path / "src"
    d.mkdir()
    m = Monitor((ns.prefix() if ns else []) + argv, d)
    assert m.wait_output("round=" if guest == "dirtier" else "count="), m.describe()
    q = QMP(sock)
    q.negotiate()
    return m, q


def destination(tmp_path, uri, ns=None, guest="dirtier", mem=MEM, extra=()):
    sock = tmp_path / "dst.sock"
    argv = h.vmkit_argv(h.guest(guest), memory=mem,
                        extra_args=["--incoming", uri, "--qmp",
                                    f"unix:{sock},server=on,wait=off", *extra])
    d = tmp_path / "dst"
    d.mkdir()
    m = Monitor((ns.prefix() if ns else []) + argv, d)
    # Listening before the source is told to go: the port is bound before the VM is built.
    port = int(uri.rsplit(":", 1)[1])
    end = time.monotonic() + 10
    while time.monotonic() < end and m.proc.poll() is None:
        ss = subprocess.run((ns.prefix() if ns else []) + ["ss", "-Hltn", f"sport = {port}"],
                            capture_output=True, text=True).stdout
        if str(port) in ss:
            break
        time.sleep(0.05)
    return m, sock


def wait_migration(q, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r = q.cmd("query-migrate")
        if r.get("status") in ("completed", "failed", "cancelled"):
            return r
        time.sleep(0.1)
    pytest.fail(f"migration still going after {timeout} s: {r}")


def wait_transferred(q, n, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r = q.cmd("query-migrate")
        if r.get("ram", {}).get("transferred", 0) >= n or r.get("status") != "active":
            return r
        time.sleep(0.02)
    pytest.fail(f"fewer than {n} bytes sent in {timeout} s")


def still_running(m, q, label):
    """The source runs on: its rounds keep coming, and QMP says so."""
    assert q.cmd("query-status")["status"] == "running", label
    before = rounds(m.stdout())[-1]
    end = time.monotonic() + 20
    while time.monotonic() < end and rounds(m.stdout())[-1] <= before + 8:
        time.sleep(0.05)
    assert rounds(m.stdout())[-1] > before + 8, f"{label}: the source stopped{m.describe()}"
    assert "FAIL" not in m.stdout(), m.describe()


def quit(m, q):
    try:
        q.cmd("quit")
    except (QMPError, EOFError, OSError):
        pass
    m.wait(10)
    m.close()


def test_dirtier_migrates_live_between_namespaces(tmp_path, hosts):
    a, b = hosts
    uri = f"tcp:{b.addr}:4455"
    dst, dsock = destination(tmp_path, uri, ns=b)
    src, q = source(tmp_path, ns=a)
    try:
        q.cmd("migrate-set-parameters", {"downtime-limit": 500})
        assert q.cmd("migrate", {"uri": uri}) == {}
        r = wait_migration(q)
        assert r["status"] == "completed", r
        ram = r["ram"]
        assert ram["total"] == int(MEM) << 20, r
        # at least the guest's 32 MiB went, and zero pages went as records, not pages
        assert ram["normal-bytes"] >= 32 << 20 and ram["duplicate"] > 0, r
        assert ram["dirty-sync-count"] >= 1 and 0 <= r["downtime"] < 5000, r
        assert q.cmd("query-status")["status"] == "paused"
        with pytest.raises(QMPError, match="migrated"):
            q.cmd("cont")
        last = rounds(src.stdout())[-1]
        assert dst.wait_output(f"round=", 30), dst.describe()
        end = time.monotonic() + 20
        while time.monotonic() < end and len(rounds(dst.stdout())) < 10:
            time.sleep(0.05)
        after = rounds(dst.stdout())
        assert len(after) >= 10, f"the destination does not run{dst.describe()}"
        assert after[0] > last, f"went back: the source's last round {last}, then {after[:3]}"
        assert "dirtier_boot" not in dst.stdout(), f"the destination booted{dst.describe()}"
        assert "FAIL" not in dst.stdout() and "stale" not in dst.stdout(), dst.describe()
        qd = QMP(dsock)
        qd.negotiate()
        assert qd.cmd("query-status")["status"] == "running"
        quit(dst, qd)
    finally:
        quit(src, q)
        dst.close()


def test_not_converging_says_why_and_the_source_runs_on(tmp_path):
    port = free_port()
    dst, _ = destination(tmp_path, f"tcp:127.0.0.1:{port}")
    src, q = source(tmp_path)
    try:
        q.cmd("migrate-set-parameters", {"max-bandwidth": 64 << 20, "downtime-limit": 20,
                                         "x-max-rounds": 3})
        assert q.cmd("query-migrate-parameters") == {
            "downtime-limit": 20, "max-bandwidth": 64 << 20, "x-max-rounds": 3,
            "tls-creds": "", "tls-hostname": ""}
        q.cmd("migrate", {"uri": f"tcp:127.0.0.1:{port}"})
        r = wait_migration(q)
        assert r["status"] == "failed", r
        assert "did not converge in 3 rounds" in r["error-desc"], r
        assert "downtime limit of 20 ms" in r["error-desc"], r
        still_running(src, q, "after a migration that did not converge")
        assert dst.wait(15) not in (None, 0), dst.describe()
        assert "closed the connection" in dst.stderr(), dst.describe()
    finally:
        quit(src, q)
        dst.close()


def test_destination_killed_midway(tmp_path):
    port = free_port()
    dst, _ = destination(tmp_path, f"tcp:127.0.0.1:{port}")
    src, q = source(tmp_path)
    try:
        q.cmd("migrate-set-parameters", {"max-bandwidth": 8 << 20})
        q.cmd("migrate", {"uri": f"tcp:127.0.0.1:{port}"})
        wait_transferred(q, 2 << 20)
        dst.proc.kill()
        r = wait_migration(q)
        assert r["status"] == "failed", r
        assert "closed the connection" in r["error-desc"] or "reset" in r["error-desc"], r
        still_running(src, q, "after the destination died")
        # and it can go again, to a new destination
        port2 = free_port()
        (tmp_path / "again").mkdir()
        dst2, _ = destination(tmp_path / "again", f"tcp:127.0.0.1:{port2}")
        q.cmd("migrate-set-parameters", {"max-bandwidth": 0})
        q.cmd("migrate", {"uri": f"tcp:127.0.0.1:{port2}"})
        assert wait_migration(q)["status"] == "completed"
        assert dst2.wait_output("round=", 30), dst2.describe()
        dst2.close()
    finally:
        quit(src, q)
        dst.close()


def test_refused_port_and_cancel(tmp_path):
    src, q = source(tmp_path)
    try:
        port = free_port()  # nobody listens there
        q.cmd("migrate", {"uri": f"tcp:127.0.0.1:{port}"})
        r = wait_migration(q)
        assert r["status"] == "failed" and "Connection refused" in r["error-desc"], r
        still_running(src, q, "after a refused connection")

        port = free_port()
        dst, _ = destination(tmp_path, f"tcp:127.0.0.1:{port}")
        q.cmd("migrate-set-parameters", {"max-bandwidth": 4 << 20})
        q.cmd("migrate", {"uri": f"tcp:127.0.0.1:{port}"})
        wait_transferred(q, 1 << 20)
        with pytest.raises(QMPError, match="in progress"):
            q.cmd("migrate", {"uri": f"tcp:127.0.0.1:{port}"})
        with pytest.raises(QMPError, match="migration is in progress"):
            q.cmd("cont")
        q.cmd("migrate_cancel")
        r = wait_migration(q)
        assert r["status"] == "cancelled", r
        still_running(src, q, "after migrate_cancel")
        assert dst.wait(15) not in (None, 0), dst.describe()
        dst.close()
    finally:
        quit(src, q)


def test_destination_with_other_memory_refuses(tmp_path):
    port = free_port()
    dst, _ = destination(tmp_path, f"tcp:127.0.0.1:{port}", mem="256")
    src, q = source(tmp_path)
    try:
        q.cmd("migrate", {"uri": f"tcp:127.0.0.1:{port}"})
        r = wait_migration(q)
        assert r["status"] == "failed", r
        assert "the destination refused it" in r["error-desc"], r
        assert "134217728 bytes of RAM, this VM 268435456" in r["error-desc"], r
        still_running(src, q, "after the destination refused")
        assert dst.wait(15) not in (None, 0), dst.describe()
        errs = [l for l in dst.stderr().splitlines() if "PVM" not in l]
        assert len(errs) == 1 and "134217728 bytes of RAM" in errs[0], dst.describe()
    finally:
        quit(src, q)
        dst.close()


def test_bad_migrate_arguments(tmp_path):
    src, q = source(tmp_path, guest="counter", mem="64")
    try:
        for uri, words in [("tcp:example.org:4444", "not an IP address"),
                           ("tcp:127.0.0.1", "no port"),
                           ("tcp:127.0.0.1:99999", "not a port number"),
                           ("udp:1.2.3.4:5", "give tcp:ADDR:PORT or file:PATH")]:
            with pytest.raises(QMPError, match=words):
                q.cmd("migrate", {"uri": uri})
        for args, words in [({"downtime-limit": -1}, "downtime_limit"),
                            ({"max-bandwidth": -5}, "max_bandwidth"),
                            ({"x-max-rounds": 0}, "x-max-rounds")]:
            with pytest.raises(QMPError, match=words):
                q.cmd("migrate-set-parameters", args)
        assert q.cmd("query-migrate") == {}
        assert q.cmd("query-status")["status"] == "running"
    finally:
        quit(src, q)


@pytest.mark.parametrize("uri, words", [
    ("tcp:localhost:4444", "not an IP address"),
    ("tcp:1.2.3.4:", "not a port number"),
    ("tcp:[::1:4444", "not an IP"),
    ("ftp:x", "give file:PATH (a saved VM) or tcp:ADDR:PORT"),
])
def test_bad_incoming(uri, words):
    h.require_vmkit()
    r = h.run_argv(h.vmkit_argv(h.guest("counter"), memory="64",
                                extra_args=["--incoming", uri]), timeout=20)
    assert r.returncode == 2, r.describe()
    errs = [l for l in r.stderr.splitlines() if l.startswith("vmkit: ") and "PVM" not in l]
    assert len(errs) == 1 and words in errs[0] and uri in errs[0], r.describe()


def test_incoming_port_in_use():
    h.require_vmkit()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = h.run_argv(h.vmkit_argv(h.guest("counter"), memory="64", extra_args=[
            "--incoming", f"tcp:127.0.0.1:{port}"]), timeout=20)
    assert r.returncode == 2, r.describe()
    assert "Address already in use" in r.stderr, r.describe()


def test_garbage_into_the_destination(tmp_path):
    port = free_port()
    h.require_vmkit()
    dst, _ = destination(tmp_path, f"tcp:127.0.0.1:{port}", guest="counter", mem="64")
    try:
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n" + b"\0" * 64)
            reply = s.recv(4096)
        assert b"not a vmkit migration stream" in reply, reply
        assert dst.wait(15) not in (None, 0), dst.describe()
        assert "not a vmkit migration stream" in dst.stderr(), dst.describe()
    finally:
        dst.close()


# ---- hostile streams into the destination ----

def _header(ram=64 << 20, version=1, cfg=None):
    import savefile
    cfg = savefile.stream([savefile.vm_section(memory=64 << 20)]) if cfg is None else cfg
    return (b"VMKITMIG" + struct.pack("<IIQQ", version, 0, ram, len(cfg)) + cfg)


def _rec(kind, a, b, data=b""):
    return struct.pack("<IIQQ", kind, 0, a, b) + data


PAGES, ZERO, STATE, END = 1, 2, 3, 4


@pytest.mark.parametrize("stream, words", [
    (_header(version=7), "migration stream version 7"),
    (_header(ram=32 << 20), "the source has 33554432 bytes of RAM"),
    (b"VMKITMIG" + struct.pack("<IIQQ", 1, 0, 64 << 20, 1 << 40), "a config of"),
    (_header(cfg=b"VMKITSS\n" + b"\0" * 40), "state"),
    (_header() + _rec(PAGES, 64 << 20, 4096, b"x" * 4096), "pages at 0x4000000+0x1000"),
    (_header() + _rec(PAGES, 4095, 4096, b"x" * 4096), "pages at 0xfff"),
    (_header() + _rec(ZERO, 0, 1 << 62), "pages at 0x0+0x4000000000000000"),
    (_header() + _rec(PAGES, 0, 2 << 20, b"x" * (2 << 20)), "pages at 0x0+0x200000"),
    (_header() + _rec(STATE, 1 << 40, 0), "state of"),
    (_header() + _rec(9, 0, 0), "record type 9"),
    (_header() + _rec(END, 0, 0), "ended without the state"),
    (_header() + _rec(PAGES, 0, 8192, b"y" * 100), "closed the connection"),
], ids=["version", "ram", "config-len", "config", "pages-outside", "pages-unaligned",
        "zero-huge", "pages-over-chunk", "state-huge", "record-type", "no-state", "truncated"])
def test_hostile_stream_into_the_destination(tmp_path, stream, words):
    """Each is refused in one line naming the problem, answered to the
    sender, and the destination exits without running anything."""
    port = free_port()
    h.require_vmkit()
    dst, _ = destination(tmp_path, f"tcp:127.0.0.1:{port}", guest="counter", mem="64")
    try:
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(stream)
            s.shutdown(socket.SHUT_WR)
            s.settimeout(20)
            reply = b""
            while chunk := s.recv(4096):
                reply += chunk
        assert dst.wait(15) not in (None, 0), dst.describe()
        errs = [l for l in dst.stderr().splitlines() if "PVM" not in l]
        assert len(errs) == 1 and words in errs[0], dst.describe()
        assert errs[0].startswith(f"vmkit: --incoming tcp:127.0.0.1:{port}: "), errs
        if "closed" not in words:
            status, n = struct.unpack("<II", reply[:8])
            assert status != 0 and words.encode() in reply[8:8 + n], reply
        assert "count=" not in dst.stdout(), "the destination ran"
    finally:
        dst.close()
