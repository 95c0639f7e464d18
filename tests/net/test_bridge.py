# SPDX-License-Identifier: GPL-2.0-or-later
"""vmkit net bridge-*: real rtnetlink in a network namespace each test creates and removes.

Everything is checked against `ip -j` (iproute2's JSON), never against vmkit's own view,
except bridge-list, whose output is what is under test there.
"""
import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VMKIT = Path(os.environ.get("VMKIT_BIN", ROOT / "build" / "vmkit"))


@pytest.fixture
def ns():
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    if not shutil.which("ip"):
        pytest.skip("needs iproute2's ip")
    if not VMKIT.is_file():
        pytest.skip(f"{VMKIT} is not built (make build)")
    name = f"vkbr-{uuid.uuid4().hex[:8]}"
    r = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"cannot create a network namespace: {r.stderr.strip()}")
    try:
        yield Netns(name)
    finally:
        subprocess.run(["ip", "netns", "del", name], check=True)


class Netns:
    def __init__(self, name):
        self.name = name

    def run(self, *args, check=False, user=None):
        pre = ["ip", "netns", "exec", self.name]
        if user:
            pre += ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"]
        p = subprocess.run(pre + list(args), capture_output=True, text=True, timeout=30)
        if check:
            assert p.returncode == 0, f"{args}: {p.returncode} {p.stderr}"
        return p

    def vmkit(self, *args, **kw):
        return self.run(str(VMKIT), "net", *args, **kw)

    def ip(self, *args):
        return self.run("ip", *args, check=True).stdout

    def ipj(self, *args):
        return json.loads(self.run("ip", "-j", *args, check=True).stdout or "[]")

    def link(self, name):
        links = [l for l in self.ipj("-d", "link", "show") if l["ifname"] == name]
        return links[0] if links else None

    def inet(self, name, family="inet"):
        out = self.ipj("addr", "show", "dev", name)
        return [f'{a["local"]}/{a["prefixlen"]}' for a in out[0]["addr_info"]
                if a["family"] == family and a.get("scope") != "link"]

    def veth(self, a="veth0", b="veth1"):
        self.ip("link", "add", a, "type", "veth", "peer", "name", b)
        self.ip("link", "set", b, "up")


def ok(p):
    assert p.returncode == 0, f"exit {p.returncode}: {p.stderr}"
    assert p.stderr == ""
    return p


def fails(p, code, *words):
    """One line on stderr, naming the thing and the kernel's reason, and the exit code."""
    assert p.returncode == code, f"exit {p.returncode}, wanted {code}: {p.stderr}"
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("vmkit: "), lines[0]
    for w in words:
        assert w in lines[0], f"{w!r} not in {lines[0]!r}"
    return lines[0]


def listing(ns):
    """bridge-list's rows as {name: (state, [addresses], [ports])}."""
    out = ok(ns.vmkit("bridge-list")).stdout.splitlines()
    assert out[0].split() == ["NAME", "STATE", "ADDRESSES", "PORTS"]
    rows = {}
    for line in out[1:]:
        name, state, addrs, ports = line.split()
        rows[name] = (state, [] if addrs == "-" else addrs.split(","),
                      [] if ports == "-" else ports.split(","))
    return rows


def test_create_list_delete(ns):
    assert listing(ns) == {}
    ok(ns.vmkit("bridge-create", "br0"))
    link = ns.link("br0")
    assert link["linkinfo"]["info_kind"] == "bridge"
    assert "UP" in link["flags"]
    assert listing(ns) == {"br0": ("up", [], [])}
    ok(ns.vmkit("bridge-create", "br1"))
    assert set(listing(ns)) == {"br0", "br1"}
    ok(ns.vmkit("bridge-delete", "br0"))
    assert ns.link("br0") is None
    assert set(listing(ns)) == {"br1"}
    ok(ns.vmkit("bridge-delete", "br1"))
    assert listing(ns) == {}


