# SPDX-License-Identifier: GPL-2.0-or-later
"""Shared helpers for tests that boot guests under build/vmkit.

    import vmkit_harness as h

    h.require_vmkit()                       # pytest.skip without /dev/kvm or build/vmkit
    r = h.run_vmkit(h.guest("hello"), cpus=2, memory="128M")
    h.assert_test_passed(r, "hello")
    r.info["cpus"]                          # VMKIT-INFO key=value lines, last one wins

Paths: the repository root is found from this file's location; the build
directory is <root>/build unless VMKIT_BUILD_DIR says otherwise, and the
monitor is <build>/vmkit unless VMKIT_BIN says otherwise.

Tests in another directory can import this module after
sys.path.insert(0, str(<root> / "tests" / "guest")).
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = Path(os.environ.get("VMKIT_BUILD_DIR", REPO_ROOT / "build"))
VMKIT = Path(os.environ.get("VMKIT_BIN", BUILD_DIR / "vmkit"))
GUEST_DIR = BUILD_DIR / "tests" / "guest"

DEFAULT_TIMEOUT = 30.0

_INFO_RE = re.compile(r"VMKIT-INFO ([^=\s]+)=(.*)")
_PAIR_RE = re.compile(r"[^=\s]+=\S*")
_TEST_RE = re.compile(r"VMKIT-TEST (\S+) (PASS|FAIL)(?: (.*))?")


def kvm_usable() -> bool:
    """True when /dev/kvm can be opened read-write."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


def require_vmkit() -> None:
    """Skip the calling test unless /dev/kvm is usable and the monitor is built."""
    if not kvm_usable():
        pytest.skip("needs /dev/kvm")
    if not VMKIT.is_file():
        pytest.skip(f"{VMKIT} does not exist: build it first (make build)")


def pvm_host() -> bool:
    """True on a PVM host (kvm_pvm): guest CPL0 code runs emulated there."""
    return Path("/sys/module/kvm_pvm").exists()


def require_fast_firmware(what: str) -> None:
    """Skip a firmware that runs too long at CPL0 on a PVM host, unless
    VMKIT_SLOW=1 (make check-slow). OVMF is one: its SEC phase alone, LZMA
    decompression of its firmware volumes, is still running after minutes
    there, every instruction emulated."""
    if pvm_host() and not os.environ.get("VMKIT_SLOW"):
        pytest.skip(f"{what} runs at CPL0 for too long on this PVM host "
                    "(emulated): make check-slow runs it")


def require_host_cpus(n: int) -> None:
    """Skip unless the host has n CPUs: vmkit refuses more vCPUs than that, as a
    guest's spinlocks would wait on vCPUs that cannot run (the one-CPU machine
    of scripts/kvm-under-tcg.sh -c 1 is such a host)."""
    if (os.cpu_count() or 1) < n:
        pytest.skip(f"host has fewer than {n} CPUs")


def guest(name: str) -> Path:
    """Path of a test guest, build/tests/guest/<name>.elf; fails if it is missing."""
    p = GUEST_DIR / f"{name}.elf"
    if not p.is_file():
        pytest.fail(f"test guest {p} is missing: it is built with vmkit (ninja -C {BUILD_DIR})")
    return p


@dataclass
class Result:
    argv: list[str]
    returncode: Optional[int]  # None if it had to be killed
    stdout: str
    stderr: str
    duration: float
    timed_out: bool = False
    stopped: bool = False  # stop_when matched and the monitor was told to quit
    lines: list[str] = field(init=False)
    info: dict[str, str] = field(init=False)
    info_all: list[tuple[str, str]] = field(init=False)
    tests: list[tuple[str, str, str]] = field(init=False)  # (name, PASS|FAIL, reason)

    def __post_init__(self) -> None:
        self.lines = [l.rstrip("\r") for l in self.stdout.splitlines()]
        self.info_all = parse_info(self.lines)
        self.info = dict(self.info_all)
        self.tests = parse_tests(self.lines)

    def count(self, line: str) -> int:
        """How many stdout lines contain this text."""
        return sum(1 for l in self.lines if line in l)

    def describe(self) -> str:
        """Everything useful for an assertion message."""
        return (
            f"\n$ {' '.join(self.argv)}\n"
            f"exit code: {self.returncode}"
            f"{' (timed out)' if self.timed_out else ''}"
            f"{' (stopped by the test)' if self.stopped else ''}, {self.duration:.2f} s\n"
            f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"
        )


