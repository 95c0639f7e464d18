# SPDX-License-Identifier: GPL-2.0-or-later
"""Options and their errors as qemu-img 7.2 takes and words them, byte for byte: create's -o
(syntax errors before "Formatting", value errors after it, the file named in both),
preallocation=falloc|full, -o help, convert -S/-T/--target-is-zero, map --start-offset and
--max-length, check/snapshot on a missing backing file, the probed-raw warning, and the
two-line size errors. Same arguments against both tools (sametest.Pair), results compared."""
import os
import re

import pytest

from imgtest import QEMU_IMG, QEMU_IO, run
from sametest import Pair


def images(d):
    """a.qcow2 (data, a zero run), r.raw and r2.raw, big.raw/big.qcow2 (old data), t.qcow2 on a."""
    q = lambda *a: run([QEMU_IMG, *a], cwd=d, check=True)
    io = lambda fmt, img, *cmds: run([QEMU_IO, "-f", fmt, *sum((["-c", c] for c in cmds), []),
                                     img], cwd=d, check=True)
    q("create", "-q", "-f", "qcow2", "a.qcow2", "64M")
    io("qcow2", "a.qcow2", "write -P 1 0 3M", "write -z 8M 1M", "write -P 2 20M 64k")
    q("create", "-q", "-f", "raw", "r.raw", "1M")
    q("create", "-q", "-f", "raw", "r2.raw", "1M")
    q("create", "-q", "-f", "raw", "big.raw", "64M")
    q("create", "-q", "-f", "qcow2", "big.qcow2", "64M")
    io("raw", "big.raw", "write -P 7 0 4M")
    io("qcow2", "big.qcow2", "write -P 7 0 4M")
    q("create", "-q", "-f", "qcow2", "-b", "a.qcow2", "-F", "qcow2", "t.qcow2")
    io("qcow2", "t.qcow2", "write -P 3 1M 64k")


CREATE = [
    ["-f", "qcow2", "x.qcow2"],                                          # no size
    ["-f", "qcow2", "-o", "preallocation=foo", "x.qcow2", "1M"],
    ["-f", "qcow2", "-o", "lazy_refcounts=maybe", "x.qcow2", "1M"],
    ["-f", "qcow2", "-o", "compat=2", "x.qcow2", "1M"],
    ["-f", "qcow2", "-o", "compat=2,preallocation=foo,compression_type=bar", "x.qcow2", "1M"],
    ["-f", "qcow2", "-o", "preallocation=foo,compression_type=bar", "x.qcow2", "1M"],
    ["-f", "qcow2", "-o", "compression_type=bar", "x.qcow2", "1M"],
    ["-f", "qcow2", "-o", "refcount_bits=abc", "x.qcow2", "1M"],
    ["-f", "qcow2", "-o", "refcount_bits=0", "x.qcow2", "1M"],
    ["-f", "qcow2", "-o", "refcount_bits=-1", "x.qcow2", "1M"],
    ["-f", "qcow2", "-o", "refcount_bits=128", "x.qcow2", "1M"],
    ["-f", "qcow2", "-o", "cluster_size=abc", "x.qcow2", "1M"],
    ["-f", "qcow2", "-o", "size=abc", "x.qcow2"],
    ["-f", "qcow2", "-o", "foo=bar", "x.qcow2", "1M"],
    ["-f", "raw", "-o", "cluster_size=64k", "x.raw", "1M"],
    ["-f", "raw", "-o", "preallocation=foo", "x.raw", "1M"],
    ["-f", "raw", "-o", "preallocation=metadata", "x.raw", "1M"],
    ["-f", "raw", "-o", "preallocation=falloc", "x.raw", "1M"],
    ["-f", "raw", "-o", "preallocation=full", "x.raw", "3M"],
    ["-f", "qcow2", "-o", "preallocation=falloc", "x.qcow2", "3M"],
    ["-f", "qcow2", "-o", "preallocation=full", "x.qcow2", "3M"],
    ["-f", "qcow2", "-o", "preallocation=full,cluster_size=4k", "x.qcow2", "1M"],
    ["-f", "qcow2", "-o", "preallocation=falloc", "-b", "a.qcow2", "-F", "qcow2", "x.qcow2"],
]


@pytest.mark.parametrize("args", CREATE, ids=lambda a: " ".join(a))
def test_create_options(tmp_path, args):
    p = Pair(tmp_path, images)
    if "preallocation=metadata" in args:
        # qemu-img's raw driver leaves an empty x.raw behind when it refuses the mode; vmkit
        # makes no file for a create that fails (same messages, same exit code).
        q, v = p.run("create", *args)
        assert (v.returncode, v.stdout, v.stderr) == (q.returncode, q.stdout, q.stderr)
        assert q.returncode == 1 and not os.path.exists(os.path.join(p.v, "x.raw"))
        return
    if "-f" in args and "qcow2" in args and any(m in " ".join(args) for m in ("=falloc", "=full")):
        # qcow2 falloc/full: qemu-img grows the refcount structures for the whole file first
        # (qcow2_refcount_area), vmkit lays out the metadata as for preallocation=metadata;
        # the data clusters, the guest's view, the file's size and allocation are the same.
        q = p.same("create", *args)
        if q.returncode == 0:
            for cmd in (["map", "--output=json"], ["check"]):
                outs = [run([QEMU_IMG, *cmd, "x.qcow2"], cwd=d, check=True).stdout
                        for d in (p.q, p.v)]
                assert outs[0] == outs[1], cmd
            sizes = [os.stat(os.path.join(d, "x.qcow2")).st_size for d in (p.q, p.v)]
            assert sizes[0] == sizes[1]
        return
    p.same("create", *args, files=["x.qcow2", "x.raw"])


