# SPDX-License-Identifier: GPL-2.0-or-later
"""Hand-built Ethernet/ARP/IPv4/UDP/TCP/DHCP frames, and a guest's end of vmkit-slirp's socket.

    g = Guest(sock)                 # our end of the SOCK_SEQPACKET socket
    lease = g.dhcp()                # DISCOVER/OFFER/REQUEST/ACK -> dict
    g.send(g.tcp(dst, dport, sport, seq, 0, SYN))
    f = g.expect(lambda f: f.tcp and f.tcp.flags & SYN, "SYN-ACK")

The guest answers ARP requests for its own address while it waits, as a real one would.
"""
import os
import select
import socket
import struct
import time
from types import SimpleNamespace

ETH_IP, ETH_ARP, ETH_IP6 = 0x0800, 0x0806, 0x86DD
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
BCAST = b"\xff" * 6


def mac_bytes(s):
    return bytes(int(x, 16) for x in s.split(":"))


def ip_bytes(s):
    return socket.inet_aton(s)


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def eth(dst, src, etype, payload):
    return dst + src + struct.pack("!H", etype) + payload


def ipv4(src, dst, proto, payload, ident=1):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0x4000, 64, proto, 0,
                      ip_bytes(src), ip_bytes(dst))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + payload


def l4_csum(src, dst, proto, seg):
    pseudo = ip_bytes(src) + ip_bytes(dst) + struct.pack("!BBH", 0, proto, len(seg))
    return csum(pseudo + seg)


def udp(src, dst, sport, dport, data):
    seg = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    c = l4_csum(src, dst, 17, seg) or 0xFFFF
    return seg[:6] + struct.pack("!H", c) + seg[8:]


def tcp(src, dst, sport, dport, seq, ack, flags, data=b"", window=65535):
    opts = struct.pack("!BBH", 2, 4, 1460) if flags & SYN else b""
    off = (20 + len(opts)) // 4
    seg = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, off << 4, flags, window, 0, 0)
    seg += opts + data
    c = l4_csum(src, dst, 6, seg)
    return seg[:16] + struct.pack("!H", c) + seg[18:]


def parse(frame):
    """A frame as a namespace: eth fields, and arp/ip/udp/tcp when present (else None)."""
    f = SimpleNamespace(raw=frame, dst=frame[0:6], src=frame[6:12],
                        etype=struct.unpack("!H", frame[12:14])[0], arp=None, ip=None, udp=None,
                        tcp=None)
    p = frame[14:]
    if f.etype == ETH_ARP and len(p) >= 28:
        op, = struct.unpack("!H", p[6:8])
        f.arp = SimpleNamespace(op=op, sha=p[8:14], spa=socket.inet_ntoa(p[14:18]),
                                tha=p[18:24], tpa=socket.inet_ntoa(p[24:28]))
    elif f.etype == ETH_IP and len(p) >= 20:
        ihl = (p[0] & 15) * 4
        tot, = struct.unpack("!H", p[2:4])
        assert csum(p[:ihl]) == 0, "bad IPv4 header checksum from slirp"
        f.ip = SimpleNamespace(proto=p[9], src=socket.inet_ntoa(p[12:16]),
                               dst=socket.inet_ntoa(p[16:20]), payload=p[ihl:tot])
        seg = f.ip.payload
        if f.ip.proto == 17 and len(seg) >= 8:
            sport, dport, _, _ = struct.unpack("!HHHH", seg[:8])
            f.udp = SimpleNamespace(sport=sport, dport=dport, data=seg[8:])
        elif f.ip.proto == 6 and len(seg) >= 20:
            assert l4_csum(f.ip.src, f.ip.dst, 6, seg) == 0, "bad TCP checksum from slirp"
            sport, dport, seq, ack, off, flags, win = struct.unpack("!HHIIBBH", seg[:16])
            f.tcp = SimpleNamespace(sport=sport, dport=dport, seq=seq, ack=ack, flags=flags,
                                    window=win, data=seg[(off >> 4) * 4:])
    return f


def dhcp_packet(mac, xid, msgtype, extra=b""):
    bootp = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000, b"\0" * 4,
                        b"\0" * 4, b"\0" * 4, b"\0" * 4, mac + b"\0" * 10, b"", b"")
    opts = b"\x63\x82\x53\x63" + bytes([53, 1, msgtype]) + extra + bytes([55, 3, 1, 3, 6, 255])
    return bootp + opts


