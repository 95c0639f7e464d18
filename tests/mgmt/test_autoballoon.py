# SPDX-License-Identifier: GPL-2.0-or-later
"""Automatic ballooning by the supervisor of a managed VM (lib/mgmt/vm-autoballoon.c):
with `balloon: MIN` below `memory: MAX`, the target follows how full the host is
against the goal in $VMKIT_HOME/autoballoon (`target: PERCENT`, `interval:
SECONDS`). The goal is driven from the tests (1% = the host is always over it,
100% = always room) so nothing has to fill the host's memory.

The main scenario boots the real Linux kernel: its own virtio_balloon driver
inflates to MIN and deflates back to MAX. Guest user space cannot run on PVM
hosts, so the kernel is kept alive without one: no initramfs and `rootdelay`,
so it sleeps in the kernel waiting for a root device, with its drivers up."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest

import vmkit_harness as h
from qmp_client import QMP

pytestmark = pytest.mark.usefixtures("kvm")
MiB = 1 << 20
LINUX_TIMEOUT = 300.0   # boot to the driver (~50 s here) plus 128 MiB at a few MiB/s


def knobs(vk, text: str) -> None:
    vk.home.mkdir(parents=True, exist_ok=True)
    p = vk.home / "autoballoon"
    tmp = p.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(p)


def balloon(vk, name: str) -> dict:
    return json.loads(vk("balloon", name).stdout)


def wait_actual(vk, name: str, mib: int, timeout: float) -> float:
    """Seconds until query-balloon's actual is mib."""
    t0 = time.monotonic()
    b = {}
    while time.monotonic() - t0 < timeout:
        b = balloon(vk, name)
        if b["actual"] == mib * MiB:
            return time.monotonic() - t0
        time.sleep(0.25)
    raise AssertionError(f"{name}: actual did not reach {mib} MiB in {timeout:.0f} s: {b}\n"
                         f"log:\n{log(vk, name)}")


def follow_actual(q, vk, name: str, mib: int, timeout: float) -> float:
    """Seconds until a BALLOON_CHANGE event says actual is mib. Events, not
    query-balloon: each query asks the guest for stats, which slows a Linux
    guest's kernel down on PVM hosts."""
    t0 = time.monotonic()
    actual = None
    while actual != mib * MiB:
        left = timeout - (time.monotonic() - t0)
        if left <= 0:
            raise AssertionError(f"{name}: actual did not reach {mib} MiB in {timeout:.0f} s: "
                                 f"last {actual}\nlog:\n{log(vk, name)}")
        try:
            actual = q.wait_event("BALLOON_CHANGE", timeout=left)["data"]["actual"]
        except TimeoutError:
            continue
    return time.monotonic() - t0


def log(vk, name: str) -> str:
    return (vk.home / "vms" / name / "run" / "log").read_text()


def ab_lines(vk, name: str) -> list[str]:
    return [l for l in log(vk, name).splitlines() if "autoballoon" in l]


def show_autoballoon(vk, name: str) -> str | None:
    for line in vk("show", name).stdout.splitlines():
        if line.startswith("autoballoon: "):
            return line[len("autoballoon: "):]
    return None


def tiny(vk, memory: int, balloon_mib: int | None, kernel: str = "virtio_balloon") -> str:
    n = vk.name("ab")
    args = ["create", "--name", n, "--kernel", str(h.guest(kernel)), "--memory", str(memory)]
    if balloon_mib is not None:
        args += ["--balloon", str(balloon_mib)]
    vk(*args)
    vk("start", n, timeout=30)
    return n


def supervisor_cpu_ticks(vk, name: str) -> int:
    fields = (vk.home / "vms" / name / "run" / "pid").read_text().split()
    stat = Path(f"/proc/{fields[2]}/stat").read_text()
    rest = stat[stat.rindex(")") + 2:].split()
    return int(rest[11]) + int(rest[12])   # utime + stime