@pytest.mark.parametrize("fmt,prealloc", [("raw", "falloc"), ("raw", "full"),
                                          ("qcow2", "falloc"), ("qcow2", "full")])
def test_preallocation_allocates(tmp_path, fmt, prealloc):
    """falloc and full leave no holes: the file's blocks cover its length, as qemu-img's."""
    p = Pair(tmp_path, images)
    name = f"x.{fmt}"
    p.same("create", "-q", "-f", fmt, "-o", f"preallocation={prealloc}", name, "8M",
           files=[name] if fmt == "raw" else [])
    for d in (p.q, p.v):        # the 8 MiB of data at least are allocated, not holes
        st = os.stat(os.path.join(d, name))
        assert st.st_blocks * 512 >= 8 << 20, (d, st.st_blocks, st.st_size)
    if fmt == "qcow2":
        run([QEMU_IMG, "check", "-f", fmt, name], cwd=p.v, check=True)


CONVERT = [
    ["-O", "qcow2", "-o", "preallocation=foo", "a.qcow2", "x.qcow2"],
    ["-O", "qcow2", "-o", "compat=3", "a.qcow2", "x.qcow2"],
    ["-O", "qcow2", "-o", "foo=bar", "a.qcow2", "x.qcow2"],
    ["-O", "qcow2", "-o", "lazy_refcounts=maybe", "a.qcow2", "x.qcow2"],
    ["-O", "raw", "-o", "preallocation=metadata", "a.qcow2", "x.raw"],
    ["-O", "qcow2", "-o", "preallocation=falloc", "a.qcow2", "x.qcow2"],
    ["-O", "raw", "-o", "preallocation=full", "a.qcow2", "x.raw"],
    ["-O", "raw", "-S", "3", "a.qcow2", "x.raw"],
    ["-O", "raw", "-S", "4M", "a.qcow2", "x.raw"],
    ["-O", "qcow2", "-S", "16M", "a.qcow2", "x.qcow2"],
    ["-O", "qcow2", "-S", "17M", "a.qcow2", "x.qcow2"],
    ["-O", "raw", "-T", "foo", "a.qcow2", "x.raw"],
    ["-O", "raw", "-T", "none", "a.qcow2", "x.raw"],
    ["-O", "raw", "--target-is-zero", "a.qcow2", "x.raw"],
    ["-n", "-O", "raw", "--target-is-zero", "a.qcow2", "r.raw"],
    ["-n", "-O", "raw", "a.qcow2", "r.raw"],
    ["-n", "-O", "raw", "--target-is-zero", "a.qcow2", "big.raw"],
    ["-n", "-O", "raw", "a.qcow2", "big.raw"],
    ["-n", "-O", "qcow2", "--target-is-zero", "a.qcow2", "big.qcow2"],
    ["-n", "-O", "qcow2", "a.qcow2", "big.qcow2"],
]


@pytest.mark.parametrize("args", CONVERT, ids=lambda a: " ".join(a))
def test_convert_options(tmp_path, args):
    p = Pair(tmp_path, images)
    if "preallocation=metadata" in args:
        # qemu-img leaves the raw target it made before refusing the mode; vmkit removes it.
        q, v = p.run("convert", *args)
        assert (v.returncode, v.stdout, v.stderr) == (q.returncode, q.stdout, q.stderr)
        assert q.returncode == 1 and not os.path.exists(os.path.join(p.v, "x.raw"))
        return
    if "preallocation=falloc" in args or args[:3] == ["-n", "-O", "qcow2"]:
        # The same guest view and allocation, metadata placed differently (falloc: see
        # test_create_options; -n into a used qcow2: which old clusters are reused).
        p.same("convert", *args)
        out = args[-1]
        for cmd in (["map", "--output=json"], ["check"], ["compare", "a.qcow2"]):
            outs = [run([QEMU_IMG, *cmd, out], cwd=d).stdout for d in (p.q, p.v)]
            if cmd[0] == "map" and args[0] == "-n":
                outs = [re.sub(r', "offset": \d+', "", o) for o in outs]
            assert outs[0] == outs[1], cmd
        return
    p.same("convert", *args, files=["x.qcow2", "x.raw", "r.raw", "big.raw", "big.qcow2"])