def dhcp_options(bootp):
    """(yiaddr, {code: bytes}) of a BOOTP reply."""
    yiaddr = socket.inet_ntoa(bootp[16:20])
    assert bootp[236:240] == b"\x63\x82\x53\x63", "no DHCP magic cookie"
    opts, i = {}, 240
    while i < len(bootp) and bootp[i] != 255:
        if bootp[i] == 0:
            i += 1
            continue
        code, n = bootp[i], bootp[i + 1]
        opts[code] = bootp[i + 2:i + 2 + n]
        i += 2 + n
    return yiaddr, opts


class Guest:
    """The guest's side of the frame socket: a MAC, an IPv4 address once leased."""

    def __init__(self, sock, mac="52:54:00:12:34:56", ip="10.0.2.15"):
        self.sock = sock
        self.mac = mac_bytes(mac)
        self.ip = ip
        self.seen = []          # every frame received, for diagnostics

    def send(self, frame):
        self.sock.send(frame)

    def recv(self, timeout):
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return None
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("vmkit-slirp closed the socket")
        return parse(data)

    def answer_arp(self, f):
        if f.arp and f.arp.op == 1 and f.arp.tpa == self.ip:
            body = struct.pack("!HHBBH", 1, ETH_IP, 6, 4, 2) + self.mac + ip_bytes(self.ip) + \
                f.arp.sha + ip_bytes(f.arp.spa)
            self.send(eth(f.arp.sha, self.mac, ETH_ARP, body))
            return True
        return False

    def expect(self, pred, what, timeout=5.0):
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            f = self.recv(max(left, 0)) if left > 0 else None
            if f is None:
                kinds = [(hex(x.etype), x.ip and (x.ip.src, x.ip.dst, x.ip.proto)) for x in self.seen]
                raise AssertionError(f"no {what} within {timeout} s; got {kinds[-10:]}")
            self.seen.append(f)
            if self.answer_arp(f):
                continue
            if pred(f):
                return f

    def quiet(self, pred, timeout=1.0):
        """Assert that no frame matching pred arrives within timeout."""
        end = time.monotonic() + timeout
        while (left := end - time.monotonic()) > 0:
            f = self.recv(left)
            if f is None:
                return
            self.seen.append(f)
            self.answer_arp(f)
            assert not pred(f), f"unexpected frame {f}"

    def udp(self, dst_mac, dst, sport, dport, data):
        return eth(dst_mac, self.mac, ETH_IP, ipv4(self.ip, dst, 17, udp(self.ip, dst, sport, dport, data)))

    def tcp(self, dst_mac, dst, dport, sport, seq, ack, flags, data=b""):
        return eth(dst_mac, self.mac, ETH_IP,
                   ipv4(self.ip, dst, 6, tcp(self.ip, dst, sport, dport, seq, ack, flags, data)))

    def dhcp(self):
        """A full DORA exchange; returns the ACK's address and options."""
        xid = int.from_bytes(os.urandom(4), "big")

        def reply(kind):
            def pred(f):
                if not (f.udp and f.udp.sport == 67 and f.udp.dport == 68):
                    return False
                return dhcp_options(f.udp.data)[1].get(53) == bytes([kind])
            return pred

        def bootp_frame(payload):
            return eth(BCAST, self.mac, ETH_IP,
                       ipv4("0.0.0.0", "255.255.255.255", 17,
                            udp("0.0.0.0", "255.255.255.255", 68, 67, payload)))

        self.send(bootp_frame(dhcp_packet(self.mac, xid, 1)))
        offer = self.expect(reply(2), "DHCPOFFER")
        yiaddr, opts = dhcp_options(offer.udp.data)
        req = bytes([50, 4]) + ip_bytes(yiaddr) + bytes([54, 4]) + opts[54]
        self.send(bootp_frame(dhcp_packet(self.mac, xid, 3, req)))
        ack = self.expect(reply(5), "DHCPACK")
        yiaddr2, opts2 = dhcp_options(ack.udp.data)
        return SimpleNamespace(offer=yiaddr, addr=yiaddr2, opts=opts2, server_mac=ack.src,
                               offer_opts=opts)

    def arp(self, target):
        body = struct.pack("!HHBBH", 1, ETH_IP, 6, 4, 1) + self.mac + ip_bytes(self.ip) + \
            b"\0" * 6 + ip_bytes(target)
        self.send(eth(BCAST, self.mac, ETH_ARP, body))
        return self.expect(lambda f: f.arp and f.arp.op == 2 and f.arp.spa == target,
                           f"ARP reply for {target}")
