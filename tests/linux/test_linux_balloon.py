# SPDX-License-Identifier: GPL-2.0-or-later
"""Linux's own virtio_balloon driver under the control socket: a target set
over QMP before the driver probes is followed by the kernel (it inflates and
raises `actual`: BALLOON_CHANGE), and the statistics query-balloon shows are
the kernel's (disk caches and swap counters, which only a real kernel gives).
All of it happens in the kernel, so it works on PVM hosts too."""
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "guest"))
from vmkit_harness import BUILD_DIR, require_vmkit, vmkit_argv  # noqa: E402
from qmp_client import QMP, Monitor  # noqa: E402

MiB = 1 << 20
BOOT_TIMEOUT = 600.0  # a loaded PVM host needs minutes to reach the driver


def test_linux_follows_the_balloon(tmp_path):
    require_vmkit()
    kernel, initrd = BUILD_DIR / "guest" / "kernel", BUILD_DIR / "guest" / "initramfs.cpio"
    if not kernel.is_file() or not initrd.is_file():
        pytest.fail(f"{kernel} is missing: build the Linux guest first (make guest)")
    sock = tmp_path / "qmp.sock"
    argv = vmkit_argv(kernel, memory="256M", no_reboot=True, extra_args=[
        "--initrd", str(initrd), "--cmdline", "console=ttyS0 panic=-1", "--balloon",
        "--qmp", str(sock)])
    with Monitor(argv, tmp_path) as m:
        q = QMP(sock)
        q.negotiate()
        # 1 MiB back: one inflate request of 256 frames, cheap even in emulated kernel code.
        q.cmd("balloon", {"value": 255 * MiB})
        end = time.monotonic() + BOOT_TIMEOUT
        actual = 256 * MiB
        while actual != 255 * MiB and time.monotonic() < end:
            ev = q.wait_event("BALLOON_CHANGE", timeout=max(1, end - time.monotonic()))
            actual = ev["data"]["actual"]
        b = q.cmd("query-balloon")
        assert b["actual"] == 255 * MiB, f"{b}{m.describe()}"
        stats = b["guest-stats"]["stats"]
        assert 200 * MiB < stats["stat-total-memory"] <= 256 * MiB, b
        assert 0 < stats["stat-free-memory"] < stats["stat-total-memory"], b
        assert stats["stat-disk-caches"] >= 0 and stats["stat-swap-in"] == 0, b
        assert q.hmp("info balloon") == "balloon: actual=255\r\n"
        q.cmd("quit")
        assert m.wait(30) == 0, m.describe()