def test_target_is_zero_leaves_old_data(tmp_path):
    """--target-is-zero is a promise: where the source reads zeros, the old data stays."""
    p = Pair(tmp_path, images)
    p.same("convert", "-n", "-O", "raw", "--target-is-zero", "a.qcow2", "big.raw",
           files=["big.raw"])
    with open(os.path.join(p.v, "big.raw"), "rb") as f:
        f.seek(3 << 20)
        assert f.read(4096) == b"\x07" * 4096


MAP = [
    ["-s", "1M", "-l", "1M", "a.qcow2"],
    ["-s", "1000", "-l", "10000", "a.qcow2"],
    ["-s", "1000", "-l", "10000", "--output=json", "a.qcow2"],
    ["-s", "1G", "a.qcow2"],
    ["-l", "0", "a.qcow2"],
    ["-s", "-1", "a.qcow2"],
    ["-l", "foo", "a.qcow2"],
    ["--start-offset=7M", "--output=json", "t.qcow2"],
    ["--max-length=2M", "--output=json", "t.qcow2"],
    ["-s", "63M", "-l", "10G", "t.qcow2"],
]


@pytest.mark.parametrize("args", MAP, ids=lambda a: " ".join(a))
def test_map_range(tmp_path, args):
    Pair(tmp_path, images).same_here("map", *args)


OTHER = [
    ["commit", "-b", "x", "a.qcow2"],
    ["commit", "-b", "x", "t.qcow2"],
    ["measure", "--size", "foo", "-O", "qcow2"],
    ["measure", "--size", "9E", "-O", "qcow2"],
    ["resize", "a.qcow2", "foo"],
    ["resize", "a.qcow2", "+foo"],
    ["resize", "a.qcow2", "+1G"],       # a new L1 table: the file ends where qemu-img's does
    ["resize", "a.qcow2", "8T"],
    ["check", "-r", "foo", "a.qcow2"],
    # a probed raw image opened for writing: qemu's three-line warning
    ["resize", "r.raw", "2M"],
    ["resize", "-f", "raw", "r.raw", "2M"],
    ["check", "-r", "all", "r.raw"],
    ["snapshot", "-c", "s", "r.raw"],
    ["amend", "-o", "size=2M", "r.raw"],
    ["rebase", "-b", "r2.raw", "-F", "raw", "r.raw"],
    ["rebase", "-u", "-b", "r2.raw", "-F", "raw", "r.raw"],
    ["bench", "-w", "-c", "1", "r.raw"],
    ["convert", "-n", "r.raw", "r2.raw"],
]


@pytest.mark.parametrize("args", OTHER, ids=lambda a: " ".join(a))
def test_other_messages(tmp_path, args):
    p = Pair(tmp_path, images)
    q, v = p.run(*args)
    if args[0] == "bench":      # the run's time differs: compare the rest
        strip = lambda s: "\n".join(l for l in s.splitlines() if not l.startswith("Run completed"))
        assert (v.returncode, strip(v.stdout), v.stderr) == (q.returncode, strip(q.stdout), q.stderr)
        return
    assert (v.returncode, v.stdout, v.stderr) == (q.returncode, q.stdout, q.stderr), args
    p.same_files("a.qcow2", "t.qcow2", "r.raw", "r2.raw")


# qemu-img lists options vmkit does not take (encryption, nocow, extended_l2): those lines
# are left out, and only those.
UNSUPPORTED = ("encrypt.", "encryption=", "nocow=", "extended_l2=")


@pytest.mark.parametrize("args", [
    ["create", "-f", "qcow2", "-o", "help"],
    ["create", "-f", "raw", "-o", "help"],
    ["create", "-f", "qcow2", "-o", "help", "x.qcow2", "1M"],
    ["create", "-f", "raw", "-o", "help", "x.raw"],
    ["create", "-f", "qcow2", "-o", "size=1M,help", "x.qcow2"],
    ["create", "-f", "qcow2", "-o", "?", "x.qcow2"],
    ["convert", "-O", "qcow2", "-o", "help"],
    ["convert", "-O", "raw", "-o", "help"],
    ["convert", "-O", "qcow2", "-o", "help", "a.qcow2", "x.qcow2"],
], ids=lambda a: " ".join(a))
def test_option_help(tmp_path, args):
    p = Pair(tmp_path, images)
    q, v = p.run(*args)
    assert (v.returncode, v.stderr) == (q.returncode, q.stderr) == (0, "")
    want = [l for l in q.stdout.splitlines() if not l.strip().startswith(UNSUPPORTED)]
    assert v.stdout.splitlines() == want
    assert not os.path.exists(os.path.join(p.v, "x.qcow2"))


@pytest.mark.parametrize("opts", [[], ["-o", "cluster_size=4k"], ["-o", "compression_type=zstd"],
                                  ["-m", "1"]], ids=lambda a: " ".join(a) or "default")
def test_convert_compressed_same_file(tmp_path, opts):
    """convert -c: each L2 table before the bytes it maps, the file's end on a sector, as
    qemu-img lays it out: the same file, byte for byte."""
    Pair(tmp_path, images).same("convert", "-c", *opts, "-O", "qcow2", "a.qcow2", "x.qcow2",
                                files=["x.qcow2"])
