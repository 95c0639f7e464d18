# SPDX-License-Identifier: GPL-2.0-or-later
"""virtio-net on a tap (--net tap,...), checked from both sides.

Every test makes a network namespace of its own (removed afterwards), runs
`vmkit run` inside it (`ip netns exec`) with the guest
tests/guest/virtio_net.c, and watches the wire from the host's side through
an AF_PACKET socket opened in that namespace, on the tap or on a veth peer
behind a bridge:

- frames the guest sends on each transmit queue arrive byte for byte
- frames the host writes (IPv4/UDP, varied flows) reach the guest byte for
  byte (the guest checks them and reports per receive queue)
- queues=2: the guest enables two pairs through the control queue; frames
  leave on both and arrive on both
- bridge=: the tap vmkit creates is on the bridge, and traffic flows
  between the guest and a veth on that bridge
- bad specs and taps that cannot be had: one line, exit 2
- vhost=on: fails clearly without /dev/vhost-net, works with it

Nothing here touches an interface outside the namespaces it makes.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import shutil
import signal
import socket
import struct
import subprocess
import time
import uuid
from pathlib import Path
from typing import Callable, Optional

import pytest

import vmkit_harness as h

TIMEOUT = 90.0
CLONE_NEWNET = 0x40000000
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
TX_TYPE = 0x88B5
HOST_MAC = bytes.fromhex("020000000001")
GUEST_MAC = "52:54:00:aa:bb:01"
TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000

_libc = ctypes.CDLL(None, use_errno=True)


def mac_bytes(mac: str) -> bytes:
    return bytes(int(x, 16) for x in mac.split(":"))


def tx_frame(mac: bytes, q: int, seq: int) -> bytes:
    """The frame the guest sends as (q, seq) (see tests/guest/virtio_net.c)."""
    n = 60 + (seq * 97) % 1455
    f = bytearray(n)
    f[0:6] = b"\xff" * 6
    f[6:12] = mac
    f[12:14] = struct.pack(">H", TX_TYPE)
    f[14:22] = b"VMKITNET"
    f[22] = q
    f[23:25] = struct.pack(">H", seq)
    for i in range(25, n):
        f[i] = (i * 7 + seq * 13 + q * 101) & 0xFF
    return bytes(f)


def ip_checksum(b: bytes) -> int:
    s = sum(struct.unpack(f">{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def rx_frame(mac: bytes, seq: int) -> bytes:
    """The frame the guest expects as seq: IPv4/UDP to port 9999, one flow per seq."""
    plen = 16 + (seq * 37) % 1000
    payload = b"VMKITRX" + struct.pack(">H", seq) + bytes(
        (j * 11 + seq * 5) & 0xFF for j in range(9, plen))
    udp = struct.pack(">HHHH", 10000 + seq, 9999, 8 + plen, 0) + payload
    iph = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), seq, 0, 64, 17, 0,
                      bytes([10, 99, 0, 1]), bytes([10, 99, 0, 2]))
    iph = iph[:10] + struct.pack(">H", ip_checksum(iph)) + iph[12:]
    return mac + HOST_MAC + b"\x08\x00" + iph + udp


PACKET_VNET_HDR = 15
SOL_PACKET = 263
GSO_TX_LEN = 4000  # tests/guest/virtio_net.c
GSO_RX_LEN = 8054


def tcp_frame(dst: bytes, src: bytes, length: int, sport: int, dport: int,
              src_ip: bytes, dst_ip: bytes) -> bytes:
    """TCP/IPv4 as the guest builds it: zero checksums, payload byte k = (k * 3 + 7) & 0xff."""
    iph = struct.pack(">BBHHHBBH4s4s", 0x45, 0, length - 14, 0, 0, 64, 6, 0, src_ip, dst_ip)
    tcp = struct.pack(">HHIIBBHHH", sport, dport, 0, 0, 5 << 4, 0x18, 0xFF00, 0, 0)
    payload = bytes((k * 3 + 7) & 0xFF for k in range(length - 54))
    return dst + src + b"\x08\x00" + iph + tcp + payload


def vnet_hdr(flags: int, gso_type: int, hdr_len: int, gso_size: int, csum_start: int,
             csum_offset: int) -> bytes:
    return struct.pack("<BBHHHH", flags, gso_type, hdr_len, gso_size, csum_start, csum_offset)


class Netns:
    """A network namespace of our own; everything is created inside it."""

    def __init__(self) -> None:
        self.name = f"vmkt-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        self.disable_ipv6()
        self.ip("link", "set", "lo", "up")

    def disable_ipv6(self) -> None:
        """No IPv6 chatter (router solicitations, MLD, DAD) on the wire we watch: the guest
        gets it too, and test_frames_both_ways counts every frame on its queue. Written
        from inside the namespace (/proc/sys/net is the writer's namespace's), not with
        sysctl(8), whose absence (no procps) once let the chatter through unnoticed."""
        with self.enter():
            for conf in ("all", "default"):
                try:
                    with open(f"/proc/sys/net/ipv6/conf/{conf}/disable_ipv6", "w") as f:
                        f.write("1")
                except FileNotFoundError:
                    return  # a kernel without IPv6 (ipv6.disable=1) sends none

    def ip(self, *args: str) -> str:
        p = subprocess.run(["ip", "-n", self.name, *args], capture_output=True, text=True)
        assert p.returncode == 0, f"ip {' '.join(args)}: {p.stderr}"
        return p.stdout

    def exec(self, argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.name, *argv], capture_output=True,
                              text=True, check=check)

    def argv(self, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def enter(self):
        """Run the block inside the namespace (this thread only); sockets stay in it."""
        ns = self

        class _Ctx:
            def __enter__(self):
                self.old = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
                fd = os.open(f"/run/netns/{ns.name}", os.O_RDONLY)
                try:
                    if _libc.setns(fd, CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), "setns")
                finally:
                    os.close(fd)

            def __exit__(self, *exc):
                _libc.setns(self.old, CLONE_NEWNET)
                os.close(self.old)

        return _Ctx()

    def packet_socket(self, ifname: str, vnet: bool = False) -> socket.socket:
        with self.enter():
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            if vnet:  # a virtio_net_hdr before every frame, both ways
                s.setsockopt(SOL_PACKET, PACKET_VNET_HDR, 1)
            s.bind((ifname, 0))
        s.setblocking(False)
        return s

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


@pytest.fixture
def ns():
    h.require_vmkit()
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces, taps)")
    if not shutil.which("ip") or not os.path.exists("/dev/net/tun"):
        pytest.skip("needs iproute2 and /dev/net/tun")
    n = Netns()
    try:
        yield n
    finally:
        n.delete()


def received(sock: socket.socket, ethertype: int, skip: int = 0) -> list[bytes]:
    """Frames that came in on sock (not the ones we sent) with this ethertype.

    skip: bytes before the frame (10 for a PACKET_VNET_HDR socket), kept in the result.
    """
    out = []
    while True:
        try:
            data, addr = sock.recvfrom(65536 + skip)
        except BlockingIOError:
            return out
        if addr[2] == PACKET_OUTGOING or len(data) < 14 + skip:
            continue
        if struct.unpack(">H", data[skip + 12:skip + 14])[0] == ethertype:
            out.append(data)


def run_guest(ns: Netns, net: list[str], cmdline: str, *, on_tx_done: Optional[Callable] = None,
              extra: tuple[str, ...] = ()) -> h.Result:
    """Boot virtio_net in ns; on_tx_done() runs once the guest has sent its frames."""
    args = [a for n in net for a in ("--net", n)] + ["--cmdline", cmdline, *extra]
    argv = ns.argv(h.vmkit_argv(h.guest("virtio_net"), extra_args=args))
    fired = []

    def hook(out: str) -> bool:
        if on_tx_done and not fired and "tx_done=1" in out:
            fired.append(1)
            on_tx_done()
        return False

    return h.run_argv(argv, timeout=TIMEOUT, stop_when=hook)


def check_tx(frames: list[bytes], mac: bytes, pairs: int, count: int) -> None:
    want = {tx_frame(mac, q, s) for q in range(pairs) for s in range(count)}
    got = set(frames)
    missing = want - got
    assert not missing, (f"{len(missing)} of {len(want)} guest frames did not arrive "
                         f"byte-exact (got {len(frames)} frames)")
    assert len(frames) == len(want), f"{len(frames)} frames for {len(want)} sent"


def test_frames_both_ways(ns: Netns) -> None:
    ns.ip("tuntap", "add", "dev", "vt0", "mode", "tap", "vnet_hdr")
    ns.ip("link", "set", "vt0", "up")
    sock = ns.packet_socket("vt0")
    mac = mac_bytes(GUEST_MAC)
    nrx = 48

    def send():
        for s in range(nrx):
            sock.send(rx_frame(mac, s))

    r = run_guest(ns, [f"tap,ifname=vt0,mac={GUEST_MAC}"], f"tx=24 rx={nrx}",
                  on_tx_done=send)
    h.assert_test_passed(r, "virtio_net")
    assert r.info["mac"] == GUEST_MAC
    assert r.info["status"] == "1"
    assert r.info["mtu"] == "1500"
    assert r.info["rx_good"] == str(nrx) and r.info["rx_q0"] == str(nrx), r.describe()
    feats = int(r.info["features"], 16)
    for bit in (32, 5, 16, 3, 15, 17):  # VERSION_1, MAC, STATUS, MTU, MRG_RXBUF, CTRL_VQ
        assert feats & (1 << bit), f"feature {bit} not negotiated: {feats:#x}"
    check_tx(received(sock, TX_TYPE), mac, 1, 24)


def test_receive_ring_runs_dry(ns: Netns) -> None:
    """Ten times the guest's 128 receive buffers at once: the device waits for buffers
    (the tap holds the rest), resumes on the guest's notification, loses nothing."""
    ns.ip("tuntap", "add", "dev", "vt0", "mode", "tap", "vnet_hdr")
    ns.ip("link", "set", "vt0", "txqueuelen", "4000", "up")
    sock = ns.packet_socket("vt0")
    mac = mac_bytes(GUEST_MAC)
    nrx = 1280
    frames = [rx_frame(mac, s) for s in range(nrx)]

    def send():
        for f in frames:
            sock.send(f)

    # The guest takes nothing for a second: its ring fills while the frames arrive.
    r = run_guest(ns, [f"tap,ifname=vt0,mac={GUEST_MAC}"], f"tx=1 rx={nrx} rx_delay=1000",
                  on_tx_done=send)
    h.assert_test_passed(r, "virtio_net")
    assert r.info["rx_good"] == str(nrx) and r.info["rx_missing"] == "0", r.describe()
    drops = int(ns.exec(["cat", "/sys/class/net/vt0/statistics/tx_dropped"]).stdout)
    assert drops == 0, f"the tap dropped {drops} frames"


