# SPDX-License-Identifier: GPL-2.0-or-later
"""--console virtio: typed bytes reach the guest through virtio-console's receiveq.

tests/guest/virtio_console.c says hvc_ready through transmitq, reads a line
from receiveq in 8-byte buffers (so a line crosses several, given back as
they come) and says it back. The monitor runs on a pty, as on a terminal;
with --console virtio the UART writes nowhere, so all the guest's lines came
through the device.
"""
import os
import pty
import subprocess

from test_console import read_until, wait_raw
from vmkit_harness import VMKIT, guest, require_vmkit


def run_typing(typed: bytes):
    require_vmkit()
    master, slave = pty.openpty()
    p = subprocess.Popen([str(VMKIT), "run", "--kernel", str(guest("virtio_console")),
                          "--console", "virtio:stdio"],
                         stdin=slave, stdout=slave, stderr=subprocess.PIPE)
    try:
        out = read_until(master, b"hvc_ready=1", 30)
        assert b"VMKIT-INFO hvc_ready=1" in out, out
        assert wait_raw(slave)
        os.write(master, typed)
        out += read_until(master, b"VMKIT-TEST virtio_console", 30)
        assert p.wait(timeout=30) == 0, out
        return out.decode(errors="replace")
    finally:
        if p.poll() is None:
            p.kill()
        os.close(master)
        os.close(slave)


def test_typed_line_reaches_hvc0():
    out = run_typing(b"hello over virtio-console\r")
    assert "VMKIT-INFO hvc_typed=hello over virtio-console" in out, out
    # 25 bytes and the CR in 8-byte receive buffers: four of them.
    assert "VMKIT-INFO hvc_chunks=4" in out, out
    assert "VMKIT-TEST virtio_console PASS" in out, out
    assert "FAIL" not in out, out


def test_typed_ahead_in_pieces():
    """A line of 104 bytes, 13 receive buffers given back and used again: all of it, in order."""
    require_vmkit()
    line = bytes(range(0x41, 0x5b)) * 4  # 104 bytes, A-Z four times
    out = run_typing(line + b"\r")
    assert "VMKIT-INFO hvc_typed=" + line.decode() in out, out
    assert "VMKIT-TEST virtio_console PASS" in out, out
