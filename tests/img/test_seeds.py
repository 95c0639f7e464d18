# SPDX-License-Identifier: GPL-2.0-or-later
"""The qemu-img command lines of the seed documents, run unchanged with `vmkit img` in
one directory and with Debian's qemu-img in another: the same exit codes, the same
output (the program's name aside), and images that read the same afterwards."""
import os

import pytest

from imgtest import qemu_img, qemu_io, vmkit

# Each scenario: the seed's commands in order, as argv after "qemu-img". Paths are
# relative (the seeds' /var/lib/... become the scenario's directory).
SCENARIOS = {
    # Seeds 002 and 004: new disks for virt-install.
    "new-disks": [
        ["create", "-f", "raw", "CentOS-7-x86_64.raw", "10G"],
        ["create", "-f", "qcow2", "CentOS-7-x86_64.qcow2", "10G"],
        ["create", "-f", "qcow2", "centos-7.qcow2", "10G"],
        ["info", "CentOS-7-x86_64.qcow2"],
        ["info", "CentOS-7-x86_64.raw"],
    ],
    # Seed 001 4.4.1: an overlay with -o backing_file/backing_fmt, then the backing file
    # moved and the overlay repointed with rebase -u -b.
    "overlay-and-move": [
        ["create", "-f", "raw", "OLD_PATH/vmguest.raw", "64M"],
        ["create", "-o", "backing_file=vmguest.raw,backing_fmt=raw", "-f", "qcow2",
         "OLD_PATH/vmguest.cow"],
        ["info", "OLD_PATH/vmguest.cow"],
        ["rebase", "-u", "-b", "../OLD_PATH/vmguest.raw", "OLD_PATH/vmguest.cow"],
        ["info", "--backing-chain", "OLD_PATH/vmguest.cow"],
        ["check", "OLD_PATH/vmguest.cow"],
    ],
    # Seed 001: thin clones of one base, a clone of a clone, the chain shown, checked,
    # and (seed 001 4.4) a refcount repair run with check -r all.
    "thin-clones": [
        ["create", "-f", "qcow2", "sle15_base.img", "16G"],
        ["create", "-b", "sle15_base.img", "-f", "qcow2", "sle15_updated.qcow2"],
        ["create", "-b", "sle15_base.img", "-F", "qcow2", "-f", "qcow2", "sle15_updated.qcow2"],
        ["create", "-b", "sle15_base.img", "-F", "qcow2", "-f", "qcow2", "sle15_kernel.qcow2"],
        ["create", "-b", "sle15_kernel.qcow2", "-F", "qcow2", "-f", "qcow2",
         "sle15_kernel_TEST.qcow2"],
        ["info", "--backing-chain", "sle15_kernel_TEST.qcow2"],
        ["info", "--backing-chain", "--output=json", "sle15_kernel_TEST.qcow2"],
        ["check", "-r", "all", "sle15_kernel_TEST.qcow2"],
        ["commit", "sle15_kernel_TEST.qcow2"],
        ["snapshot", "-c", "before-update", "sle15_updated.qcow2"],
        ["snapshot", "-l", "sle15_updated.qcow2"],
        ["convert", "-O", "raw", "sle15_kernel.qcow2", "sle15_kernel.raw"],
        ["convert", "-c", "-O", "qcow2", "sle15_kernel.qcow2", "sle15_kernel.small.qcow2"],
        ["resize", "sle15_updated.qcow2", "+1G"],
        ["info", "sle15_updated.qcow2"],
    ],
}


def normalise(text: str) -> str:
    """Snapshot dates and clocks differ between any two runs, and the blocks two files
    of the same bytes take can differ by ext4's extent blocks ("disk size" is compared
    on one file below); the rest must not differ."""
    out = []
    for line in text.splitlines():
        if "before-update" in line:      # ID TAG VM-SIZE DATE VM-CLOCK ICOUNT
            line = " ".join(line.split()[:3])
        if line.startswith("disk size:") or '"actual-size":' in line:
            continue
        out.append(line)
    return "\n".join(out)


@pytest.mark.parametrize("name", SCENARIOS)
def test_seed_commands_run_unchanged(tmp_path, name):
    dirs = {}
    for tool in ("qemu", "vmkit"):
        d = tmp_path / tool
        (d / "OLD_PATH").mkdir(parents=True)
        dirs[tool] = d
    for argv in SCENARIOS[name]:
        if argv[0] == "info":
            os.sync()   # "disk size" counts blocks ext4 may allocate only at writeback
        q = qemu_img(*argv, cwd=dirs["qemu"])
        v = vmkit(*argv, cwd=dirs["vmkit"])
        what = "qemu-img " + " ".join(argv)
        assert v.returncode == q.returncode, f"{what}: {v.stderr} / {q.stderr}"
        assert normalise(v.stdout) == normalise(q.stdout), what
        assert v.stderr.replace("vmkit: ", "qemu-img: ") == q.stderr, what
        if argv[0] == "info":
            # On one and the same file, disk size included.
            same = qemu_img(*argv, cwd=dirs["vmkit"])
            assert (v.returncode, v.stdout) == (same.returncode, same.stdout), what
        if argv[0] == "create" and argv[-1].endswith(("qcow2", ".cow")) and q.returncode == 0:
            # Written into, as a guest would, so later commands see data in the chain.
            off = str(len(argv) * 4096 * 7)
            for d in dirs.values():
                qemu_io(str(d / argv[-1]), f"write -P {len(argv)} {off} 64k")
    # Whatever the commands left behind reads the same in both directories.
    for f in sorted(p.relative_to(dirs["qemu"]) for p in dirs["qemu"].rglob("*") if p.is_file()):
        assert (dirs["vmkit"] / f).exists(), f
        r = qemu_img("compare", str(dirs["qemu"] / f), str(dirs["vmkit"] / f))
        assert r.returncode == 0, f"{f}: {r.stdout}{r.stderr}"
