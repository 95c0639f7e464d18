# SPDX-License-Identifier: GPL-2.0-or-later
"""Bootable media for the firmware tests, built from Debian's packages.

    bios_disk(dir)       MBR disk: syslinux's MBR code, one active ext4 partition
                         (the test root file system) with extlinux, the guest kernel
                         and root=PARTUUID=, so one image boots from any bus
    boot_iso(dir, ...)   ISO 9660 with isolinux (BIOS, El Torito no-emulation) and
                         the guest kernel and initramfs
    menu_iso(dir)        an isolinux CD whose menu waits on the screen
    installer_iso(dir)   Debian's installer (debian-installer-12-netboot-amd64's
                         text kernel and initrd) behind isolinux's menu
    efi_disk(dir)        GPT disk with an EFI system partition: GRUB for UEFI
                         (grub-efi-amd64-bin) as EFI/BOOT/BOOTX64.EFI, the guest
                         kernel and initramfs (a shell)

boot_iso's CD is hybrid, as Debian's own: isolinux for BIOS, and an El Torito
EFI image (a FAT image holding GRUB as EFI/BOOT/BOOTX64.EFI) for UEFI.

Each is built once per directory and reused. What a boot loader prints goes to
the serial port (extlinux's and isolinux's SERIAL 0, GRUB's serial terminal),
so a test sees on the console that the firmware ran the medium's boot code,
then the loader (LOADER_RE, GRUB_RE: its banner or line and the kernel it
loads), then the kernel. Building
the disk needs root for a loop mount: extlinux installs only into a mounted
file system (it records where ldlinux.sys lies on the disk).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from linuxvm import PVM_HIDE, guest_file
from vmkit_harness import pvm_host  # noqa: F401 (test_firmware_boot uses it from here)

# The MBR's disk signature: partition 1 is PARTUUID=5eedb007-01 to Linux.
DISK_ID = "5eedb007"
ROOT_PARTUUID = f"{DISK_ID}-01"
# What syslinux's loaders print on the serial port: their banner, then the kernel's name.
LOADER_RE = r"(SYS|EXT|ISO)LINUX \d+\.\d+.*?Loading /boot/vmlinuz"
ISO_MARK = "vmkit.from=iso"
DISK_MARK = "vmkit.from=disk"
# The same under UEFI: GRUB's config says which medium it came from.
EFI_ISO_MARK = "vmkit.from=efi-iso"
EFI_DISK_MARK = "vmkit.from=efi-disk"
GRUB_RE = r"vmkit GRUB for UEFI: loading /boot/vmlinuz"
INSTALLER_MENU = "Debian installer boot menu"
MENU_TITLE = "Firmware test menu"
MBR_BIN = Path("/usr/lib/syslinux/mbr/mbr.bin")
ISOLINUX_BIN = Path("/usr/lib/ISOLINUX/isolinux.bin")
SYSLINUX_BIOS = Path("/usr/lib/syslinux/modules/bios")
DI = Path("/usr/lib/debian-installer/images/12/amd64/text/debian-installer/amd64")
GRUB_EFI = Path("/usr/lib/grub/x86_64-efi")
# GPT's type for an EFI system partition.
ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
MIB = 1024 * 1024


def _need(*tools: str) -> None:
    for t in tools:
        if not shutil.which(t) and not Path(t).exists():
            pytest.skip(f"needs {t} (scripts/deps.sh check)")


def _run(argv: list[str], **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {r.returncode}: {r.stderr.strip()}")
    return r


def _host_args() -> str:
    """What a kernel's command line needs on this host. On a PVM host (kvm_pvm)
    the host's emulator refuses XSAVE and friends at CPL0 and CPUID cannot hide
    them: with --kernel vmkit appends PVM_HIDE itself, but a boot loader's
    command line is the medium's, so the medium carries it (as a user of such
    a host would write it into the loader's config)."""
    return " " + PVM_HIDE if pvm_host() else ""


def _syslinux_cfg(kernel: str, append: str, initrd: str = "") -> str:
    # SERIAL 0: the loader's own output (SAY, errors) also on the first UART,
    # where the tests read it; no prompt, no timeout: straight to the kernel.
    lines = ["SERIAL 0 115200", "PROMPT 0", "TIMEOUT 0", "DEFAULT vmkit",
             "LABEL vmkit", f"  KERNEL {kernel}"]
    if initrd:
        lines.append(f"  INITRD {initrd}")
    lines.append(f"  APPEND {append}{_host_args()}")
    return "\n".join(lines) + "\n"


