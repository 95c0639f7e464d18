# SPDX-License-Identifier: GPL-2.0-or-later
"""A guest that redraws the whole screen all the time, seen through VNC (issue 13).

build/tests/guest/vgafill.elf sets VBE 1024x768x32 on the standard VGA and
rewrites every pixel of its framebuffer frame after frame at CPL3; frame f's
pixel (x, y) is red f & 255, green x & 255, blue y & 255. Under vmkit run
--vga std --vnc, a viewer (rfb_client.py, the one bench/vnc.py measures
with) must get the mode by DesktopSize and then full-screen updates showing
new pictures, every pixel of them one of the guest's frames at its place.
A behaviour test, not a speed test: bench/vnc.py measures. Needs /dev/kvm.
"""
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "guest"))
sys.path.insert(0, str(REPO / "tests" / "display"))
from vmkit_harness import VMKIT, guest, require_vmkit  # noqa: E402
from rfb_client import DESKTOP_SIZE, RAW, RFBClient, free_display  # noqa: E402

WIDTH, HEIGHT = 1024, 768
GREEN = bytes(x & 255 for x in range(WIDTH))
PICTURES = 4


def frames_in(fb: bytes) -> set[int]:
    """The guest's frame numbers (mod 256) the picture's pixels come from; fails on
    a pixel that is not where the guest put it. A picture may hold several frames
    (the guest draws while it is read)."""
    seen = set()
    for y in range(HEIGHT):
        row = memoryview(fb)[y * WIDTH * 4:(y + 1) * WIDTH * 4]
        assert row[0::4] == bytes([y & 255]) * WIDTH, f"row {y}: blue is not y & 255"
        assert row[1::4] == GREEN, f"row {y}: green is not x & 255"
        assert row[3::4] == bytes(WIDTH), f"row {y}: padding bytes are not 0"
        seen |= set(row[2::4].tobytes())
    return seen


def test_vnc_full_screen_updates(tmp_path):
    require_vmkit()
    n = free_display()
    if n is None:
        pytest.skip("no free VNC port")
    log = tmp_path / "console.log"
    with open(log, "wb") as out:
        p = subprocess.Popen([str(VMKIT), "run", "--kernel", str(guest("vgafill")),
                              "--vga", "std", "--vnc", f"127.0.0.1:{n}", "--memory", "128M",
                              "--console", "stdio"],
                             stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    try:
        with RFBClient.connect("127.0.0.1", 5900 + n, decode=True, wait=30) as c:
            c.set_pixel_format()
            c.set_encodings([RAW, DESKTOP_SIZE])
            c.request(incremental=False)
            # Seconds here; the deadline is for slow hosts (a KVM under emulation).
            pictures, drawn, end = [], False, time.monotonic() + 30
            while len(pictures) < PICTURES and time.monotonic() < end:
                u = c.read_update()
                c.request(incremental=not u.resized)
                # From the guest's first report on: frames drawn whole (the
                # mode set cleared the screen, and the first frame takes a while).
                drawn = drawn or b"VMKIT-INFO fps=" in log.read_bytes()
                full = (c.width, c.height) == (WIDTH, HEIGHT) and u.pixels == WIDTH * HEIGHT
                # A server may send a picture again (vmkit's helper can read the
                # next refresh's pixels before its damage): new ones only.
                if drawn and full and bytes(c.fb) not in pictures:
                    pictures.append(bytes(c.fb))
            text = log.read_bytes().decode(errors="replace")
            assert len(pictures) == PICTURES, \
                f"{len(pictures)} new full-screen pictures at {c.width}x{c.height}\n{text}"
        assert "VMKIT-INFO mode=1024x768x32" in text, text
        assert "VMKIT-TEST vgafill FAIL" not in text, text
        frames = set()
        for pic in pictures:
            frames |= frames_in(pic)
        assert len(frames) >= 3, f"the updates show frames {sorted(frames)} only"
    finally:
        p.kill()
        p.wait()
