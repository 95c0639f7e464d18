# SPDX-License-Identifier: GPL-2.0-or-later
"""Helpers for the image interop tests: run vmkit img and the real qemu-img side by side."""
import os
import random
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VMKIT = os.environ.get("VMKIT", os.path.join(ROOT, "build", "vmkit"))
QEMU_IMG = "/usr/bin/qemu-img"
QEMU_IO = "/usr/bin/qemu-io"


def run(args, cwd=None, check=False):
    p = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert p.returncode >= 0, f"{args} died with signal {-p.returncode}: {p.stderr}"
    if check:
        assert p.returncode == 0, f"{args} failed ({p.returncode}): {p.stderr}{p.stdout}"
    return p


def vmkit(*args, cwd=None, check=False):
    return run([VMKIT, "img", *args], cwd=cwd, check=check)


def qemu_img(*args, cwd=None, check=False):
    return run([QEMU_IMG, *args], cwd=cwd, check=check)


def qemu_io(img, *cmds, fmt="qcow2"):
    args = [QEMU_IO, "-f", fmt]
    for c in cmds:
        args += ["-c", c]
    return run(args + [img], check=True)


def pattern_raw(path, size, seed=1, holes=True):
    """A raw file of random data with holes and zero runs (sparse where possible)."""
    rnd = random.Random(seed)
    with open(path, "wb") as f:
        f.truncate(size)
        off = 0
        while off < size:
            n = min(size - off, rnd.choice([4096, 65536, 300000, 1 << 20]))
            kind = rnd.random() if holes else 0.0
            if kind < 0.5:
                f.seek(off)
                f.write(rnd.randbytes(n))
            elif kind < 0.65:
                f.seek(off)
                f.write(bytes(n))          # explicit zeros in the data
            elif kind < 0.8:
                f.seek(off)
                f.write(bytes([rnd.randrange(1, 256)]) * n)  # compressible
            off += n
    return path


def read(path):
    with open(path, "rb") as f:
        return f.read()
