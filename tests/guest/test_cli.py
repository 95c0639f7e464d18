# SPDX-License-Identifier: GPL-2.0-or-later
"""Bad input to `vmkit run`: one line naming the problem, exit 2, nothing started."""
import os
import stat
from pathlib import Path

import pytest

from vmkit_harness import VMKIT, guest, require_vmkit, run_argv


def host_mem_mib() -> int:
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGESIZE") // (1 << 20)


def run_bad(args, tmp_path):
    require_vmkit()
    r = run_argv([str(VMKIT), "run"] + [str(a) for a in args], timeout=10)
    return r


def assert_usage_error(r, *words):
    assert r.returncode == 2, r.describe()
    errs = [l for l in r.stderr.splitlines() if not l.startswith("vmkit: host KVM is PVM")]
    assert len(errs) == 1, f"expected one error line{r.describe()}"
    assert errs[0].startswith("vmkit: "), r.describe()
    for w in words:
        assert w in errs[0], f"'{w}' not in the error line{r.describe()}"
    assert "VMKIT-" not in r.stdout, "the guest must not have started" + r.describe()


def test_missing_kernel_option(tmp_path):
    assert_usage_error(run_bad([], tmp_path), "--kernel")


def test_kernel_does_not_exist(tmp_path):
    assert_usage_error(run_bad(["--kernel", tmp_path / "nope"], tmp_path), "nope", "No such file")


def test_kernel_is_not_a_kernel(tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"this is not a kernel\n" * 100)
    assert_usage_error(run_bad(["--kernel", junk], tmp_path), "junk.bin", "not a kernel")


def test_truncated_elf(tmp_path):
    src = guest("hello").read_bytes()
    bad = tmp_path / "trunc.elf"
    bad.write_bytes(src[:200])
    r = run_bad(["--kernel", bad], tmp_path)
    assert_usage_error(r, "trunc.elf")


def test_elf_segment_outside_memory(tmp_path):
    """A PT_LOAD aimed past guest RAM is refused, not copied out of bounds."""
    import struct
    data = bytearray(guest("hello").read_bytes())
    phoff = struct.unpack_from("<Q", data, 0x20)[0]
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for i in range(phnum):
        off = phoff + i * phentsize
        if struct.unpack_from("<I", data, off)[0] == 1:  # PT_LOAD
            struct.pack_into("<Q", data, off + 0x18, 0xfff00000)  # p_paddr
            break
    bad = tmp_path / "far.elf"
    bad.write_bytes(bytes(data))
    assert_usage_error(run_bad(["--kernel", bad, "--memory", "64M"], tmp_path),
                       "far.elf", "does not fit")


def test_kernel_is_a_directory(tmp_path):
    assert_usage_error(run_bad(["--kernel", tmp_path], tmp_path), "not a regular file")


@pytest.mark.parametrize("mem,word", [("0", "too small"), ("abc", "not a size"),
                                      ("12Q", "not a size"), ("-5", "not a size")])
def test_bad_memory(tmp_path, mem, word):
    assert_usage_error(run_bad(["--kernel", guest("hello"), "--memory", mem], tmp_path),
                       "--memory", word)


def test_memory_more_than_host(tmp_path):
    too_much = f"{host_mem_mib() + 1024}M"
    assert_usage_error(run_bad(["--kernel", guest("hello"), "--memory", too_much], tmp_path),
                       "--memory", "more than the host")


@pytest.mark.parametrize("cpus,word", [("0", "at least one"), ("x", "not a number")])
def test_bad_cpus(tmp_path, cpus, word):
    assert_usage_error(run_bad(["--kernel", guest("hello"), "--cpus", cpus], tmp_path),
                       "--cpus", word)


def test_cpus_more_than_host(tmp_path):
    n = os.cpu_count() + 1
    assert_usage_error(run_bad(["--kernel", guest("hello"), "--cpus", n], tmp_path),
                       "--cpus", "more than the host")


def test_topology_mismatch(tmp_path):
    assert_usage_error(run_bad(["--kernel", guest("hello"), "--cpus", "1",
                                "--topology", "sockets=1,cores=2,threads=1"], tmp_path),
                       "--topology")


def test_unknown_option(tmp_path):
    assert_usage_error(run_bad(["--kernel", guest("hello"), "--frobnicate"], tmp_path),
                       "unknown option", "--frobnicate")


def test_bad_console(tmp_path):
    assert_usage_error(run_bad(["--kernel", guest("hello"), "--console", "tcp:1"], tmp_path),
                       "--console")


def test_unreadable_initrd(tmp_path):
    if os.geteuid() == 0:
        # root reads anything: a missing file stands in for an unreadable one
        missing = tmp_path / "initrd.img"
        assert_usage_error(run_bad(["--kernel", guest("hello"), "--initrd", missing], tmp_path),
                           "--initrd", "initrd.img")
    else:
        p = tmp_path / "initrd.img"
        p.write_bytes(b"x")
        p.chmod(0)
        assert_usage_error(run_bad(["--kernel", guest("hello"), "--initrd", p], tmp_path),
                           "--initrd", "Permission denied")


def test_initrd_too_big_for_memory(tmp_path):
    big = tmp_path / "big.img"
    with open(big, "wb") as f:
        f.truncate(40 << 20)
    assert_usage_error(run_bad(["--kernel", guest("hello"), "--initrd", big, "--memory", "32M"],
                               tmp_path), "big.img")


def test_help_exits_zero(tmp_path):
    require_vmkit()
    r = run_argv([str(VMKIT), "run", "--help"], timeout=10)
    assert r.returncode == 0 and "--kernel" in r.stdout, r.describe()


def test_console_file_and_socket(tmp_path):
    """file:PATH gets the guest's output; socket:PATH runs headless with no client."""
    require_vmkit()
    log = tmp_path / "console.log"
    r = run_argv([str(VMKIT), "run", "--kernel", str(guest("hello")), "--console",
                  f"file:{log}"], timeout=30)
    assert r.returncode == 0, r.describe()
    assert "VMKIT-TEST hello PASS" in log.read_text(), r.describe()
    sock = tmp_path / "con.sock"
    r = run_argv([str(VMKIT), "run", "--kernel", str(guest("hello")), "--console",
                  f"socket:{sock}"], timeout=30)
    assert r.returncode == 0, r.describe()
    assert not sock.exists(), "the socket is removed on exit"


def test_bad_debug_exit_port(tmp_path):
    assert_usage_error(run_bad(["--kernel", guest("hello"), "--debug-exit=0x3f8"], tmp_path),
                       "--debug-exit", "in use")
    assert_usage_error(run_bad(["--kernel", guest("hello"), "--debug-exit=zz"], tmp_path),
                       "--debug-exit")


@pytest.mark.parametrize("val", ["zz", "-1", "99999999999"])
def test_bad_cache_clean_interval(tmp_path, val):
    """qcow2's cache-clean-interval= takes seconds (0: never); anything else is refused."""
    if not VMKIT.is_file():
        pytest.skip(f"{VMKIT} does not exist: build it first (make build)")
    img = tmp_path / "d.qcow2"
    img.write_bytes(b"")
    # Refused while the options are read, before /dev/kvm is opened: no KVM needed.
    r = run_argv([str(VMKIT), "run", "--kernel", str(guest("hello")), "--disk",
                  f"path={img},cache-clean-interval={val}"], timeout=10)
    assert_usage_error(r, "cache-clean-interval", val)
