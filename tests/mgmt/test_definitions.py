# SPDX-License-Identifier: GPL-2.0-or-later
"""VM definitions without running them: create, define/dumpconfig, set, edit, rename,
delete, autostart, and bad input that must change nothing."""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import subprocess
from pathlib import Path

import pytest

import vmkit_harness as h

KERNEL = str(h.GUEST_DIR / "spin.elf")


def one_error(r, *words):
    assert r.returncode == 2, f"rc={r.returncode}\n{r.stdout}\n{r.stderr}"
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0], f"{w!r} not in {lines[0]!r}"


def snapshot_state(home: Path) -> dict:
    """Every file under the state directory with its content, to prove nothing changed."""
    out = {}
    for p in sorted(home.rglob("*")):
        if p.is_file() and "run" not in p.parts and p.name != "lock":
            out[str(p.relative_to(home))] = p.read_bytes()
    return out


def qemu_info(path: Path) -> dict:
    r = subprocess.run(["qemu-img", "info", "-U", "--output=json", str(path)],
                       capture_output=True, text=True, check=True)
    return json.loads(r.stdout)


def test_create_makes_disks_and_config(vk):
    n = vk.name()
    vk("create", "--name", n, "--kernel", KERNEL, "--memory", "256M", "--cpus", "2",
       "--disk", "size=1G", "--disk", "size=64M,format=raw,cache=writeback",
       "--net", "bridge=br0", "--cmdline", "console=ttyS0 quiet")
    cfg = vk.config(n)
    assert f"name: {n}\n" in cfg
    assert "memory: 256M\n" in cfg and "cores: 2\n" in cfg
    assert f"virtio0: local:{n}-disk0.qcow2,format=qcow2\n" in cfg
    assert f"virtio1: local:{n}-disk1.raw,format=raw,cache=writeback\n" in cfg
    assert "net0: virtio,bridge=br0\n" in cfg
    img = vk.home / "images"
    q = qemu_info(img / f"{n}-disk0.qcow2")
    assert q["format"] == "qcow2" and q["virtual-size"] == 1 << 30
    r = qemu_info(img / f"{n}-disk1.raw")
    assert r["format"] == "raw" and r["virtual-size"] == 64 << 20
    out = vk("list", "--all").stdout
    assert n in out and "shut off" in out
    assert n not in vk("list").stdout  # running ones only


def test_create_failure_leaves_nothing(vk):
    n = vk.name()
    before = snapshot_state(vk.home)
    # The second disk names a pool that does not exist: the first must not be made.
    r = vk("create", "--name", n, "--kernel", KERNEL, "--disk", "size=1G",
           "--disk", "size=1G,pool=nosuch", check=False)
    one_error(r, "nosuch")
    assert not (vk.home / "vms" / n).exists()
    assert not list((vk.home / "images").glob(f"{n}*"))
    assert {k: v for k, v in snapshot_state(vk.home).items() if "pools" not in k} == \
        {k: v for k, v in before.items() if "pools" not in k}


@pytest.mark.parametrize("args,words", [
    (["--name", "a/b"], ["a/b", "letters"]),
    (["--name", "ok", "--memory", "99999999999999999999"], ["memory"]),
    (["--name", "ok", "--memory", "8E"], ["memory"]),
    (["--name", "ok", "--cpus", "999"], ["cores", "999"]),
    (["--name", "ok", "--cpus", str(min(288, (os.cpu_count() or 1) + 1))], ["vCPUs", "host"]),
    (["--name", "ok", "--disk", "nosuch:vol"], ["nosuch"]),
    (["--name", "ok", "--disk", "local:../etc/passwd"], ["volume"]),
    (["--name", "ok", "--disk", "size=1G,cache=fast"], ["cache=fast"]),
    (["--name", "ok", "--net", "virtio=zz:54:00:12:34:56"], ["MAC"]),
    (["--name", "ok", "--net", "bridge=br0,color=red"], ["color"]),
    (["--name", "ok", "--net", "user,queues=2"], ["queues=", "tap"]),
    (["--name", "ok", "--net", "bridge=br0,hostfwd=tcp::80-:80"], ["hostfwd=", "user"]),
    (["--name", "ok", "--net", "bridge=br0,user"], ["user"]),
    (["--name", "ok", "--balloon", "4G", "--memory", "1G"], ["balloon"]),
])
def test_create_bad_input(vk, args, words):
    before = snapshot_state(vk.home)
    r = vk("create", "--kernel", KERNEL, *args, check=False)
    one_error(r, *words)
    assert not (vk.home / "vms" / "ok").exists()
    after = snapshot_state(vk.home)
    assert {k: v for k, v in after.items() if "pools" not in k} == \
        {k: v for k, v in before.items() if "pools" not in k}