def test_create_with_address(ns):
    ok(ns.vmkit("bridge-create", "br0", "--address", "10.77.0.1/24"))
    ok(ns.vmkit("bridge-create", "--address=fd00:77::1/64", "br6"))
    addrs = ns.ipj("addr", "show", "dev", "br0")[0]["addr_info"]
    v4 = [a for a in addrs if a["family"] == "inet"]
    assert [(a["local"], a["prefixlen"], a["broadcast"]) for a in v4] == \
        [("10.77.0.1", 24, "10.77.0.255")]
    assert ns.inet("br6", "inet6") == ["fd00:77::1/64"]
    assert listing(ns)["br0"][1] == ["10.77.0.1/24"]
    assert listing(ns)["br6"][1] == ["fd00:77::1/64"]


def test_attach_moves_addresses_and_default_route(ns):
    """Seed 002's script: addbr, addif, move the address, up, default route via the bridge."""
    ns.veth()
    ns.ip("addr", "add", "10.9.0.5/24", "dev", "veth0")
    ns.ip("addr", "add", "10.9.0.6/24", "dev", "veth0")
    ns.ip("link", "set", "veth0", "up")
    ns.ip("route", "add", "default", "via", "10.9.0.254", "metric", "7")
    ok(ns.vmkit("bridge-create", "br0"))
    ok(ns.vmkit("bridge-attach", "br0", "veth0"))

    assert ns.link("veth0")["master"] == "br0"
    assert ns.inet("veth0") == []
    assert ns.inet("br0") == ["10.9.0.5/24", "10.9.0.6/24"]
    # The primary stays primary: the second address is still the secondary.
    v4 = [a for a in ns.ipj("addr", "show", "dev", "br0")[0]["addr_info"] if a["family"] == "inet"]
    assert v4[1].get("secondary") is True and not v4[0].get("secondary")
    routes = ns.ipj("route", "show", "default")
    assert [(r["gateway"], r["dev"], r.get("metric")) for r in routes] == [("10.9.0.254", "br0", 7)]
    state, addrs, ports = listing(ns)["br0"]
    assert (state, addrs, ports) == ("up", ["10.9.0.5/24", "10.9.0.6/24"], ["veth0"])


def test_attach_without_addresses(ns):
    ns.veth()
    ok(ns.vmkit("bridge-create", "br0", "--address", "10.8.0.1/16"))
    ok(ns.vmkit("bridge-attach", "br0", "veth0"))
    assert ns.link("veth0")["master"] == "br0"
    assert "UP" in ns.link("veth0")["flags"]
    assert ns.inet("br0") == ["10.8.0.1/16"]
    assert ns.ipj("route", "show", "default") == []


def test_detach(ns):
    ns.veth()
    ns.veth("veth2", "veth3")
    ok(ns.vmkit("bridge-create", "br0"))
    ok(ns.vmkit("bridge-attach", "br0", "veth0"))
    ok(ns.vmkit("bridge-attach", "br0", "veth2"))
    assert listing(ns)["br0"][2] == ["veth0", "veth2"]
    ok(ns.vmkit("bridge-detach", "br0", "veth0"))
    assert "master" not in ns.link("veth0")
    assert ns.link("veth2")["master"] == "br0"
    assert listing(ns)["br0"][2] == ["veth2"]
    fails(ns.vmkit("bridge-detach", "br0", "veth0"), 1, "veth0", "not attached to br0")


def test_delete_releases_ports(ns):
    ns.veth()
    ok(ns.vmkit("bridge-create", "br0"))
    ok(ns.vmkit("bridge-attach", "br0", "veth0"))
    ok(ns.vmkit("bridge-delete", "br0"))
    assert ns.link("br0") is None
    assert "master" not in ns.link("veth0")


