# SPDX-License-Identifier: GPL-2.0-or-later
"""Boot each tiny PVH test guest (tests/guest/*.c) under build/vmkit."""

from __future__ import annotations

import os
import time

from pathlib import Path

import pytest

import vmkit_harness as h

MiB = 1 << 20


@pytest.fixture(autouse=True)
def _needs_vmkit() -> None:
    h.require_vmkit()


def test_hello() -> None:
    r = h.run_vmkit(h.guest("hello"))
    h.assert_test_passed(r, "hello")


def test_firstinsn() -> None:
    r = h.run_vmkit(h.guest("firstinsn"))
    h.assert_test_passed(r, "firstinsn")
    assert r.stdout.startswith("\n"), f"first serial byte is not the entry's '\\n'{r.describe()}"


@pytest.mark.parametrize("cpus", [1, 2])
def test_smp(cpus: int) -> None:
    h.require_host_cpus(cpus)
    r = h.run_vmkit(h.guest("smp"), cpus=cpus)
    h.assert_test_passed(r, "smp")
    assert r.info.get("cpus") == str(cpus), r.describe()
    assert r.info.get("madt_cpus") == str(cpus), r.describe()
    assert r.info.get("apic_ids") == ",".join(str(i) for i in range(cpus)), r.describe()
    # KVM emulates the TSC-deadline timer and an always-running LAPIC timer but
    # leaves them out of KVM_GET_SUPPORTED_CPUID: without them Linux calibrated
    # its LAPIC timer against the PIT, and disabled it on a busy host.
    assert r.info.get("tsc_deadline") == "1", r.describe()
    assert r.info.get("arat") == "1", r.describe()


@pytest.mark.parametrize("size_mib", [128, 512])
def test_memsize(size_mib: int) -> None:
    r = h.run_vmkit(h.guest("memsize"), memory=f"{size_mib}M")
    h.assert_test_passed(r, "memsize")
    size = size_mib * MiB
    ram = int(r.info["ram_bytes"])
    assert size - 2 * MiB <= ram <= size, f"ram_bytes={ram}, want [{size - 2 * MiB}, {size}]{r.describe()}"
    top = int(r.info["ram_top"], 16)
    assert ram <= top <= size + 4 * MiB, f"ram_top={top:#x}{r.describe()}"


def _utc_offset(t: float) -> int:
    """The host's UTC offset in seconds at time t (0 on a UTC host)."""
    lt = time.localtime(t)
    if hasattr(lt, "tm_gmtoff") and lt.tm_gmtoff is not None:
        return int(lt.tm_gmtoff)
    return -(time.altzone if lt.tm_isdst > 0 else time.timezone)


@pytest.mark.parametrize("mode", [None, "utc", "localtime"])
def test_rtc(mode: str | None) -> None:
    before = time.time()
    r = h.run_vmkit(h.guest("rtc"), rtc=mode)
    after = time.time()
    h.assert_test_passed(r, "rtc")
    epoch = int(r.info["rtc_epoch"])
    offset = _utc_offset(before) if mode == "localtime" else 0
    lo, hi = before + offset - 5, after + offset + 5
    assert lo <= epoch <= hi, (
        f"rtc_epoch={epoch} ({r.info.get('rtc')}), host UTC {before:.0f}..{after:.0f}, "
        f"offset {offset} s{r.describe()}")


def test_poweroff() -> None:
    r = h.run_vmkit(h.guest("poweroff"))
    h.assert_test_passed(r, "poweroff")


def test_reboot_no_reboot() -> None:
    r = h.run_vmkit(h.guest("reboot"), no_reboot=True)
    assert not r.timed_out, r.describe()
    assert r.returncode == 0, r.describe()
    assert r.count("VMKIT-INFO boot") == 1, r.describe()
    assert not r.tests, f"reboot did not reset the machine{r.describe()}"


def test_reboot_boots_again() -> None:
    r = h.run_vmkit(h.guest("reboot"),
                    stop_when=lambda out: out.count("VMKIT-INFO boot") >= 2)
    assert r.count("VMKIT-INFO boot") >= 2, r.describe()
    assert not any(t[1] == "FAIL" for t in r.tests), r.describe()


