# SPDX-License-Identifier: GPL-2.0-or-later
"""json:{...} image names, the null-co driver, host_device as a format name and the
extent_size_hint create option, each against the real qemu-img (sametest.Pair)."""
import json
import subprocess

import pytest

from imgtest import QEMU_IMG, run
from sametest import Pair


def images(d):
    run([QEMU_IMG, "create", "-q", "-f", "qcow2", "a.qcow2", "1M"], cwd=d, check=True)
    run([QEMU_IMG, "create", "-q", "-f", "raw", "r.raw", "1M"], cwd=d, check=True)
    run([QEMU_IMG, "create", "-q", "-f", "qcow2", "-b", "a.qcow2", "-F", "qcow2", "top.qcow2"],
        cwd=d, check=True)
    run(["/usr/bin/qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 64k", "a.qcow2"], cwd=d,
        check=True)
    run(["/usr/bin/qemu-io", "-f", "qcow2", "-c", "write -P 0x33 128k 64k", "top.qcow2"], cwd=d,
        check=True)


def j(**opts):
    return "json:" + json.dumps(opts, separators=(",", ":"))


QCOW2 = j(driver="qcow2", file={"driver": "file", "filename": "a.qcow2"})
TOP = j(driver="qcow2", file={"driver": "file", "filename": "top.qcow2"})
RAW = j(driver="raw", file={"driver": "file", "filename": "r.raw"})

OPEN_NAMES = [
    QCOW2, TOP, RAW,
    j(file={"driver": "file", "filename": "a.qcow2"}),
    j(file={"filename": "a.qcow2"}),
    j(file="a.qcow2"),
    j(driver="qcow2", file="a.qcow2"),
    j(**{"driver": "qcow2", "file.filename": "a.qcow2"}),
    j(**{"file.filename": "top.qcow2"}),
    j(**{"file.driver": "file", "file.filename": "a.qcow2"}),
    j(driver="file", filename="a.qcow2"),
    j(driver="file", filename="file:a.qcow2"),
    j(driver="raw", file={"driver": "file", "filename": "a.qcow2"}),
    j(driver="qcow2", file={"driver": "file", "filename": "a.qcow2", "aio": "threads"}),
    j(driver="qcow2", file={"driver": "file", "filename": "a.qcow2"}, **{"cache.direct": False}),
    "json:{'driver':'qcow2','file':{'driver':'file','filename':'a.qcow2'}}",
    'json: {"file.filename":"a.qcow2"} ',
    j(driver="null-co"),
    j(driver="null-co", size=4096),
    j(driver="null-co", size="4096"),
    j(driver="null-co", size="1M"),
    j(driver="null-co", size=1000),
    j(driver="null-co", size=None),
    j(driver="null-co", **{"read-zeroes": True}),
    j(driver="null-co", **{"read-zeroes": "on", "size": 65536}),
    j(driver="null-co", **{"latency-ns": 5}),
    j(driver="raw", file={"driver": "null-co", "size": 4096}),
    j(driver="raw", file={"driver": "null-co"}),
    j(**{"driver": "raw", "file.driver": "null-co", "file.read-zeroes": True}),
    "null-co://",
    'json:{"driver":"null-co","size":1e3}',
    # errors: malformed JSON, wrong types, unknown drivers and options, missing files
    "json:", "json: ", "json:{", "json:}", "json:]", "json:[]", "json:5", 'json:"x"',
    'json:{"a"}', 'json:{"a":}', 'json:{"a":1,}', "json:{a:1}", 'json:{"a":1}x',
    'json:{"a":1} {}', 'json:{"a":tru}', 'json:{"a":TRUE}', 'json:{"a":@}', 'json:{"a":-}',
    'json:{"a":01}', 'json:{"a":[1,2}', 'json:{"a":[1,2', 'json:{"a', 'json:{"a":"\\q"}',
    'json:{"driver":"null-co" "size":1}', 'json:{"driver":"null-co","size":1,"size":2}',
    'json:{"driver":"null-co"}}',
    j(filename="a.qcow2"),
    j(driver="qcow2", filename="a.qcow2"),
    j(driver="foo", filename="a.qcow2"),
    j(driver=1, file="a"),
    j(**{"driver": 1, "file.filename": "a.qcow2"}),
    j(driver="qcow2", file={"driver": "file"}),
    j(driver="qcow2", file={"driver": "file", "filename": 5}),
    j(driver="qcow2", file={"driver": "file", "filename": "nonexist"}),
    j(driver="qcow2", file={"driver": "file", "filename": "a.qcow2", "foo": 1}),
    j(driver="qcow2", bar=1, file={"driver": "file", "filename": "a.qcow2"}),
    j(driver="file", filename="a.qcow2", x=1),
    j(driver="null-co", filename="x"),
    j(driver="qcow2", file={"driver": "host_device", "filename": "a.qcow2"}),
    j(driver="host_device", filename="/dev/null"),
    j(driver="file", filename="/dev/null"),
    j(**{"driver": "qcow2", "file.filename": [1]}),
    "null-co://x",
]


