# SPDX-License-Identifier: GPL-2.0-or-later
"""File names as qemu-img reads and prints them: the file: protocol prefix, './' before a
name that would read as a protocol, backing names with a protocol, unknown protocols."""
import pytest

from imgtest import QEMU_IMG, run
from sametest import Pair


def top_and_base(d):
    run([QEMU_IMG, "create", "-q", "-f", "qcow2", "base.qcow2", "1M"], cwd=d, check=True)
    run([QEMU_IMG, "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2",
         "file:image:top.qcow2"], cwd=d, check=True)
    run([QEMU_IMG, "create", "-q", "-f", "qcow2", "-b", "file:base.qcow2", "-F", "qcow2",
         "over.qcow2"], cwd=d, check=True)


def test_create_with_file_prefix(tmp_path):
    p = Pair(tmp_path)
    p.same("create", "-f", "qcow2", "file:image:top.qcow2", "1M", files=["image:top.qcow2"])
    p.same("create", "-f", "raw", "file:./r:aw", "1234", files=["r:aw"])
    p.same("create", "-f", "qcow2", "-b", "file:image:top.qcow2", "-F", "qcow2", "o.qcow2",
           files=["o.qcow2"])


@pytest.mark.parametrize("name", ["file:image:top.qcow2", "./image:top.qcow2", "over.qcow2",
                                  "file:over.qcow2", "file:./base.qcow2", "file:base.qcow2"])
@pytest.mark.parametrize("output", ["human", "json"])
def test_info_names(tmp_path, name, output):
    """'image: ./image:top.qcow2', 'backing file: base.qcow2 (actual path: ./base.qcow2)'."""
    p = Pair(tmp_path, top_and_base)
    p.same_here("info", f"--output={output}", name)
    p.same_here("info", "--backing-chain", f"--output={output}", name)


def test_other_commands_take_file_prefix(tmp_path):
    p = Pair(tmp_path, top_and_base)
    p.same("convert", "-O", "raw", "file:image:top.qcow2", "file:out:raw", files=["out:raw"])
    p.same("map", "--output=json", "file:image:top.qcow2")
    p.same("compare", "file:image:top.qcow2", "file:base.qcow2")
    p.same("check", "file:image:top.qcow2")
    p.same("snapshot", "-c", "s1", "file:image:top.qcow2")
    # The list shows each snapshot's creation time to the second: list the
    # same image in both (qemu-img's), or a second boundary between the two
    # tools' -c makes them differ (seen once, on a loaded host).
    p.copy_to_v("image:top.qcow2")
    p.same("snapshot", "-l", "file:image:top.qcow2")


@pytest.mark.parametrize("args", [["info", "image:top.qcow2"], ["info", "file:"],
                                  ["create", "-f", "qcow2", "image:x", "1M"],
                                  ["create", "-f", "foo", "image:x", "1M"],
                                  ["create", "-f", "qcow2", "-b", "base.qcow2", "x:y"],
                                  ["convert", "-O", "raw", "image:top.qcow2", "out"],
                                  ["convert", "-O", "raw", "base.qcow2", "x:out"]])
def test_unknown_protocol(tmp_path, args):
    Pair(tmp_path, top_and_base).same(*args, files=["out", "x", "image:x"])