def bios_disk(d: Path) -> Path:
    """The test root file system on an MBR disk that SeaBIOS boots through extlinux."""
    out = d / "bios-disk.img"
    if out.exists():
        return out
    _need("sfdisk", "extlinux", "losetup", str(MBR_BIN))
    if os.geteuid() != 0:
        pytest.skip("building an extlinux disk needs root (a loop mount)")
    rootfs = guest_file("rootfs.ext4")
    kernel = guest_file("kernel")
    part = rootfs.stat().st_size
    tmp = out.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.truncate(MIB + part)
    _run(["sfdisk", "-q", str(tmp)],
         input=f"label: dos\nlabel-id: 0x{DISK_ID}\nstart=2048, type=83, bootable\n")
    _run(["dd", f"if={rootfs}", f"of={tmp}", "bs=1M", "seek=1", "conv=notrunc,sparse",
          "status=none"])
    # syslinux's MBR code (440 bytes: the partition table stays) finds the
    # active partition and runs its boot sector, which extlinux writes.
    with open(MBR_BIN, "rb") as src, open(tmp, "r+b") as dst:
        dst.write(src.read()[:440])
    mnt = Path(tempfile.mkdtemp(prefix="vmkit-extlinux."))
    loop = _run(["losetup", "--find", "--show", "--offset", str(MIB), "--sizelimit",
                 str(part), str(tmp)]).stdout.strip()
    try:
        _run(["mount", "-t", "ext4", loop, str(mnt)])
        try:
            boot = mnt / "boot" / "extlinux"
            boot.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(kernel, mnt / "boot" / "vmlinuz")
            (boot / "extlinux.conf").write_text(_syslinux_cfg(
                "/boot/vmlinuz",
                f"console=ttyS0 root=PARTUUID={ROOT_PARTUUID} rw panic=-1 {DISK_MARK}"))
            _run(["extlinux", "--install", str(boot)])
        finally:
            _run(["umount", str(mnt)])
    finally:
        subprocess.run(["losetup", "-d", loop], capture_output=True)
        mnt.rmdir()
    tmp.rename(out)
    return out


def _grub_efi(out: Path, mark_file: str, append: str) -> Path:
    """GRUB for UEFI (grub-efi-amd64-bin's modules, built in) whose built-in
    config finds the medium holding mark_file and boots the kernel and
    initramfs there. Built-in (grub-mkimage -c) and run by GRUB's rescue
    parser: no normal mode, no menu, a few hundred KiB instead of
    grub-mkstandalone's 10 MiB (every byte is read by firmware code that runs
    emulated on a PVM host)."""
    _need("grub-mkimage", str(GRUB_EFI / "linux.mod"))
    cfg = out.with_suffix(".cfg")
    # GRUB's terminal is the firmware's console, which OVMF also sends to the
    # serial port: one copy of each line there, and the screen shows them too.
    cfg.write_text("\n".join([
        f"search --no-floppy --file --set=root {mark_file}",
        'echo "vmkit GRUB for UEFI: loading /boot/vmlinuz"',
        f"linux /boot/vmlinuz {append}{_host_args()}",
        "initrd /boot/initrd",
        "boot"]) + "\n")
    _run(["grub-mkimage", "-O", "x86_64-efi", "-p", "/boot/grub", "-c", str(cfg), "-o", str(out),
          "part_gpt", "part_msdos", "fat", "iso9660", "search",
          "search_fs_file", "linux", "echo"])
    cfg.unlink()
    return out


def _fat(out: Path, files: dict[str, Path], label: str) -> Path:
    """A FAT image holding files (name on the image -> source), made without a
    mount (dosfstools, mtools): 1 MiB to spare."""
    _need("mkfs.vfat", "mcopy", "mmd")
    size = sum(p.stat().st_size for p in files.values()) + MIB
    kib = (size + 1023) // 1024
    out.unlink(missing_ok=True)
    _run(["mkfs.vfat", "-C", "-n", label, str(out), str(kib)])
    dirs = sorted({str(Path(n).parent) for n in files} - {"."})
    for dname in dirs:
        parts = Path(dname).parts
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            subprocess.run(["mmd", "-D", "s", "-i", str(out), f"::/{sub}"], capture_output=True)
    for name, src in files.items():
        _run(["mcopy", "-i", str(out), str(src), f"::/{name}"])
    return out


def efi_disk(d: Path) -> Path:
    """A GPT disk whose EFI system partition holds GRUB (as the removable-media
    path EFI/BOOT/BOOTX64.EFI, which OVMF boots without a boot entry), the
    guest kernel and the test initramfs, whose /init gives a shell."""
    out = d / "efi-disk.img"
    if out.exists():
        return out
    _need("sfdisk")
    mark = d / "vmkit-efi-disk"
    mark.write_text("the EFI system partition of bootmedia.efi_disk\n")
    grub = _grub_efi(d / "efi-disk-grub.efi", "/vmkit-efi-disk",
                     f"console=ttyS0 panic=-1 {EFI_DISK_MARK}")
    esp = _fat(d / "esp.img", {"EFI/BOOT/BOOTX64.EFI": grub,
                               "boot/vmlinuz": guest_file("kernel"),
                               "boot/initrd": guest_file("initramfs.cpio"),
                               "vmkit-efi-disk": mark}, "VMKIT-ESP")
    part = esp.stat().st_size
    sectors = (part + 511) // 512
    tmp = out.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.truncate(MIB + sectors * 512 + MIB)	# the backup GPT goes in the last MiB
    _run(["sfdisk", "-q", str(tmp)],
         input=f"label: gpt\nstart=2048, size={sectors}, type={ESP_TYPE}, name=ESP\n")
    _run(["dd", f"if={esp}", f"of={tmp}", "bs=1M", "seek=1", "conv=notrunc", "status=none"])
    esp.unlink()
    grub.unlink()
    tmp.rename(out)
    return out


