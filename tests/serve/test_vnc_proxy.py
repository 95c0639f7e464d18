# SPDX-License-Identifier: GPL-2.0-or-later
"""noVNC's path through `vmkit serve`: the WebSocket /api/vms/NAME/vnc joined to
the VM's run/vnc.sock (issue 14, with issue 13's display), checked byte for byte.

No KVM here, so the VM's screen is tests/display's vga-harness: the real VGA
driven through its registers (text mode with a Debian console font), with the
real VNC helper (vmkit-vnc) listening on the VM's run/vnc.sock, and recorded
as the VM's monitor process in run/pid, which is what `vmkit serve` reads to
know a VM runs. The RFB session runs through the proxy; the full frame it
delivers (1.1 MB, many WebSocket frames) must equal the harness's screendump.
"""
from __future__ import annotations

import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from wsclient import HandshakeRefused, WebSocket

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "display"))
import test_display as disp  # noqa: E402

# screen: conftest.py's VM 'scr', the display harness as its monitor.


class Stream:
    """The byte stream inside the WebSocket's frames."""

    def __init__(self, ws):
        self.ws, self.buf = ws, b""

    def read(self, n):
        while len(self.buf) < n:
            chunk = self.ws.recv()
            if not chunk:
                raise ConnectionError(f"closed with {len(self.buf)} of {n} bytes")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def test_vnc_refused_without_a_screen(api, serve):
    """A VM that is not running (or has no display) is refused in the handshake."""
    serve.vmkit("create", "--name", "dark", "--kernel", "/etc/hostname")
    try:
        with pytest.raises(HandshakeRefused):
            WebSocket(serve.port, "/api/vms/dark/vnc", api.cookie)
        with pytest.raises(HandshakeRefused):
            WebSocket(serve.port, "/api/vms/scr/vnc", None)    # and never without a ticket
    finally:
        serve.vmkit("delete", "dark")


def test_vnc_frame_through_the_proxy(api, serve, screen, tmp_path):
    ws = WebSocket(serve.port, "/api/vms/scr/vnc", api.cookie)
    st = Stream(ws)
    try:
        assert st.read(12).startswith(b"RFB 003.")
        ws.send(b"RFB 003.008\n")
        n = st.read(1)[0]
        assert 1 in st.read(n)                         # security "None" on the local socket
        ws.send(b"\x01")
        assert st.read(4) == b"\0\0\0\0"
        ws.send(b"\x01")                               # ClientInit: shared
        w, h = struct.unpack(">HH", st.read(4))
        pf = st.read(16)
        st.read(struct.unpack(">I", st.read(4))[0])    # the desktop name
        assert (w, h) == (720, 400)
        # 32 bpp true colour, little endian, red at 16: the bytes are B, G, R, X.
        ws.send(struct.pack(">BxxxBBBBHHHBBBxxx", 0, 32, 24, 0, 1, 255, 255, 255, 16, 8, 0))
        ws.send(struct.pack(">BxHi", 2, 1, 0))         # SetEncodings: raw only
        ws.send(struct.pack(">BBHHHH", 3, 0, 0, 0, w, h))
        got = bytearray(w * h * 3)
        covered = 0
        while covered < w * h:
            t = st.read(1)[0]
            if t != 0:                                 # not a framebuffer update: skip its body
                continue
            st.read(1)
            for _ in range(struct.unpack(">H", st.read(2))[0]):
                x, y, rw, rh, enc = struct.unpack(">HHHHi", st.read(12))
                assert enc == 0, enc
                pix = st.read(rw * rh * 4)
                for row in range(rh):
                    for col in range(rw):
                        o = (row * rw + col) * 4
                        d = ((y + row) * w + x + col) * 3
                        got[d:d + 3] = bytes((pix[o + 2], pix[o + 1], pix[o]))
                covered += rw * rh
        screen.cmd(f"dump {tmp_path / 'want.ppm'}")
        ww, wh, want = disp.read_ppm(tmp_path / "want.ppm")
        assert (ww, wh) == (w, h)
        assert bytes(got) == want, "the frame through the proxy differs from the screendump"
        assert len(set(want)) > 1, "a blank screen proves nothing"
    finally:
        ws.close()
    # The proxy leaves the VM's VNC server serving others.
    time.sleep(0.2)
    assert screen.p.poll() is None
