# SPDX-License-Identifier: GPL-2.0-or-later
"""SeaBIOS and OVMF boot media the way a PC does (issue 12): a disk's MBR and
extlinux, a CD's El Torito image and isolinux, Debian's installer CD, in the
boot order asked for; under UEFI a GPT disk's EFI system partition and the
same CD's EFI image, both with GRUB. Needs /dev/kvm (skipped without it; make check's kvm-smoke stage
runs it on a KVM under emulation).

The media are built here from Debian's packages (tests/linux/bootmedia.py):
nothing of the guest is handed to vmkit but the disk or the ISO. What shows
that the firmware did the booting: the boot loader's own lines on the serial
port (extlinux/isolinux print their banner and "Loading /boot/vmlinuz"), then
the kernel's command line, which only the medium's loader configuration holds.
"""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "guest"))
from vmkit_harness import VMKIT, require_vmkit, run_argv  # noqa: E402
from linuxvm import LinuxVM  # noqa: E402
import bootmedia  # noqa: E402
from bootmedia import (DISK_MARK, EFI_DISK_MARK, EFI_ISO_MARK, GRUB_RE,  # noqa: E402
                       INSTALLER_MENU, ISO_MARK, LOADER_RE)

SEABIOS = Path("/usr/share/seabios/bios-256k.bin")
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
# Firmware and real-mode boot loaders run at CPL0: emulated on PVM hosts and
# under the KVM of kvm-under-tcg.sh; minutes, not seconds.
FW_TIMEOUT = 600
# OVMF is far more code than SeaBIOS (an LZMA-compressed firmware volume, then
# PEI and DXE): on a PVM host, where each of its instructions is emulated, it
# takes the better part of an hour to its boot manager, so the UEFI tests are
# pvm_slow there (make check-slow) and in make check elsewhere.
UEFI_TIMEOUT = 3600
# The kernel's command line as GRUB passed it (GRUB adds BOOT_IMAGE=), with the
# medium's mark: GRUB loaded the kernel from that medium. GRUB's own lines
# (GRUB_RE) reach the serial port through OVMF's console.
GRUB_CMDLINE = r"Command line: BOOT_IMAGE=/boot/vmlinuz [^\n]*"


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    require_vmkit()
    if not SEABIOS.is_file():
        pytest.skip("needs Debian's seabios")
    return tmp_path_factory.mktemp("media")


def overlay(base: Path, tmp: Path) -> Path:
    """A qcow2 over the built disk: each test boots its own copy, SeaBIOS reads qcow2."""
    out = tmp / "disk.qcow2"
    subprocess.run([str(VMKIT), "img", "create", "-q", "-f", "qcow2", "-b", str(base),
                    "-F", "raw", str(out)], check=True, capture_output=True)
    return out


def fw_run(args: list[str], stop_when=None, memory: str = "256M"):
    return run_argv([str(VMKIT), "run", "--firmware", "bios", "--memory", memory,
                     "--console", "stdio", "--no-reboot", *args],
                    timeout=FW_TIMEOUT, stop_when=stop_when)


def uefi(tmp: Path) -> str:
    """--firmware's value for OVMF with a variable store of the test's own."""
    for f in (OVMF_CODE, OVMF_VARS):
        if not f.is_file():
            pytest.skip(f"needs {f} (Debian's ovmf)")
    store = tmp / "efivars.fd"
    shutil.copyfile(OVMF_VARS, store)
    return f"uefi,vars={store}"


def cmdline_has(mark: str):
    """Stop once the kernel printed a command line holding mark."""
    rx = re.compile(rf"Command line: [^\n]*{re.escape(mark)}")
    return lambda out: bool(rx.search(out))


# bus -> what Linux calls the disk, and a word of the sysfs path to it
# (the driver stack that reached it).
BUSES = {"virtio": ("vda1", "virtio"), "sata": ("sda1", "/ata"), "scsi": ("sda1", "/virtio")}


# On a PVM host make check boots the virtio one; check-slow the others (tests/conftest.py).
@pytest.mark.parametrize("bus", [b if b == "virtio" else pytest.param(b, marks=pytest.mark.pvm_slow)
                                 for b in BUSES])
