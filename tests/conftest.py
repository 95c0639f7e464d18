# SPDX-License-Identifier: GPL-2.0-or-later
"""Suite-wide pytest hooks.

VMKIT_REQUIRE_KVM=1: a test that skips because /dev/kvm is missing fails
instead. Tests skip without KVM so that a developer's machine without it can
still run the rest; a CI runner that is supposed to have KVM must not pass by
skipping every VM it was meant to start. The skip reasons all name /dev/kvm
(vmkit_harness.require_vmkit and its cousins), which is what is matched here,
in one place rather than at each of their call sites.
"""
import os

import pytest


def _kvm_required() -> bool:
    return os.environ.get("VMKIT_REQUIRE_KVM", "") not in ("", "0")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not (report.skipped and _kvm_required()):
        return
    if hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if "/dev/kvm" in reason:
        report.outcome = "failed"
        report.longrepr = f"VMKIT_REQUIRE_KVM is set, and this test skipped: {reason}"


def pytest_runtest_logreport(report):
    """VMKIT_FAIL_LOG=FILE: each failure's report appended to FILE as it happens.

    pytest prints tracebacks only at the end of the session; a run inside
    scripts/kvm-under-tcg.sh that wedges or times out would lose them all.
    """
    path = os.environ.get("VMKIT_FAIL_LOG")
    if not path or not report.failed:
        return
    with open(path, "a", encoding="utf-8") as f:
        f.write(f"==== {report.nodeid} ({report.when})\n{report.longreprtext}\n\n")


# ---- make check's time on a PVM host ----
#
# On a PVM host (kvm_pvm: the guest kernel's code runs emulated, every guest
# system call and page fault ~0.5 ms) a Linux boot costs half a minute and
# the whole suite ran for 56 minutes, over make check's 45. The tests marked
# pvm_slow are the longest ones whose capability another make check test
# already covers more cheaply; there they skip unless VMKIT_SLOW=1, which
# `make check-slow` sets. On any other host they run in make check.

def pytest_configure(config):
    config.addinivalue_line(
        "markers", "pvm_slow: minutes on a PVM host; make check-slow runs it there")


def _pvm_host() -> bool:
    return os.path.exists("/sys/module/kvm_pvm")


def pytest_collection_modifyitems(config, items):
    if os.environ.get("VMKIT_SLOW") or not _pvm_host():
        return
    skip = pytest.mark.skip(reason="pvm_slow: minutes on this PVM host (guest kernel "
                            "code emulated); make check-slow runs it")
    for item in items:
        if item.get_closest_marker("pvm_slow"):
            item.add_marker(skip)