@pytest.mark.parametrize("name", OPEN_NAMES)
def test_info(tmp_path, name):
    p = Pair(tmp_path, images)
    p.same_here("info", name)
    p.same_here("info", "--output=json", name)


@pytest.mark.parametrize("name", [QCOW2, TOP, RAW, j(**{"file.filename": "top.qcow2"}),
                                  j(driver="null-co", size=1 << 20, **{"read-zeroes": True}),
                                  j(driver="null-co", size=1 << 20), "null-co://"])
def test_read_commands(tmp_path, name):
    p = Pair(tmp_path, images)
    p.same_here("info", "--backing-chain", name)
    p.same_here("map", name)
    p.same_here("map", "--output=json", name)
    p.same_here("check", name)
    p.same_here("snapshot", "-l", name)
    p.same_here("measure", "-O", "qcow2", name)
    p.same_here("compare", name, "r.raw")
    p.same_here("compare", "-s", name, name)


@pytest.mark.parametrize("args", [["-f", "raw", QCOW2], ["-f", "qcow2", QCOW2],
                                  ["-f", "raw", j(**{"file.filename": "a.qcow2"})],
                                  ["-f", "file", "a.qcow2"], ["-f", "host_device", "a.qcow2"],
                                  ["-f", "host_cdrom", "a.qcow2"],
                                  ["-f", "host_device", "/dev/null"],
                                  ["-f", "null-co", "null-co://"], ["-f", "null-co", "a.qcow2"]])
def test_info_with_format(tmp_path, args):
    Pair(tmp_path, images).same_here("info", *args)


@pytest.mark.parametrize("src", [QCOW2, TOP, RAW,
                                 j(driver="null-co", size=1 << 20, **{"read-zeroes": True}),
                                 j(driver="null-co", size=1 << 20)])
@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
def test_convert_from_json(tmp_path, src, fmt):
    p = Pair(tmp_path, images)
    # qcow2 targets: the same content (vmkit lays clusters out in its own order).
    p.same("convert", "-O", fmt, src, "out", files=["out"] if fmt == "raw" else [])
    p.same("compare", "-s", "out", src)
    p.same("info", "out")


@pytest.mark.parametrize("dst", [j(driver="raw", file={"driver": "file", "filename": "r.raw"}),
                                 j(driver="file", filename="r.raw"),
                                 j(driver="raw", file={"driver": "file", "filename": "nope"}),
                                 "null-co://", j(driver="null-co")])
def test_convert_into_existing(tmp_path, dst):
    p = Pair(tmp_path, images)
    p.same("convert", "-n", "-O", "raw", "a.qcow2", dst, files=["r.raw", "nope"])
    p.same("convert", "-n", "a.qcow2", dst, files=["r.raw", "nope"])


@pytest.mark.parametrize("args", [["create", "-f", "qcow2", RAW, "1M"],
                                  ["create", "-f", "raw", "null-co://", "1M"],
                                  ["create", "-f", "null-co", "null-co://", "1M"],
                                  ["convert", "-O", "raw", "r.raw", RAW],
                                  ["convert", "-O", "raw", "r.raw", "null-co://"]])
