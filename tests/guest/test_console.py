# SPDX-License-Identifier: GPL-2.0-or-later
"""The stdio console on a terminal: raw mode while the VM runs, Ctrl-A x quits,
the terminal's settings come back on every exit path, typed bytes reach the UART."""
import os
import pty
import select
import signal
import subprocess
import termios
import time

import pytest

from vmkit_harness import VMKIT, guest, require_vmkit


def read_until(fd, needle: bytes, timeout: float) -> bytes:
    buf = b""
    end = time.monotonic() + timeout
    while needle not in buf and time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf


def start_on_pty(kernel):
    master, slave = pty.openpty()
    before = termios.tcgetattr(slave)
    p = subprocess.Popen([str(VMKIT), "run", "--kernel", str(kernel), "--console", "stdio"],
                         stdin=slave, stdout=slave, stderr=subprocess.PIPE)
    return p, master, slave, before


def wait_raw(slave, timeout=10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not termios.tcgetattr(slave)[3] & termios.ICANON:
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("how", ["ctrl-a-x", "sigterm"])
def test_terminal_restored(how):
    require_vmkit()
    p, master, slave, before = start_on_pty(guest("spin"))
    try:
        out = read_until(master, b"spin_counter", 10)
        assert b"spin_counter" in out, out
        assert wait_raw(slave), "the console tty should be in raw mode while the VM runs"
        if how == "ctrl-a-x":
            os.write(master, b"\x01x")
        else:
            p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=10)
        assert rc == 0, p.stderr.read()
        after = termios.tcgetattr(slave)
        assert after == before, "terminal settings not restored"
    finally:
        if p.poll() is None:
            p.kill()
        os.close(master)
        os.close(slave)


def test_ctrl_a_ctrl_a_is_not_quit():
    """Ctrl-A Ctrl-A passes one Ctrl-A to the guest; the VM keeps running."""
    require_vmkit()
    p, master, slave, _ = start_on_pty(guest("spin"))
    try:
        read_until(master, b"spin_counter", 10)
        wait_raw(slave)
        os.write(master, b"\x01\x01abc")
        time.sleep(0.3)
        assert p.poll() is None, "Ctrl-A Ctrl-A must not quit"
        os.write(master, b"\x01x")
        assert p.wait(timeout=10) == 0
    finally:
        if p.poll() is None:
            p.kill()
        os.close(master)
        os.close(slave)


def test_typed_bytes_reach_the_uart():
    require_vmkit()
    p, master, slave, _ = start_on_pty(guest("echo"))
    try:
        out = read_until(master, b"echo_ready", 10)
        assert b"echo_ready" in out, out
        wait_raw(slave)
        os.write(master, b"hello vmkit\r")
        out = read_until(master, b"VMKIT-TEST echo", 10)
        assert b"VMKIT-INFO echo=hello vmkit" in out, out
        assert p.wait(timeout=10) == 0
    finally:
        if p.poll() is None:
            p.kill()
        os.close(master)
        os.close(slave)