def parse_info(lines: Iterable[str]) -> list[tuple[str, str]]:
    """All VMKIT-INFO key=value pairs, in order (text before the tag is ignored).

    The tiny guests print one pair a line, whose value may hold spaces; the
    Linux guest's /init prints several on one line ("cpus=1 mem_kb=... date=...").
    A line is taken as several pairs when every word of it is a key=value."""
    out = []
    for l in lines:
        m = _INFO_RE.search(l)
        if not m:
            continue
        words = f"{m.group(1)}={m.group(2)}".split()
        if len(words) > 1 and all(_PAIR_RE.fullmatch(w) for w in words):
            out.extend(tuple(w.split("=", 1)) for w in words)
        else:
            out.append((m.group(1), m.group(2).strip()))
    return out


def parse_tests(lines: Iterable[str]) -> list[tuple[str, str, str]]:
    """All VMKIT-TEST lines as (name, PASS|FAIL, reason)."""
    out = []
    for l in lines:
        m = _TEST_RE.search(l)
        if m:
            out.append((m.group(1), m.group(2), (m.group(3) or "").strip()))
    return out


def vmkit_argv(
    kernel: Path | str,
    *,
    cpus: Optional[int] = None,
    memory: Optional[str] = None,
    no_reboot: bool = False,
    rtc: Optional[str] = None,
    console: str = "stdio",
    extra_args: Iterable[str] = (),
) -> list[str]:
    argv = [str(VMKIT), "run", "--kernel", str(kernel), "--console", console]
    if cpus is not None:
        argv += ["--cpus", str(cpus)]
    if memory is not None:
        argv += ["--memory", str(memory)]
    if rtc is not None:
        argv += ["--rtc", rtc]
    if no_reboot:
        argv.append("--no-reboot")
    argv += list(extra_args)
    return argv


def run_vmkit(
    kernel: Path | str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    stop_when: Optional[Callable[[str], bool]] = None,
    **options,
) -> Result:
    """Run `vmkit run` on a kernel and collect its output.

    The monitor runs until it exits, or until `timeout` seconds have passed
    (then it is killed and the result has timed_out set), or until
    stop_when(stdout so far) returns True (then it gets SIGTERM, and SIGKILL
    if it does not quit within 5 s; the result has stopped set).
    """
    argv = vmkit_argv(kernel, **options)
    return run_argv(argv, timeout=timeout, stop_when=stop_when)


def run_argv(
    argv: list[str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    stop_when: Optional[Callable[[str], bool]] = None,
) -> Result:
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    out = bytearray()
    err = bytearray()
    timed_out = stopped = False
    sel = selectors.DefaultSelector()
    assert proc.stdout is not None and proc.stderr is not None
    sel.register(proc.stdout, selectors.EVENT_READ, out)
    sel.register(proc.stderr, selectors.EVENT_READ, err)
    deadline = start + timeout
    kill_at: Optional[float] = None
    next_idle_check = start
    try:
        while sel.get_map():
            now = time.monotonic()
            if kill_at is not None and now >= kill_at:
                proc.kill()
                kill_at = None
            if not timed_out and not stopped and now >= deadline:
                timed_out = True
                proc.kill()
            wait = 0.1
            if kill_at is not None:
                wait = min(wait, kill_at - now)
            if not timed_out and not stopped:
                wait = min(wait, deadline - now)
            ready = sel.select(timeout=max(0.0, wait))
            for key, _ in ready:
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                key.data.extend(chunk)
            # On new console output, and every half second without any: a condition
            # may look elsewhere (a --debugcon file) while the console is silent.
            if (stop_when is not None and not stopped and not timed_out
                    and (any(k.data is out for k, _ in ready) or now >= next_idle_check)):
                next_idle_check = now + 0.5
                if stop_when(out.decode(errors="replace")):
                    stopped = True
                    proc.send_signal(signal.SIGTERM)
                    kill_at = time.monotonic() + 5.0
            if timed_out and time.monotonic() > deadline + 5.0:
                break  # killed, but something still holds the pipes open
        try:
            rc: Optional[int] = proc.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
    finally:
        sel.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    if timed_out:
        rc = None
    return Result(argv=argv, returncode=rc, stdout=out.decode(errors="replace"),
                  stderr=err.decode(errors="replace"), duration=time.monotonic() - start,
                  timed_out=timed_out, stopped=stopped)


def assert_test_passed(r: Result, name: str, returncode: Optional[int] = 0) -> None:
    """The guest reported `VMKIT-TEST <name> PASS`, no FAIL, and the monitor exited so."""
    fails = [t for t in r.tests if t[1] == "FAIL"]
    assert not fails, f"guest reported FAIL: {fails}{r.describe()}"
    assert (name, "PASS", "") in r.tests, f"no 'VMKIT-TEST {name} PASS' line{r.describe()}"
    assert not r.timed_out, f"monitor did not exit in time{r.describe()}"
    if returncode is not None:
        assert r.returncode == returncode, f"exit code {r.returncode}, want {returncode}{r.describe()}"