def test_create_needs_kernel_and_name(vk):
    one_error(vk("create", "--kernel", KERNEL, check=False), "--name")
    one_error(vk("create", "--name", vk.name(), check=False), "--kernel")
    one_error(vk("create", "--name", vk.name(), "--kernel", "/nonexistent", check=False),
              "/nonexistent")
    n = vk.name()
    vk("create", "--name", n, "--kernel", KERNEL)
    one_error(vk("create", "--name", n, "--kernel", KERNEL, check=False), "already exists")


def test_dumpconfig_define_roundtrip_and_rename_by_file(vk, tmp_path):
    n, m = vk.name(), vk.name()
    vk("create", "--name", n, "--kernel", KERNEL, "--disk", "size=16M", "--memory", "128")
    text = vk("dumpconfig", n).stdout
    f = tmp_path / "c.conf"
    f.write_text(text)
    vk("define", str(f))                      # redefining the same VM is allowed
    assert vk.config(n) == text
    # The seeds' rename flow: dump, change the name, define, undefine the old one.
    f.write_text(text.replace(f"name: {n}", f"name: {m}"))
    vk("define", str(f))
    vk("delete", n)
    assert vk("dumpconfig", m).stdout == text.replace(f"name: {n}", f"name: {m}")


@pytest.mark.parametrize("text,words", [
    ("memory 512\n", [":1:", "key: value"]),
    ("memory: 512\n", ["no 'name:'"]),
    ("name: x\nfrobnicate: 1\n", [":2:", "frobnicate"]),
    ("name: x\nmemory: 512\nmemory: 1024\n", [":3:", "twice"]),
    ("name: x/y\n", ["x/y"]),
    ("name: x\nmemory: 18446744073709551616\n", ["memory"]),
    ("name: x\ncores: 0\n", ["cores"]),
    ("name: x\nvirtio0: nopool:disk\n", ["nopool"]),
    ("name: x\nvirtio99: local:disk\n", ["virtio99"]),
    ("name: x\nvirtio0: /v/a.qed,format=qed\n", ["format=qed", "vmdk"]),
    ("name: x\nnet0: e1000\n", ["e1000"]),
    ("name: x\ncpulimit: -1\n", ["cpulimit"]),
    ("name: x\naffinity: 0-999\n", ["affinity", "CPU"]),
    ("name: x\nnuma: policy=bind,nodes=7\n", ["nodes=7"]),
    ("name: x\nhugepages: 3\n", ["hugepages"]),
    ("name: x\nmemtune: hard_limit=lots\n", ["hard_limit"]),
    ("name: x\n\x00\n", ["text"]),
])
def test_define_rejects_malformed(vk, tmp_path, text, words):
    f = tmp_path / "bad.conf"
    f.write_text(text)
    before = snapshot_state(vk.home)
    one_error(vk("define", str(f), check=False), *words)
    after = snapshot_state(vk.home)
    assert {k: v for k, v in after.items() if "pools" not in k} == \
        {k: v for k, v in before.items() if "pools" not in k}


