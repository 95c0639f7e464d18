#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Seed corpora for the fuzz targets other than the image formats, written
here from what the targets' inputs mean (nothing downloaded).

Usage: make-seeds.py TARGET DIR   (TARGET: names virtq blk net console rng balloon tablet x86
qmp config runopts)

The device targets read a driver's script (tests/fuzz/fake-driver.c): a
header (u32 accepted device features, u8 ring features, u8 queues to enable,
u8 log2 of the queue size), then commands. Buffers live in the data area
(offsets here are relative to it, FAKE_DATA = 0x8000 in RAM)."""
import os
import struct
import sys
import zlib

DATA = 0x8000
F_NEXT, F_WRITE, F_INDIRECT = 1, 2, 4


class Script:
    def __init__(self, features=0xffffffff, ring=3, queues=0xff, log2=4):
        self.b = struct.pack("<IBBB", features, ring, queues, log2)

    def desc(self, q, i, off, length, flags=0, nxt=0):
        self.b += struct.pack("<BBBIIBB", 0, q, i, off, length, flags, nxt)
        return self

    def avail(self, q, head):
        self.b += struct.pack("<BBH", 1, q, head)
        return self

    def kick(self, q):
        self.b += struct.pack("<BB", 2, q)
        return self

    def poke(self, off, data):
        """Bytes at data-area offset off (absolute gpa when off >= DATA)."""
        gpa = off if off >= DATA else DATA + off
        for k in range(0, len(data), 255):
            part = data[k:k + 255]
            self.b += struct.pack("<BHB", 3, gpa + k, len(part)) + part
        return self

    def cfg_read(self, off, size_code):
        self.b += struct.pack("<BBB", 4, off, size_code)
        return self

    def cfg_write(self, off, data):
        code = {1: 0, 2: 1, 4: 2, 8: 3}[len(data)]
        self.b += struct.pack("<BBB", 5, off, code) + data
        return self

    def action(self, data):
        self.b += b"\x06" + data
        return self

    def reset(self):
        self.b += b"\x07"
        return self

    def stop_reset(self):
        """A reset while the VM stops: in-flight requests complete after it."""
        self.b += b"\x08"
        return self

    def chain(self, q, bufs, head=0):
        """bufs: (offset, length, writable); descriptors head.. in order."""
        for k, (off, length, w) in enumerate(bufs):
            last = k == len(bufs) - 1
            self.desc(q, head + k, off, length, (F_WRITE if w else 0) | (0 if last else F_NEXT),
                      head + k + 1)
        return self.avail(q, head)

    def indirect(self, q, table_off, bufs, head=0):
        """The same chain through an indirect table at table_off."""
        table = b""
        for k, (off, length, w) in enumerate(bufs):
            last = k == len(bufs) - 1
            table += struct.pack("<QIHH", DATA + off, length,
                                 (F_WRITE if w else 0) | (0 if last else F_NEXT), k + 1)
        self.poke(table_off, table)
        self.desc(q, head, table_off, len(table), F_INDIRECT)
        return self.avail(q, head)


def blk_seeds():
    def req(typ, sector=0):
        return struct.pack("<IIQ", typ, 0, sector)
    out = {}
    rw = [(0, 16, False), (0x100, 512, True), (0x400, 1, True)]
    out["read"] = Script().poke(0, req(0, 1)).chain(0, rw).kick(0).b
    out["write"] = Script().poke(0, req(1, 2)).poke(0x100, b"\xab" * 512) \
        .chain(0, [(0, 16, False), (0x100, 512, False), (0x400, 1, True)]).kick(0).b
    out["flush"] = Script().poke(0, req(4)).chain(0, [(0, 16, False), (0x400, 1, True)]).kick(0).b
    out["get-id"] = Script().poke(0, req(8)).chain(0, [(0, 16, False), (0x100, 20, True),
                                                       (0x400, 1, True)]).kick(0).b
    for name, typ, flags in (("discard", 11, 0), ("zeroes", 13, 1)):
        out[name] = Script().poke(0, req(typ) + struct.pack("<QII", 4, 8, flags)) \
            .chain(0, [(0, 32, False), (0x400, 1, True)]).kick(0).b
    out["indirect"] = Script().poke(0, req(0, 3)).indirect(1, 0x800, rw).kick(1).b
    # Two reads continuing one another (merged), one unaligned with O_DIRECT.
    s = Script().action(b"\x01").poke(0, req(0, 0)).poke(0x40, req(0, 1))
    s.chain(0, [(0, 16, False), (0x101, 512, True), (0x400, 1, True)], head=0)
    s.chain(0, [(0x40, 16, False), (0x1000, 512, True), (0x401, 1, True)], head=3)
    out["merge-direct"] = s.kick(0).b
    out["reset-inflight"] = Script().poke(0, req(0, 1)).chain(0, rw).kick(0).reset() \
        .poke(0, req(1, 1)).chain(0, rw).kick(0).b
    out["stop-reset-inflight"] = Script().poke(0, req(0, 1)).chain(0, rw).kick(0).stop_reset() \
        .poke(0x40, req(1, 1)).chain(0, [(0x40, 16, False), (0x100, 512, False), (0x400, 1, True)]) \
        .kick(0).b
    out["config"] = Script().cfg_read(0, 3).cfg_read(20, 2).cfg_read(34, 1).b
    return out


def scsi_seeds():
    """virtio-scsi: queue 0 control, 1 events, 2.. requests; target 0 a disk, 1 a CD-ROM."""
    def lun(t):
        return bytes([1, t, 0x40, 0, 0, 0, 0, 0])

    def cmd(t, cdb):
        return lun(t) + struct.pack("<QBBB", 7, 0, 0, 0) + cdb.ljust(32, b"\0")
    out = {}
    resp = (0x400, 108, True)
    req = (0, 51, False)
    out["inquiry"] = Script().poke(0, cmd(0, bytes([0x12, 0, 0, 0, 96, 0]))) \
        .chain(2, [req, resp, (0x1000, 96, True)]).kick(2).b
    out["read10"] = Script().poke(0, cmd(0, bytes([0x28, 0, 0, 0, 0, 8, 0, 0, 2, 0]))) \
        .chain(2, [req, resp, (0x1000, 1024, True)]).kick(2).b
    out["write10-fua"] = Script().poke(0, cmd(0, bytes([0x2a, 8, 0, 0, 0, 8, 0, 0, 1, 0]))) \
        .poke(0x100, b"\x5a" * 512).chain(2, [req, (0x100, 512, False), resp]).kick(2).b
    unmap = struct.pack(">HH4xQI4x", 22, 16, 4, 8)
    out["unmap"] = Script().poke(0, cmd(0, bytes([0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0]))) \
        .poke(0x100, unmap).chain(2, [req, (0x100, 24, False), resp]).kick(2).b
    out["cd-toc"] = Script().poke(0, cmd(1, bytes([0x43, 2, 0, 0, 0, 0, 1, 0, 255, 0]))) \
        .chain(2, [req, resp, (0x1000, 255, True)]).kick(2).b
    out["cd-read-direct"] = Script().action(b"\x01").action(b"\x04") \
        .poke(0, cmd(1, bytes([0x28, 0, 0, 0, 0, 16, 0, 0, 1, 0]))) \
        .chain(2, [req, resp, (0x1001, 2048, True)]).kick(2).b
    out["cd-gesn"] = Script().poke(0, cmd(1, bytes([0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8, 0]))) \
        .chain(2, [req, resp, (0x1000, 8, True)]).kick(2).b
    # An event buffer, then the medium changes (a PARAM_CHANGE), twice without a buffer.
    out["cd-change-event"] = Script().chain(1, [(0x2000, 16, True)]).kick(1) \
        .action(b"\x0b").action(b"\x04").action(b"\x04").chain(1, [(0x2000, 16, True)], head=1) \
        .action(b"\x04").b
    tmf = struct.pack("<II", 0, 0) + lun(0) + struct.pack("<Q", 7)
    s = Script().poke(0, cmd(0, bytes([0x28, 0, 0, 0, 0, 8, 0, 0, 2, 0])))
    s.desc(2, 0, 0, 51, 1, 1).desc(2, 1, 0x400, 108, 3, 2).desc(2, 2, 0x1000, 1024, 2, 0)
    s.avail(2, 0)
    s.b += struct.pack("<BB", 2, 2)  # kick without settling is not possible: settle follows
    out["tmf-abort"] = s.poke(0x200, tmf).chain(0, [(0x200, 24, False), (0x500, 1, True)]).kick(0).b
    an = struct.pack("<I", 1) + lun(1) + struct.pack("<I", 16)
    out["an-query"] = Script().poke(0x200, an).chain(0, [(0x200, 16, False), (0x500, 8, True)]).kick(0).b
    out["bad-target"] = Script().poke(0, cmd(5, bytes([0x00]))).chain(2, [req, resp]).kick(2).b
    out["config"] = Script().cfg_read(0, 2).cfg_write(20, struct.pack("<I", 64)) \
        .cfg_write(24, struct.pack("<I", 16)).cfg_read(24, 2).b
    out["reset-inflight"] = Script().poke(0, cmd(0, bytes([0x28, 0, 0, 0, 0, 8, 0, 0, 2, 0]))) \
        .chain(2, [req, resp, (0x1000, 1024, True)]).kick(2).stop_reset().b
    return out


def ahci_seeds():
    """AHCI: ops 0 WRITE u16 off u32 val, 1 READ, 2 POKE u16 gpa u8 n bytes, 3 SETTLE,
    4 CONFIG u8 off u8 size u32 val, 5 MEDIA u8; port 0 a disk, port 1 ATAPI."""
    def w(off, val):
        return struct.pack("<BHI", 0, off, val)

    def poke(gpa, data):
        out = b""
        for k in range(0, len(data), 255):
            part = data[k:k + 255]
            out += struct.pack("<BHB", 2, gpa + k, len(part)) + part
        return out

    def start(p):
        base = 0x100 + 0x80 * p
        return (w(base, 0x1000 + 0x800 * p) + w(base + 8, 0x3000 + 0x100 * p) +
                w(base + 0x18, 0x10) + w(base + 0x18, 0x11) + w(base + 0x14, 0xffffffff) +
                w(4, 2))

    def command(p, fis, prds, write=False, atapi=False, acmd=b""):
        hdr = struct.pack("<IIQ", 5 | (atapi << 5) | (write << 6) | (len(prds) << 16), 0, 0x4000)
        table = fis.ljust(64, b"\0") + acmd.ljust(16, b"\0") + bytes(48)
        for gpa, length in prds:
            table += struct.pack("<QII", gpa, 0, length - 1)
        return poke(0x1000 + 0x800 * p, hdr) + poke(0x4000, table) + w(0x100 + 0x80 * p + 0x38, 1)

    def h2d(cmd, lba=0, count=0, feat=0):
        return struct.pack("<BBBBBBBBBBBBHBB", 0x27, 0x80, cmd, feat, lba & 0xff, lba >> 8 & 0xff,
                           lba >> 16 & 0xff, 0x40, lba >> 24 & 0xff, 0, 0, 0, count, 0, 0)
    out = {}
    out["identify"] = b"\0" + start(0) + command(0, h2d(0xec), [(0x8000, 512)]) + b"\x03"
    out["write-read"] = (b"\0" + start(0) + poke(0x8000, b"\xaa" * 512) +
                         command(0, h2d(0x35, 4, 2), [(0x8000, 512), (0x9002, 512)], write=True) +
                         b"\x03" + command(0, h2d(0x25, 4, 2), [(0xa000, 1024)]) + b"\x03")
    out["direct-unaligned"] = (b"\x01" + start(0) +
                               command(0, h2d(0xc8, 0, 1), [(0x8202, 512)]) + b"\x03")
    trim = struct.pack("<Q", 8 | (16 << 48))
    out["trim"] = (b"\0" + start(0) + poke(0x8000, trim.ljust(512, b"\0")) +
                   command(0, h2d(0x06, 0, 1, 1), [(0x8000, 512)], write=True) + b"\x03")
    out["flush"] = b"\0" + start(0) + command(0, h2d(0xe7), []) + b"\x03"
    read10 = bytes([0x28, 0, 0, 0, 0, 16, 0, 0, 1, 0, 0, 0])
    out["atapi-read"] = (b"\0" + start(1) + command(1, h2d(0xa1), [(0x8000, 512)]) + b"\x03" +
                         command(1, h2d(0xa0, 0, 0, 1), [(0x8000, 2048)], atapi=True,
                                 acmd=read10) + b"\x03")
    out["atapi-eject-change"] = (b"\0" + start(1) + b"\x05\x0a" + b"\x05\x04" +
                                 command(1, h2d(0xa0), [], atapi=True, acmd=bytes(12)) + b"\x03")
    out["comreset"] = b"\0" + start(0) + w(0x12c, 1) + w(0x12c, 0) + struct.pack("<BH", 1, 0x128)
    out["msi"] = (b"\0" + struct.pack("<BBBI", 4, 0x42, 1, 1) + start(0) +
                  command(0, h2d(0xec), [(0x8000, 512)]) + b"\x03")
    out["bad-prd"] = b"\0" + start(0) + command(0, h2d(0x25, 0, 1), [(0xfff000, 512)]) + b"\x03"
    return out


def net_seeds():
    out = {}
    hdr = bytes(12)
    frame = bytes.fromhex("ffffffffffff525400010203 0806".replace(" ", "")) + bytes(46)
    rx_bufs = [(0x1000, 1526, True)]
    tx = Script().poke(0, hdr + frame).chain(1, [(0, 12, False), (12, len(frame), False)])
    out["tx"] = tx.kick(1).b
    rx = Script().chain(0, rx_bufs).action(b"\x00" + struct.pack("<H", 12 + len(frame)) + hdr + frame)
    out["rx"] = rx.kick(0).b
    # Mergeable buffers: a frame over two small ones.
    s = Script().chain(0, [(0x1000, 64, True)], head=0).chain(0, [(0x2000, 64, True)], head=1)
    out["rx-merge"] = s.action(b"\x00" + struct.pack("<H", 140) + bytes(140)).kick(0).b
    ack = (0x400, 1, True)

    def ctrl(cls, cmd, data, name):
        s = Script().poke(0x300, bytes([cls, cmd]) + data)
        out[name] = s.chain(4, [(0x300, 2 + len(data), False), ack]).kick(4).b
    ctrl(4, 0, struct.pack("<H", 2), "ctrl-mq")
    ctrl(1, 1, bytes.fromhex("525400aabbcc"), "ctrl-mac")
    ctrl(0, 0, b"\x01", "ctrl-promisc")
    ctrl(1, 0, struct.pack("<I", 0) + struct.pack("<I", 0), "ctrl-mac-table")
    s = Script().poke(0x300, bytes([4, 0]) + struct.pack("<H", 2)) \
        .chain(4, [(0x300, 4, False), ack]).kick(4)
    s.poke(0, hdr + frame).chain(3, [(0, 12 + len(frame), False)]).kick(3)
    out["mq-tx"] = s.action(b"\x80").action(b"\x81").b
    out["config"] = Script().cfg_read(0, 2).cfg_read(6, 1).cfg_read(8, 1).cfg_read(10, 1).b
    return out


def console_seeds():
    return {
        "tx": Script().poke(0, b"hello, world\n").chain(1, [(0, 13, False)]).kick(1).b,
        "rx": Script().chain(0, [(0x100, 4, True)]).action(b"\x08typed in").kick(0).b,
        "rx-later": Script().action(b"\x03abc").chain(0, [(0x100, 64, True)]).kick(0).b,
    }


def rng_seeds():
    return {
        "one": Script().chain(0, [(0, 64, True)]).kick(0).b,
        "indirect": Script().indirect(0, 0x800, [(0, 4096, True), (0x2000, 8192, True)]).kick(0).b,
        "readable": Script().chain(0, [(0, 16, False), (0x100, 16, True)]).kick(0).b,
    }


def balloon_seeds():
    pfns = struct.pack("<4I", 8, 9, 10, 0x100000)
    stats = b"".join(struct.pack("<HQ", tag, 1000 * tag) for tag in range(11))
    return {
        "inflate": Script().poke(0, pfns).chain(0, [(0, 16, False)]).kick(0).b,
        "deflate": Script().poke(0, pfns).chain(1, [(0, 16, False)]).kick(1).b,
        "stats": Script().poke(0, stats).chain(2, [(0, len(stats), False)]).kick(2)
        .action(b"\x01").action(b"\x40").b,
        "config": Script().action(b"\x10").cfg_read(0, 2).cfg_write(4, struct.pack("<I", 4)).b,
        "stats-reset": Script().poke(0, stats).chain(2, [(0, len(stats), False)]).kick(2)
        .reset().action(b"\x01").b,
    }


def tablet_seeds():
    """virtio-tablet: the probe's configuration walk, events with and without buffers."""
    def ptr(x, y, b):
        return struct.pack("<HHB", x, y, b)

    def bufs(s, n, first=0):
        for i in range(n):
            s.chain(0, [(0x100 + 8 * (first + i), 8, True)], head=first + i)
        return s.kick(0)
    probe = Script()
    for sel, sub in ((1, 0), (2, 0), (3, 0), (0x10, 0), (0x11, 1), (0x11, 2), (0x11, 3), (0x12, 0),
                     (0x12, 1), (0x7f, 9)):
        probe.cfg_write(0, bytes([sel])).cfg_write(1, bytes([sub])).cfg_read(2, 0).cfg_read(8, 3) \
            .cfg_read(16, 2)
    led = struct.pack("<HHI", 0x11, 1, 1)
    return {
        "probe": probe.b,
        "events": bufs(Script(), 8).action(ptr(100, 200, 0)).action(ptr(100, 200, 1))
        .action(ptr(50, 60, 8)).action(ptr(50, 60, 0)).b,
        "pending": bufs(Script().action(ptr(1, 1, 0)).action(ptr(2, 2, 1)).action(ptr(3, 3, 0))
                        .action(ptr(4, 4, 0)), 3).b,
        "split-reset": bufs(Script(), 2).action(ptr(9, 9, 7)).reset().action(ptr(1, 2, 0)).b,
        "status": Script().poke(0, led).chain(1, [(0, 8, False)]).kick(1).b,
        "short-buffers": Script().chain(0, [(0, 4, True)]).chain(0, [(8, 8, False)], head=1)
        .kick(0).action(ptr(5, 5, 0)).b,
    }


