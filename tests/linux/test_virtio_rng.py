# SPDX-License-Identifier: GPL-2.0-or-later
"""The Linux guest's virtio-rng driver: the kernel seeds its RNG from the device.

Without a hardware RNG the minimal guest's kernel does not finish initializing its
CRNG before /init; with --rng, hw_random reads the device at registration and the
kernel reports "crng init done" right after the device is enabled.
"""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "guest"))
from vmkit_harness import BUILD_DIR, require_vmkit, run_vmkit  # noqa: E402


def boot(extra):
    require_vmkit()
    kernel = BUILD_DIR / "guest" / "vmlinux"
    if not kernel.is_file():
        pytest.fail(f"{kernel} is missing: make guest")
    return run_vmkit(kernel, memory="128M", no_reboot=True, timeout=240,
                     extra_args=["--cmdline", "console=ttyS0 panic=-1"] + extra)


def test_rng_seeds_the_guest_kernel():
    r = boot(["--rng"])
    assert r.returncode == 0, r.describe()
    assert "pci 0000:00:01.0: [1af4:1044]" in r.stdout, r.describe()
    assert "random: crng init done" in r.stdout, r.describe()


def test_rng_source_that_cannot_be_opened(tmp_path):
    r = boot([f"--rng=file={tmp_path}/missing"])
    assert r.returncode == 2, r.describe()
    assert "--rng" in r.stderr and "missing" in r.stderr, r.describe()