def test_no_mergeable_buffers(ns: Netns) -> None:
    """Without MRG_RXBUF every frame lands in one buffer, num_buffers 1."""
    ns.ip("tuntap", "add", "dev", "vt0", "mode", "tap", "vnet_hdr")
    ns.ip("link", "set", "vt0", "up")
    sock = ns.packet_socket("vt0")
    mac = mac_bytes(GUEST_MAC)

    def send():
        for s in range(16):
            sock.send(rx_frame(mac, s))

    r = run_guest(ns, [f"tap,ifname=vt0,mac={GUEST_MAC}"], "tx=8 rx=16 no-mrg no-event-idx",
                  on_tx_done=send)
    h.assert_test_passed(r, "virtio_net")
    assert not int(r.info["features"], 16) & (1 << 15)
    check_tx(received(sock, TX_TYPE), mac, 1, 8)


def test_offloads_tso_passed_through(ns: Netns) -> None:
    """GUEST_TSO4/HOST_TSO4 reach the tap: 8 KiB and 4 KB TCP frames cross whole, as GSO."""
    ns.ip("tuntap", "add", "dev", "vt0", "mode", "tap", "vnet_hdr")
    ns.ip("link", "set", "vt0", "up")
    plain = ns.packet_socket("vt0")
    vs = ns.packet_socket("vt0", vnet=True)
    mac = mac_bytes(GUEST_MAC)

    def send():
        for s in range(8):
            plain.send(rx_frame(mac, s))
        # One GSO packet (NEEDS_CSUM, TCPV4, mss 1448): with the guest's TSO the
        # tap takes it whole; without, the kernel would cut it into 6 frames.
        big = tcp_frame(mac, HOST_MAC, GSO_RX_LEN, 4444, 9998, bytes([10, 99, 0, 1]),
                        bytes([10, 99, 0, 2]))
        vs.send(vnet_hdr(1, 1, 54, 1448, 34, 16) + big)

    r = run_guest(ns, [f"tap,ifname=vt0,mac={GUEST_MAC}"], f"tx=4 rx=8 gso gso_rx={GSO_RX_LEN}",
                  on_tx_done=send)
    h.assert_test_passed(r, "virtio_net")
    feats = int(r.info["features"], 16)
    for bit in (0, 1, 7, 11):  # CSUM, GUEST_CSUM, GUEST_TSO4, HOST_TSO4
        assert feats & (1 << bit), f"offload feature {bit} not negotiated: {feats:#x}"
    assert r.info["gso_rx_len"] == str(GSO_RX_LEN)
    assert r.info["gso_rx_type"] == "1", "the guest did not get the frame as TCPV4 GSO"
    assert r.info["gso_rx_size"] == "1448"
    assert int(r.info["gso_rx_bufs"]) >= 4, "8 KiB in 2 KiB buffers: mergeable buffers"
    # The guest's GSO frame, as the host stack got it.
    want = tcp_frame(b"\xff" * 6, mac, GSO_TX_LEN, 5555, 9997, bytes([10, 99, 0, 2]),
                     bytes([10, 99, 0, 1]))
    got = [f for f in received(vs, 0x0800, skip=10) if f[10 + 36:10 + 38] == b"\x27\x0d"]
    assert len(got) == 1, f"{len(got)} frames to port 9997 (want the one GSO frame whole)"
    flags, gso_type, hdr_len, gso_size = struct.unpack("<BBHH", got[0][:6])
    assert gso_type == 1 and gso_size == 1448, f"vnet header {got[0][:10].hex()}"
    assert got[0][10:] == want