def test_triplefault() -> None:
    r = h.run_vmkit(h.guest("triplefault"))
    assert not r.timed_out, r.describe()
    assert r.count("VMKIT-INFO about-to-fault") == 1, r.describe()
    assert r.returncode == 1, r.describe()
    assert "triple fault" in r.stderr.lower(), r.describe()
    assert "RIP" in r.stderr, f"no register dump{r.describe()}"
    assert not r.tests, r.describe()


def test_ioports() -> None:
    r = h.run_vmkit(h.guest("ioports"))
    h.assert_test_passed(r, "ioports")
    assert r.info.get("unknown_ports") == "ok", r.describe()


def test_cpl3() -> None:
    r = h.run_vmkit(h.guest("cpl3"))
    h.assert_test_passed(r, "cpl3")
    assert int(r.info["cpl3_loop_tsc"]) > 0, r.describe()
    assert r.info.get("cpl3_out") == "cpl3", r.describe()


def test_emulated_instructions():
    """fninit, fnstsw, fwait, ldmxcsr/stmxcsr (+#GP), fxsave/fxrstor, popcnt, int3 at CPL0."""
    h.require_vmkit()
    r = h.run_vmkit(h.guest("emulate"))
    assert r.returncode == 0, r.describe()
    if ("emulate", "FAIL", "fldcw") in r.tests and Path("/sys/module/kvm_pvm").exists() \
            and "AuthenticAMD" in Path("/proc/cpuinfo").read_text():
        # Known and measured (2026-11-23, AMD EPYC PVM host): fninit/fnstcw run natively
        # there and only fldcw exits; the monitor's KVM_SET_FPU reads back but never
        # reaches the live FPU, so the guest's next fnstcw sees the old FCW.
        pytest.xfail("PVM on AMD: an emulated fldcw does not reach the guest's live FPU")
    assert ("emulate", "PASS", "") in r.tests, r.describe()


def test_instruction_nobody_completes():
    """On a PVM host, cmpxchg16b at CPL0 stops the VM: exit 1, RIP and bytes, registers."""
    h.require_vmkit()
    r = h.run_vmkit(h.guest("badinsn"))
    if not os.path.exists("/sys/module/kvm_pvm"):
        assert r.returncode == 0 and ("badinsn", "PASS", "") in r.tests, r.describe()
        return
    assert r.returncode == 1, r.describe()
    errs = [l for l in r.stderr.splitlines() if "emulation failure" in l]
    assert len(errs) == 1, r.describe()
    assert "RIP 0x" in errs[0] and "f0 48 0f c7" in errs[0], r.describe()
    assert "RIP=" in r.stderr, "register dump expected" + r.describe()


def test_debug_exit_on_first_instruction():
    """--debug-exit: the guest's first instruction (out to 0xf4) ends the monitor, (AL<<1)|1."""
    h.require_vmkit()
    r = h.run_vmkit(h.guest("firstinsn"), extra_args=["--debug-exit"])
    assert r.returncode == 1, r.describe()   # AL is 0 at vmkit's PVH entry
    assert "VMKIT-" not in r.stdout, r.describe()
    r = h.run_vmkit(h.guest("firstinsn"), extra_args=["--debug-exit=0x501"])
    assert r.returncode == 0 and ("firstinsn", "PASS", "") in r.tests, r.describe()


def test_pit_created_on_first_access():
    """The PIT's first access (a control word) creates KVM's PIT and is replayed into it:
    a 20 ms one-shot set up right then takes as long as one set up later."""
    h.require_vmkit()
    # Timing: on a loaded host one of the two may be stretched by the vCPU being
    # descheduled, so up to three runs; a wrong replay is wrong every time.
    for attempt in range(3):
        r = h.run_vmkit(h.guest("pit"))
        assert r.returncode == 0 and ("pit", "PASS", "") in r.tests, r.describe()
        first, second = int(r.info["first_tsc"]), int(r.info["second_tsc"])
        if 0.8 < first / second < 1.25:
            break
    assert 0.8 < first / second < 1.25, f"first one-shot {first} vs {second} TSC cycles" + r.describe()
