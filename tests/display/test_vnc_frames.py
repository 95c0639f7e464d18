# SPDX-License-Identifier: GPL-2.0-or-later
"""A guest that redraws the whole screen all the time, seen through VNC (issue 13).

build/tests/guest/vgafill.elf sets VBE 1024x768x32 on the standard VGA and
rewrites every pixel of its framebuffer frame after frame at CPL3; with
"tear" on its command line frame f's pixel (x, y) is red f & 255, green
(x + f) & 255, blue y & 255. Under vmkit run --vga std --vnc, a viewer
(rfb_client.py, the one bench/vnc.py measures with) must get the mode by
DesktopSize and then full-screen updates showing new pictures, every pixel
of them a colour one of the guest's frames wrote at its place: a pixel
whose bytes come from two frames (a renderer reading VRAM byte by byte as
the guest rewrites it) has green - red != x. A behaviour test, not a speed
test: bench/vnc.py measures. Needs /dev/kvm.
"""
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "guest"))
sys.path.insert(0, str(REPO / "tests" / "display"))
from vmkit_harness import VMKIT, guest, require_vmkit  # noqa: E402
from rfb_client import DESKTOP_SIZE, RAW, ZRLE, RFBClient, free_display  # noqa: E402

WIDTH, HEIGHT = 1024, 768
PICTURES = 4            # new full-screen pictures, at least
# Seconds of pictures checked for torn pixels: with a renderer that reads a
# pixel byte by byte, 7 runs in 10 found one (some 150 pictures a run).
WATCH = 8.0
BUSY_WATCH = 4.0        # seconds of ZRLE updates
REFRESH_HZ = 30         # DISPLAY_REFRESH_HZ

# The picture as one integer of 32-bit lanes (B, G, R, 0 from the low byte),
# so a whole picture is checked in a few big-integer operations.
LANES = int.from_bytes(b"\1\0\0\0" * WIDTH * HEIGHT, "little")
BLUE, GREEN, PAD = 0xff * LANES, 0xff00 * LANES, 0xff000000 * LANES
WANT_BLUE = int.from_bytes(b"".join(bytes([y & 255, 0, 0, 0]) * WIDTH for y in range(HEIGHT)),
                           "little")
# green - red of every pixel: x & 255, in green's byte.
WANT_DIFF = int.from_bytes(b"".join(bytes([0, x & 255, 0, 0]) for x in range(WIDTH)) * HEIGHT,
                           "little")