def test_multiqueue_two_pairs(ns: Netns) -> None:
    ns.ip("tuntap", "add", "dev", "vt0", "mode", "tap", "vnet_hdr", "multi_queue")
    ns.ip("link", "set", "vt0", "up")
    sock = ns.packet_socket("vt0")
    mac = mac_bytes(GUEST_MAC)
    nrx = 128

    def send():
        for s in range(nrx):
            sock.send(rx_frame(mac, s))

    r = run_guest(ns, [f"tap,ifname=vt0,queues=2,mac={GUEST_MAC}"], f"pairs=2 tx=16 rx={nrx}",
                  on_tx_done=send)
    h.assert_test_passed(r, "virtio_net")
    assert r.info["max_pairs"] == "2" and r.info["pairs"] == "2"
    assert int(r.info["features"], 16) & (1 << 22), "MQ not negotiated"
    q0, q1 = int(r.info["rx_q0"]), int(r.info["rx_q1"])
    assert q0 + q1 >= nrx
    assert q0 > 0 and q1 > 0, f"frames on one receive queue only: q0={q0} q1={q1}"
    check_tx(received(sock, TX_TYPE), mac, 2, 16)


def test_device_reset_and_again(ns: Netns) -> None:
    """The guest resets the NIC and sets it up anew (two pairs again): it works again."""
    ns.ip("tuntap", "add", "dev", "vt0", "mode", "tap", "vnet_hdr", "multi_queue")
    ns.ip("link", "set", "vt0", "up")
    sock = ns.packet_socket("vt0")
    mac = mac_bytes(GUEST_MAC)
    nrx = 64

    def send():
        for s in range(nrx):
            sock.send(rx_frame(mac, s))

    r = run_guest(ns, [f"tap,ifname=vt0,queues=2,mac={GUEST_MAC}"],
                  f"reinit pairs=2 tx=8 rx={nrx}", on_tx_done=send)
    h.assert_test_passed(r, "virtio_net")
    assert r.info["reinit"] == "1"
    assert int(r.info["rx_q0"]) > 0 and int(r.info["rx_q1"]) > 0, r.describe()
    frames = received(sock, TX_TYPE)
    want = [tx_frame(mac, q, s) for q in range(2) for s in range(8)]
    assert sorted(frames) == sorted(want * 2), f"{len(frames)} frames for 2 x {len(want)}"


