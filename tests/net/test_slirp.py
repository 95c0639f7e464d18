# SPDX-License-Identifier: GPL-2.0-or-later
"""vmkit-slirp on its own: the test is the guest, speaking raw Ethernet frames on the socket.

DHCP, ARP, TCP through the NAT to a server on the host's loopback (slirp maps 10.0.2.2
there), hostfwd from the host into the guest, restrict=on, DNS forwarded to the host's
resolver (in a network namespace whose resolv.conf names a responder the test runs),
and the helper's lifetime (exits with its socket, dies with its parent).
"""
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ethframes import ACK, BCAST, PSH, RST, SYN, Guest, ip_bytes, mac_bytes  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("VMKIT_BUILD_DIR", ROOT / "build"))
HELPER = BUILD / "vmkit-slirp"
SLIRP_MAC = mac_bytes("52:55:0a:00:02:02")   # libslirp's MAC for the host, 52:55 + 10.0.2.2


class Helper:
    def __init__(self, opts="", netns=None):
        if not HELPER.is_file():
            pytest.skip(f"{HELPER} is not built (make build)")
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        r, w = os.pipe()
        argv = [str(HELPER), f"--fd={theirs.fileno()}", f"--status-fd={w}", opts]
        if netns:
            argv = ["ip", "netns", "exec", netns] + argv
        self.proc = subprocess.Popen(argv, pass_fds=[theirs.fileno(), w], stderr=subprocess.PIPE,
                                     text=True)
        theirs.close()
        os.close(w)
        self.status = self._read_status(r)
        self.sock = ours
        self.guest = Guest(ours)

    @staticmethod
    def _read_status(fd):
        out = b""
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if not select.select([fd], [], [], end - time.monotonic())[0]:
                break
            chunk = os.read(fd, 4096)
            if not chunk:
                os.close(fd)
                return out.decode()
            out += chunk
        os.close(fd)
        raise AssertionError("vmkit-slirp did not close its status fd in 10 s")

    def ready(self):
        assert self.status == "", f"helper failed to start: {self.status}"
        return self

    def close(self):
        self.sock.close()
        try:
            return self.proc.wait(timeout=5)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def helpers():
    made = []

    def make(opts="", netns=None):
        h = Helper(opts, netns)
        made.append(h)
        return h
    yield make
    for h in made:
        h.close()


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dhcp(helpers):
    g = helpers().ready().guest
    lease = g.dhcp()
    assert lease.offer == "10.0.2.15"
    assert lease.addr == "10.0.2.15"
    assert socket.inet_ntoa(lease.opts[3]) == "10.0.2.2"       # router
    assert socket.inet_ntoa(lease.opts[6][:4]) == "10.0.2.3"   # DNS
    assert socket.inet_ntoa(lease.opts[1]) == "255.255.255.0"
    assert socket.inet_ntoa(lease.opts[54]) == "10.0.2.2"      # server id
    assert lease.server_mac == SLIRP_MAC


def test_dhcp_custom_network(helpers):
    g = helpers("net=192.168.76.0/24").ready().guest
    g.ip = "192.168.76.15"
    lease = g.dhcp()
    assert lease.addr == "192.168.76.15"
    assert socket.inet_ntoa(lease.opts[3]) == "192.168.76.2"
    assert socket.inet_ntoa(lease.opts[6][:4]) == "192.168.76.3"

    g = helpers("net=10.5.0.0/255.255.0.0,host=10.5.0.1,dns=10.5.0.53,dhcpstart=10.5.1.100") \
        .ready().guest
    g.ip = "10.5.1.100"
    lease = g.dhcp()
    assert lease.addr == "10.5.1.100"
    assert socket.inet_ntoa(lease.opts[3]) == "10.5.0.1"
    assert socket.inet_ntoa(lease.opts[6][:4]) == "10.5.0.53"
    assert socket.inet_ntoa(lease.opts[1]) == "255.255.0.0"


