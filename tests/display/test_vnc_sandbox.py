# SPDX-License-Identifier: GPL-2.0-or-later
"""vmkit-vnc's sandbox (issue 16), as vmkit-slirp's: what /proc shows of the running
helper while clients use it, the self-test hook killing it with the call named,
--sandbox=off, and a bad --sandbox value. test_display.py's VNC scenarios (password,
resize, keymaps, hostile clients, unix socket, WebSocket) run with the sandbox on, the
default, so they prove the allow-list is complete for them."""
import os
import shutil
import socket
import struct
import subprocess
from pathlib import Path

import pytest

from test_display import (BUILD, ENV, FONT, HARNESS, VMKIT, free_display, need, ocr,
                          passwd_file, rfb_session, served, snapshot)  # noqa: F401

HELPER = BUILD / "vmkit-vnc"
VNC_MSG_ERROR = 5            # vmm/display/vnc-proto.h


def status(pid):
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        out[k] = v.strip()
    return out


def helper_of(parent):
    """The vmkit-vnc child of the harness."""
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if ppid == parent and comm == "vmkit-vnc":
            return int(d.name)
    raise AssertionError(f"no vmkit-vnc child of {parent}")


def cmdline(pid):
    return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")


def unprivileged_uid():
    user = "vmkit" if subprocess.run(["id", "vmkit"], capture_output=True).returncode == 0 \
        else "nobody"
    return int(subprocess.run(["id", "-u", user], capture_output=True, text=True).stdout)


def test_running_helper_is_sandboxed(served, tmp_path):
    n = free_display()
    s = served("text", f"127.0.0.1:{n},password=on")
    pid = helper_of(s.p.pid)
    assert b"--sandbox=on" in cmdline(pid)
    # It serves clients under the filter: authentication, a whole frame, input.
    s.cmd("password s3cret")
    r = snapshot(n, tmp_path / "snap.jpg", passwd_file(tmp_path, "s3cret"))
    assert r.returncode == 0, r.stderr
    assert "TEXT MODE WORKS" in ocr(tmp_path / "snap.jpg")
    assert snapshot(n, tmp_path / "no.jpg", passwd_file(tmp_path, "wrong")).returncode != 0
    st = status(pid)
    assert st["Seccomp"] == "2"
    assert st["NoNewPrivs"] == "1"
    assert st["CapEff"] == st["CapPrm"] == st["CapInh"] == st["CapAmb"] == "0" * 16
    if os.geteuid() == 0:
        assert st["CapBnd"] == "0" * 16
        assert st["Uid"].split() == [str(unprivileged_uid())] * 4
        assert st["Groups"] == ""
        # Its root: an empty private tmpfs, in another mount namespace than ours.
        root = Path(f"/proc/{pid}/root")
        assert os.listdir(root) == []
        assert os.stat(root).st_ino != os.stat("/").st_ino
        assert os.readlink(f"/proc/{pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
    assert s.p.poll() is None
    assert os.path.exists(f"/proc/{pid}")        # still alive after all of it


def test_sandboxed_unix_socket_and_resize(served, tmp_path):
    sock = tmp_path / "vnc.sock"
    s = served("text", f"unix:{sock}")
    pid = helper_of(s.p.pid)
    c = rfb_session(path=sock)
    s.cmd("vbe")                                 # a resize: a new framebuffer, memory
    c.sendall(struct.pack(">BBHHHH", 3, 0, 0, 0, 640, 480))
    c.recv(4096)
    c.close()
    assert status(pid)["Seccomp"] == "2"
    assert os.path.exists(f"/proc/{pid}")


def test_sandbox_off(served, monkeypatch):
    monkeypatch.setitem(ENV, "HARNESS_VNC_SANDBOX", "off")
    n = free_display()
    s = served("text", f"127.0.0.1:{n}")
    pid = helper_of(s.p.pid)
    assert b"--sandbox=off" in cmdline(pid)
    st = status(pid)
    assert st["Seccomp"] == "0" and st["NoNewPrivs"] == "0"
    assert os.stat(f"/proc/{pid}/root").st_ino == os.stat("/").st_ino
    if os.geteuid() == 0:
        assert st["Uid"].split()[0] == "0"


def test_selftest_dies_naming_the_call():
    """VMKIT_SANDBOX_SELFTEST=vnc: a forbidden ptrace right after the install kills it."""
    need(HARNESS)
    need(FONT)
    env = dict(ENV, VMKIT_SANDBOX_SELFTEST="vnc")
    r = subprocess.run([str(HARNESS), "serve", "text", str(FONT), "--vnc",
                        f"127.0.0.1:{free_display()}"], capture_output=True, text=True, env=env,
                       stdin=subprocess.DEVNULL, timeout=30)
    assert r.returncode == 1
    assert "vmkit: sandbox: vnc: forbidden system call ptrace (101)\n" in r.stderr, r.stderr
    assert "vmkit-vnc: exited before it listened" in r.stderr, r.stderr
    # A self-test for another kind leaves the helper alone.
    env = dict(ENV, VMKIT_SANDBOX_SELFTEST="slirp")
    p = subprocess.Popen([str(HARNESS), "serve", "text", str(FONT), "--vnc",
                          f"127.0.0.1:{free_display()}"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert p.stdout.readline() == "ready\n"
    p.stdin.close()
    assert p.wait(10) == 0


def helper_error(args):
    """Run vmkit-vnc with the monitor's socket on fd 3; the ERROR message it sends."""
    need(HELPER)
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    p = subprocess.run([str(HELPER)] + args, stdin=subprocess.DEVNULL, capture_output=True,
                       preexec_fn=lambda: os.dup2(b.fileno(), 3), pass_fds=[b.fileno(), 3],
                       timeout=10)
    b.close()
    msg = a.recv(1024)
    a.close()
    assert struct.unpack("<I", msg[:4])[0] == VNC_MSG_ERROR
    return p.returncode, msg[20:].split(b"\0")[0].decode()


def test_bad_sandbox_option():
    rc, text = helper_error(["--unix=/nonexistent/x", "--sandbox=maybe"])
    assert rc == 1
    assert text == "--sandbox=maybe: expected on or off"


def test_vmkit_run_passes_sandbox_to_helper(tmp_path):
    """vmkit run --sandbox off reaches vmkit-vnc as --sandbox=off (on by default).

    vmkit run starts the helper after it found /dev/kvm: skips without it.
    """
    if not os.path.exists("/dev/kvm"):
        pytest.skip("no /dev/kvm")
    if not VMKIT.is_file() or not shutil.which("strace"):
        pytest.skip("needs build/vmkit and strace")

    def helper_argv(args):
        log = tmp_path / "trace"
        subprocess.run(["strace", "-f", "-qq", "-s", "200", "-e", "trace=execve", "-o", str(log),
                        "timeout", "5", str(VMKIT), "run", "--kernel", "/etc/hostname",
                        "--vnc", f"unix:{tmp_path / 'v.sock'}"] + args,
                       capture_output=True, timeout=60, env=ENV)
        lines = [ln for ln in log.read_text().splitlines() if "execve(" in ln and "vmkit-vnc" in ln]
        assert lines, "vmkit run did not start vmkit-vnc"
        return lines[0]
    assert '"--sandbox=on"' in helper_argv([])
    assert '"--sandbox=off"' in helper_argv(["--sandbox", "off"])