def test_cannot_create(tmp_path, args):
    Pair(tmp_path, images).same(*args, files=["r.raw"])


@pytest.mark.parametrize("backing,fmt", [(QCOW2, "qcow2"), (QCOW2, None), (RAW, "raw"),
                                         (j(file={"driver": "file", "filename": "a.qcow2"}), "raw"),
                                         (j(driver="raw", file={"driver": "file",
                                                                "filename": "a.qcow2"}), "qcow2"),
                                         ("null-co://", "raw"), (j(driver="null-co"), None),
                                         ('json:{"driver":', "qcow2")])
def test_create_with_json_backing(tmp_path, backing, fmt):
    p = Pair(tmp_path, images)
    args = ["create", "-f", "qcow2", "-b", backing] + (["-F", fmt] if fmt else []) + ["o.qcow2"]
    p.same(*args, files=["o.qcow2"])
    p.same("info", "o.qcow2")
    p.same("info", "--backing-chain", "o.qcow2")
    p.same("map", "--output=json", "o.qcow2")


def test_write_commands(tmp_path):
    """Snapshots carry their creation time and commit empties the top its own way: for
    those, the same output and the same result through the reading commands."""
    p = Pair(tmp_path, images)
    files = ["a.qcow2", "top.qcow2", "r.raw"]
    p.same("resize", RAW, "2M", files=files)
    p.same("resize", QCOW2, "2M", files=files)
    p.same("amend", "-o", "lazy_refcounts=on", QCOW2, files=files)
    p.same("rebase", "-u", "-b", "r.raw", "-F", "raw", TOP)
    p.same("info", "top.qcow2")
    p.same("rebase", "-u", "-b", QCOW2, "-F", "qcow2", TOP)
    p.same("info", "top.qcow2")
    p.same("snapshot", "-c", "s1", QCOW2)
    p.same("snapshot", "-d", "s1", QCOW2)
    p.same("check", QCOW2)
    p.same("commit", TOP)
    p.same("compare", "top.qcow2", "a.qcow2")
    p.same("map", "--output=json", QCOW2)
    p.same("check", "-r", "all", QCOW2)


@pytest.mark.parametrize("args", [["resize", "r.raw", "2M"], ["commit", "r.raw"],
                                  ["resize", j(**{"file.filename": "r.raw"}), "2M"],
                                  ["rebase", "-b", "a.qcow2", "-F", "qcow2", "r.raw"],
                                  ["rebase", "-u", "-b", "a.qcow2", "-F", "qcow2", "r.raw"]])
def test_probed_raw_written(tmp_path, args):
    """qemu-img warns when it writes to an image it probed as raw."""
    Pair(tmp_path, images).same(*args, files=["r.raw"])


@pytest.mark.parametrize("args", [["resize", "null-co://", "2G"],
                                  ["resize", j(driver="null-co"), "2G"],
                                  ["check", "null-co://"], ["check", j(driver="null-co")],
                                  ["commit", "null-co://"], ["amend", "-o", "size=1M", "null-co://"]])
def test_null_co_refusals(tmp_path, args):
    Pair(tmp_path, images).same(*args)


@pytest.mark.parametrize("backing,fmt,extra", [("r.raw", "host_device", []),
                                               ("/dev/null", "host_device", ["1M"]),
                                               ("/dev/null", "host_cdrom", ["1M"]),
                                               ("r.raw", "file", []),
                                               ("r.raw", "null-co", []),
                                               ("null-co://", "null-co", [])])
def test_backing_format_protocols(tmp_path, backing, fmt, extra):
    p = Pair(tmp_path, images)
    p.same("create", "-f", "qcow2", "-b", backing, "-F", fmt, "o.qcow2", *extra, files=["o.qcow2"])
    p.same("info", "o.qcow2")
    p.same("info", "--backing-chain", "o.qcow2")
    if fmt != "host_cdrom":		# QEMU asks a real CD-ROM drive whether a disc is in
        p.same("map", "o.qcow2")


