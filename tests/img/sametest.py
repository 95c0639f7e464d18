# SPDX-License-Identifier: GPL-2.0-or-later
"""The same command line against qemu-img and vmkit img: stdout, stderr, exit code and files.

Each tool runs in its own directory (tmp/q and tmp/v) on the same inputs, with relative file
names, so the names a tool prints are the same for both. vmkit runs through a symlink named
qemu-img, so its messages carry qemu-img's program name and must match byte for byte.
"""
import os
import shutil

from imgtest import QEMU_IMG, VMKIT, run


def vmkit_as_qemu_img(directory):
    """A symlink to vmkit named qemu-img in directory (made once)."""
    link = os.path.join(directory, "qemu-img")
    if not os.path.lexists(link):
        os.symlink(VMKIT, link)
    return link


class Pair:
    """tmp/q for qemu-img, tmp/v for vmkit; setup(dir) makes the same inputs in each."""

    def __init__(self, tmp_path, setup=None):
        self.q, self.v = str(tmp_path / "q"), str(tmp_path / "v")
        bindir = tmp_path / "bin"
        bindir.mkdir(exist_ok=True)
        self.vmkit = vmkit_as_qemu_img(str(bindir))
        for d in (self.q, self.v):
            os.makedirs(d, exist_ok=True)
            if setup:
                setup(d)

    def run(self, *args):
        return run([QEMU_IMG, *args], cwd=self.q), run([self.vmkit, *args], cwd=self.v)

    def same(self, *args, files=()):
        """Same stdout, stderr and exit code, and the same bytes in each of files."""
        q, v = self.run(*args)
        assert (v.returncode, v.stdout, v.stderr) == (q.returncode, q.stdout, q.stderr), args
        self.same_files(*files)
        return q

    def same_files(self, *files):
        for f in files:
            a, b = os.path.join(self.q, f), os.path.join(self.v, f)
            assert os.path.exists(a) == os.path.exists(b), (f, os.path.exists(a))
            if os.path.exists(a):
                with open(a, "rb") as fa, open(b, "rb") as fb:
                    assert fa.read() == fb.read(), f

    def same_here(self, *args):
        """Commands that only read: both tools on the files in tmp/q ('disk size' alike)."""
        q = run([QEMU_IMG, *args], cwd=self.q)
        v = run([self.vmkit, *args], cwd=self.q)
        assert (v.returncode, v.stdout, v.stderr) == (q.returncode, q.stdout, q.stderr), args
        return q

    def copy_to_v(self, *names):
        """Inputs made once in tmp/q (random bytes) copied to tmp/v."""
        for n in names:
            shutil.copyfile(os.path.join(self.q, n), os.path.join(self.v, n))