def test_set_validates_all_or_nothing(vk):
    n = vk.name()
    vk("create", "--name", n, "--kernel", KERNEL)
    before = vk.config(n)
    one_error(vk("set", n, "memory=1024", "cores=abc", check=False), "cores")
    one_error(vk("set", n, "nosuchkey=1", check=False), "nosuchkey")
    one_error(vk("set", n, "name=other", check=False), "rename")
    one_error(vk("set", n, "memory", check=False), "KEY=VALUE")
    one_error(vk("set", "nosuchvm", "memory=1", check=False), "nosuchvm")
    assert vk.config(n) == before
    vk("set", n, "memory=1024", "cpulimit=1.5", "cpuunits=2048", "allow-ksm=0",
       "description=web server")
    cfg = vk.config(n)
    assert "memory: 1024\n" in cfg and "cpulimit: 1.5\n" in cfg and "allow-ksm: 0\n" in cfg
    vk("set", n, "description=")              # KEY= deletes
    assert "description" not in vk.config(n)
    # A disk's format= is any the image library reads (its driver table), not a list here.
    vk("set", n, "virtio0=/srv/images/old.vmdk,format=vmdk,readonly=on")
    assert "virtio0: /srv/images/old.vmdk,format=vmdk,readonly=on\n" in vk.config(n)
    one_error(vk("set", n, "virtio1=/srv/images/x.img,format=cow", check=False), "format=cow")


def test_edit_validates_before_replacing(vk, tmp_path):
    n = vk.name()
    vk("create", "--name", n, "--kernel", KERNEL, "--memory", "128")
    before = vk.config(n)
    bad = tmp_path / "bad-editor.sh"
    bad.write_text("#!/bin/sh\nsed -i 's/^memory: .*/memory: lots/' \"$1\"\n")
    bad.chmod(0o755)
    r = vk("edit", n, check=False, env=dict(vk.env, EDITOR=str(bad), VISUAL=""))
    assert r.returncode == 2 and "memory" in r.stderr and "nothing changed" in r.stderr
    assert vk.config(n) == before
    good = tmp_path / "good-editor.sh"
    good.write_text("#!/bin/sh\nsed -i 's/^memory: .*/memory: 384/' \"$1\"\n")
    good.chmod(0o755)
    vk("edit", n, env=dict(vk.env, EDITOR=str(good), VISUAL=""))
    assert "memory: 384\n" in vk.config(n)


def test_rename_and_delete_purge(vk):
    n, m = vk.name(), vk.name()
    vk("create", "--name", n, "--kernel", KERNEL, "--disk", "size=16M")
    vk("rename", n, m)
    assert not (vk.home / "vms" / n).exists()
    assert f"name: {m}\n" in vk.config(m)
    one_error(vk("rename", m, "bad/name", check=False), "bad/name")
    vol = vk.home / "images" / f"{n}-disk0.qcow2"
    assert vol.exists()
    vk("delete", m, "--purge")
    assert not vol.exists() and not (vk.home / "vms" / m).exists()
    one_error(vk("delete", m, check=False), "does not exist")


def test_autostart_flag(vk):
    n = vk.name()
    vk("create", "--name", n, "--kernel", KERNEL)
    vk("autostart", n)
    assert "onboot: 1\n" in vk.config(n)
    vk("autostart", n, "--disable")
    assert "onboot: 0\n" in vk.config(n)


def test_twenty_concurrent_commands_keep_state_consistent(vk):
    names = [vk.name("c") for _ in range(20)]

    def work(i):
        n = names[i]
        vk("create", "--name", n, "--kernel", KERNEL, "--disk", "size=8M")
        vk("set", n, f"memory={128 + i}", "cpuunits=512")
        if i % 2:
            vk("delete", n, "--purge")
        return n

    with cf.ThreadPoolExecutor(max_workers=20) as ex:
        list(ex.map(work, range(20)))
    out = vk("list", "--all").stdout
    for i, n in enumerate(names):
        if i % 2:
            assert n not in out
            assert not (vk.home / "vms" / n).exists()
            assert not (vk.home / "images" / f"{n}-disk0.qcow2").exists()
        else:
            cfg = vk.config(n)
            assert f"memory: {128 + i}\n" in cfg and "cpuunits: 512\n" in cfg
            assert (vk.home / "images" / f"{n}-disk0.qcow2").exists()
    leftovers = [p for p in vk.home.rglob("*.tmp.*")]
    assert not leftovers, leftovers