def bad_pixels(lanes: int, limit: int = 5) -> tuple[int, str]:
    """How many lanes are not 0 in green's byte, and where the first few are."""
    b = lanes.to_bytes(WIDTH * HEIGHT * 4, "little")
    bad = [i // 4 for i in range(1, len(b), 4) if b[i]]
    return len(bad), ", ".join(f"({i % WIDTH}, {i // WIDTH})" for i in bad[:limit])


def frames_in(fb: bytes) -> set[int]:
    """The guest's frame numbers (mod 256) the picture's pixels come from; fails on
    a pixel that is not a colour one frame wrote there: blue y & 255, green - red
    x & 255 (a pixel of two frames' bytes has not). A picture may hold several
    frames (the guest draws while it is read)."""
    p = int.from_bytes(fb, "little")
    if p & BLUE != WANT_BLUE:
        n, where = bad_pixels(((p & BLUE) ^ WANT_BLUE) << 8)
        pytest.fail(f"{n} pixels whose blue is not y & 255, at {where}")
    assert p & PAD == 0, "padding bytes are not 0"
    # green + 256 - red in each lane: no borrow crosses into the next lane.
    diff = (((p & GREEN) | (0x10000 * LANES)) - ((p >> 8) & GREEN)) & GREEN
    if diff != WANT_DIFF:
        n, where = bad_pixels(diff ^ WANT_DIFF)
        pytest.fail(f"{n} torn pixels (green - red is not x: bytes of two frames), "
                    f"at {where}")
    return set(fb[2::4])


@contextlib.contextmanager
def vgafill(tmp_path, env=None):
    """vmkit running vgafill (its tear pattern) with a VNC server; yields (process,
    display number, console log)."""
    require_vmkit()
    n = free_display()
    if n is None:
        pytest.skip("no free VNC port")
    log = tmp_path / "console.log"
    with open(log, "wb") as out:
        p = subprocess.Popen([str(VMKIT), "run", "--kernel", str(guest("vgafill")),
                              "--cmdline", "tear", "--vga", "std",
                              "--vnc", f"127.0.0.1:{n}", "--memory", "128M",
                              "--console", "stdio"],
                             stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                             env=env)
    try:
        yield p, n, log
    finally:
        p.kill()
        p.wait()


def wait_drawing(c: RFBClient, log: Path, end: float) -> None:
    """Take updates until the mode is set and the guest reported its first frames
    (the mode set cleared the screen, and the first frame takes a while)."""
    while time.monotonic() < end:
        u = c.read_update()
        c.request(incremental=not u.resized)
        if (c.width, c.height) == (WIDTH, HEIGHT) and b"VMKIT-INFO fps=" in log.read_bytes():
            return
    pytest.fail(f"no frames drawn at {c.width}x{c.height}\n{log.read_text(errors='replace')}")


def test_vnc_full_screen_updates(tmp_path):
    with vgafill(tmp_path) as (p, n, log):
        with RFBClient.connect("127.0.0.1", 5900 + n, decode=True, wait=30) as c:
            c.set_pixel_format()
            c.set_encodings([RAW, DESKTOP_SIZE])
            c.request(incremental=False)
            # Seconds here; the deadline is for slow hosts (a KVM under emulation).
            wait_drawing(c, log, time.monotonic() + 30)
            seen, frames = set(), set()
            watch, end = time.monotonic() + WATCH, time.monotonic() + 30
            while time.monotonic() < end and (time.monotonic() < watch or len(seen) < PICTURES):
                u = c.read_update()
                c.request(incremental=not u.resized)
                if (c.width, c.height) != (WIDTH, HEIGHT) or u.pixels != WIDTH * HEIGHT:
                    continue
                # A server may send a picture again (vmkit's helper can read the
                # next refresh's pixels before its damage): new ones only.
                pic = bytes(c.fb)
                if hash(pic) not in seen:
                    seen.add(hash(pic))
                    frames |= frames_in(pic)
        text = log.read_bytes().decode(errors="replace")
        assert len(seen) >= PICTURES, \
            f"{len(seen)} new full-screen pictures at {c.width}x{c.height}\n{text}"
        assert "VMKIT-INFO pattern=tear" in text, text
        assert "VMKIT-INFO mode=1024x768x32" in text, text
        assert "VMKIT-TEST vgafill FAIL" not in text, text
        assert len(frames) >= 3, f"the updates show frames {sorted(frames)} only"


LINK_RE = re.compile(r"vnc: (\d+) messages to vmkit-vnc, (\d+) did not fit")


def test_vnc_damage_while_helper_busy(tmp_path):
    """ZRLE keeps the helper encoding (and not reading its socket) most of the time;
    the monitor must still send about one damage message a refresh for a full-screen
    change (not one per row of tiles), and almost none may find the socket full.
    VMKIT_VNC_DEBUG makes the monitor count them when it stops."""
    env = dict(os.environ, VMKIT_VNC_DEBUG="1")
    with vgafill(tmp_path, env) as (p, n, log):
        with RFBClient.connect("127.0.0.1", 5900 + n, wait=30) as c:
            start = time.monotonic()
            c.set_pixel_format()
            c.set_encodings([ZRLE, DESKTOP_SIZE])
            c.request(incremental=False)
            wait_drawing(c, log, time.monotonic() + 30)
            updates, watch = 0, time.monotonic() + BUSY_WATCH
            while time.monotonic() < watch:
                u = c.read_update()
                c.request(incremental=not u.resized)
                updates += 1
            p.send_signal(signal.SIGTERM)       # a clean stop: the link reports
            p.wait(timeout=30)
            elapsed = time.monotonic() - start
        text = log.read_bytes().decode(errors="replace")
        m = LINK_RE.search(text)
        assert m, text[-4000:]
        sent, refused = int(m[1]), int(m[2])
        assert updates >= 3, f"{updates} ZRLE updates in {BUSY_WATCH} s"
        refreshes = REFRESH_HZ * elapsed + 5
        assert sent + refused <= 2 * refreshes, \
            f"{sent} messages sent and {refused} refused in {elapsed:.1f} s " \
            f"(at most {REFRESH_HZ} refreshes a second)"
        assert refused <= max(3, sent // 20), \
            f"{refused} messages found the helper's socket full ({sent} sent)"
