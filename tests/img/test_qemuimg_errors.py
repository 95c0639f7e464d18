# SPDX-License-Identifier: GPL-2.0-or-later
"""qemu-img's fixed error messages, byte for byte: open failures, backing loops and missing
layers, sizes too large, hostile header fields. Same arguments against both tools."""
import subprocess

import pytest

import qcow2hdr
from imgtest import QEMU_IMG, run
from sametest import Pair


def chain(d, loop=False, missing=False, self_loop=False):
    """a.qcow2 <- b.qcow2 <- c.qcow2; then a looped back to c or b, or a removed."""
    for args in (["a.qcow2", "1M"], ["-b", "a.qcow2", "-F", "qcow2", "b.qcow2"],
                 ["-b", "b.qcow2", "-F", "qcow2", "c.qcow2"]):
        run([QEMU_IMG, "create", "-q", "-f", "qcow2", *args], cwd=d, check=True)
    if loop:
        run([QEMU_IMG, "rebase", "-u", "-b", "c.qcow2", "-F", "qcow2", "a.qcow2"], cwd=d, check=True)
    if self_loop:
        run([QEMU_IMG, "rebase", "-u", "-b", "a.qcow2", "-F", "qcow2", "a.qcow2"], cwd=d, check=True)
    if missing:
        run(["rm", "a.qcow2"], cwd=d, check=True)


@pytest.mark.parametrize("output", ["human", "json"])
@pytest.mark.parametrize("kind", ["loop", "self_loop", "missing"])
def test_backing_chain_broken(tmp_path, kind, output):
    p = Pair(tmp_path, lambda d: chain(d, **{kind: True}))
    top = "a.qcow2" if kind == "self_loop" else "c.qcow2"
    q = p.same("info", "--backing-chain", f"--output={output}", top)
    assert q.returncode == 1 and q.stdout == ""
    p.same("info", f"--output={output}", top)      # without the chain: only the top


def test_backing_chain_whole(tmp_path):
    p = Pair(tmp_path, chain)
    p.same_here("info", "--backing-chain", "c.qcow2")
    p.same_here("info", "--backing-chain", "--output=json", "c.qcow2")


@pytest.mark.parametrize("cmd", [["map"], ["convert", "-O", "raw"], ["compare", "a.qcow2"],
                                 ["commit"], ["rebase", "-b", "", "-F", "qcow2"], ["check"],
                                 ["check", "-r", "all"], ["check", "--output=json"],
                                 ["snapshot", "-l"], ["snapshot", "-c", "s1"],
                                 ["measure", "-O", "qcow2"], ["resize", "+1M"]])
def test_missing_backing_file(tmp_path, cmd):
    """'Could not open 'c.qcow2': Could not open backing file: ...', nested as qemu-img nests."""
    p = Pair(tmp_path, lambda d: chain(d, missing=True))
    args = cmd + ["c.qcow2"] + (["out.raw"] if cmd[0] == "convert" else [])
    if cmd[0] == "resize":
        args = ["resize", "c.qcow2", "+1M"]
    if cmd[0] == "compare":
        args = ["compare", "c.qcow2", "b.qcow2"]
    q = p.same(*args, files=["b.qcow2", "c.qcow2"])
    if cmd[0] not in ("measure", "resize"):     # these two open no backing file
        assert "Could not open backing file" in q.stderr


@pytest.mark.parametrize("cmd", [["map"], ["convert", "-O", "raw"], ["compare"], ["commit"],
                                 ["create", "-f", "qcow2", "-F", "qcow2", "-b"]])