def test_seabios_boots_an_extlinux_disk(tmp_path, media, bus):
    """MBR code -> extlinux -> the kernel -> its root on the same disk -> a shell."""
    disk = overlay(bootmedia.bios_disk(media), tmp_path)
    part, via = BUSES[bus]
    with LinuxVM(tmp_path, disks=[f"path={disk},format=qcow2,bus={bus}"],
                 firmware="bios") as vm:
        vm.boot(FW_TIMEOUT)
        text = vm.text()
        assert re.search(LOADER_RE, text, re.S), vm.describe()
        assert re.search(rf"Command line: [^\n]*{re.escape(DISK_MARK)}", text), vm.describe()
        # The root's device number, from mountinfo, to its sysfs path.
        dev = vm.sh("readlink -f /sys/dev/block/$(awk '$5 == \"/\" {print $3}' "
                    "/proc/self/mountinfo | tail -1)")
        assert dev.endswith("/" + part) and via in dev, dev
        # The root is the disk's: its file written here is in the image after.
        vm.sh("echo booted-by-seabios > /root/fw-mark && sync")
        vm.type("poweroff\n")
        assert vm.wait_exit(120) == 0, vm.describe()
    raw = tmp_path / "after.raw"
    subprocess.run([str(VMKIT), "img", "convert", "-O", "raw", str(disk), str(raw)],
                   check=True, capture_output=True)
    got = subprocess.run(["debugfs", "-R", "cat /root/fw-mark",
                          f"{raw}?offset={bootmedia.MIB}"], capture_output=True, text=True)
    assert got.stdout.strip() == "booted-by-seabios", got.stdout + got.stderr


@pytest.mark.parametrize("bus", ["sata", pytest.param("scsi", marks=pytest.mark.pvm_slow)])
def test_seabios_boots_an_isolinux_cd(tmp_path, media, bus):
    """El Torito (no emulation) from an ATAPI or a virtio-scsi CD-ROM -> isolinux
    -> the kernel and initramfs from the CD, whose /init reports and powers off."""
    iso = bootmedia.boot_iso(media)
    r = fw_run(["--disk", f"path={iso},media=cdrom,bus={bus}"])
    assert r.returncode == 0, r.describe()
    assert re.search(r"ISOLINUX \d", r.stdout) and "Loading /boot/vmlinuz" in r.stdout, \
        r.describe()
    assert re.search(rf"Command line: [^\n]*{re.escape(ISO_MARK)}", r.stdout), r.describe()
    assert "VMKIT-INFO cpus=1" in r.stdout, r.describe()


@pytest.mark.parametrize("order,want,other", [("cdrom,disk", ISO_MARK, DISK_MARK),
                                              pytest.param("disk,cdrom", DISK_MARK, ISO_MARK,
                                                           marks=pytest.mark.pvm_slow)])
def test_boot_order(tmp_path, media, order, want, other):
    """With a bootable disk and a bootable CD, --boot order= picks which boots."""
    disk = overlay(bootmedia.bios_disk(media), tmp_path)
    iso = bootmedia.boot_iso(media)
    r = fw_run(["--disk", f"path={disk},format=qcow2", "--cdrom", str(iso),
                "--boot", f"order={order}"], stop_when=cmdline_has(want))
    assert r.stopped, r.describe()
    assert other not in r.stdout, r.describe()


def test_debian_installer_cd(tmp_path, media):
    """Debian 12's installer kernel and initrd on a CD: isolinux's menu shows, its
    entry boots after the menu's timeout, Debian's own kernel starts.

    On a PVM host the stock kernel's decompressor alone runs for many minutes
    (its CPL0 code is emulated: measured more than 10), so there the test stops
    at the first line Debian's kernel image prints itself, its real-mode setup
    code's EDD probe (seen 2 s after isolinux loaded it)."""
    iso = bootmedia.installer_iso(media)
    if bootmedia.pvm_host():
        seen = re.compile(r"Loading /boot/initrd\.*ok.*Probing EDD", re.S)
        first = "Loading /boot/vmlinuz"
    else:
        # Debian's kernel, with the command line of the menu's entry.
        seen = re.compile(r"Linux version \S+-amd64 .*Debian.*Command line: [^\n]*"
                          r"console=ttyS0 earlyprintk=\S+ priority=low", re.S)
        first = "Linux version"
    r = fw_run(["--cdrom", str(iso)], memory="1G",
               stop_when=lambda out: INSTALLER_MENU in out and bool(seen.search(out)))
    assert r.stopped, r.describe()
    assert r.stdout.index(INSTALLER_MENU) < r.stdout.index(first), r.describe()


