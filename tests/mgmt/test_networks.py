# SPDX-License-Identifier: GPL-2.0-or-later
"""Network definitions (vmkit network ...): persistent bridges that VM configs name
as net0: virtio,network=NAME. Everything that touches the kernel runs in a network
namespace the test owns, and is checked there with `ip -j`: the bridge, its MTU and
address, the uplink (a veth end) as its port, a running VM's tap as its port, stop
refused while that VM runs, and `start --autostart` starting networks before VMs.
Bad input: one line naming the key or thing, exit 2, nothing written."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

import vmkit_harness as h

_ns_seq = iter(range(1000))


@pytest.fixture
def ns():
    """A private network namespace with a veth pair (vu0 is the uplink; vu1 its peer)."""
    name = f"vkn{os.getpid()}-{next(_ns_seq)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "add", "vu0", "type", "veth",
                        "peer", "name", "vu1"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name])


def in_ns(vk, ns: str, *args: str, check: bool = True, timeout: float = 60):
    """`vmkit ARGS` inside the namespace (whose /sys has no cgroups; VMs set no limits)."""
    r = subprocess.run(["ip", "netns", "exec", ns, str(h.VMKIT), *args], capture_output=True,
                       text=True, env=vk.env, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"vmkit {' '.join(args)} -> {r.returncode}\n{r.stderr}")
    return r


def ip_json(ns: str, *args: str):
    out = subprocess.run(["ip", "-n", ns, "-j", *args], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out or "[]")


def link(ns: str, name: str) -> dict | None:
    links = [l for l in ip_json(ns, "-d", "link", "show") if l["ifname"] == name]
    return links[0] if links else None


def ports(ns: str, bridge: str) -> list[str]:
    return [l["ifname"] for l in ip_json(ns, "link", "show", "master", bridge)]


def one_line(r) -> str:
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    return lines[0]


def rows(out: str) -> dict[str, list[str]]:
    return {l.split()[0]: l.split()[1:] for l in out.splitlines()[1:]}


def test_define_start_stop_delete_round_trip(vk, ns):
    conf = vk.home / "networks" / "lan.conf"
    vk("network", "define", "lan", "--bridge", "vbr0", "--address", "10.77.0.1/24",
       "--uplink", "vu0", "--mtu", "9000")
    assert conf.read_text() == ("bridge: vbr0\naddress: 10.77.0.1/24\nuplink: vu0\n"
                                "mtu: 9000\nautostart: 0\nactive: 0\n")
    assert "lan" not in rows(vk("network", "list").stdout)          # active ones only
    assert rows(vk("network", "list", "--all").stdout)["lan"] == ["inactive", "no", "vbr0"]
    assert link(ns, "vbr0") is None

    in_ns(vk, ns, "network", "start", "lan")
    br = link(ns, "vbr0")
    assert br and br["linkinfo"]["info_kind"] == "bridge" and "UP" in br["flags"]
    assert br["mtu"] == 9000
    addrs = [(a["local"], a["prefixlen"]) for a in ip_json(ns, "addr", "show", "dev", "vbr0")[0]
             ["addr_info"] if a["family"] == "inet"]
    assert addrs == [("10.77.0.1", 24)]
    assert ports(ns, "vbr0") == ["vu0"]
    assert link(ns, "vu0")["mtu"] == 9000
    assert conf.read_text().endswith("active: 1\nmade-bridge: 1\n")
    assert rows(in_ns(vk, ns, "network", "list").stdout)["lan"] == ["active", "no", "vbr0"]
    info = in_ns(vk, ns, "network", "info", "lan").stdout
    for want in ("Bridge:         vbr0", "State:          active", "Address:        10.77.0.1/24",
                 "Uplink:         vu0", "MTU:            9000", "Used by:        -"):
        assert want in info, info
    # Outside the namespace the bridge is not there: the network is not active.
    assert "State:          inactive" in vk("network", "info", "lan").stdout

    r = in_ns(vk, ns, "network", "start", "lan", check=False)
    assert r.returncode == 1 and "already active" in one_line(r)
    r = in_ns(vk, ns, "network", "delete", "lan", check=False)
    assert r.returncode == 1 and "'lan' is active" in one_line(r) and conf.exists()

    in_ns(vk, ns, "network", "stop", "lan")
    assert link(ns, "vbr0") is None
    assert "master" not in link(ns, "vu0"), "the uplink is still a port"
    assert conf.read_text().endswith("active: 0\n")
    r = in_ns(vk, ns, "network", "stop", "lan", check=False)
    assert r.returncode == 1 and "not active" in one_line(r)
    vk("network", "delete", "lan")
    assert not conf.exists()
    assert vk("network", "list", "--all").stdout.splitlines()[1:] == []


def inet(ns: str, dev: str) -> list[str]:
    return [f"{a['local']}/{a['prefixlen']}" for a in ip_json(ns, "addr", "show", "dev", dev)[0]
            ["addr_info"] if a["family"] == "inet"]


def default_dev(ns: str) -> list[str]:
    return [r["dev"] for r in ip_json(ns, "route", "show", "default")]


def test_uplink_address_moves_to_the_bridge_and_back(vk, ns):
    """The host's address and default route follow the uplink: onto the bridge at start,
    back onto the uplink at stop (the network's own address goes with the bridge)."""
    ip = ["ip", "-n", ns]
    subprocess.run(ip + ["link", "set", "vu1", "up"], check=True)
    subprocess.run(ip + ["link", "set", "vu0", "up"], check=True)
    subprocess.run(ip + ["addr", "add", "10.88.0.2/24", "dev", "vu0"], check=True)
    subprocess.run(ip + ["route", "add", "default", "via", "10.88.0.1", "dev", "vu0"],
                   check=True)
    vk("network", "define", "wan", "--bridge", "vmbr0", "--uplink", "vu0",
       "--address", "10.89.0.1/24")
    in_ns(vk, ns, "network", "start", "wan")
    assert sorted(inet(ns, "vmbr0")) == ["10.88.0.2/24", "10.89.0.1/24"]
    assert inet(ns, "vu0") == [] and default_dev(ns) == ["vmbr0"]
    in_ns(vk, ns, "network", "stop", "wan")
    assert inet(ns, "vu0") == ["10.88.0.2/24"] and default_dev(ns) == ["vu0"]
    assert link(ns, "vmbr0") is None


def test_start_takes_an_existing_bridge_and_fails_cleanly(vk, ns):
    # A bridge the host made already (a Proxmox vmbr0): taken as it is, address added.
    subprocess.run(["ip", "-n", ns, "link", "add", "vmbr0", "type", "bridge"], check=True)
    vk("network", "define", "host", "--bridge", "vmbr0", "--address", "fd00:77::1/64")
    in_ns(vk, ns, "network", "start", "host")
    infos = ip_json(ns, "addr", "show", "dev", "vmbr0")[0]["addr_info"]
    assert ("fd00:77::1", 64) in [(a["local"], a["prefixlen"]) for a in infos]
    # Stopping gives the host its bridge back as it was: not deleted, our address gone.
    in_ns(vk, ns, "network", "stop", "host")
    assert link(ns, "vmbr0") is not None, "stop deleted a bridge it did not make"
    infos = ip_json(ns, "addr", "show", "dev", "vmbr0")[0]["addr_info"]
    assert ("fd00:77::1", 64) not in [(a["local"], a["prefixlen"]) for a in infos]
    # An uplink that does not exist: one line naming it, and no bridge left behind.
    vk("network", "define", "bad", "--bridge", "vbr9", "--uplink", "nosuch0")
    r = in_ns(vk, ns, "network", "start", "bad", check=False)
    assert r.returncode != 0 and "nosuch0" in one_line(r), r.stderr
    assert link(ns, "vbr9") is None
    assert (vk.home / "networks" / "bad.conf").read_text().endswith("active: 0\n")


@pytest.mark.usefixtures("kvm")
def test_vm_on_a_network(vk, ns):
    vk("network", "define", "lan", "--bridge", "vbr0", "--address", "10.78.0.1/24",
       "--mtu", "4000")
    n = vk.name()
    vk("create", "--name", n, "--kernel", str(h.guest("spin")), "--memory", "64",
       "--net", "virtio=52:54:00:00:00:43,network=lan")
    assert "net0: virtio=52:54:00:00:00:43,network=lan" in vk.config(n)

    # Not started yet: the VM does not start, and says which network (as libvirt does).
    r = in_ns(vk, ns, "start", n, check=False, timeout=30)
    assert r.returncode != 0 and "network 'lan' is not active" in r.stderr, r.stderr
    assert vk.state(n) == "shut off"

    in_ns(vk, ns, "network", "start", "lan")
    in_ns(vk, ns, "start", n, timeout=30)
    taps = ports(ns, "vbr0")
    assert len(taps) == 1, taps
    tap = link(ns, taps[0])
    assert tap["linkinfo"]["info_kind"] == "tun" and "UP" in tap["flags"]
    assert tap["mtu"] == 4000, "the tap did not take the network's MTU"
    assert f"Used by:        {n}" in in_ns(vk, ns, "network", "info", "lan").stdout

    r = in_ns(vk, ns, "network", "stop", "lan", check=False)
    assert r.returncode == 1 and f"in use by running VM {n}" in one_line(r)
    assert link(ns, "vbr0") is not None
    vk("destroy", n)
    assert ports(ns, "vbr0") == [], "the tap outlived the VM"
    in_ns(vk, ns, "network", "stop", "lan")

    # A network that was deleted: the start names it.
    vk("network", "delete", "lan")
    r = in_ns(vk, ns, "start", n, check=False, timeout=30)
    assert r.returncode != 0 and "network 'lan' does not exist" in r.stderr, r.stderr


@pytest.mark.usefixtures("kvm")
def test_stop_force_while_in_use(vk, ns):
    vk("network", "define", "lan", "--bridge", "vbr0")
    n = vk.name()
    vk("create", "--name", n, "--kernel", str(h.guest("spin")), "--memory", "64",
       "--net", "virtio,network=lan")
    in_ns(vk, ns, "network", "start", "lan")
    in_ns(vk, ns, "start", n, timeout=30)
    in_ns(vk, ns, "network", "stop", "lan", "--force")
    assert link(ns, "vbr0") is None
    assert vk.state(n) == "running"          # the VM keeps running, its tap unbridged
    vk("destroy", n)


@pytest.mark.usefixtures("kvm")
def test_autostart_starts_networks_before_vms(vk, ns):
    vk("network", "define", "lan", "--bridge", "vbr0", "--uplink", "vu0", "--autostart")
    vk("network", "define", "idle", "--bridge", "vbr1")
    vk("network", "define", "later", "--bridge", "vbr2")
    vk("network", "autostart", "later")
    vk("network", "autostart", "later", "--disable")
    a = vk.name()
    vk("create", "--name", a, "--kernel", str(h.guest("spin")), "--memory", "64",
       "--net", "virtio,network=lan")
    vk("autostart", a)
    r = in_ns(vk, ns, "start", "--autostart", timeout=60)
    lines = r.stdout.splitlines()
    assert lines == ["Network lan started", f"VM {a} started"], r.stdout
    assert vk.state(a) == "running"
    on = ports(ns, "vbr0")
    assert "vu0" in on and len(on) == 2, on            # the uplink and the VM's tap
    assert link(ns, "vbr1") is None and link(ns, "vbr2") is None
    # Again: both are up already and left alone.
    r = in_ns(vk, ns, "start", "--autostart", timeout=60)
    assert r.returncode == 0 and r.stdout == "", r.stdout
    vk("destroy", a)


BAD_DEFINES = [
    (["a/b", "--bridge", "x0"], "network name 'a/b'"),
    (["../up", "--bridge", "x0"], "network name '../up'"),
    (["x" * 64, "--bridge", "x0"], "longer than 63"),
    (["n1"], "bridge: missing"),
    (["n1", "--bridge", "a-very-long-bridge"], "bridge: 'a-very-long-bridge' is not a valid interface"),
    (["n1", "--bridge", "br/0"], "bridge: 'br/0'"),
    (["n1", "--bridge", "x0", "--address", "10.0.0.1"], "address: '10.0.0.1'"),
    (["n1", "--bridge", "x0", "--address", "10.0.0.300/24"], "address: '10.0.0.300/24'"),
    (["n1", "--bridge", "x0", "--address", "10.0.0.1/33"], "address: '10.0.0.1/33'"),
    (["n1", "--bridge", "x0", "--mtu", "67"], "mtu: '67'"),
    (["n1", "--bridge", "x0", "--mtu", "65536"], "mtu: '65536'"),
    (["n1", "--bridge", "x0", "--mtu", "9k"], "mtu: '9k'"),
    (["n1", "--bridge", "x0", "--uplink", "x0"], "uplink: x0 is the bridge itself"),
    (["n1", "--bridge", "x0", "--vlan", "3"], "unknown option '--vlan'"),
    (["n1", "--bridge"], "--bridge needs a value"),
    (["taken", "--bridge", "x0"], "network 'taken' already exists"),
    (["n1", "--bridge", "tbr0"], "bridge: tbr0 is already used by network 'taken'"),
    (["n1", "--bridge", "x0", "--uplink", "tup0"], "uplink: tup0 is already used by network 'taken'"),
]


def test_bad_defines(vk):
    vk("network", "define", "taken", "--bridge", "tbr0", "--uplink", "tup0")
    before = sorted(p.name for p in (vk.home / "networks").iterdir())
    for args, want in BAD_DEFINES:
        r = vk("network", "define", *args, check=False)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        assert want in one_line(r), (args, r.stderr)
        assert sorted(p.name for p in (vk.home / "networks").iterdir()) == before, args
    assert (vk.home / "networks" / "taken.conf").read_text().startswith("bridge: tbr0\n")


def test_bad_commands_and_files(vk):
    vk("network", "define", "lan", "--bridge", "vbr0")
    conf = vk.home / "networks" / "lan.conf"
    text = conf.read_text()
    for args, code, want in [
        (["network"], 2, "expected a command"),
        (["network", "frobnicate", "lan"], 2, "unknown command 'frobnicate'"),
        (["network", "info", "nosuch"], 2, "network 'nosuch' does not exist"),
        (["network", "start"], 2, "expected a network NAME"),
        (["network", "stop", "lan", "--now"], 2, "unknown option '--now'"),
        (["network", "autostart", "lan", "--off"], 2, "unknown option '--off'"),
        (["network", "list", "--everything"], 2, "unexpected '--everything'"),
        (["network", "info", "a/b"], 2, "network name 'a/b'"),
    ]:
        r = vk(*args, check=False)
        assert r.returncode == code and want in one_line(r), (args, r.returncode, r.stderr)
    assert conf.read_text() == text
    # A hand-edited file: the error names the file and the key.
    for bad, want in [("vlan: 3\n", "unknown key 'vlan'"), ("mtu: 99999\n", "mtu: '99999'"),
                      ("address: nope\n", "address: 'nope'"), ("autostart: yes\n", "autostart: 'yes'")]:
        conf.write_text(text + bad)
        r = vk("network", "info", "lan", check=False)
        assert r.returncode == 2 and str(conf) in one_line(r) and want in r.stderr, r.stderr
    conf.write_text("address: 10.0.0.1/24\n")
    r = vk("network", "info", "lan", check=False)
    assert r.returncode == 2 and "bridge: missing" in one_line(r)


def test_vm_config_network_key(vk):
    n = vk.name()
    vk("create", "--name", n, "--kernel", str(h.guest("spin")), "--memory", "64")
    cfg = vk.config(n)
    for val, want in [("virtio,network=a/b", "net0: network 'a/b' is not a name"),
                      ("virtio,network=lan,bridge=br0", "network= and bridge= cannot go together"),
                      ("virtio,network=lan,user", "user cannot go with"),
                      ("virtio,network=lan,hostfwd=tcp::2222-:22", "hostfwd= is for user networking")]:
        r = vk("set", n, f"net0={val}", check=False)
        assert r.returncode == 2 and want in one_line(r), (val, r.stderr)
        assert vk.config(n) == cfg
    # Defining a VM on a network that does not exist (yet) is allowed, as in libvirt.
    vk("set", n, "net0=virtio,network=lan,queues=2")
    r = vk("start", n, check=False, timeout=30)
    assert r.returncode != 0 and "net0: network 'lan' does not exist" in one_line(r)


def test_help():
    for sub in ("define", "list", "info", "start", "stop", "autostart", "delete"):
        r = subprocess.run([str(h.VMKIT), "network", sub, "--help"], capture_output=True,
                           text=True)
        assert r.returncode == 0 and r.stdout.startswith(f"usage: vmkit network {sub}"), sub
    r = subprocess.run([str(h.VMKIT), "network", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "network=NAME" in r.stdout
