# SPDX-License-Identifier: GPL-2.0-or-later
"""vmkit migrate NAME HOST (issue 15): a running VM and its definition move
to another host, as qm migrate --online.

Two "hosts" on this machine: network namespaces A and B joined by a veth
pair, each with a vmkit home of its own and the same shared pool
directory (shared storage). The remote shell is a stand-in for ssh
(VMKIT_MIGRATE_RSH) that runs vmkit in B with B's home, as ssh would run
it on the other host.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid

import pytest

import vmkit_harness as h


@pytest.fixture
def two_hosts(vk, tmp_path):
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("network namespaces need root and iproute2")
    tag = uuid.uuid4().hex[:6]
    a, b = f"vkhA-{tag}", f"vkhB-{tag}"
    made = []
    try:
        for ns in (a, b):
            subprocess.run(["ip", "netns", "add", ns], check=True)
            made.append(ns)
        subprocess.run(["ip", "link", "add", f"vkh{tag}a", "netns", a, "type", "veth", "peer",
                        "name", f"vkh{tag}b", "netns", b], check=True)
        for ns, dev, addr in ((a, f"vkh{tag}a", "10.78.0.1"), (b, f"vkh{tag}b", "10.78.0.2")):
            for cmd in (["ip", "addr", "add", f"{addr}/24", "dev", dev],
                        ["ip", "link", "set", dev, "up"], ["ip", "link", "set", "lo", "up"]):
                subprocess.run(["ip", "netns", "exec", ns, *cmd], check=True)
        home_b = tmp_path / "homeB"
        env_b = dict(os.environ, VMKIT_HOME=str(home_b))
        rsh = tmp_path / "rsh"
        rsh.write_text(f"#!/bin/sh\n# ssh HOST vmkit ARGS..., on host B\nshift; shift\n"
                       f"exec ip netns exec {b} env VMKIT_HOME={home_b} {h.VMKIT} \"$@\"\n")
        rsh.chmod(0o755)
        shared = tmp_path / "shared"
        shared.mkdir()
        vk("pool", "define", "shared", "--type", "dir", "--path", str(shared))
        subprocess.run([str(h.VMKIT), "pool", "define", "shared", "--type", "dir", "--path",
                        str(shared)], env=env_b, check=True, capture_output=True)
        yield a, b, env_b, rsh
    finally:
        for ns in made:
            subprocess.run(["ip", "netns", "del", ns])


def in_ns(ns, env, *args, timeout=120):
    return subprocess.run(["ip", "netns", "exec", ns, str(h.VMKIT), *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def console_counts(home, name, seconds=5.0):
    """What the VM's serial console says over a few seconds (its socket)."""
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(home / "vms" / name / "run" / "console.sock"))
    s.settimeout(0.5)
    out, end = b"", time.monotonic() + seconds
    while time.monotonic() < end and out.count(b"count=") < 3:
        try:
            out += s.recv(4096)
        except TimeoutError:
            pass
    s.close()
    return out.decode(errors="replace")


def test_migrate_moves_the_running_vm_and_its_definition(vk, kvm, two_hosts, tmp_path):
    a, b, env_b, rsh = two_hosts
    n = vk.name()
    vk("vol", "create", "shared", f"{n}.qcow2", "16M")
    vk("create", "--name", n, "--kernel", str(h.guest("counter")), "--memory", "64",
       "--disk", f"shared:{n}.qcow2")
    r = in_ns(a, vk.env, "start", n)
    assert r.returncode == 0, r.stderr
    try:
        env = dict(vk.env, VMKIT_MIGRATE_RSH=str(rsh))
        r = in_ns(a, env, "migrate", n, "10.78.0.2")
        assert r.returncode == 0, r.stdout + r.stderr + vk.run_files()
        assert f"VM {n} migrated to 10.78.0.2" in r.stdout
        # here: gone; there: running, counting on (not booting again)
        assert vk("show", n, check=False).returncode != 0
        show = subprocess.run([str(h.VMKIT), "show", n], env=env_b, capture_output=True,
                              text=True)
        assert show.returncode == 0 and "running" in show.stdout.splitlines()[0], show.stdout
        out = console_counts(tmp_path / "homeB", n)
        assert "count=" in out and "counter_boot" not in out, out
        # the disk was handed over: the monitor there holds its lock
        info = subprocess.run(["qemu-img", "info", str(tmp_path / "shared" / f"{n}.qcow2")],
                              capture_output=True, text=True)
        assert info.returncode != 0 and "lock" in info.stderr, info.stdout + info.stderr
        # and back again
        r = in_ns(b, dict(env_b, VMKIT_MIGRATE_RSH=str(tmp_path / "rsh-back")), "migrate", n,
                  "10.78.0.1")
        assert r.returncode != 0 and "rsh-back" in r.stderr, r.stderr
        show = subprocess.run([str(h.VMKIT), "show", n], env=env_b, capture_output=True,
                              text=True)
        assert "running" in show.stdout.splitlines()[0], "a failed migration stopped the VM"
    finally:
        subprocess.run([str(h.VMKIT), "destroy", n], env=env_b, capture_output=True)