def _iso(d: Path, name: str, kernel: Path, initrd: Path, cfg: str,
         modules: tuple[str, ...] = (), efi_append: str = "") -> Path:
    out = d / f"{name}.iso"
    if out.exists():
        return out
    _need("xorriso", str(ISOLINUX_BIN), str(SYSLINUX_BIOS / "ldlinux.c32"))
    tree = d / f"{name}-tree"
    shutil.rmtree(tree, ignore_errors=True)
    (tree / "isolinux").mkdir(parents=True)
    (tree / "boot").mkdir()
    shutil.copyfile(ISOLINUX_BIN, tree / "isolinux" / "isolinux.bin")
    for m in ("ldlinux.c32",) + modules:
        shutil.copyfile(SYSLINUX_BIOS / m, tree / "isolinux" / m)
    shutil.copyfile(kernel, tree / "boot" / "vmlinuz")
    shutil.copyfile(initrd, tree / "boot" / "initrd")
    (tree / "isolinux" / "isolinux.cfg").write_text(cfg)
    efi = []
    if efi_append:
        # UEFI's El Torito entry: a FAT image with GRUB at the removable-media path.
        mark = f"vmkit-{name}"
        (tree / mark).write_text(f"the CD of bootmedia {name}\n")
        grub = _grub_efi(d / f"{name}-grub.efi", f"/{mark}", efi_append)
        _fat(tree / "boot" / "efi.img", {"EFI/BOOT/BOOTX64.EFI": grub}, "VMKIT-EFI")
        grub.unlink()
        efi = ["-eltorito-alt-boot", "-e", "boot/efi.img", "-no-emul-boot"]
    tmp = d / f"{name}.iso.tmp"
    _run(["xorriso", "-as", "mkisofs", "-quiet", "-V", name.upper()[:32], "-o", str(tmp),
          "-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat", "-no-emul-boot",
          "-boot-load-size", "4", "-boot-info-table", *efi, str(tree)])
    tmp.rename(out)
    shutil.rmtree(tree)
    return out


def boot_iso(d: Path) -> Path:
    """A CD that starts the guest kernel with the test initramfs, whose /init
    prints VMKIT-INFO and powers off: through isolinux under BIOS, GRUB under
    UEFI (the kernel's command line says which, ISO_MARK or EFI_ISO_MARK)."""
    return _iso(d, "vmkit-boot", guest_file("kernel"), guest_file("initramfs.cpio"),
                _syslinux_cfg("/boot/vmlinuz",
                              f"console=ttyS0 panic=-1 vmkit.action=info {ISO_MARK}",
                              "/boot/initrd"),
                efi_append=f"console=ttyS0 panic=-1 vmkit.action=info {EFI_ISO_MARK}")


def menu_iso(d: Path) -> Path:
    """An isolinux CD whose menu (menu.c32) waits for a key: it stays on the screen."""
    cfg = "\n".join(["SERIAL 0 115200", "UI menu.c32", f"MENU TITLE {MENU_TITLE}",
                     "TIMEOUT 0", "DEFAULT vmkit", "LABEL vmkit", "  MENU LABEL Boot vmkit",
                     "  KERNEL /boot/vmlinuz", "  INITRD /boot/initrd",
                     f"  APPEND console=ttyS0 panic=-1 vmkit.action=info {ISO_MARK}"
                     f"{_host_args()}"]) + "\n"
    return _iso(d, "vmkit-menu", guest_file("kernel"), guest_file("initramfs.cpio"), cfg,
                ("menu.c32", "libutil.c32", "libcom32.c32"))


def installer_iso(d: Path) -> Path:
    """Debian 12's installer (text frontend) as a CD: isolinux's menu (menu.c32,
    as Debian's own CDs have), which boots its one entry after a second."""
    _need(str(DI / "linux"))
    cfg = "\n".join(["SERIAL 0 115200", "UI menu.c32", f"MENU TITLE {INSTALLER_MENU}",
                     "TIMEOUT 10", "DEFAULT install", "LABEL install",
                     "  MENU LABEL Install", "  KERNEL /boot/vmlinuz", "  INITRD /boot/initrd",
                     # earlyprintk: the kernel's real-mode setup code reports on
                     # the serial port ("Probing EDD"), minutes before its
                     # "Linux version" on a PVM host (its CPL0 code emulated).
                     "  APPEND console=ttyS0 earlyprintk=serial,ttyS0,115200 priority=low"
                     f"{_host_args()} ---"]) + "\n"
    return _iso(d, "debian-installer", DI / "linux", DI / "initrd.gz", cfg,
                ("menu.c32", "libutil.c32", "libcom32.c32"))