# --- UEFI: OVMF, GRUB for UEFI ---------------------------------------------------

@pytest.mark.pvm_slow
@pytest.mark.parametrize("bus", ["virtio", "sata", "scsi"])
def test_ovmf_boots_a_gpt_disk_with_grub(tmp_path, media, bus):
    """OVMF finds the EFI system partition of a GPT disk and runs its
    EFI/BOOT/BOOTX64.EFI (GRUB), whose config loads the kernel and initramfs
    from that partition; the initramfs's shell answers."""
    disk = overlay(bootmedia.efi_disk(media), tmp_path)
    with LinuxVM(tmp_path, disks=[f"path={disk},format=qcow2,bus={bus}"],
                 firmware=uefi(tmp_path), memory="512M") as vm:
        vm.start()
        vm.wait_for(re.compile(GRUB_RE), UEFI_TIMEOUT)
        vm.wait_for(re.compile(GRUB_CMDLINE + re.escape(EFI_DISK_MARK)), FW_TIMEOUT)
        vm.wait_for("VMKIT-INIT-START", FW_TIMEOUT)
        vm.type("echo efi-shell-$((6 * 7))\n")
        vm.wait_for("efi-shell-42", FW_TIMEOUT)


@pytest.mark.pvm_slow
@pytest.mark.parametrize("bus", ["sata", "scsi"])
def test_ovmf_boots_the_cd_with_grub(tmp_path, media, bus):
    """The hybrid CD's second El Torito entry (the EFI image: GRUB) under OVMF,
    from an ATAPI or a virtio-scsi CD-ROM; its /init reports.

    Its power-off ends in "System halted", not in an exit: the test kernel has
    no CONFIG_EFI, and under UEFI the ACPI tables are found only through the
    EFI system table (OVMF puts no RSDP where a BIOS would), so that kernel
    runs without ACPI there. The test stops at /init's report."""
    iso = bootmedia.boot_iso(media)
    r = run_argv([str(VMKIT), "run", "--firmware", uefi(tmp_path), "--memory", "512M",
                  "--console", "stdio", "--no-reboot",
                  "--disk", f"path={iso},media=cdrom,bus={bus}"], timeout=UEFI_TIMEOUT,
                 stop_when=lambda out: bool(re.search(r"VMKIT-INFO cpus=\d", out)))
    assert r.stopped, r.describe()
    assert re.search(GRUB_RE, r.stdout), r.describe()
    assert re.search(GRUB_CMDLINE + re.escape(EFI_ISO_MARK), r.stdout), r.describe()
    assert "VMKIT-INFO cpus=1" in r.stdout, r.describe()


@pytest.mark.pvm_slow
@pytest.mark.parametrize("order,want,other", [("cdrom,disk", EFI_ISO_MARK, EFI_DISK_MARK),
                                              ("disk,cdrom", EFI_DISK_MARK, EFI_ISO_MARK)])
def test_ovmf_boot_order(tmp_path, media, order, want, other):
    """OVMF follows --boot order= (fw_cfg's bootorder) between a bootable GPT
    disk and a bootable CD."""
    disk = overlay(bootmedia.efi_disk(media), tmp_path)
    iso = bootmedia.boot_iso(media)
    r = run_argv([str(VMKIT), "run", "--firmware", uefi(tmp_path), "--memory", "512M",
                  "--console", "stdio", "--no-reboot", "--disk", f"path={disk},format=qcow2",
                  "--cdrom", str(iso), "--boot", f"order={order}"],
                 timeout=UEFI_TIMEOUT, stop_when=cmdline_has(want))
    assert r.stopped, r.describe()
    assert other not in r.stdout, r.describe()