def test_bridge_attach(ns: Netns) -> None:
    """bridge=: the tap vmkit creates joins the bridge; traffic flows to a veth on it."""
    ns.ip("link", "add", "br0", "type", "bridge")
    ns.ip("link", "add", "ve0", "type", "veth", "peer", "name", "ve1")
    ns.ip("link", "set", "ve0", "master", "br0")
    for dev in ("br0", "ve0", "ve1"):
        ns.ip("link", "set", dev, "up")
    sock = ns.packet_socket("ve1")
    mac = mac_bytes(GUEST_MAC)
    master = []

    def send():
        master.append(ns.ip("-o", "link", "show", "master", "br0"))
        for s in range(16):
            sock.send(rx_frame(mac, s))

    r = run_guest(ns, [f"tap,bridge=br0,mac={GUEST_MAC}"], "tx=8 rx=16", on_tx_done=send)
    h.assert_test_passed(r, "virtio_net")
    assert "vmkit-tap0" in r.stderr, r.describe()
    assert master and "vmkit-tap0" in master[0], f"tap not on br0: {master}"
    check_tx(received(sock, TX_TYPE), mac, 1, 8)
    # The tap was vmkit's own: it is gone with it.
    assert "vmkit-tap0" not in ns.ip("-o", "link", "show")


