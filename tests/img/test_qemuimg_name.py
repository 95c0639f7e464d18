# SPDX-License-Identifier: GPL-2.0-or-later
"""Run as qemu-img (a symlink of that name), vmkit names itself qemu-img: usage errors alike."""
import json
import os
import subprocess

import pytest

from imgtest import ROOT, VMKIT, qemu_img, vmkit
from sametest import Pair

# Usage errors: qemu-img's "Try 'qemu-img --help'" lines, getopt's failures in its words.
USAGE = [
    [], ["foo"], ["info"], ["info", "a", "b"], ["info", "-x", "a"], ["info", "-qx", "a"],
    ["info", "--foo", "a"], ["info", "-f"], ["info", "--output"], ["info", "--output=xml", "a"],
    ["create"], ["create", "-f"], ["create", "-x"], ["create", "x", "1M", "extra"],
    ["check"], ["check", "a", "b"], ["compare", "a"], ["compare", "-x", "a", "b"],
    ["convert"], ["convert", "a"], ["convert", "-x"], ["resize"], ["resize", "a"],
    ["resize", "-x", "a", "1M"], ["map"], ["map", "-x"], ["snapshot", "-l"],
    ["snapshot", "-x", "a"], ["snapshot", "-l", "-c", "x", "a"], ["snapshot", "a", "b"],
    ["rebase", "a"], ["rebase", "-x"], ["rebase", "-b", "x"], ["commit"], ["commit", "a", "b"],
    ["commit", "-x"], ["amend", "a"], ["amend", "-o", "x"], ["amend", "-x"], ["dd", "-x"],
    ["dd", "if=a"], ["bench"], ["bench", "-x"], ["check", "-x", "a"], ["check", "-r"],
    ["measure", "a", "b"], ["measure", "--size", "1M", "a", "b"], ["measure"],
]


@pytest.mark.parametrize("args", USAGE, ids=lambda a: "_".join(a) or "none")
def test_usage_errors_as_qemu_img(tmp_path, args):
    Pair(tmp_path).same(*args)


def test_vmkit_names_itself_vmkit(tmp_path):
    p = vmkit("foo")
    assert (p.returncode, p.stdout) == (1, "")
    assert p.stderr == "vmkit: Command not found: foo\nTry 'vmkit img --help' for more information\n"
    p = vmkit("info", str(tmp_path / "none"))
    assert p.returncode == 1 and p.stderr.startswith("vmkit: ")


def test_found_on_path_as_qemu_img(tmp_path):
    """argv[0] is plain 'qemu-img' when the shell finds the symlink on PATH."""
    Pair(tmp_path)     # makes tmp/bin/qemu-img
    env = dict(os.environ, PATH=str(tmp_path / "bin"))
    p = subprocess.run(["qemu-img", "foo"], env=env, capture_output=True, text=True,
                       cwd=tmp_path)
    q = qemu_img("foo", cwd=tmp_path)
    assert (p.returncode, p.stdout, p.stderr) == (q.returncode, q.stdout, q.stderr)


def test_symlink_install_option_off_by_default():
    out = subprocess.run(["meson", "introspect", "--buildoptions", "meson.build"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    opt = [o for o in json.loads(out) if o["name"] == "qemu_img_symlink"]
    assert len(opt) == 1 and opt[0]["value"] is False and opt[0]["type"] == "boolean"
