# SPDX-License-Identifier: GPL-2.0-or-later
"""virtio-pci INTx: a virtio-blk disk whose driver leaves MSI-X off.

tests/guest/virtio_intx.c reads Interrupt Pin/Line, routes that IOAPIC input
and counts the interrupts its requests raise (ISR read = 1 then 0, one
interrupt per completion, Interrupt Disable and MSI-X taking the pin away).
Here: the pin and GSI are the ones the DSDT's _PRT gives (INTA of slot s on
GSI 16 + s % 8), and the data it wrote is in the file.

On PVM hosts the guest routes the pin edge-triggered: their in-kernel IOAPIC
delivers a level-triggered vector a second time after its EOI (see the
guest's comment). Everywhere else it is level-triggered, as ACPI says.
"""

from __future__ import annotations

from pathlib import Path

import vmkit_harness as h

NREQ = 8
BS = 4096
SECTOR = 512
PVM = Path("/sys/module/kvm_pvm").exists()


def written(i: int) -> bytes:
    """What the guest writes in request i (its wbuf[i])."""
    return bytes((i * 37 + j * 7 + (j >> 8)) & 0xff for j in range(BS))


def run(tmp_path: Path, opts: str = "", cmdline: str = "") -> tuple[h.Result, Path]:
    h.require_vmkit()
    img = tmp_path / "intx.img"
    img.write_bytes(b"\xee" * (4 << 20))
    if PVM and "level" not in cmdline:
        cmdline = (cmdline + " edge").strip()
    extra = ["--disk", f"path={img}" + (f",{opts}" if opts else "")]
    if cmdline:
        extra += ["--cmdline", cmdline]
    return h.run_vmkit(h.guest("virtio_intx"), memory="128M", extra_args=extra,
                       timeout=120), img


def check(r: h.Result, img: Path) -> None:
    h.assert_test_passed(r, "virtio_intx")
    slot = int(r.info["slot"])
    assert r.info["intx_pin"] == "1", r.describe()
    assert int(r.info["intx_line"]) == 16 + slot % 8, r.describe()
    assert r.info["data"] == "ok" and r.info["intx_disable"] == "ok", r.describe()
    assert r.info["msix_off_again"] == "ok", r.describe()
    # 16 requests, one with Interrupt Disable, one after MSI-X was switched off.
    assert int(r.info["irqs"]) == 2 * NREQ + 2, r.describe()
    data = img.read_bytes()
    for i in range(NREQ):
        off = (64 + i * 40) * SECTOR
        assert data[off:off + BS] == written(i), f"request {i}'s data not in the file{r.describe()}"
    assert data[:64 * SECTOR] == b"\xee" * (64 * SECTOR), "the guest wrote where it should not"


def test_intx(tmp_path: Path) -> None:
    r, img = run(tmp_path)
    check(r, img)


def test_intx_iothread_threads(tmp_path: Path) -> None:
    """Completions from an iothread and the thread pool raise the pin the same way."""
    r, img = run(tmp_path, "aio=threads,iothread=on,cache=writeback")
    check(r, img)


def test_intx_second_slot(tmp_path: Path) -> None:
    """The second of two disks sits in slot 2: GSI 18; the first disk is untouched."""
    h.require_vmkit()
    img, other = tmp_path / "intx.img", tmp_path / "other.img"
    img.write_bytes(b"\xee" * (4 << 20))
    other.write_bytes(b"\x11" * (1 << 20))
    extra = ["--disk", f"path={other}", "--disk", f"path={img}",
             "--cmdline", "disk=1" + (" edge" if PVM else "")]
    r = h.run_vmkit(h.guest("virtio_intx"), memory="128M", extra_args=extra, timeout=120)
    check(r, img)
    assert r.info["slot"] == "2" and r.info["intx_line"] == "18", r.describe()
    assert other.read_bytes() == b"\x11" * (1 << 20)


def test_intx_readonly_error(tmp_path: Path) -> None:
    """A failed request (a write to a readonly disk) completes through INTx too."""
    r, img = run(tmp_path, "readonly=on")
    assert ("virtio_intx", "FAIL", "write: completion: 1 request type 1 sector 64 len 4096: "
            "status 1") in r.tests, r.describe()