def test_arp(helpers):
    g = helpers().ready().guest
    for ip in ("10.0.2.2", "10.0.2.3"):
        f = g.arp(ip)
        assert f.dst == g.mac and f.arp.tha == g.mac and f.arp.tpa == "10.0.2.15"
        assert f.arp.sha == b"\x52\x55" + ip_bytes(ip)   # slirp's MACs: 52:55 + the address


def handshake(g, dst, dport, sport=40000, isn=1000):
    """SYN -> SYN-ACK -> ACK from the guest; returns (our next seq, their next seq)."""
    g.send(g.tcp(SLIRP_MAC, dst, dport, sport, isn, 0, SYN))
    f = g.expect(lambda f: f.tcp and f.tcp.sport == dport and f.tcp.dport == sport, "SYN-ACK")
    assert f.tcp.flags & (SYN | ACK) == SYN | ACK, f"not a SYN-ACK: flags {f.tcp.flags:#x}"
    assert f.tcp.ack == isn + 1
    assert (f.ip.src, f.ip.dst) == (dst, g.ip)
    g.send(g.tcp(SLIRP_MAC, dst, dport, sport, isn + 1, f.tcp.seq + 1, ACK))
    return isn + 1, f.tcp.seq + 1


def test_tcp_to_host_loopback(helpers):
    """10.0.2.2 is the host's loopback: a guest connection reaches a server on 127.0.0.1."""
    g = helpers().ready().guest
    g.dhcp()
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    seq, their = handshake(g, "10.0.2.2", port)
    srv.settimeout(5)
    conn, peer = srv.accept()
    assert peer[0] == "127.0.0.1"
    # Data both ways.
    g.send(g.tcp(SLIRP_MAC, "10.0.2.2", port, 40000, seq, their, PSH | ACK, b"ping from guest"))
    conn.settimeout(5)
    assert conn.recv(100) == b"ping from guest"
    seq += len(b"ping from guest")
    conn.sendall(b"pong from host")
    f = g.expect(lambda f: f.tcp and f.tcp.sport == port and f.tcp.data, "data from the host")
    assert f.tcp.data == b"pong from host" and f.tcp.seq == their and f.tcp.ack == seq
    conn.close()
    srv.close()


def test_tcp_refused_port_gets_rst(helpers):
    g = helpers().ready().guest
    g.dhcp()
    port = free_port()
    g.send(g.tcp(SLIRP_MAC, "10.0.2.2", port, 40001, 5, 0, SYN))
    f = g.expect(lambda f: f.tcp and f.tcp.sport == port, "RST")
    assert f.tcp.flags & RST


def test_hostfwd_tcp(helpers):
    hp = free_port()
    g = helpers(f"hostfwd=tcp:127.0.0.1:{hp}-:2222").ready().guest
    g.dhcp()
    c = socket.socket()
    c.setblocking(False)
    c.connect_ex(("127.0.0.1", hp))
    syn = g.expect(lambda f: f.tcp and f.tcp.flags & SYN, "SYN toward the guest")
    assert (syn.ip.dst, syn.tcp.dport) == ("10.0.2.15", 2222)
    assert syn.ip.src == "10.0.2.2" and syn.dst == g.mac
    g.send(g.tcp(SLIRP_MAC, syn.ip.src, syn.tcp.sport, 2222, 7000, syn.tcp.seq + 1, SYN | ACK))
    g.expect(lambda f: f.tcp and f.tcp.flags == ACK and f.tcp.ack == 7001, "ACK of our SYN-ACK")
    c.setblocking(True)
    c.settimeout(5)
    c.sendall(b"hello guest")
    f = g.expect(lambda f: f.tcp and f.tcp.data, "data from the host client")
    assert f.tcp.data == b"hello guest" and f.tcp.dport == 2222
    g.send(g.tcp(SLIRP_MAC, syn.ip.src, syn.tcp.sport, 2222, 7001,
                 f.tcp.seq + len(f.tcp.data), PSH | ACK, b"hello host"))
    assert c.recv(100) == b"hello host"
    c.close()