def test_linux_guest_inflates_to_min_and_back(vk):
    kernel = h.BUILD_DIR / "guest" / "kernel"
    if not kernel.is_file():
        pytest.fail(f"{kernel} is missing: build the Linux guest first (make guest)")
    knobs(vk, "# the host is always over a 1% goal\ntarget: 1\ninterval: 0.2\n")
    lin = vk.name("ablin")
    vk("create", "--name", lin, "--kernel", str(kernel), "--memory", "256", "--balloon", "128",
       "--cmdline", "console=ttyS0 root=/dev/vda rootdelay=3600 panic=-1")
    t0 = time.monotonic()
    vk("start", lin, timeout=30)

    # The supervisor sets the target at once; Linux follows when its driver probes.
    for _ in range(40):
        if balloon(vk, lin)["target"] == 128 * MiB:
            break
        time.sleep(0.1)
    assert balloon(vk, lin)["target"] == 128 * MiB, log(vk, lin)
    q = QMP(vk.home / "vms" / lin / "run" / "qmp.sock")
    q.negotiate()
    down = follow_actual(q, vk, lin, 128, LINUX_TIMEOUT)
    boot_and_inflate = time.monotonic() - t0
    lines = ab_lines(vk, lin)
    assert len(lines) == 1, lines
    assert re.search(r"host \d+% used, goal 1%: shrink balloon target 256 -> 128 MiB "
                     r"\(actual 256, min 128, max 256\)", lines[0]), lines
    assert show_autoballoon(vk, lin).startswith("on, target 128 MiB (min 128, max 256), "
                                                "host goal 1%, last change shrink to 128 MiB")
    stats = balloon(vk, lin)["guest-stats"]["stats"]
    assert stats["stat-total-memory"] > 0, "not the Linux driver's statistics"

    t1 = time.monotonic()
    knobs(vk, "target: 100\ninterval: 0.2\n")
    up = follow_actual(q, vk, lin, 256, LINUX_TIMEOUT)
    q.close()
    lines = ab_lines(vk, lin)
    assert len(lines) == 2 and "goal 100%: grow balloon target 128 -> 256 MiB" in lines[1], lines
    print(f"\nLinux: start to actual 128 MiB {boot_and_inflate:.1f} s (waited {down:.1f} s after "
          f"start returned); target 100% to actual 256 MiB {up:.1f} s "
          f"({time.monotonic() - t1:.1f} s with the knob write)")

    # Polls every 200 ms for a minute or more, yet the supervisor barely used the CPU.
    ticks = supervisor_cpu_ticks(vk, lin)
    assert ticks < 0.05 * os.sysconf("SC_CLK_TCK") * (time.monotonic() - t0), ticks


def test_vms_without_auto_ballooning_are_not_touched(vk):
    """A balloon equal to memory (a balloon moved only by hand), and no balloon."""
    knobs(vk, "target: 1\ninterval: 0.2\n")
    fixed = tiny(vk, 128, 128)
    plain = tiny(vk, 64, None, kernel="spin")
    time.sleep(1.5)
    b = balloon(vk, fixed)
    assert b["actual"] == b["target"] == 128 * MiB, b
    assert ab_lines(vk, fixed) == [], log(vk, fixed)
    assert show_autoballoon(vk, fixed) == "off (balloon is not below memory)"
    assert ab_lines(vk, plain) == [] and show_autoballoon(vk, plain) is None
    r = vk("balloon", plain, check=False)
    assert r.returncode != 0 and "No balloon device" in r.stderr, r.stderr


