# SPDX-License-Identifier: GPL-2.0-or-later
"""What firmware and a boot loader draw on the VGA, under KVM (issue 13).

SeaBIOS with the standard VGA (its option ROM, Debian's vgabios-stdvga.bin,
through fw_cfg) writes its banner in text mode; with nothing to boot it says
so and waits. Then an isolinux CD (tests/linux/bootmedia.py) whose menu waits
for a key. Each screen is taken with QMP screendump and read back by OCR
(tesseract), and the same picture through a real VNC client (vncsnapshot).
Needs /dev/kvm (make check's kvm-smoke stage runs it on a KVM under emulation).
"""
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "guest"))
sys.path.insert(0, str(REPO / "tests" / "linux"))
from vmkit_harness import VMKIT, require_vmkit  # noqa: E402
from qmp_client import QMP  # noqa: E402
import bootmedia  # noqa: E402
from test_display import free_display, ocr, rfb_session, snapshot  # noqa: E402

SEABIOS = Path("/usr/share/seabios/bios-256k.bin")
VGABIOS = Path("/usr/share/seabios/vgabios-stdvga.bin")
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
# OVMF to its shell: the better part of an hour on a PVM host (every
# instruction of its CPL0 code emulated), seconds on hardware.
UEFI_TIMEOUT = 3600


class Screen:
    """vmkit run --firmware bios (or uefi,...) --vga std with a VNC server and QMP."""

    def __init__(self, tmp: Path, args: list[str], firmware: str = "bios"):
        require_vmkit()
        for f in (SEABIOS, VGABIOS) if firmware == "bios" else (OVMF_CODE, OVMF_VARS):
            if not f.is_file():
                pytest.skip(f"needs {f} (Debian's {'seabios' if firmware == 'bios' else 'ovmf'})")
        self.tmp, self.qmp = tmp, tmp / "qmp.sock"
        self.debugcon = tmp / "debugcon.log"
        self.display = free_display()
        self.out = open(tmp / "console.log", "wb")
        self.p = subprocess.Popen(
            [str(VMKIT), "run", "--firmware", firmware, "--vga", "std",
             "--memory", "256M" if firmware == "bios" else "512M",
             "--console", "stdio", "--qmp", str(self.qmp), "--debugcon", f"file:{self.debugcon}",
             "--vnc", f"127.0.0.1:{self.display}", "--no-reboot", *args],
            stdin=subprocess.DEVNULL, stdout=self.out, stderr=subprocess.STDOUT)

    def wait(self, what: str, where: Path, timeout: float = 300) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if where.exists() and what.encode() in where.read_bytes():
                return
            assert self.p.poll() is None, self.log()
            time.sleep(0.5)
        raise AssertionError(f"no {what!r} in {where.name} in {timeout:.0f} s{self.log()}")

    def qmp_cmd(self, cmd: str, args: dict) -> None:
        with QMP(self.qmp) as q:
            q.negotiate()
            q.cmd(cmd, args)

    def screendump(self, name: str) -> Path:
        out = self.tmp / name
        self.qmp_cmd("screendump", {"filename": str(out), "format": "png"})
        return out

    def log(self) -> str:
        text = (self.tmp / "console.log").read_bytes().decode(errors="replace")[-3000:]
        dbg = self.debugcon.read_bytes().decode(errors="replace")[-2000:] \
            if self.debugcon.exists() else ""
        return f"\n--- console ---\n{text}\n--- debugcon ---\n{dbg}"

    def close(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()
        self.out.close()


@pytest.fixture
def screen(tmp_path):
    made = []

    def make(args, firmware="bios"):
        s = Screen(tmp_path, args, firmware)
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()


def test_seabios_banner_on_screen(screen, tmp_path):
    """No media: SeaBIOS's banner and its last word, on the VGA and through VNC."""
    s = screen([])
    s.wait("No bootable device", s.debugcon)
    png = s.screendump("seabios.png")
    text = ocr(png)
    assert "SeaBIOS" in text and "No bootable device" in text, text + s.log()
    snap = tmp_path / "seabios-vnc.jpg"
    r = snapshot(s.display, snap)
    assert r.returncode == 0, r.stderr
    assert "SeaBIOS" in ocr(snap), s.log()


@pytest.mark.parametrize("key_via", ["vnc", pytest.param("qmp", marks=pytest.mark.pvm_slow)])
def test_isolinux_menu_on_screen(screen, tmp_path, key_via):
    """An isolinux CD: its menu, drawn by menu.c32 in text mode, waits on the screen
    until Enter comes, through a VNC client's key event or QMP send-key (the PS/2
    keyboard, read by isolinux through the BIOS); then its entry boots."""
    iso = bootmedia.menu_iso(tmp_path)
    s = screen(["--cdrom", str(iso)])
    console = s.tmp / "console.log"
    # menu.c32 draws on the serial port too (SERIAL 0): the menu is up.
    s.wait(bootmedia.MENU_TITLE, console)
    # The title, and the entry or menu.c32's own help line: which of the two
    # tesseract reads varies (the entry is highlighted, in inverse colours),
    # and under emulation the menu may still be being drawn: a few tries.
    for i in range(5):
        time.sleep(1)
        text = ocr(s.screendump(f"menu-{i}.png"))
        if bootmedia.MENU_TITLE in text and ("Boot vmkit" in text or "edit options" in text):
            break
    else:
        raise AssertionError(text + s.log())
    assert b"Linux version" not in console.read_bytes(), s.log()
    if key_via == "vnc":
        c = rfb_session(port=5900 + s.display)
        c.sendall(struct.pack(">BBxxI", 4, 1, 0xff0d) + struct.pack(">BBxxI", 4, 0, 0xff0d))
        time.sleep(0.5)
        c.close()
    else:
        s.qmp_cmd("send-key", {"keys": [{"type": "qcode", "data": "ret"}]})
    s.wait("VMKIT-INFO", console)
    assert bootmedia.ISO_MARK in console.read_bytes().decode(errors="replace"), s.log()


@pytest.mark.pvm_slow
def test_ovmf_setup_screen(screen, tmp_path):
    """OVMF with the standard VGA (its own Bochs driver: the linear framebuffer
    in a graphics mode) and nothing to boot runs its built-in UEFI shell;
    typing "exit" there (QMP send-key, through the PS/2 keyboard) leaves it for
    the setup utility's front page, which OCR reads on the screen and on a VNC
    client's copy."""
    store = tmp_path / "efivars.fd"
    if OVMF_VARS.is_file():
        store.write_bytes(OVMF_VARS.read_bytes())
    s = screen([], firmware=f"uefi,vars={store}")
    s.wait("Shell> ", tmp_path / "console.log", UEFI_TIMEOUT)
    for key in ("e", "x", "i", "t", "ret"):
        s.qmp_cmd("send-key", {"keys": [{"type": "qcode", "data": key}]})
    end = time.monotonic() + 900
    text = ""
    while time.monotonic() < end:
        text = ocr(s.screendump("setup.png"))
        if "Boot Manager" in text and "Device Manager" in text:
            break
        time.sleep(10)
    assert "Boot Manager" in text and "Device Manager" in text, text + s.log()
    snap = tmp_path / "setup-vnc.jpg"
    snapshot(s.display, snap)
    assert "Boot Manager" in ocr(snap), s.log()