def test_hostile_chains(ns: Netns) -> None:
    """Bad transmit and control chains are used and dropped; the NIC goes on working."""
    ns.ip("tuntap", "add", "dev", "vt0", "mode", "tap", "vnet_hdr")
    ns.ip("link", "set", "vt0", "up")
    sock = ns.packet_socket("vt0")
    mac = mac_bytes(GUEST_MAC)

    def send():
        for s in range(8):
            sock.send(rx_frame(mac, s))

    # vhost=off: the chains are vmkit's to parse. vhost-net stops serving a ring
    # that holds a malformed chain (as under QEMU): the guest harms only itself.
    r = run_guest(ns, [f"tap,ifname=vt0,mac={GUEST_MAC},vhost=off"], "hostile tx=4 rx=8",
                  on_tx_done=send)
    h.assert_test_passed(r, "virtio_net")
    assert r.info["hostile"] == "ok"
    # Nothing but the good frames reached the wire (the bad ones are type 0 or too short).
    frames = []
    while True:
        try:
            data, addr = sock.recvfrom(65536)
        except BlockingIOError:
            break
        if addr[2] != PACKET_OUTGOING:
            frames.append(data)
    assert sorted(frames) == sorted(tx_frame(mac, 0, s) for s in range(4)), \
        f"{len(frames)} frames on the wire: {[f[:16].hex() for f in frames]}"


def test_set_link(ns: Netns, tmp_path: Path) -> None:
    """QMP set_link: the guest sees the status change (config interrupt, new generation),
    frames sent while the link is down go nowhere, and the link comes back."""
    from qmp_client import QMP

    ns.ip("tuntap", "add", "dev", "vt0", "mode", "tap", "vnet_hdr")
    ns.ip("link", "set", "vt0", "up")
    sock = ns.packet_socket("vt0")
    mac = mac_bytes(GUEST_MAC)
    qmp_sock = tmp_path / "qmp.sock"
    steps: list[str] = []
    q: list[QMP] = []

    def hook(out: str) -> bool:
        if "link_watch=1" in out and "down" not in steps:
            q.append(QMP(qmp_sock))
            q[0].negotiate()
            q[0].cmd("set_link", {"name": "net0", "up": False})
            steps.append("down")
        if "down_tx_done=1" in out and "up" not in steps:
            q[0].cmd("set_link", {"name": "vt0", "up": True})  # by host interface too
            steps.append("up")
        return False

    args = ["--net", f"tap,ifname=vt0,mac={GUEST_MAC}", "--qmp", str(qmp_sock),
            "--cmdline", "tx=2 link_watch"]
    argv = ns.argv(h.vmkit_argv(h.guest("virtio_net"), extra_args=args))
    try:
        r = h.run_argv(argv, timeout=TIMEOUT, stop_when=hook)
    finally:
        for c in q:
            c.close()
    h.assert_test_passed(r, "virtio_net")
    assert r.info["link_down_seen"] == "1" and r.info["link_up_seen"] == "1"
    assert steps == ["down", "up"]
    # The two frames from before; none of the four sent while the link was down.
    check_tx(received(sock, TX_TYPE), mac, 1, 2)