def test_bad_knobs_warn_once_and_use_the_default(vk):
    knobs(vk, "target: 1\ninterval: 0.2\n")
    n = tiny(vk, 128, 64)
    wait_actual(vk, n, 64, 30)
    # `vmkit set` of balloon: counts at the next poll.
    vk("set", n, "balloon=96")
    wait_actual(vk, n, 96, 30)
    assert "grow balloon target 64 -> 96 MiB (actual 64, min 96, max 128)" in \
        ab_lines(vk, n)[-1], ab_lines(vk, n)
    vk("set", n, "balloon=64")
    wait_actual(vk, n, 64, 30)
    # A bad target: one warning, the default 80% (the host is far below it: grow).
    knobs(vk, "target: 1x\ninterval: 0.2\n")
    wait_actual(vk, n, 128, 30)
    time.sleep(1.5)                       # several more polls with the same bad file
    warn = [l for l in ab_lines(vk, n) if "warning" in l]
    assert len(warn) == 1, ab_lines(vk, n)
    assert warn[0] == (f"vmkit: autoballoon: warning: {vk.home}/autoballoon: line 1: target: "
                       "'1x' is not a percentage from 1 to 100; using target 80%, "
                       "interval 0.2 s"), warn
    assert "goal 80%: grow balloon target 64 -> 128 MiB" in ab_lines(vk, n)[-1]
    # Another problem is another warning; a good file again is obeyed again.
    knobs(vk, "interval: 0.2\nspeed: 3\n")
    time.sleep(1)
    warn = [l for l in ab_lines(vk, n) if "warning" in l]
    assert len(warn) == 2 and "line 2: unknown key 'speed' (target, interval)" in warn[1], warn
    knobs(vk, "target: 1\ninterval: 0.2\n")
    wait_actual(vk, n, 64, 30)
    # Not a text file.
    (vk.home / "autoballoon").write_bytes(b"target: 100\0\n")
    time.sleep(1)   # warned at the next poll; the one after is 10 s away (the default)
    warn = [l for l in ab_lines(vk, n) if "warning" in l]
    assert len(warn) == 3 and "not a text file; using target 80%, interval 10.0 s" in warn[2], warn
    assert balloon(vk, n)["target"] == 128 * MiB


def test_target_set_by_hand_pauses_until_auto(vk):
    knobs(vk, "target: 100\ninterval: 0.2\n")
    n = tiny(vk, 128, 64)
    vk("balloon", n, "96")
    wait_actual(vk, n, 96, 30)
    # Seen within 5 s (the loop looks at least that often), and left alone.
    t0 = time.monotonic()
    while not any("paused" in l for l in ab_lines(vk, n)) and time.monotonic() - t0 < 8:
        time.sleep(0.1)
    assert any("paused: the balloon target was set to 96 MiB by hand" in l
               for l in ab_lines(vk, n)), ab_lines(vk, n)
    time.sleep(1)
    assert balloon(vk, n)["target"] == 96 * MiB
    assert show_autoballoon(vk, n) == "paused, target 96 MiB set by hand (min 64, max 128)"
    r = vk("balloon", n, "auto")
    assert "auto-ballooning resumes" in r.stdout
    wait_actual(vk, n, 128, 30)
    assert "resumed at target 96 MiB" in ab_lines(vk, n)[-2], ab_lines(vk, n)
    assert "grow balloon target 96 -> 128 MiB" in ab_lines(vk, n)[-1], ab_lines(vk, n)
    # `auto` for a VM without auto-ballooning, or one not running: one line, exit 2 / 1.
    fixed = tiny(vk, 64, 64, kernel="virtio_balloon")
    r = vk("balloon", fixed, "auto", check=False)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no auto-ballooning" in r.stderr
    vk("destroy", n)
    r = vk("balloon", n, "auto", check=False)
    assert r.returncode != 0 and "is not running" in r.stderr, r.stderr


def test_monitor_exit_is_recorded_at_once(vk):
    # The default interval is 10 s: the supervisor must still see the end at once.
    n = tiny(vk, 128, 64)
    os.kill(vk.pid(n), signal.SIGKILL)
    t0 = time.monotonic()
    while vk.state(n) != "crashed" and time.monotonic() - t0 < 5:
        time.sleep(0.05)
    assert vk.state(n) == "crashed"
    assert time.monotonic() - t0 < 2
    assert not (vk.home / "vms" / n / "run" / "pid").exists()
