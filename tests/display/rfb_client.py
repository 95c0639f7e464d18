# SPDX-License-Identifier: GPL-2.0-or-later
"""A small VNC (RFB 3.8) viewer for the tests and bench/vnc.py.

    from rfb_client import RFBClient, RAW, ZRLE, DESKTOP_SIZE

    c = RFBClient.connect("127.0.0.1", 5901)     # handshake: security None, shared
    c.set_pixel_format()                         # 32 bpp true colour, 0x00RRGGBB
    c.set_encodings([RAW, DESKTOP_SIZE])
    c.request(incremental=False)                 # the whole screen
    u = c.read_update()                          # an Update: rects, pixels, nbytes
    c.fb                                         # with decode=True: the picture

Only what a viewer needs to take updates: security type None, the server's
messages (FramebufferUpdate, SetColourMapEntries, Bell, ServerCutText) and
the encodings Raw, CopyRect, Zlib (6) and ZRLE (16), plus the DesktopSize
(-223) and LastRect (-224) pseudo-encodings. Every rectangle is read whole;
with decode=True Raw, CopyRect and Zlib rectangles are painted into fb
(bytes B, G, R, 0 per pixel, width * 4 a row), and the pixels of rows a
rectangle repaints with what they already showed are counted (Update.repeated:
a server that sends the same picture again); ZRLE is read but not decoded.
bytes_in counts every byte received after the handshake.
"""

from __future__ import annotations

import socket
import struct
import time
import zlib
from dataclasses import dataclass, field

RAW, COPYRECT, ZLIB, ZRLE = 0, 1, 6, 16
DESKTOP_SIZE, LAST_RECT = -223, -224


class RFBError(Exception):
    pass


@dataclass
class Update:
    rects: list[tuple[int, int, int, int, int]] = field(default_factory=list)  # x, y, w, h, enc
    pixels: int = 0         # pixels of picture rectangles (not pseudo-encodings)
    repeated: int = 0       # with decode: of those, pixels in rows that showed the same before
    nbytes: int = 0         # the message's size on the wire
    resized: bool = False   # a DesktopSize rectangle was in it


def free_display(first: int = 40, last: int = 99) -> int | None:
    """A VNC display number whose port (5900 + N) on 127.0.0.1 nobody answers on."""
    for n in range(first, last):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", 5900 + n)) != 0:
                return n
    return None