def test_duplicate(ns):
    ok(ns.vmkit("bridge-create", "br0"))
    fails(ns.vmkit("bridge-create", "br0"), 1, "br0", "File exists")
    ns.veth()
    fails(ns.vmkit("bridge-create", "veth0"), 1, "veth0", "File exists")
    ok(ns.vmkit("bridge-attach", "br0", "veth0"))
    fails(ns.vmkit("bridge-attach", "br0", "veth0"), 1, "veth0", "already attached to br0")
    ok(ns.vmkit("bridge-create", "br1"))
    fails(ns.vmkit("bridge-attach", "br1", "veth0"), 1, "veth0", "already attached to br0")
    assert ns.link("veth0")["master"] == "br0"


def test_missing_bridge(ns):
    ns.veth()
    for args in (["bridge-delete", "br9"], ["bridge-attach", "br9", "veth0"],
                 ["bridge-detach", "br9", "veth0"]):
        fails(ns.vmkit(*args), 1, "br9", "No such device")
    assert "master" not in ns.link("veth0")


def test_missing_iface(ns):
    ok(ns.vmkit("bridge-create", "br0"))
    fails(ns.vmkit("bridge-attach", "br0", "eth9"), 1, "eth9", "No such device")
    fails(ns.vmkit("bridge-detach", "br0", "eth9"), 1, "eth9", "No such device")


def test_not_a_bridge(ns):
    """A bridge command never acts on a link that is not a bridge (delete must not drop eth0)."""
    ns.veth()
    ns.veth("veth2", "veth3")
    fails(ns.vmkit("bridge-delete", "veth0"), 1, "veth0", "not a bridge")
    assert ns.link("veth0") is not None
    fails(ns.vmkit("bridge-attach", "veth0", "veth2"), 1, "veth0", "not a bridge")
    assert "master" not in ns.link("veth2")
    ok(ns.vmkit("bridge-create", "br0"))
    fails(ns.vmkit("bridge-attach", "br0", "br0"), 1, "br0", "itself")


@pytest.mark.parametrize("cidr", ["10.0.0.300/24", "10.0.0.1/33", "10.0.0.1", "10.0.0.1/",
                                  "10.0.0.1/x", "br0", "/24", "fd00::1/129", ""])
def test_bad_cidr(ns, cidr):
    fails(ns.vmkit("bridge-create", "br0", "--address", cidr), 2, "--address", cidr)
    assert ns.link("br0") is None


def test_address_refused_leaves_no_bridge(ns):
    """When the kernel refuses the address, no half-made bridge is left behind, and its
    extended ack is in the message."""
    ns.run("sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1", check=True)
    fails(ns.vmkit("bridge-create", "br1", "--address", "fd00::1/64"), 1,
                 "br1: cannot add address fd00::1/64", "Permission denied",
                 "IPv6 is disabled on this device")
    assert ns.link("br1") is None


@pytest.mark.parametrize("args", [
    [], ["bridge-create"], ["bridge-create", "a", "b"], ["bridge-delete"],
    ["bridge-attach", "br0"], ["bridge-attach", "br0", "x", "y"], ["bridge-detach", "br0"],
    ["bridge-list", "x"], ["bridge-frobnicate"], ["bridge-create", "br0", "--mtu", "9000"],
    ["bridge-create", "this-name-is-too-long"], ["bridge-create", "a/b"],
    ["bridge-create", "a b"], ["bridge-attach", "br0", ".."],
])
def test_bad_usage(ns, args):
    p = ns.vmkit(*args)
    assert p.returncode == 2, p
    if args:
        fails(p, 2)
    assert ns.ipj("-d", "link", "show", "type", "bridge") == []


def test_permission_denied(ns):
    if not shutil.which("setpriv"):
        pytest.skip("needs setpriv")
    ns.veth()
    ok(ns.vmkit("bridge-create", "br0"))
    fails(ns.vmkit("bridge-create", "br1", user="65534"), 1, "br1", "Operation not permitted")
    fails(ns.vmkit("bridge-attach", "br0", "veth0", user="65534"), 1, "veth0",
          "Operation not permitted")
    fails(ns.vmkit("bridge-delete", "br0", user="65534"), 1, "br0", "Operation not permitted")
    assert ns.link("br0") is not None
    # Listing needs no privilege.
    assert set(listing(ns)) == {"br0"}
