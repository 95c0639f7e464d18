# SPDX-License-Identifier: GPL-2.0-or-later
"""Live migration with local disks (issue 15): QMP migrate {"blk": true}.

The blkwriter guest (tests/guest/blkwriter.c) writes its disk in two slow
passes, each block once per pass, and moves in the middle of the second;
the destination has its own empty disk file of the same size. Once it has
finished there, every block must hold pass 2: a write the migration lost
or sent stale in any round (the blocks written before the switch are
never written again) would show as a block of pass 1 or zeros. Read with
Debian's qemu-img.
"""
import socket
import subprocess
import time

import pytest

import vmkit_harness as h
from qmp_client import QMP, QMPError, Monitor
from test_backup import BLOCKS, BS, DISK, check_point_in_time, passes, qemu_img


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def disk(tmp_path, name, fmt, size=DISK):
    p = tmp_path / f"{name}.{fmt}"
    subprocess.run([qemu_img(), "create", "-q", "-f", fmt, str(p), str(size)], check=True)
    return p


def monitor(tmp_path, name, path, fmt, extra=(), cmdline=f"blocks={BLOCKS} bs={BS}"):
    h.require_vmkit()
    sock = tmp_path / f"{name}.sock"
    d = tmp_path / name
    d.mkdir()
    argv = h.vmkit_argv(h.guest("blkwriter"), memory="64",
                        extra_args=["--disk", f"path={path},format={fmt}",
                                    "--cmdline", cmdline,
                                    "--qmp", f"unix:{sock},server=on,wait=off", *extra])
    return Monitor(argv, d), sock


def qmp(sock):
    q = QMP(sock)
    q.negotiate()
    return q


def wait_migration(q, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r = q.cmd("query-migrate")
        if r.get("status") in ("completed", "failed", "cancelled"):
            return r
        time.sleep(0.05)
    pytest.fail(f"migration still going after {timeout} s: {r}")


def listening(port):
    """Bound (not connected to: the destination takes the first connection as the source)."""
    end = time.monotonic() + 10
    while time.monotonic() < end:
        ss = subprocess.run(["ss", "-Hltn", f"sport = {port}"], capture_output=True,
                            text=True).stdout
        if str(port) in ss:
            return
        time.sleep(0.05)


SLOW = f"blocks={BLOCKS} bs={BS} passes=2 spin=20000"


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_disks_move_with_the_vm(tmp_path, fmt):
    src_disk, dst_disk = disk(tmp_path, "src", fmt), disk(tmp_path, "dst", fmt)
    src, ssock = monitor(tmp_path, "s", src_disk, fmt, cmdline=SLOW)
    port = free_port()
    with src:
        assert src.wait_output("pass=2"), src.describe()
        dst, dsock = monitor(tmp_path, "d", dst_disk, fmt,
                             ["--incoming", f"tcp:127.0.0.1:{port}"], cmdline=SLOW)
        with dst:
            listening(port)
            time.sleep(0.3)     # into pass 2: blocks written before the move and after
            qs = qmp(ssock)
            qs.cmd("migrate", {"uri": f"tcp:127.0.0.1:{port}", "blk": True})
            r = wait_migration(qs)
            assert r["status"] == "completed", f"{r}{dst.describe()}"
            assert qs.cmd("query-status")["status"] == "paused"
            assert "done=1" not in src.stdout(), "the guest finished before it moved"
            # The whole disk went, then what the guest rewrote meanwhile.
            assert r["ram"]["transferred"] > DISK // 2, r
            qd = qmp(dsock)
            assert qd.cmd("query-status")["status"] == "running"
            assert dst.wait_output("done=1", 60), dst.describe()
            qd.cmd("quit")
            dst.wait(10)
            assert "FAIL" not in dst.stdout(), dst.describe()
        qs.cmd("quit")
    out = tmp_path / "dst-as-read.raw"
    subprocess.run([qemu_img(), "convert", "-O", "raw", str(dst_disk), str(out)], check=True)
    top, k = check_point_in_time(out.read_bytes())
    assert top == 2 and k == BLOCKS, f"blocks {k}.. hold pass {top - 1}: lost in the move"


def test_a_disk_of_another_size_is_refused_and_the_source_runs_on(tmp_path):
    src_disk, dst_disk = disk(tmp_path, "src", "raw"), disk(tmp_path, "dst", "raw", DISK * 2)
    src, ssock = monitor(tmp_path, "s", src_disk, "raw")
    port = free_port()
    with src:
        assert src.wait_output("pass=2"), src.describe()
        qs = qmp(ssock)
        with pytest.raises(QMPError, match="blk .* goes over tcp: only"):
            qs.cmd("migrate", {"uri": f"file:{tmp_path / 'x'}", "blk": True})
        dst, _ = monitor(tmp_path, "d", dst_disk, "raw", ["--incoming", f"tcp:127.0.0.1:{port}"])
        with dst:
            listening(port)
            qs.cmd("migrate", {"uri": f"tcp:127.0.0.1:{port}", "blk": True})
            r = wait_migration(qs)
            assert r["status"] == "failed", r
            assert "is 100663296 bytes here, 50331648 on the source" in r["error-desc"], r
            dst.wait(10)
        assert qs.cmd("query-status")["status"] == "running"
        n = passes(src)[-1]
        assert src.wait_output(f"pass={n + 1}"), src.describe()
        qs.cmd("quit")