class RFBClient:
    def __init__(self, sock: socket.socket, decode: bool = False):
        self.sock = sock
        self.f = sock.makefile("rb", buffering=1 << 20)
        self.decode = decode
        self.bytes_in = 0
        self.width = self.height = 0
        self.name = ""
        self.fb = bytearray()
        self._scratch = memoryview(bytearray(1 << 20))
        self._zlib = zlib.decompressobj()

    @classmethod
    def connect(cls, host: str, port: int, timeout: float = 10.0, decode: bool = False,
                wait: float = 0.0) -> "RFBClient":
        """Connect (retrying for up to wait seconds while nothing listens) and shake hands."""
        end = time.monotonic() + wait
        while True:
            try:
                s = socket.create_connection((host, port), timeout=timeout)
                break
            except ConnectionRefusedError:
                if time.monotonic() >= end:
                    raise
                time.sleep(0.05)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c = cls(s, decode)
        try:
            c.handshake()
        except BaseException:
            c.close()
            raise
        return c

    def close(self) -> None:
        self.f.close()
        self.sock.close()

    def __enter__(self) -> "RFBClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- reading ----

    def _read(self, n: int) -> bytes:
        data = self.f.read(n)
        if len(data) != n:
            raise RFBError("the server closed the connection")
        self.bytes_in += n
        return data

    def _skip(self, n: int) -> None:
        while n:
            chunk = self._scratch[:min(n, len(self._scratch))]
            got = self.f.readinto(chunk)
            if not got:
                raise RFBError("the server closed the connection")
            n -= got
            self.bytes_in += got

    def _unpack(self, fmt: str):
        return struct.unpack(fmt, self._read(struct.calcsize(fmt)))

    def _reason(self) -> str:
        (n,) = self._unpack(">I")
        return self._read(min(n, 4096)).decode(errors="replace")

    # ---- the handshake ----

    def handshake(self, shared: bool = True) -> None:
        version = self._read(12)
        if not version.startswith(b"RFB 003."):
            raise RFBError(f"not an RFB server: {version!r}")
        self.sock.sendall(b"RFB 003.008\n")
        (n,) = self._unpack(">B")
        if n == 0:
            raise RFBError(f"refused: {self._reason()}")
        types = list(self._read(n))
        if 1 not in types:
            raise RFBError(f"no security type None among {types}")
        self.sock.sendall(b"\x01")
        (result,) = self._unpack(">I")
        if result:
            raise RFBError(f"security failed: {self._reason()}")
        self.sock.sendall(b"\x01" if shared else b"\x00")
        self.width, self.height = self._unpack(">HH")
        self._read(16)                                  # the server's pixel format
        self.name = self._reason()
        self._resize(self.width, self.height)
        self.bytes_in = 0

    def _resize(self, w: int, h: int) -> None:
        self.width, self.height = w, h
        if self.decode:
            self.fb = bytearray(w * h * 4)

    # ---- client messages ----

    def set_pixel_format(self) -> None:
        """32 bits a pixel, depth 24, little-endian, true colour: B, G, R, 0 in memory."""
        self.sock.sendall(struct.pack(">BxxxBBBBHHHBBBxxx", 0, 32, 24, 0, 1,
                                      255, 255, 255, 16, 8, 0))

    def set_encodings(self, encodings: list[int]) -> None:
        self.sock.sendall(struct.pack(f">BxH{len(encodings)}i", 2, len(encodings), *encodings))

    def request(self, incremental: bool = True, x: int = 0, y: int = 0,
                w: int | None = None, h: int | None = None) -> None:
        w = self.width - x if w is None else w
        h = self.height - y if h is None else h
        self.sock.sendall(struct.pack(">BBHHHH", 3, int(incremental), x, y, w, h))

    # ---- server messages ----

    def read_update(self) -> Update:
        """The next FramebufferUpdate, after any other messages before it."""
        while True:
            start = self.bytes_in
            (kind,) = self._unpack(">B")
            if kind == 0:
                u = self._update()
                u.nbytes = self.bytes_in - start
                return u
            if kind == 1:                               # SetColourMapEntries
                _, _, n = self._unpack(">xHH")
                self._skip(6 * n)
            elif kind == 2:                             # Bell
                pass
            elif kind == 3:                             # ServerCutText
                self._read(3)
                self._reason()
            else:
                raise RFBError(f"unknown server message type {kind}")

    def _update(self) -> Update:
        u = Update()
        (n,) = self._unpack(">xH")
        for _ in range(n):
            x, y, w, h, enc = self._unpack(">HHHHi")
            if enc == LAST_RECT:
                break
            if enc == DESKTOP_SIZE:
                self._resize(w, h)
                u.resized = True
            else:
                if x + w > self.width or y + h > self.height:
                    raise RFBError(f"rectangle {w}x{h}+{x}+{y} outside {self.width}x{self.height}")
                u.repeated += self._rect(x, y, w, h, enc)
                u.pixels += w * h
            u.rects.append((x, y, w, h, enc))
        return u

    def _rect(self, x: int, y: int, w: int, h: int, enc: int) -> int:
        """Read one rectangle; with decode, paint it and return its repeated pixels."""
        if enc == RAW:
            if self.decode:
                return self._paint(x, y, w, h, self._read(w * h * 4))
            self._skip(w * h * 4)
        elif enc == COPYRECT:
            sx, sy = self._unpack(">HH")
            if self.decode:
                rows = [bytes(self._row(sx, sy + r, w)) for r in range(h)]
                return self._paint(x, y, w, h, b"".join(rows))
        elif enc in (ZLIB, ZRLE):
            (n,) = self._unpack(">I")
            if self.decode and enc == ZLIB:
                return self._paint(x, y, w, h, self._zlib.decompress(self._read(n)))
            if self.decode:
                raise RFBError("ZRLE rectangles are read, not decoded: ask for Raw or Zlib")
            self._skip(n)
        else:
            raise RFBError(f"encoding {enc} was not asked for")
        return 0

    def _row(self, x: int, y: int, w: int) -> memoryview:
        o = (y * self.width + x) * 4
        return memoryview(self.fb)[o:o + w * 4]

    def _paint(self, x: int, y: int, w: int, h: int, data: bytes) -> int:
        if len(data) != w * h * 4:
            raise RFBError(f"{len(data)} bytes of pixels for a {w}x{h} rectangle")
        repeated, n, src = 0, w * 4, memoryview(data)
        for r in range(h):
            o = ((y + r) * self.width + x) * 4
            new = src[r * n:(r + 1) * n]
            if self.fb[o:o + n] == new:     # a bytearray slice: one memcmp
                repeated += w
            else:
                self.fb[o:o + n] = new
        return repeated