def test_hostfwd_udp_and_guest_address(helpers):
    hp = free_port(socket.SOCK_DGRAM)
    g = helpers(f"hostfwd=udp:127.0.0.1:{hp}-10.0.2.20:5353").ready().guest
    g.ip = "10.0.2.20"
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"datagram in", ("127.0.0.1", hp))
    f = g.expect(lambda f: f.udp and f.udp.dport == 5353, "forwarded datagram")
    assert f.ip.dst == "10.0.2.20" and f.udp.data == b"datagram in"
    g.send(g.udp(SLIRP_MAC, f.ip.src, 5353, f.udp.sport, b"datagram out"))
    s.settimeout(5)
    assert s.recvfrom(100)[0] == b"datagram out"
    s.close()


def test_restrict(helpers):
    """restrict=on: the guest reaches nothing outside, but hostfwd still comes in."""
    hp = free_port()
    g = helpers(f"restrict=on,hostfwd=tcp:127.0.0.1:{hp}-:22").ready().guest
    g.dhcp()
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    g.send(g.tcp(SLIRP_MAC, "10.0.2.2", port, 40002, 1, 0, SYN))
    g.quiet(lambda f: f.tcp and f.tcp.sport == port and f.tcp.flags & SYN, timeout=1.5)
    srv.setblocking(False)
    with pytest.raises(BlockingIOError):
        srv.accept()
    srv.close()
    c = socket.socket()
    c.setblocking(False)
    c.connect_ex(("127.0.0.1", hp))
    syn = g.expect(lambda f: f.tcp and f.tcp.flags & SYN, "SYN toward the guest")
    assert syn.tcp.dport == 22
    c.close()


DNS_RESPONDER = textwrap.dedent("""
    import socket, struct, sys
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 53))
    print("ready", flush=True)
    while True:
        q, peer = s.recvfrom(512)
        qid, = struct.unpack("!H", q[:2])
        end = q.index(b"\\0", 12) + 5
        ans = struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0) + q[12:end]
        ans += struct.pack("!HHHIH4s", 0xC00C, 1, 1, 60, 4, socket.inet_aton("192.0.2.7"))
        s.sendto(ans, peer)
""")


def dns_query(name, qid=0x1234):
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for part in name.split("."):
        q += bytes([len(part)]) + part.encode()
    return q + b"\0" + struct.pack("!HH", 1, 1)


@pytest.fixture
def dns_netns():
    """A namespace whose resolv.conf (ip netns exec's /etc/netns/NS/) names a responder on lo."""
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("needs root and iproute2 for a network namespace")
    ns = f"vkslirp-{uuid.uuid4().hex[:8]}"
    etc = Path("/etc/netns") / ns
    if subprocess.run(["ip", "netns", "add", ns]).returncode:
        pytest.skip("cannot create a network namespace")
    resp = None
    try:
        etc.mkdir(parents=True)
        (etc / "resolv.conf").write_text("nameserver 127.0.0.1\n")
        subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True)
        resp = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", DNS_RESPONDER],
                                stdout=subprocess.PIPE, text=True)
        assert resp.stdout.readline().strip() == "ready"
        yield ns
    finally:
        if resp:
            resp.kill()
            resp.wait()
        shutil.rmtree(etc, ignore_errors=True)
        subprocess.run(["ip", "netns", "del", ns])


def test_dns_forwarded_to_host_resolver(helpers, dns_netns):
    g = helpers(netns=dns_netns).ready().guest
    g.dhcp()
    g.send(g.udp(SLIRP_MAC, "10.0.2.3", 33333, 53, dns_query("vmkit.test")))
    f = g.expect(lambda f: f.udp and f.udp.dport == 33333, "DNS answer")
    assert (f.ip.src, f.udp.sport) == ("10.0.2.3", 53)
    ans = f.udp.data
    assert struct.unpack("!HHHH", ans[:8]) == (0x1234, 0x8180, 1, 1)
    assert ans.endswith(socket.inet_aton("192.0.2.7"))