def virtq_seeds():
    """Header: log2 size, flags, desc/16, avail/2, used/4; then RAM from 0."""
    def image(size_log2, flags, descs, heads, extra=()):
        ram = bytearray(0x2000)
        for i, (addr, length, fl, nxt) in enumerate(descs):
            ram[16 * i:16 * i + 16] = struct.pack("<QIHH", addr, length, fl, nxt)
        avail = 0x1000
        struct.pack_into("<HH", ram, avail, 0, len(heads))
        for k, h in enumerate(heads):
            struct.pack_into("<H", ram, avail + 4 + 2 * k, h)
        for off, data in extra:
            if len(ram) < off + len(data):
                ram.extend(bytes(off + len(data) - len(ram)))
            ram[off:off + len(data)] = data
        hdr = struct.pack("<BBHHH", size_log2, flags, 0, avail // 2, 0x1800 // 4)
        return hdr + bytes(ram)
    out = {}
    out["chain"] = image(4, 3, [(0x4000, 16, F_NEXT, 1), (0x4100, 512, F_NEXT | F_WRITE, 2),
                                (0x4400, 1, F_WRITE, 0)], [0])
    out["loop"] = image(4, 3, [(0x4000, 16, F_NEXT, 1), (0x4100, 16, F_NEXT, 0)], [0])
    out["outside"] = image(4, 3, [(0x7fffffff000, 16, 0, 0)], [0])
    out["long"] = image(4, 3, [(0x4000 + 16 * i, 16, F_NEXT, i + 1) for i in range(15)] +
                        [(0x5000, 16, F_WRITE, 0)], [0, 0])
    table = b"".join(struct.pack("<QIHH", 0x4000 + 16 * i, 16, F_NEXT | F_WRITE, i + 1)
                     for i in range(1023)) + struct.pack("<QIHH", 0x4000, 16, F_WRITE, 0)
    out["indirect-max"] = image(4, 7, [(0x8000, len(table), F_INDIRECT, 0)], [0],
                                [(0x8000, table)])
    out["indirect-nested"] = image(4, 3, [(0x3000, 16, F_INDIRECT, 0)], [0],
                                   [(0x3000, struct.pack("<QIHH", 0x3000, 16, F_INDIRECT, 0))])
    out["ahead"] = image(2, 1, [(0x4000, 16, 0, 0)], [0] * 9)
    return out


def x86_seeds():
    base = 0x10000
    gprs = [0] * 16
    gprs[0] = base + 0x100      # rax
    gprs[3] = 0x40              # rbx
    segs = [0] * 6
    fx = bytearray(512)
    struct.pack_into("<H", fx, 0, 0x037f)
    struct.pack_into("<II", fx, 24, 0x1f80, 0xffff)

    def state(mode=2, cpl=0):
        return (bytes([mode | cpl << 2]) + struct.pack("<Q", base) + struct.pack("<16Q", *gprs) +
                struct.pack("<6Q", *segs) + struct.pack("<Q", 0x202) + bytes(fx))
    insns = {
        "fwait": "9b", "fninit": "dbe3", "fnclex": "dbe2", "fnstcw": "d938", "fldcw": "d928",
        "fnstsw": "dd38", "fnstsw-ax": "dfe0", "ldmxcsr": "0fae10", "stmxcsr": "0fae18",
        "fxsave": "0fae00", "fxrstor": "0fae08", "fxsave64": "480fae00", "fxrstor64": "480fae08",
        "lfence": "0faee8", "mfence": "0faef0", "sfence": "0faef8", "int3": "cc",
        "popcnt": "f3480fb8c3", "popcnt-mem": "f30fb8449810", "fs-ldmxcsr": "640fae10",
        "sib-disp32": "0fae948b00010000", "rip-rel": "0fae1500010000",
        "r12-stmxcsr": "410fae1c24", "prefixes": "6666666666666666666666660fae10",
    }
    out = {k: state() + bytes.fromhex(v) for k, v in insns.items()}
    out["fxsave-32"] = state(1) + bytes.fromhex("0fae00")
    out["ldmxcsr-16"] = state(0) + bytes.fromhex("0fae17")
    out["addr32"] = state(2) + bytes.fromhex("670fae10")
    out["cpl3-int3"] = state(2, 3) + bytes.fromhex("cc")
    return out


def qmp_seeds():
    neg = '{"execute": "qmp_capabilities"}\n'
    cmds = ["query-status", "query-name", "query-version", "query-commands", "query-kvm",
            "query-target", "query-cpus-fast", "query-block", "query-balloon", "stop", "cont",
            "system_powerdown", "system_reset", "quit"]
    out = {}
    for k, c in enumerate(cmds):
        out[c] = bytes([k % 8]) + (neg + '{"execute": "%s", "id": %d}\n' % (c, k)).encode()
    extra = {
        "balloon": '{"execute": "balloon", "arguments": {"value": 134217728}, "id": "b"}',
        "qom-get": '{"execute": "qom-get", "arguments": {"path": "/machine/peripheral/balloon0",'
                   ' "property": "guest-stats"}}',
        "qom-set": '{"execute": "qom-set", "arguments": {"path": "balloon0", "property":'
                   ' "guest-stats-polling-interval", "value": 2}}',
        "set_link": '{"execute": "set_link", "arguments": {"name": "net0", "up": false}}',
        "hmp": '{"execute": "human-monitor-command", "arguments": {"command-line": "info status"}}',
        "hmp-help": '{"execute": "human-monitor-command", "arguments": {"command-line": "help"}}',
        "bad-args": '{"execute": "balloon", "arguments": {"value": "x", "extra": [1, 2.5, null]}}',
        "bad-json": '{"execute": "query-status", "id": [1, {"a": tru}]}',
        "not-object": '[1, 2, 3]\n"string"\n42',
        "utf8": '{"execute": "query-\u00e9t\u00e9", "id": "\u20ac"}',
        "escapes": '{"execute": "query-st\\u0061tus", "id": "\\ud83d\\ude00\\u0000"}',
        "unneg": '{"execute": "query-status"}',
        "enable": '{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}',
    }
    for k, (name, req) in enumerate(extra.items()):
        first = "" if name in ("unneg", "enable") else neg
        out[name] = bytes([k % 8]) + (first + req + "\n").encode()
    out["invalid-utf8"] = b"\x00" + neg.encode() + b'{"execute": "\xff\xfe", "id": "\xc3\x28"}\n'
    out["deep"] = b"\x00" + neg.encode() + b'{"execute": "x", "id": ' + b"[" * 70 + b"]" * 70 + b"}\n"
    return out


def config_seeds():
    defs = {
        "minimal": "name: web\n",
        "full": "name: web1\n# a comment\ndescription: the web server\nmemory: 1024\n"
                "balloon: 512\ncores: 2\nsockets: 1\nkernel: /boot/vmlinuz\ninitrd: /boot/initrd\n"
                "cmdline: console=ttyS0 root=/dev/vda\nvirtio0: local:web1-disk0.qcow2,format=qcow2,"
                "cache=none,aio=io_uring,iothread=on,discard=on,serial=abc\n"
                "virtio1: /dev/sdb,readonly=on,shared=on\nnet0: virtio=52:54:00:12:34:56,bridge=br0,"
                "queues=2,mtu=1500\nnet1: virtio,user,net=10.0.2.0/24,hostfwd=tcp::2222-:22\n"
                "net2: virtio,network=lan,link_down=1\nrng0: source=/dev/urandom\nonboot: 1\n"
                "cpulimit: 1.5\ncpuunits: 1024\naffinity: 0-1\nvcpupin: 0 1\nhugepages: 2\n"
                "numa: 1\nconsole: virtio\nlocaltime: 1\nmemtune: hard_limit=2G,soft_limit=1G\n",
        "bad-memory": "name: x\nmemory: lots\n",
        "twice": "name: x\nmemory: 512\nmemory: 1024\n",
        "no-name": "memory: 512\n",
        "crlf": "name: x\r\nmemory: 512\r\n\r\n",
        "pin-too-far": "name: x\ncores: 1\nvcpupin: 7\n",
    }
    out = {k: b"\x00" + v.encode() for k, v in defs.items()}
    kvs = {
        "pool": "type: dir\npath: /var/lib/vmkit/images\n",
        "network": "bridge: vmbr0\naddress: 192.168.10.1/24\nuplink: eth1\nmtu: 9000\n# c\n\n",
        "kv-bad": "no colon here\n",
    }
    out.update({k: b"\x01" + v.encode() for k, v in kvs.items()})
    return out


def runopts_seeds():
    names = ["kernel", "initrd", "cmdline", "cpus", "topology", "memory", "console", "cpu", "rtc",
             "name", "no-reboot", "debug-exit", "disk", "rng", "help", "cpu-affinity",
             "vcpu-affinity", "io-affinity", "qmp", "balloon", "device", "net"]
    opt = {n: i for i, n in enumerate(names)}

    def rec(*pairs):
        return b"".join(bytes([opt[k]]) + v.encode() + b"\0" for k, v in pairs)
    return {
        "basic": rec(("kernel", "/boot/vmlinuz"), ("memory", "512M"), ("cpus", "1"),
                     ("name", "web"), ("cmdline", "console=ttyS0")),
        "memory": rec(("memory", "1G,hugepages=2M,prealloc=on,thp=off,merge=off,"
                                 "policy=bind,host-nodes=0")),
        "mem-path": rec(("memory", "256M,mem-path=/dev/hugepages")),
        "topology": rec(("topology", "sockets=1,cores=2,threads=1")),
        "disk": rec(("disk", "path=a.qcow2,format=qcow2,readonly=on,serial=S1,cache=none,"
                             "aio=native,iothread=on,discard=ignore,num-queues=2,queue-size=128")),
        "console": rec(("console", "virtio:file:/tmp/x"), ("console", "socket:/tmp/s")),
        "net-tap": rec(("net", "tap,ifname=tap0,bridge=br0,mac=52:54:00:12:34:56,queues=4,"
                               "vhost=off,mtu=9000")),
        "net-user": rec(("net", "user,net=10.0.3.0/24,hostfwd=tcp:127.0.0.1:2222-:22,"
                                "hostfwd=udp::5353-10.0.3.15:53,host=10.0.3.2,dns=10.0.3.3,"
                                "dhcpstart=10.0.3.20,restrict=on,ipv6=off,mac=52:54:00:00:00:01")),
        "affinity": rec(("cpu-affinity", "0-1"), ("vcpu-affinity", "0=0,1,1=1"),
                        ("io-affinity", "0")),
        "devices": rec(("balloon", "deflate-on-oom=on,guest-stats-polling-interval=5"),
                       ("device", "virtio-balloon,deflate-on-oom=on"), ("rng", "file=/dev/zero"),
                       ("debug-exit", "0x501"), ("qmp", "unix:/tmp/q.sock,server=on,wait=off")),
        "misc": rec(("cpu", "baseline"), ("rtc", "base=localtime"), ("no-reboot", "")),
    }


def names_seeds():
    """First byte: bit 0 --image-opts, the rest picks -f (none, raw, qcow2, null-co, ...)."""
    names = {
        "plain": (0, "a.qcow2"), "file-prefix": (0, "file:image:top.qcow2"),
        "null": (0, "null-co://"), "null-f": (6, "null-co://"),
        "json": (0, '{"driver":"qcow2","file":{"driver":"file","filename":"a.qcow2"}}'),
        "json-dotted": (0, '{"file.filename":"a.qcow2","file.driver":"file"}'),
        "json-null": (0, '{"driver":"raw","file":{"driver":"null-co","size":4096,'
                         '"read-zeroes":true}}'),
        "json-window": (2, '{"driver":"raw","offset":512,"size":"1M","file.filename":"r"}'),
        "json-quotes": (0, "{'driver':'null-co','size':1e3,'x':[1,{\"y\":null}]}"),
        "json-escapes": (0, '{"file.filename":"a\\u00e9\\ud83d\\ude00\\n"}'),
        "json-bad": (0, '{"a":[1,2}'), "json-deep": (0, '{"a":' + "[" * 40 + "]" * 40 + "}"),
        "opts": (1, "driver=qcow2,file.filename=a,,b.qcow2,nofoo"),
        "opts-null": (1, "driver=null-co,size=1M,read-zeroes=on"),
    }
    out = {}
    for k, (b, text) in names.items():
        out[k] = bytes([b]) + ("" if b & 1 or not text.startswith("{") else "json:").encode() + \
            text.encode()
    return out


def serve_seeds():
    """Byte 0 picks: 0 a path to route, 1 a ticket / CSRF token / API-token header, 2 a query."""
    seeds = {}
    for i, p in enumerate(["/api/vms", "/api/vms/web1/status/start", "/api/pools/local/volumes/a.qcow2",
                           "/api/vms/a/snapshots/s1/rollback", "/api/vms/../x", "/api/tasks/task-1",
                           "/api/vms/" + "a" * 70, "/api/vms/-x/config", "/api/vms/x/"]):
        seeds[f"route{i}"] = b"\0" + p.encode()
    for i, c in enumerate(["VMKIT:root@pam:6750A1B2::abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ",
                           "6750A1B2:abcdefghijklmnopqrstuvwxyz", "VMKitAPIToken=root@pam!ci=0123456789",
                           "VMKIT:::::", "VMKitAPIToken=x!y=z=w"]):
        seeds[f"cred{i}"] = b"\1" + c.encode()
    for i, q in enumerate(["purge=1", "filename=a.iso&purge", "a=b&&c", "filename=" + "x" * 200, "="]):
        seeds[f"query{i}"] = b"\2" + q.encode()
    return seeds



# ---- the state stream (include/vmkit/savestate.h), for the targets that read one ----

def ss_name(n):
    return struct.pack("<H", len(n)) + n.encode()


def ss_u64(n, v):
    return b"F" + ss_name(n) + b"\1" + struct.pack("<Q", v)


def ss_blob(n, b):
    return b"F" + ss_name(n) + b"\2" + struct.pack("<I", len(b)) + b


def ss_section(n, inst, ver, *fields):
    return b"S" + ss_name(n) + struct.pack("<II", inst, ver) + b"".join(fields) + b"E"


def ss_stream(*sections):
    body = b"VMKITSS\n" + struct.pack("<II", 1, 0) + b"".join(sections) + b"Z"
    return body + struct.pack("<I", zlib.crc32(body))


def savestate_seeds():
    """Streams as vmkit writes them (include/vmkit/savestate.h); the fuzz target fixes the CRC."""

    serial = ss_section("serial", 0, 1, *[ss_u64(k, 1) for k in ("ier", "lcr", "mcr", "scr", "fcr", "dll",
                                                            "dlm", "thr-pending")],
                     ss_u64("rx-count", 3), ss_blob("rx", b"abc"))
    rtc = ss_section("rtc", 0, 1, ss_u64("index", 0x40), ss_blob("cmos", bytes(128)))
    return {"empty": ss_stream(), "serial": ss_stream(serial), "both": ss_stream(serial, rtc),
            "two-instances": ss_stream(ss_section("dev", 0, 3, ss_u64("x", 1)), ss_section("dev", 1, 1, ss_u64("x", 2)))}


def devstate_seeds():
    """Device state streams as the devices write them (the fuzz target fixes the CRC)."""

    pm = ss_section("pm", 0, 1, ss_u64("sts", 0x100), ss_u64("en", 0x100), ss_u64("cnt", 1))
    i8042 = ss_section("i8042", 0, 1, ss_blob("ram", bytes([0x47]) + bytes(31)), ss_u64("outport", 3),
                    ss_u64("out", 0xfa), ss_u64("obf", 1), ss_blob("ctl", b"\x55"), ss_blob("ctl-aux", b"\0"),
                    ss_u64("pending", 0xd4), ss_u64("a2", 1), ss_u64("xlate-break", 0),
                    ss_u64("kbd-set", 2), ss_u64("kbd-leds", 4), ss_u64("kbd-typematic", 0x2b),
                    ss_u64("kbd-arg", 0), ss_u64("kbd-last", 0xfa), ss_u64("kbd-scanning", 1),
                    ss_blob("kbd-queue", b"\x1e\xf0\x1e"), ss_u64("mouse-id", 3), ss_u64("mouse-rate", 80),
                    ss_u64("mouse-resolution", 2), ss_blob("mouse-rates", bytes([200, 100, 80])),
                    ss_u64("mouse-arg", 0), ss_blob("mouse-last", b"\xfa\x03"), ss_u64("mouse-flags", 8),
                    ss_u64("mouse-buttons", 1), ss_u64("mouse-dx", 5), ss_u64("mouse-dy", 2**64 - 3),
                    ss_u64("mouse-dz", 0), ss_blob("mouse-queue", b"\x08\x05\xfd\x00"))
    cfg = bytearray(256)
    cfg[0:4] = bytes([0x86, 0x80, 0x37, 0x12])
    host = ss_section("pci-host", 0, 1, ss_u64("addr", 0x80000800), ss_blob("pci-config", bytes(cfg)))
    rng_fields = [ss_u64("host-features", (1 << 32) | (1 << 28) | (1 << 29)),
                  ss_u64("guest-features", 1 << 32), ss_u64("status", 0xf), ss_u64("config-generation", 0),
                  ss_u64("nr-queues", 1)]
    for k, v in (("size", 8), ("enabled", 1), ("desc", 0x10000), ("avail", 0x11000),
                 ("used", 0x12000), ("last-avail", 1), ("used-idx", 1), ("signalled-used", 0),
                 ("broken", 0)):
        rng_fields.append(ss_u64(f"q0-{k}", v))
    rng = ss_section("virtio-rng", 0, 1, *rng_fields)
    return {"pm": ss_stream(pm), "i8042": ss_stream(i8042), "host": ss_stream(host), "rng": ss_stream(rng),
            "all": ss_stream(pm, i8042, host, rng)}


def i8042_seeds():
    """Ops: 0 cmd port, 1 data port, 2/3 read status/data, 4 key (2 bytes, 8: down),
    5 mouse motion (2 bytes), 6 drain, 7 a byte to the mouse (D4)."""
    def cmd(v): return bytes([0, v])
    def dat(v): return bytes([1, v])
    def key(code, down): return bytes([4 | (8 if down else 0), code & 0xff, code >> 8])
    def aux(v): return bytes([7, v])
    drain = b"\6"
    linux = (cmd(0xaa) + drain + cmd(0x20) + drain + cmd(0x60) + dat(0x47) + cmd(0xd3) + dat(0x5a) +
             drain + cmd(0xa9) + drain + cmd(0xa8) + dat(0xff) + drain + dat(0xf2) + drain +
             dat(0xf0) + dat(0x02) + drain + dat(0xf4) + drain)
    keys = b"".join(key(k, d) + drain for k in (30, 29, 97, 99, 119, 111, 65) for d in (True, False))
    mouse = (aux(0xff) + drain + b"".join(aux(0xf3) + aux(r) for r in (200, 100, 80)) + aux(0xf2) +
             aux(0xf4) + drain + b"\x0d\x05\xfb" + b"\x1d\x80\x7f" + drain + aux(0xf0) + aux(0xeb) +
             aux(0xee) + aux(0x42) + aux(0xec) + aux(0xe9) + drain)
    return {"linux-init": linux, "keys-xlate": linux + keys,
            "keys-set2": cmd(0x60) + dat(0x03) + keys, "keys-set1": cmd(0x60) + dat(0x03) + dat(0xf0) +
            dat(0x01) + keys, "mouse": cmd(0x60) + dat(0x03) + mouse,
            "flood": cmd(0x60) + dat(0x03) + key(97, True) * 300 + drain}


def vga_seeds():
    """5-byte steps (tests/fuzz/vga-fuzz.c): op|len<<3, 3 bytes of port index or offset, value."""
    ports = [0x3c0, 0x3c1, 0x3c2, 0x3c4, 0x3c5, 0x3c6, 0x3c7, 0x3c8, 0x3c9, 0x3ca, 0x3cc, 0x3ce,
             0x3cf, 0x3d4, 0x3d5, 0x3da, 0x3b4, 0x3b5, 0x3ba, 0x1ce, 0x1cf]

    def out(port, val):
        return bytes([0, ports.index(port), 0, 0, val])

    def mem(off, val):
        return bytes([2, off & 255, off >> 8 & 255, off >> 16, val])
    render = bytes([7, 0, 0, 0, 0])
    text = out(0x3c2, 0x67)
    for i, v in enumerate([0x03, 0x00, 0x03, 0x00, 0x02]):
        text += out(0x3c4, i) + out(0x3c5, v)
    for i, v in enumerate([0x5f, 0x4f, 0x50, 0x82, 0x55, 0x81, 0xbf, 0x1f, 0x00, 0x4f, 0x0d, 0x0e,
                           0, 0, 0, 0, 0x9c, 0x8e, 0x8f, 0x28, 0x1f, 0x96, 0xb9, 0xa3, 0xff]):
        text += out(0x3d4, i) + out(0x3d5, v)
    for i, v in enumerate([0, 0, 0, 0, 0, 0x10, 0x0e, 0, 0xff]):
        text += out(0x3ce, i) + out(0x3cf, v)
    text += out(0x3c0, 0x20)
    for i in range(0, 64, 2):
        text += mem(0x18000 + i, 0x41 + i // 2) + mem(0x18001 + i, 0x1f)
    text += render
    vbe = b""
    for idx, v in [(4, 0), (1, 64), (2, 48), (3, 8), (4, 0x41)]:
        vbe += bytes([8, 19, 0, 0, idx]) + bytes([8, 20, 0, 0, v])
    vbe += mem(0, 0x55) + mem(100, 0xaa) + render
    return {"text": text, "vbe": vbe, "render": render}


def fwcfg_seeds():
    """fw_cfg as SeaBIOS and OVMF start: signature, ID, directory, a DMA read, PAM."""
    def sel(key):
        return bytes([0]) + struct.pack(">H", key)

    def rd(n):
        return bytes([1, n])

    def dma(ctl, length, addr, at=0x100):
        return bytes([2]) + struct.pack(">IIQH", ctl, length, addr, at)
    out = {}
    out["signature"] = sel(0) + rd(4) + sel(1) + rd(4)
    out["dir"] = sel(0x19) + rd(200)
    out["dma-read"] = dma(0x0a | 0x19 << 16, 64, 0x1000) + dma(0x04, 8, 0) + dma(0x02, 8, 0x2000)
    out["dma-bad"] = dma(0x0a | 0x20 << 16, 0x10000, 0xfff0) + dma(0x02, 16, 1 << 63)
    out["dma-port"] = bytes([3, 0, 2]) + struct.pack(">Q", 0) + bytes([3, 4, 2]) + \
        struct.pack(">Q", 0x100) + bytes([4, 0, 3])
    out["pam"] = bytes([5, 1, 0x30, 7, 0, 0, 0x42, 6, 0, 0, 5, 1, 0x10, 7, 0, 1, 1, 6, 0, 1])
    return out


def q35_seeds():
    """The Q35 as SeaBIOS and OVMF program it: PCIEXBAR, ECAM reads, PMBASE, the PM block."""
    def cf8(slot, reg):
        return bytes([0]) + struct.pack(">I", 0x80000000 | slot << 11 | reg)

    def pciexbar(lo, hi=0):
        return bytes([5]) + struct.pack(">II", lo, hi)

    def ecam_rd(off, size=2):
        return bytes([3]) + struct.pack(">I", off) + bytes([size])

    def ecam_wr(off, val, size=2):
        return bytes([4]) + struct.pack(">I", off) + bytes([size]) + struct.pack(">Q", val)

    def lpc(reg, val):
        return bytes([6, reg]) + struct.pack(">I", val)

    def port(p, write=False, val=0, size=2):
        return bytes([7]) + struct.pack(">H", p) + bytes([size]) + struct.pack(">I", val) + \
            bytes([1 if write else 0])
    out = {}
    out["seabios"] = pciexbar(0xb0000001) + ecam_rd(0) + ecam_rd(0x1f << 15) + \
        lpc(0x40, 0x601) + lpc(0x44, 0x80) + port(0x8008) + port(0x8030) + lpc(0x60, 0x0b0b0a0a)
    out["ovmf"] = pciexbar(0xe0000001) + ecam_wr(0x8000 + 4, 6, 1) + ecam_rd(0x8010) + \
        ecam_rd(0x100) + lpc(0xf0, 0xfed1c001)
    out["cf8"] = cf8(0, 0x90) + bytes([1, 0, 0]) + struct.pack(">I", 0x30) + cf8(0, 0x9d) + \
        bytes([1, 0, 0]) + struct.pack(">I", 0x1a) + bytes([2, 0, 2])
    out["hostile"] = pciexbar(0xf0000001) + pciexbar(0x4000005, 0xf) + ecam_rd(0xffffffff, 3) + \
        lpc(0x40, 0xcf9) + lpc(0x44, 0x80) + port(0xcf8, True, 0x80000000, 2)
    return out


def migrate_seeds():
    """Migration streams for a 1 MiB VM with one vCPU and nothing else."""

    cfg = ss_stream(ss_section("vm", 0, 1, ss_blob("name", b""), ss_u64("memory", 1 << 20),
                               ss_u64("ram-size", 1 << 20), ss_u64("cpus", 1),
                               *[ss_u64(k, 0) for k in ("firmware", "disks", "nets", "vga", "rng",
                                                         "balloon", "virtio-console")]))
    head = b"VMKITMIG" + struct.pack("<IIQQ", 1, 0, 1 << 20, len(cfg)) + cfg

    def rec(kind, a, b, data=b""):
        return struct.pack("<IIQQ", kind, 0, a, b) + data

    return {"pages": head + rec(1, 0, 4096, b"\x5a" * 4096) + rec(2, 4096, 8192) +
            rec(3, len(cfg), 0, cfg) + rec(4, 0, 0),
            "zero": head + rec(2, 0, 1 << 20) + rec(3, 0, 0) + rec(4, 0, 0),
            "header": head}


TARGETS = {"migrate": migrate_seeds, "savestate": savestate_seeds, "i8042": i8042_seeds, "names": names_seeds, "blk": blk_seeds, "net": net_seeds, "console": console_seeds, "rng": rng_seeds, "vga": vga_seeds, "fwcfg": fwcfg_seeds, "tablet": tablet_seeds, "scsi": scsi_seeds, "ahci": ahci_seeds, "q35": q35_seeds, "devstate": devstate_seeds,
           "balloon": balloon_seeds, "virtq": virtq_seeds, "x86": x86_seeds, "qmp": qmp_seeds,
           "config": config_seeds, "runopts": runopts_seeds, "serve": serve_seeds}


def main():
    target, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    seeds = TARGETS[target]()
    for name, data in seeds.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(len(seeds))


if __name__ == "__main__":
    main()