def test_set_link_unknown_nic(tmp_path: Path) -> None:
    from qmp_client import QMP, QMPError

    h.require_vmkit()
    qmp_sock = tmp_path / "qmp.sock"
    argv = h.vmkit_argv(h.guest("spin"), extra_args=["--qmp", str(qmp_sock)])
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        with QMP(qmp_sock) as q:
            q.negotiate()
            with pytest.raises(QMPError) as e:
                q.cmd("set_link", {"name": "net0", "up": False})
            assert e.value.cls == "DeviceNotFound"
            q.cmd("quit")
    finally:
        p.kill()
        p.wait()


def test_sigterm_while_the_guest_floods(ns: Netns) -> None:
    """A guest that keeps its transmit ring full does not keep the event loop (which
    also reads the signals) to itself: SIGTERM still ends the monitor at once."""
    ns.ip("tuntap", "add", "dev", "vt0", "mode", "tap", "vnet_hdr")
    ns.ip("link", "set", "vt0", "up")
    args = ["--net", "tap,ifname=vt0", "--cmdline", "mode=tx size=60 secs=60"]
    argv = ns.argv(h.vmkit_argv(h.guest("virtio_netbench"), extra_args=args))

    def sent() -> int:
        return int(ns.exec(["cat", "/sys/class/net/vt0/statistics/rx_packets"]).stdout)

    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while sent() < 20000 and time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.1)
        assert sent() >= 20000, "the guest did not get going"
        t0 = time.monotonic()
        # ip netns exec execs vmkit: the signal reaches the monitor itself.
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=20)
        took = time.monotonic() - t0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert rc == 0, p.stderr.read()
    assert took < 10, f"took {took:.1f} s to stop"


def thread_ticks(pid: int) -> int:
    """CPU time (clock ticks) of a process's main thread: the monitor's event loop."""
    f = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


def test_tap_deleted_under_the_vm(ns: Netns) -> None:
    """The tap goes away while the guest waits for frames: one line says so, the
    event loop does not spin on the dead fd, and the monitor still stops cleanly."""
    ns.ip("tuntap", "add", "dev", "vt0", "mode", "tap", "vnet_hdr")
    ns.ip("link", "set", "vt0", "up")
    args = ["--net", "tap,ifname=vt0", "--cmdline", "mode=rx wait=60 secs=1"]
    argv = ns.argv(h.vmkit_argv(h.guest("virtio_netbench"), extra_args=args))
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        # Booted, the device live, the guest polling its ring (a slow host takes a while).
        deadline = time.monotonic() + 60
        while "features=" not in p.stdout.readline():
            assert p.poll() is None and time.monotonic() < deadline, "the guest never started"
        ns.ip("link", "del", "vt0")
        time.sleep(0.5)
        t0 = thread_ticks(p.pid)
        time.sleep(2.0)
        spent = thread_ticks(p.pid) - t0
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    assert spent < 40, f"the event loop used {spent} ticks in 2 s after the tap went away"
    assert "net0: backend tap vt0 is gone" in err, err


def test_mac_default_stable_per_name(ns: Netns) -> None:
    ns.ip("tuntap", "add", "dev", "vt0", "mode", "tap", "vnet_hdr")
    macs = []
    for name in ("web1", "web1", "db1", None):
        extra = ("--name", name) if name else ()
        r = run_guest(ns, ["tap,ifname=vt0"], "tx=1", extra=extra)
        h.assert_test_passed(r, "virtio_net")
        macs.append(r.info["mac"])
    assert all(m.startswith("52:54:00:") for m in macs), macs
    assert macs[0] == macs[1], "the same --name must give the same MAC"
    assert macs[0] != macs[2], "different names gave the same MAC"


def test_mtu(ns: Netns) -> None:
    ns.ip("tuntap", "add", "dev", "vt0", "mode", "tap", "vnet_hdr")
    r = run_guest(ns, ["tap,ifname=vt0,mtu=9000"], "tx=1")
    h.assert_test_passed(r, "virtio_net")
    assert r.info["mtu"] == "9000"
    assert "mtu 9000" in ns.ip("link", "show", "vt0")


def run_bad(ns: Optional[Netns], spec: str, *prefix: str) -> h.Result:
    argv = h.vmkit_argv(h.guest("virtio_net"), extra_args=["--net", spec])
    if ns:
        argv = ns.argv([*prefix, *argv])
    return h.run_argv(argv, timeout=30)


