# SPDX-License-Identifier: GPL-2.0-or-later
"""A minimal WebSocket client (RFC 6455) over TLS for the console tests:
handshake with a cookie, binary frames out (masked, as clients must) and in."""

from __future__ import annotations

import base64
import os
import socket
import ssl
import struct


class HandshakeRefused(Exception):
    pass


class WebSocket:
    def __init__(self, port: int, path: str, cookie: str | None, timeout: float = 10):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.s = ctx.wrap_socket(raw, server_hostname="localhost")
        key = base64.b64encode(os.urandom(16)).decode()
        req = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
               f"Origin: https://127.0.0.1:{port}\r\n")
        if cookie:
            req += f"Cookie: VMKitAuthCookie={cookie}\r\n"
        self.s.sendall((req + "\r\n").encode())
        head = b""
        try:
            while b"\r\n\r\n" not in head:
                chunk = self.s.recv(4096)
                if not chunk:
                    break
                head += chunk
        except (ConnectionError, ssl.SSLError, socket.timeout):
            pass
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status:
            self.s.close()
            raise HandshakeRefused(status.decode(errors="replace"))
        self.buf = head.split(b"\r\n\r\n", 1)[1]

    def send(self, data: bytes):
        mask = os.urandom(4)
        n = len(data)
        hdr = bytes([0x82])
        if n < 126:
            hdr += bytes([0x80 | n])
        elif n < 65536:
            hdr += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            hdr += bytes([0x80 | 127]) + struct.pack(">Q", n)
        self.s.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _need(self, n: int):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk

    def recv(self) -> bytes:
        """The payload of the next data frame; b"" when the server closes."""
        while True:
            self._need(2)
            op, ln = self.buf[0] & 0x0F, self.buf[1] & 0x7F
            off = 2
            if ln == 126:
                self._need(4)
                ln, off = struct.unpack(">H", self.buf[2:4])[0], 4
            elif ln == 127:
                self._need(10)
                ln, off = struct.unpack(">Q", self.buf[2:10])[0], 10
            self._need(off + ln)
            payload, self.buf = self.buf[off:off + ln], self.buf[off + ln:]
            if op == 8:
                return b""
            if op in (1, 2, 0):
                return payload

    def close(self):
        self.s.close()
