# SPDX-License-Identifier: GPL-2.0-or-later
"""vmkit-slirp's sandbox (issue 16): what /proc shows of the running helper, the self-test
hook, --sandbox=off, and vmkit run passing --sandbox off on. The scenarios of test_slirp.py
run with the sandbox on (the default), so they prove the allow-list is complete for them.
"""
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_slirp import BUILD, HELPER, Helper, helpers  # noqa: E402,F401

VMKIT = BUILD / "vmkit"


def status(pid):
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        out[k] = v.strip()
    return out


def test_running_helper_is_sandboxed(helpers):
    h = helpers().ready()
    h.guest.dhcp()                       # it serves frames under the filter
    st = status(h.proc.pid)
    assert st["Seccomp"] == "2"
    assert st["NoNewPrivs"] == "1"
    assert st["CapEff"] == st["CapPrm"] == st["CapInh"] == st["CapAmb"] == "0" * 16
    if os.geteuid() == 0:
        assert st["CapBnd"] == "0" * 16
        user = "vmkit" if subprocess.run(["id", "vmkit"], capture_output=True).returncode == 0 \
            else "nobody"
        uid = int(subprocess.run(["id", "-u", user], capture_output=True, text=True).stdout)
        assert st["Uid"].split() == [str(uid)] * 4
        assert st["Groups"] == ""
        # Its root: an empty private tmpfs with only /etc/resolv.conf bound in.
        root = Path(f"/proc/{h.proc.pid}/root")
        assert sorted(os.listdir(root)) == ["etc"]
        assert os.listdir(root / "etc") == ["resolv.conf"]
        assert os.stat(root).st_ino != os.stat("/").st_ino
        # Another mount namespace than ours.
        assert os.readlink(f"/proc/{h.proc.pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
    assert h.close() == 0


def test_sandbox_off():
    r, w = os.pipe()
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    p = subprocess.Popen([str(HELPER), f"--fd={b.fileno()}", f"--status-fd={w}", "--sandbox=off"],
                         pass_fds=[b.fileno(), w])
    b.close()
    os.close(w)
    assert os.read(r, 100) == b""        # ready
    os.close(r)
    st = status(p.pid)
    assert st["Seccomp"] == "0" and st["NoNewPrivs"] == "0"
    assert os.stat(f"/proc/{p.pid}/root").st_ino == os.stat("/").st_ino
    if os.geteuid() == 0:
        assert st["Uid"].split()[0] == "0"
    a.close()
    assert p.wait(timeout=5) == 0


def test_bad_sandbox_option():
    p = subprocess.run([str(HELPER), "--sandbox=maybe"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 2
    assert p.stderr == "vmkit-slirp: --sandbox=maybe: expected --sandbox=on or --sandbox=off\n"


def test_selftest_dies_naming_the_call():
    """VMKIT_SANDBOX_SELFTEST=1: a forbidden ptrace right after the install kills it."""
    r, w = os.pipe()
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    p = subprocess.run([str(HELPER), f"--fd={b.fileno()}", f"--status-fd={w}"],
                       pass_fds=[b.fileno(), w], capture_output=True, text=True, timeout=10,
                       env=dict(os.environ, VMKIT_SANDBOX_SELFTEST="1"))
    os.close(w)
    report = os.read(r, 1000).decode()
    os.close(r)
    assert p.returncode == -31, p        # SIGSYS
    assert p.stderr == "vmkit: sandbox: slirp: forbidden system call ptrace (101)\n"
    # The status fd says it too: the monitor reports a helper that died starting.
    assert report == "1 sandbox: slirp: forbidden system call ptrace (101)"
    # A self-test for another kind leaves the helper alone.
    env = dict(os.environ, VMKIT_SANDBOX_SELFTEST="vcpu")
    p = subprocess.Popen([str(HELPER), f"--fd={b.fileno()}"], pass_fds=[b.fileno()], env=env)
    b.close()
    time.sleep(0.3)
    assert p.poll() is None
    a.close()
    assert p.wait(timeout=5) == 0


def helper_argv_from(args):
    """vmkit run under strace: the argv it starts vmkit-slirp with (before /dev/kvm fails)."""
    if not VMKIT.is_file() or not shutil.which("strace"):
        pytest.skip("needs build/vmkit and strace")
    log = Path(f"/tmp/vmkit-sbx-trace.{os.getpid()}")
    try:
        subprocess.run(["strace", "-f", "-qq", "-s", "200", "-e", "trace=execve", "-o", str(log),
                        str(VMKIT), "run", "--kernel", "/etc/hostname", "--net", "user"] + args,
                       capture_output=True, timeout=30)
        lines = [ln for ln in log.read_text().splitlines()
                 if "execve(" in ln and "vmkit-slirp" in ln]
    finally:
        log.unlink(missing_ok=True)
    assert lines, "vmkit run did not start vmkit-slirp"
    return lines[0]


def test_vmkit_run_passes_sandbox_on():
    assert '"--sandbox=on"' in helper_argv_from([])
    assert '"--sandbox=on"' in helper_argv_from(["--sandbox", "on"])


def test_vmkit_run_passes_sandbox_off():
    assert '"--sandbox=off"' in helper_argv_from(["--sandbox", "off"])
