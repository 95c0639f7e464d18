# SPDX-License-Identifier: GPL-2.0-or-later
"""A guest that redraws the whole screen all the time, seen through VNC (issue 13).

build/tests/guest/vgafill.elf sets VBE 1024x768x32 on the standard VGA and
rewrites every pixel of its framebuffer frame after frame at CPL3; frame f's
pixel (x, y) is red f & 255, green (x + f) & 255, blue y & 255. Under vmkit
run --vga std --vnc, a viewer (rfb_client.py, the one bench/vnc.py measures
with) must get the mode by DesktopSize and then full-screen updates, each
picture different from the one before and every pixel of it one of the
guest's frames. A behaviour test, not a speed test: bench/vnc.py measures.
Needs /dev/kvm.
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
# Green minus red is x & 255 in every frame: the row of green for red = r.
GREEN = [bytes((x + r) & 255 for x in range(WIDTH)) for r in range(256)]


def frames_in(fb: bytearray) -> set[int]:
    """The guest's frame numbers (mod 256) the picture's pixels come from; fails on
    a pixel no frame has. A picture may be torn (the guest draws while it is read),
    so each row is checked run by run of one red value."""
    seen = set()
    for y in range(HEIGHT):
        row = memoryview(fb)[y * WIDTH * 4:(y + 1) * WIDTH * 4]
        blue, green, red = bytes(row[0::4]), bytes(row[1::4]), bytes(row[2::4])
        assert blue == bytes([y & 255]) * WIDTH, f"row {y}: blue is not y & 255"
        x = 0
        while x < WIDTH:
            r = red[x]
            end = WIDTH - len(red[x:].lstrip(bytes([r])))
            assert green[x:end] == GREEN[r][x:end], \
                f"row {y}, x {x}..{end}: green is not (x + {r}) & 255"
            seen.add(r)
            x = end
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
        with RFBClient.connect("127.0.0.1", 5900 + n, decode=True, wait=10) as c:
            c.set_pixel_format()
            c.set_encodings([RAW, DESKTOP_SIZE])
            c.request(incremental=False)
            pictures, drawn, end = [], False, time.monotonic() + 10
            while len(pictures) < 4 and time.monotonic() < end:
                u = c.read_update()
                full = (c.width, c.height) == (WIDTH, HEIGHT)
                c.request(incremental=not u.resized)
                # From the guest's first report on: frames drawn whole (the
                # mode set cleared the screen, and the first frame takes a while).
                drawn = drawn or b"VMKIT-INFO fps=" in log.read_bytes()
                if full and drawn and u.pixels == WIDTH * HEIGHT:
                    pictures.append(bytes(c.fb))
            text = log.read_bytes().decode(errors="replace")
            assert len(pictures) == 4, \
                f"{len(pictures)} full-screen updates at {c.width}x{c.height}\n{text}"
        assert "VMKIT-INFO mode=1024x768x32" in text, text
        assert "VMKIT-TEST vgafill FAIL" not in text, text
        frames = set()
        for i, pic in enumerate(pictures):
            if i:
                assert pic != pictures[i - 1], f"update {i} shows the same picture as {i - 1}"
            frames |= frames_in(bytearray(pic))
        assert len(frames) >= 3, f"the updates show frames {sorted(frames)} only"
    finally:
        p.kill()
        p.wait()