def test_exits_when_socket_closes(helpers):
    h = helpers().ready()
    h.guest.dhcp()
    t = time.monotonic()
    assert h.close() == 0
    assert time.monotonic() - t < 2


def test_dies_with_parent():
    """PR_SET_PDEATHSIG: a monitor killed before it closes the socket takes the helper along."""
    if not HELPER.is_file():
        pytest.skip(f"{HELPER} is not built")
    script = textwrap.dedent(f"""
        import socket, subprocess, time
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        p = subprocess.Popen([{str(HELPER)!r}, "--fd=%d" % b.fileno()], pass_fds=[b.fileno()])
        print(p.pid, flush=True)
        time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    pid = int(parent.stdout.readline())
    time.sleep(0.3)
    os.kill(pid, 0)                      # running
    parent.kill()                        # SIGKILL: nothing of the parent's closes cleanly
    parent.wait()
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    pytest.fail("vmkit-slirp outlived its parent")


@pytest.mark.parametrize("opts,words", [
    ("net=10.0.2.0", "expected ADDRESS/PREFIX"),
    ("net=10.0.2.300/24", "not an IPv4 address"),
    ("net=10.0.2.0/33", "prefix length"),
    ("net=10.0.2.5/24", "host bits set"),
    ("net=10.0.2.0/29", "too small for the default dhcpstart"),
    ("net=10.0.2.0/255.0.255.0", "not a netmask"),
    ("host=10.0.3.2", "not a host address in 10.0.2.0/24"),
    ("dns=10.0.2.255", "not a host address"),
    ("dhcpstart=10.0.2.2", "three different addresses"),
    ("hostfwd=tcp::2222", "expected [tcp|udp]"),
    ("hostfwd=sctp::2222-:22", "protocol 'sctp'"),
    ("hostfwd=tcp::99999-:22", "port '99999' is not 1-65535"),
    ("hostfwd=tcp::0-:22", "port '0'"),
    ("hostfwd=tcp::22x-:22", "port '22x'"),
    ("hostfwd=tcp:1.2.3:2222-:22", "'1.2.3' is not an IPv4 address"),
    ("hostfwd=tcp::2222-10.0.3.15:22", "guest address 10.0.3.15 is not in the guest network"),
    ("hostfwd=tcp::2222-:22,hostfwd=tcp::2222-:23", "host port 2222 is already forwarded"),
    ("restrict=maybe", "expected on or off"),
    ("ipv6=2", "expected on or off"),
    ("mac=52:54:00:12:34:56", "unknown option 'mac'"),
    ("bogus=1", "unknown option 'bogus'"),
])
def test_bad_options(opts, words):
    if not HELPER.is_file():
        pytest.skip(f"{HELPER} is not built")
    p = subprocess.run([str(HELPER), opts], capture_output=True, text=True, timeout=10)
    assert p.returncode == 2, p
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("vmkit-slirp: "), p.stderr
    assert words in lines[0], lines[0]


def test_hostfwd_port_in_use(helpers):
    busy = socket.create_server(("127.0.0.1", 0))
    port = busy.getsockname()[1]
    h = helpers(f"hostfwd=tcp:127.0.0.1:{port}-:22")
    assert h.proc.wait(timeout=5) == 1
    code, msg = h.status.split(" ", 1)
    assert int(code) == 98                       # EADDRINUSE
    assert msg == f"hostfwd=tcp:127.0.0.1:{port}-:22: cannot listen on tcp 127.0.0.1:{port}: " \
                  "Address already in use"
    busy.close()


def test_not_a_socket():
    if not HELPER.is_file():
        pytest.skip(f"{HELPER} is not built")
    p = subprocess.run([str(HELPER), "--fd=0"], capture_output=True, text=True, timeout=10,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 1 and "not a SOCK_SEQPACKET socket" in p.stderr