def test_backing_host_device_unsafe(tmp_path):
    p = Pair(tmp_path, images)
    p.same("create", "-f", "qcow2", "-u", "-b", "r.raw", "-F", "host_device", "o.qcow2", "1M",
           files=["o.qcow2"])
    p.same("info", "o.qcow2")
    p.same("map", "o.qcow2")
    p.same("compare", "o.qcow2", "r.raw")


@pytest.mark.parametrize("fmt", ["raw", "qcow2"])
@pytest.mark.parametrize("hint", ["0", "1M", "4k", "256M", "4294967295", "4G", "5G", "-1", "x",
                                  "1.5M", "512"])
def test_extent_size_hint(tmp_path, fmt, hint):
    p = Pair(tmp_path)
    p.same("create", "-f", fmt, "-o", f"extent_size_hint={hint}", "x." + fmt, "1M",
           files=["x." + fmt])
    p.same("convert", "-O", fmt, "-o", f"extent_size_hint={hint}", "x." + fmt, "y",
           files=["y"])


@pytest.mark.parametrize("name", [j(driver="null-co", size=-1), j(driver="null-co", size="x"),
                                  j(driver="null-co", size=1.5), j(driver="null-co", size=True),
                                  j(driver="null-co", **{"read-zeroes": "x"}),
                                  j(driver="raw", file={"driver": "null-co", "size": -5})])
def test_null_co_bad_values_abort(tmp_path, name):
    """qemu-img 7.2 asserts on these (SIGABRT after naming the bad value): so does vmkit,
    with the same two lines."""
    p = Pair(tmp_path)
    q = subprocess.run([QEMU_IMG, "info", name], cwd=p.q, capture_output=True, text=True)
    v = subprocess.run([p.vmkit, "info", name], cwd=p.v, capture_output=True, text=True)
    assert (v.returncode, v.stdout, v.stderr) == (q.returncode, q.stdout, q.stderr)


IMAGE_OPTS = ["driver=qcow2,file.filename=a.qcow2", "file.filename=a.qcow2",
              "file.filename=top.qcow2", "file.filename=a.qcow2,driver=raw",
              "driver=raw,file.driver=file,file.filename=r.raw",
              "driver=null-co", "driver=null-co,size=1M", "driver=null-co,read-zeroes=on",
              "driver=file,filename=a.qcow2",
              "driver=qcow2,file.driver=file,file.filename=a.qcow2,file.filename=r.raw",
              "a.qcow2", "a.qcow2,driver=qcow2", ",driver=qcow2",
              "driver=qcow2,file.filename=nonexist", "driver=foo,file.filename=a.qcow2",
              "driver=qcow2,file.filename=a.qcow2,bar=1", 'json:{"driver":"null-co"}']


@pytest.mark.parametrize("opts", IMAGE_OPTS)
def test_image_opts_info(tmp_path, opts):
    p = Pair(tmp_path, images)
    p.same_here("info", "--image-opts", opts)
    p.same_here("info", "--output=json", "--backing-chain", "--image-opts", opts)


@pytest.mark.parametrize("args", [
    ["info", "--image-opts", "-f", "qcow2", "a.qcow2"],
    ["map", "--image-opts", "file.filename=top.qcow2"],
    ["map", "--output=json", "--image-opts", "driver=null-co,size=1M"],
    ["check", "--image-opts", "file.filename=a.qcow2"],
    ["compare", "--image-opts", "file.filename=a.qcow2", "file.filename=top.qcow2"],
    ["snapshot", "-l", "--image-opts", "file.filename=a.qcow2"],
    ["measure", "--image-opts", "-O", "qcow2", "file.filename=a.qcow2"],
])
def test_image_opts_read_commands(tmp_path, args):
    Pair(tmp_path, images).same_here(*args)


