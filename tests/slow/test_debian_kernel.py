# SPDX-License-Identifier: GPL-2.0-or-later
"""Debian's own prebuilt kernel (linux-image-cloud-amd64) boots under vmkit.

Run by `make check-slow` (VMKIT_SLOW=1): on a PVM host the stock kernel's boot is
emulated instruction by instruction and takes several minutes. As with the minimal
guest, what is checked is what the kernel reports, up to starting /init (user space
cannot make system calls on PVM hosts; see README).
"""
import os
import re
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "guest"))
from vmkit_harness import BUILD_DIR, require_vmkit, run_vmkit  # noqa: E402

pytestmark = pytest.mark.skipif(not os.environ.get("VMKIT_SLOW"),
                                reason="slow: run with make check-slow")


def test_debian_cloud_kernel_boots():
    require_vmkit()
    kernel = BUILD_DIR / "guest" / "debian-kernel"
    initrd = BUILD_DIR / "guest" / "initramfs.cpio"
    for p in (kernel, initrd):
        if not p.is_file():
            pytest.fail(f"{p} is missing (make check-slow builds it)")
    start = time.time()
    r = run_vmkit(kernel, cpus=1, memory="512M", no_reboot=True,
                  extra_args=["--initrd", str(initrd), "--cmdline",
                              "console=ttyS0 panic=-1 cryptomgr.notests"],
                  timeout=40 * 60)
    assert r.returncode == 0, r.describe()[-4000:]
    assert re.search(r"Linux version 6\.1\.\S+-cloud-amd64", r.stdout), r.describe()[-4000:]
    assert "Run /init as init process" in r.stdout, r.describe()[-4000:]
    m = re.search(r"setting system clock to \S+ UTC \((\d+)\)", r.stdout)
    if m:
        assert start - 5 <= int(m.group(1)) <= time.time() + 5
