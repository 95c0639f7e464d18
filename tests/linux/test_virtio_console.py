# SPDX-License-Identifier: GPL-2.0-or-later
"""--console virtio: the guest's console is hvc0 on a virtio-console device.

Linux drops what it prints before the virtio_console driver has probed (hvc has
no early output on x86), so the check is the kernel's later messages, up to its
panic for want of a root fs, arriving through the device and not the UART.
"""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "guest"))
from vmkit_harness import BUILD_DIR, require_vmkit, run_vmkit  # noqa: E402


def test_kernel_messages_on_hvc0(tmp_path):
    require_vmkit()
    kernel = BUILD_DIR / "guest" / "vmlinux"
    if not kernel.is_file():
        pytest.fail(f"{kernel} is missing: make guest")
    log = tmp_path / "hvc0.log"
    r = run_vmkit(kernel, memory="128M", no_reboot=True, timeout=240, console=f"virtio:file:{log}",
                  extra_args=["--cmdline", "console=hvc0 console=ttyS0 panic=-1"])
    assert r.returncode == 0, r.describe()
    text = log.read_text(errors="replace")
    assert "Kernel panic - not syncing: VFS: Unable to mount root fs" in text, text[-3000:]
    assert "Linux version" not in r.stdout  # the UART writes nowhere