def test_image_opts_write_commands(tmp_path):
    p = Pair(tmp_path, images)
    p.same("convert", "--image-opts", "-O", "raw", "file.filename=top.qcow2", "o.raw",
           files=["o.raw"])
    p.same("resize", "--image-opts", "file.filename=r.raw", "2M", files=["r.raw"])
    p.same("amend", "--image-opts", "-o", "lazy_refcounts=on", "file.filename=a.qcow2",
           files=["a.qcow2"])
    p.same("rebase", "--image-opts", "-u", "-b", "r.raw", "-F", "raw", "file.filename=top.qcow2")
    p.same("info", "top.qcow2")


def window(**extra):
    return j(driver="raw", file={"driver": "file", "filename": "r.raw"}, **extra)


@pytest.mark.parametrize("name", [window(offset=512), window(offset="1k"), window(offset=100),
                                  window(offset=1 << 20), window(offset=2 << 20),
                                  window(offset=65536, size=262144), window(size=0),
                                  window(size=1000), window(offset=-1), window(offset="x"),
                                  window(offset=3000000), window(size=4 << 20),
                                  window(offset=None), window(foo=1, offset=512),
                                  j(**{"file.filename": "r.raw", "offset": 512}),
                                  j(**{"file.filename": "a.qcow2", "offset": 512})])
def test_raw_window_info(tmp_path, name):
    p = Pair(tmp_path, images)
    p.same_here("info", name)
    p.same_here("info", "--output=json", name)


def test_raw_window_io(tmp_path):
    """raw's offset and size: reads, writes, map and resize work on the window of the file."""
    p = Pair(tmp_path, images)
    w, o = window(offset=65536, size=262144), window(offset=4096)
    p.same("convert", "-n", "-O", "raw", "a.qcow2", w, files=["r.raw"])
    p.same("convert", "-n", "-O", "raw", j(driver="null-co", size=262144, **{"read-zeroes": True}),
           w, files=["r.raw"])
    p.same("map", "--output=json", w)
    p.same("map", o)
    p.same("compare", w, "a.qcow2")
    p.same("convert", "-O", "raw", w, "out", files=["out"])
    p.same("resize", w, "1M", files=["r.raw"])
    p.same("resize", o, "4M", files=["r.raw"])
    p.same("resize", "--shrink", o, "1M", files=["r.raw"])
    p.same("resize", "--preallocation=full", o, "3M", files=["r.raw"])
    p.same("info", o)
    p.same("convert", "-n", "-O", "raw", "a.qcow2", window(size=4096), files=["r.raw"])


def test_backing_null(tmp_path):
    """"backing": null opens the layer alone: its backing file is named, not read."""
    p = Pair(tmp_path, images)
    b = j(driver="qcow2", file={"driver": "file", "filename": "top.qcow2"}, backing=None)
    p.same("info", b)
    p.same("info", "--backing-chain", b)
    p.same("map", "--output=json", b)
    p.same("compare", b, "a.qcow2")
    p.same("convert", "-O", "raw", b, "o.raw", files=["o.raw"])
    p.same("info", j(driver="qcow2", file={"driver": "file", "filename": "top.qcow2"},
                     backing="x"))


@pytest.mark.parametrize("depth", [1023, 1024, 3000])
def test_json_nesting_limit(tmp_path, depth):
    """QEMU's parser takes 1024 levels; the whole long name is in the message."""
    Pair(tmp_path).same("info", 'json:{"a":' + "[" * depth + "]" * depth + "}")


def test_raw_options_before_file(tmp_path):
    """raw reads offset and size before it asks for its file, also under -f and -F."""
    p = Pair(tmp_path, images)
    for name in [j(driver="null-co", size=4096), j(driver="null-co", size=-5),
                 j(driver="null-co", offset="x", size=-5)]:
        p.same("info", "-f", "raw", name)
    p.same("create", "-q", "-f", "qcow2", "-u", "-b", j(driver="null-co", size=-1), "-F", "raw",
           "ab.qcow2", "1M", files=["ab.qcow2"])
    p.same("info", "--backing-chain", "ab.qcow2")
    p.same("map", "ab.qcow2")