def test_backing_loop_elsewhere(tmp_path, cmd):
    """qemu-img 7.2 hangs (or names a lock) on a loop outside info; vmkit names the loop."""
    p = Pair(tmp_path, lambda d: chain(d, loop=True))
    args = {"convert": cmd + ["c.qcow2", "out.raw"], "compare": cmd + ["c.qcow2", "b.qcow2"],
            "create": cmd + ["c.qcow2", "x.qcow2"]}.get(cmd[0], cmd + ["c.qcow2"])
    v = run([p.vmkit, *args], cwd=p.v)
    assert v.returncode in (1, 2), v.returncode      # compare's "could not open" is 2
    # create adds qemu-img's second line for a backing file that does not open
    err = v.stderr.removesuffix("Could not open backing image.\n") if cmd[0] == "create" \
        else v.stderr
    assert err.endswith("Backing file 'c.qcow2' creates an infinite loop.\n"), v.stderr
    assert len(err.splitlines()) == 1
    try:
        q = subprocess.run([QEMU_IMG, *args], cwd=p.q, capture_output=True, text=True, timeout=3)
        assert q.returncode != 0      # where it does not hang it fails (a lock it holds itself)
    except subprocess.TimeoutExpired:
        pass


@pytest.mark.parametrize("cmd", [["info"], ["check"], ["map"], ["snapshot", "-l"], ["commit"],
                                 ["resize"], ["amend", "-o", "compat=1.1"], ["measure", "-O", "raw"]])
def test_no_such_file(tmp_path, cmd):
    args = cmd + ["none"] + (["1M"] if cmd == ["resize"] else [])
    Pair(tmp_path).same(*args)


def test_no_such_file_two(tmp_path):
    p = Pair(tmp_path, lambda d: run([QEMU_IMG, "create", "-q", "-f", "qcow2", "a", "1M"], cwd=d))
    p.same("compare", "a", "none")
    p.same("convert", "-O", "raw", "none", "out")
    p.same("info", "-f", "qcow2", "none")


@pytest.mark.parametrize("cs,size", [("512", "100T"), ("512", "1P"), ("4k", "1P"), ("64k", "7E"),
                                     ("64k", "8E"), ("2M", "9E"), ("64k", "16E"), ("64k", "1e")])
def test_create_too_large(tmp_path, cs, size):
    p = Pair(tmp_path)
    p.same("create", "-f", "qcow2", "-o", f"cluster_size={cs}", "x", size, files=["x"])
    p.same("create", "-f", "qcow2", "y", size, files=["y"])


@pytest.mark.parametrize("size", ["1E", "7E", "8E", "17E", "99999999999999999999"])
def test_create_raw_too_large(tmp_path, size):
    Pair(tmp_path).same("create", "-f", "raw", "x", size)


HEADERS = [
    ("size", 1 << 56),                  # L1 table is too small
    ("size", 1 << 61),                  # Image is too big
    ("size", 0xfffffffffffffe00),       # Could not refresh total sector count
    ("l1_size", 0x2000001),             # Active L1 table too large
    ("nb_snapshots", 65537),            # Snapshot table too large
    ("incompatible_features", 0x100),
    ("incompatible_features", 0x20),
    ("incompatible_features", 0x8000000000000100),
    ("incompatible_features", 0x1e0),
    ("version", 4),
    ("magic", b"QFI\0"),
]


@pytest.mark.parametrize("field,value", HEADERS, ids=lambda v: v if isinstance(v, str) else repr(v) if isinstance(v, bytes) else hex(v))
def test_hostile_header_messages(tmp_path, field, value):
    def setup(d):
        run([QEMU_IMG, "create", "-q", "-f", "qcow2", "h.qcow2", "1M"], cwd=d, check=True)
        qcow2hdr.patch(f"{d}/h.qcow2", field, value)
    p = Pair(tmp_path, setup)
    for args in (["info", "h.qcow2"], ["info", "-f", "qcow2", "h.qcow2"],
                 ["convert", "-O", "raw", "h.qcow2", "out"]):
        q = p.same(*args, files=["out"])
        if field != "magic" or "-f" in args:     # without its magic the file probes as raw
            assert q.returncode == 1 and q.stderr.startswith("qemu-img: Could not open 'h.qcow2': ")