def assert_bad(r: h.Result, *words: str) -> None:
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, r.describe()
    assert len(lines) == 1 and lines[0].startswith("vmkit: "), r.describe()
    for w in words:
        assert w.lower() in lines[0].lower(), f"{w!r} not in {lines[0]!r}"


@pytest.mark.parametrize("spec, words", [
    ("bogus", ("unknown network type 'bogus'",)),
    ("tap,colour=blue", ("unknown option 'colour'",)),
    ("tap,mac=52:54:00:zz:00:01", ("mac=52:54:00:zz:00:01",)),
    ("tap,mac=01:00:5e:00:00:01", ("not a unicast MAC",)),
    ("tap,mac=52:54:00:00:01", ("mac=",)),
    ("tap,queues=0", ("queues=0",)),
    ("tap,queues=99", ("queues=99",)),
    ("tap,mtu=10", ("mtu=10",)),
    ("tap,vhost=maybe", ("vhost=maybe",)),
    ("tap,ifname=a/b", ("ifname=a/b",)),
    ("tap,ifname=averyveryverylongname", ("ifname=",)),
])
def test_bad_spec(spec: str, words: tuple[str, ...]) -> None:
    h.require_vmkit()
    assert_bad(run_bad(None, spec), spec, *words)


def test_bridge_missing(ns: Netns) -> None:
    assert_bad(run_bad(ns, "tap,bridge=nosuchbr"), "bridge nosuchbr does not exist")


def test_bridge_not_a_bridge(ns: Netns) -> None:
    ns.ip("link", "add", "ve0", "type", "veth", "peer", "name", "ve1")
    assert_bad(run_bad(ns, "tap,bridge=ve0"), "ve0 is not a bridge")


def test_name_in_use_by_non_tap(ns: Netns) -> None:
    ns.ip("link", "add", "ve0", "type", "veth", "peer", "name", "ve1")
    assert_bad(run_bad(ns, "tap,ifname=ve0"), "ve0", "not a tap")


def test_tap_busy(ns: Netns) -> None:
    """A single-queue tap another process holds."""
    with ns.enter():
        fd = os.open("/dev/net/tun", os.O_RDWR)
        ifr = struct.pack("16sH22x", b"vt0", IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)
        fcntl.ioctl(fd, TUNSETIFF, ifr)
    try:
        assert_bad(run_bad(ns, "tap,ifname=vt0"), "vt0", "in use by another process")
    finally:
        os.close(fd)


def test_mtu_refused(ns: Netns) -> None:
    assert_bad(run_bad(ns, "tap,ifname=vt0,mtu=65530"), "mtu=65530", "refuses")


def test_no_permission(ns: Netns) -> None:
    if not shutil.which("setpriv"):
        pytest.skip("needs setpriv (util-linux)")
    r = run_bad(ns, "tap,ifname=vt0", "setpriv", "--reuid=65534", "--regid=65534",
                "--clear-groups")
    assert_bad(r, "permission denied", "CAP_NET_ADMIN")


def test_vhost_on_without_vhost_net(ns: Netns) -> None:
    if os.path.exists("/dev/vhost-net"):
        pytest.skip("this host has /dev/vhost-net (test_vhost_on covers it)")
    assert_bad(run_bad(ns, "tap,ifname=vt0,vhost=on"), "vhost=on", "/dev/vhost-net")


def test_vhost_on(ns: Netns) -> None:
    if not os.path.exists("/dev/vhost-net"):
        pytest.skip("no /dev/vhost-net on this host (CONFIG_VHOST_NET off)")
    ns.ip("tuntap", "add", "dev", "vt0", "mode", "tap", "vnet_hdr")
    ns.ip("link", "set", "vt0", "up")
    sock = ns.packet_socket("vt0")
    mac = mac_bytes(GUEST_MAC)

    def send():
        for s in range(32):
            sock.send(rx_frame(mac, s))

    r = run_guest(ns, [f"tap,ifname=vt0,vhost=on,mac={GUEST_MAC}"], "tx=16 rx=32",
                  on_tx_done=send)
    h.assert_test_passed(r, "virtio_net")
    assert "vhost-net" in r.stderr
    check_tx(received(sock, TX_TYPE), mac, 1, 16)
