# SPDX-License-Identifier: GPL-2.0-or-later
"""--net user: virtio-net on the vmkit-slirp NAT helper, with a guest that speaks IPv4.

The guest (tests/guest/virtio_net_user.c) gets its address by DHCP through the device,
ARPs for the router, then connects to a TCP server this test runs on 127.0.0.1 (slirp
maps 10.0.2.2 to the host's loopback) and exchanges a line each way, or accepts a
connection a hostfwd brings in from the host. Also: custom network and MAC, restrict=on,
bad specs, a missing helper, and the helper's lifetime (gone when the monitor exits or is
killed). Nothing leaves the host: every server is on 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

import vmkit_harness as h

TIMEOUT = 90.0
HELPER = h.VMKIT.parent / "vmkit-slirp"


@pytest.fixture(autouse=True)
def _need_vmkit():
    h.require_vmkit()
    if not HELPER.is_file():
        pytest.skip(f"{HELPER} is not built")


def run_guest(net: str, cmdline: str, on_line=None, timeout=TIMEOUT) -> h.Result:
    argv = h.vmkit_argv(h.guest("virtio_net_user"),
                        extra_args=["--net", net, "--cmdline", cmdline, "--no-reboot"])
    fired = set()

    def hook(out: str) -> bool:
        if on_line:
            for key, fn in on_line.items():
                if key not in fired and key in out:
                    fired.add(key)
                    fn()
        return False

    return h.run_argv(argv, timeout=timeout, stop_when=hook)


class Server(threading.Thread):
    """A TCP server on 127.0.0.1 that reads a line and answers one."""

    def __init__(self, reply=b"hello from the host\n"):
        super().__init__(daemon=True)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(TIMEOUT)
        self.port = self.sock.getsockname()[1]
        self.reply = reply
        self.got = None
        self.connections = 0
        self.start()

    def run(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        self.connections += 1
        with conn:
            conn.settimeout(30)
            self.got = conn.recv(100)
            conn.sendall(self.reply)

    def close(self):
        self.sock.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dhcp_and_tcp_to_the_host():
    srv = Server()
    r = run_guest("user", f"connect={srv.port}")
    h.assert_test_passed(r, "virtio_net_user")
    assert r.info["lease"] == "10.0.2.15"
    assert r.info["router"] == "10.0.2.2"
    assert r.info["dns"] == "10.0.2.3"
    assert r.info["mask"] == "255.255.255.0"
    assert r.info["router_mac"] == "52:55:0a:00:02:02"
    assert r.info["mtu"] == "1500"
    assert r.info["tcp_synack"] == "1"
    assert r.info["tcp_rx"] == "hello from the host"
    srv.join(5)
    assert srv.got == b"hello from the guest\n"
    assert "net0: user 10.0.2.0/24, 1 queue pair" in r.stderr


def test_hostfwd_into_the_guest():
    hp = free_port()
    got = {}

    def client():
        with socket.create_connection(("127.0.0.1", hp), timeout=30) as c:
            c.sendall(b"ping from the host\n")
            got["reply"] = c.recv(100)
        # Closing sends the FIN the guest waits for.

    threads = []

    def start():
        t = threading.Thread(target=client, daemon=True)
        t.start()
        threads.append(t)

    r = run_guest(f"user,hostfwd=tcp:127.0.0.1:{hp}-:2222", "listen=2222",
                  on_line={"listen_ready=1": start})
    for t in threads:
        t.join(10)
    h.assert_test_passed(r, "virtio_net_user")
    assert r.info["fwd_syn"] == "1"
    assert r.info["fwd_from"] == "10.0.2.2"
    assert r.info["fwd_rx"] == "ping from the host"
    assert r.info["fwd_fin"] == "1"
    assert got.get("reply") == b"pong from the guest\n"


def test_custom_network_and_mac():
    srv = Server()
    r = run_guest("user,net=192.168.77.0/24,dhcpstart=192.168.77.50,mac=52:54:00:12:34:99",
                  f"connect={srv.port}")
    h.assert_test_passed(r, "virtio_net_user")
    assert r.info["mac"] == "52:54:00:12:34:99"
    assert r.info["lease"] == "192.168.77.50"
    assert r.info["router"] == "192.168.77.2"
    assert r.info["dns"] == "192.168.77.3"
    assert r.info["tcp_rx"] == "hello from the host"


def test_restrict_keeps_the_guest_in():
    srv = Server()
    r = run_guest("user,restrict=on", f"connect={srv.port} timeout=10")
    tests = h.parse_tests(r.lines)
    assert tests and tests[-1][1] == "FAIL", r.describe()
    assert tests[-1][2] == "connect: refused (RST)", r.describe()
    assert r.info["tcp_rst"] == "1"
    assert r.info["lease"] == "10.0.2.15"        # DHCP still works inside,
    assert r.info["router"] == "0.0.0.0"         # but offers no way out
    assert srv.connections == 0
    srv.close()


@pytest.mark.parametrize("spec,words", [
    ("user,hostfwd=tcp::99999-:22", "port '99999' is not 1-65535"),
    ("user,hostfwd=tcp::2222", "expected [tcp|udp]"),
    ("user,net=10.0.2.0/33", "prefix length"),
    ("user,host=10.9.9.9", "not a host address in 10.0.2.0/24"),
    ("user,restrict=sometimes", "expected on or off"),
    ("user,queues=2", "unknown option 'queues'"),
    ("user,mac=01:00:00:00:00:01", "not a unicast MAC"),
    ("user,mtu=65521", "mtu=65521: expected a number from 68 to 65520"),
    ("user,mtu=67", "mtu=67"),
])
def test_bad_specs(spec, words):
    r = h.run_argv(h.vmkit_argv(h.guest("hello"), extra_args=["--net", spec]), timeout=30)
    assert r.returncode == 2, r.describe()
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"vmkit: --net {spec}: "), r.stderr
    assert words in lines[0]


def test_hostfwd_port_taken():
    busy = socket.create_server(("127.0.0.1", 0))
    port = busy.getsockname()[1]
    spec = f"user,hostfwd=tcp:127.0.0.1:{port}-:22"
    r = h.run_argv(h.vmkit_argv(h.guest("hello"), extra_args=["--net", spec]), timeout=30)
    busy.close()
    assert r.returncode == 2, r.describe()
    assert r.stderr.strip() == (f"vmkit: --net {spec}: hostfwd=tcp:127.0.0.1:{port}-:22: "
                                f"cannot listen on tcp 127.0.0.1:{port}: Address already in use")


def test_helper_missing():
    with tempfile.TemporaryDirectory() as d:
        vm = Path(d) / "vmkit"
        shutil.copy(h.VMKIT, vm)
        argv = h.vmkit_argv(h.guest("hello"), extra_args=["--net", "user"])
        argv[0] = str(vm)
        r = h.run_argv(argv, timeout=30)
    assert r.returncode == 2, r.describe()
    assert r.stderr.strip().endswith("vmkit: --net user: " + str(Path(d) / "vmkit-slirp") +
                                     ": No such file or directory"), r.stderr


def helper_children(pid: int) -> list[int]:
    kids = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids += [int(k) for k in (task / "children").read_text().split()]
    return [k for k in kids if Path(f"/proc/{k}/comm").read_text().strip() == "vmkit-slirp"]


def gone(pid: int, within: float = 3.0) -> bool:
    end = time.monotonic() + within
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
def test_helper_lives_and_dies_with_the_monitor(how):
    """The helper runs beside the monitor and goes when it quits, or is killed (SIGKILL)."""
    cmd = h.vmkit_argv(h.guest("spin"), extra_args=["--net", "user", "--no-reboot"],
                       console="none")
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        kids = []
        end = time.monotonic() + 10
        while not kids and time.monotonic() < end and p.poll() is None:
            kids = helper_children(p.pid)
            time.sleep(0.02)
        assert len(kids) == 1, "no vmkit-slirp child of the monitor"
        p.send_signal(how)
        p.wait(timeout=TIMEOUT)
        assert gone(kids[0]), f"vmkit-slirp (pid {kids[0]}) outlived the monitor"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_udp_both_ways():
    """Outbound UDP to the host's loopback, and a udp hostfwd in: datagrams arrive whole."""
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.settimeout(0.5)
    got = []

    def drain():
        while True:
            try:
                data = sink.recv(2048)
            except socket.timeout:
                if got:
                    return
                continue
            except OSError:
                return
            got.append(data)

    t = threading.Thread(target=drain, daemon=True)
    t.start()
    r = run_guest("user", f"udp_tx={sink.getsockname()[1]} size=1000 secs=1")
    t.join(10)
    sink.close()
    h.assert_test_passed(r, "virtio_net_user")
    sent = int(r.info["udp_tx_frames"])
    assert 0 < len(got) <= sent, (len(got), sent)
    assert all(d == bytes(i & 255 for i in range(958)) for d in got)

    hp = free_port()
    stop = threading.Event()

    def blast():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            while not stop.is_set():
                s.sendto(b"x" * 500, ("127.0.0.1", hp))
                time.sleep(0.001)

    def start():
        threading.Thread(target=blast, daemon=True).start()

    r = run_guest(f"user,hostfwd=udp:127.0.0.1:{hp}-:5555", "udp_rx=5555 secs=1",
                  on_line={"udp_rx_ready=1": start})
    stop.set()
    h.assert_test_passed(r, "virtio_net_user")
    assert int(r.info["udp_rx_frames"]) > 10
    # 500 bytes of payload in a 542-byte frame.
    assert int(r.info["udp_rx_bytes"]) == 542 * int(r.info["udp_rx_frames"])


def test_large_mtu():
    """mtu=9000 reaches the guest (VIRTIO_NET_F_MTU) and slirp: 8000-byte frames cross
    whole both ways."""
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.settimeout(5)
    r = run_guest("user,mtu=9000", f"udp_tx={sink.getsockname()[1]} size=8000 secs=1")
    h.assert_test_passed(r, "virtio_net_user")
    assert r.info["mtu"] == "9000"
    d = sink.recv(65536)
    sink.close()
    assert d == bytes(i & 255 for i in range(8000 - 42))

    hp = free_port()
    stop = threading.Event()

    def blast():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            while not stop.is_set():
                s.sendto(b"y" * 7000, ("127.0.0.1", hp))
                time.sleep(0.002)

    r = run_guest(f"user,mtu=9000,hostfwd=udp:127.0.0.1:{hp}-:5555", "udp_rx=5555 secs=1",
                  on_line={"udp_rx_ready=1": lambda: threading.Thread(target=blast,
                                                                       daemon=True).start()})
    stop.set()
    h.assert_test_passed(r, "virtio_net_user")
    n = int(r.info["udp_rx_frames"])
    assert n > 10 and int(r.info["udp_rx_bytes"]) == 7042 * n