def test_migrate_refused_there_leaves_it_running_here(vk, kvm, two_hosts, tmp_path):
    a, b, env_b, rsh = two_hosts
    n = vk.name()
    vk("create", "--name", n, "--kernel", str(h.guest("counter")), "--memory", "64")
    # the name is taken there
    subprocess.run([str(h.VMKIT), "create", "--name", n, "--kernel", str(h.guest("counter"))],
                   env=env_b, check=True, capture_output=True)
    r = in_ns(a, vk.env, "start", n)
    assert r.returncode == 0, r.stderr
    env = dict(vk.env, VMKIT_MIGRATE_RSH=str(rsh))
    r = in_ns(a, env, "migrate", n, "10.78.0.2")
    assert r.returncode != 0 and "exists on this host already" in r.stderr, r.stderr
    assert vk.state(n) == "running"
    for args, words in [(["migrate", n], "expected NAME HOST"),
                        (["migrate", "ghost", "10.78.0.2"], "ghost"),
                        (["migrate", n, "no-such-host.invalid"], "no-such-host.invalid"),
                        (["migrate", n, "-oProxyCommand=touch /tmp/x"],
                         "is not a host name or address")]:
        r = in_ns(a, env, *args)
        assert r.returncode != 0 and words in r.stderr, r.stderr
    assert vk.state(n) == "running"
    vk("destroy", n)


def test_migrate_with_local_disks_copies_them(vk, kvm, two_hosts, tmp_path):
    """--with-local-disks: the disk there is made anew and filled with the one here (the
    guest writing meanwhile: tests/guest/test_migrate_disks.py); the one here goes."""
    a, b, env_b, rsh = two_hosts
    n = vk.name()
    vk("vol", "create", "local", f"{n}.qcow2", "32M")
    disk_a = vk.home / "images" / f"{n}.qcow2"
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 1M 3M", "-c",
                    "write -P 0xa5 30M 1M", str(disk_a)], check=True, capture_output=True)
    ref = tmp_path / "ref.raw"
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(disk_a), str(ref)], check=True)
    vk("create", "--name", n, "--kernel", str(h.guest("counter")), "--memory", "64",
       "--disk", f"local:{n}.qcow2")
    r = in_ns(a, vk.env, "start", n)
    assert r.returncode == 0, r.stderr
    env = dict(vk.env, VMKIT_MIGRATE_RSH=str(rsh))
    try:
        # Already there (as on shared storage): refused, and it runs on here.
        home_b = tmp_path / "homeB"
        subprocess.run([str(h.VMKIT), "vol", "create", "local", f"{n}.qcow2", "32M"],
                       env=env_b, check=True, capture_output=True)
        r = in_ns(a, env, "migrate", n, "10.78.0.2", "--with-local-disks")
        assert r.returncode != 0 and "exists on this host" in r.stderr, r.stderr
        assert vk.state(n) == "running"
        (home_b / "images" / f"{n}.qcow2").unlink()
        r = in_ns(a, env, "migrate", n, "10.78.0.2", "--with-local-disks")
        assert r.returncode == 0, r.stdout + r.stderr + vk.run_files()
        assert not disk_a.exists(), "the disk here stayed"
        out = console_counts(home_b, n)
        assert "count=" in out and "counter_boot" not in out, out
    finally:
        subprocess.run([str(h.VMKIT), "destroy", n], env=env_b, capture_output=True)
    disk_b = home_b / "images" / f"{n}.qcow2"
    r = subprocess.run(["qemu-img", "compare", "-f", "raw", str(ref), str(disk_b)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_migrate_over_tls(vk, kvm, two_hosts, tmp_path):
    """Both hosts with $VMKIT_HOME/tls: the stream goes over TLS; either side without is told."""
    from test_migrate_tls import make_ca, make_cert
    if not shutil.which("openssl"):
        pytest.skip("needs Debian's openssl")
    a, b, env_b, rsh = two_hosts
    pki = tmp_path / "pki"
    pki.mkdir()
    make_ca(pki, "ca")
    make_cert(pki, "ca", "host", "hosts", "IP:10.78.0.1,IP:10.78.0.2",
              usage="serverAuth,clientAuth")

    def give_creds(home):
        d = home / "tls"
        d.mkdir(parents=True)
        shutil.copy(pki / "ca-cert.pem", d / "ca-cert.pem")
        for side in ("server", "client"):
            shutil.copy(pki / "host-cert.pem", d / f"{side}-cert.pem")
            shutil.copy(pki / "host-key.pem", d / f"{side}-key.pem")
        return d

    n = vk.name()
    vk("vol", "create", "shared", f"{n}.qcow2", "16M")
    vk("create", "--name", n, "--kernel", str(h.guest("counter")), "--memory", "64",
       "--disk", f"shared:{n}.qcow2")
    env = dict(vk.env, VMKIT_MIGRATE_RSH=str(rsh))
    # B has credentials, A not: B refuses before anything is made there
    give_creds(tmp_path / "homeB")
    assert in_ns(a, vk.env, "start", n).returncode == 0
    try:
        r = in_ns(a, env, "migrate", n, "10.78.0.2")
        assert r.returncode != 0 and "takes migrations over TLS only" in r.stderr, r.stderr
        assert vk.state(n) == "running"
        # A gets them now, but the running monitor was started without: it says so
        give_creds(vk.home)
        r = in_ns(a, env, "migrate", n, "10.78.0.2")
        assert r.returncode != 0 and "restart it" in r.stderr, r.stderr
        assert vk.state(n) == "running"
        vk("destroy", n)
        assert in_ns(a, vk.env, "start", n).returncode == 0
        # B takes TLS only: that this one goes through is the proof it went over TLS
        r = in_ns(a, env, "migrate", n, "10.78.0.2")
        assert r.returncode == 0, r.stdout + r.stderr + vk.run_files()
        out = console_counts(tmp_path / "homeB", n)
        assert "count=" in out and "counter_boot" not in out, out
    finally:
        vk("destroy", n, check=False)
        subprocess.run([str(h.VMKIT), "destroy", n], env=env_b, capture_output=True)
