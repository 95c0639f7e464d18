# SPDX-License-Identifier: GPL-2.0-or-later
"""A small QMP client for the tests (and the management tests built on them).

    from qmp_client import QMP, start_monitor

    with start_monitor(h.guest("spin"), sock) as m:    # vmkit run ... --qmp sock
        q = QMP(sock)                                   # connects, reads the greeting
        q.negotiate()                                   # qmp_capabilities
        q.cmd("query-status")                           # -> the "return" value
        q.execute("stop")                               # -> the whole reply
        q.wait_event("STOP")
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Optional


class QMPError(Exception):
    def __init__(self, reply: dict):
        super().__init__(reply["error"].get("desc"))
        self.reply = reply
        self.cls = reply["error"].get("class")


class QMP:
    def __init__(self, path: Path | str, timeout: float = 10.0, connect_timeout: float = 10.0):
        self.path = str(path)
        self.timeout = timeout
        self.events: list[dict] = []
        self._buf = b""
        self._id = 0
        end = time.monotonic() + connect_timeout
        while True:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                self.sock.connect(self.path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                self.sock.close()
                if time.monotonic() > end:
                    raise
                time.sleep(0.05)
        self.sock.settimeout(timeout)
        self.greeting = self.recv()

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "QMP":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv(self, timeout: Optional[float] = None) -> dict:
        """The next message (reply or event), as sent."""
        end = time.monotonic() + (timeout if timeout is not None else self.timeout)
        while b"\n" not in self._buf:
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no QMP message within the time limit; have {self._buf!r}")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"QMP connection closed; have {self._buf!r}")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return json.loads(line)

    def reply(self, timeout: Optional[float] = None) -> dict:
        """The next reply; events seen on the way are kept in self.events."""
        while True:
            msg = self.recv(timeout)
            if "event" in msg:
                self.events.append(msg)
                continue
            return msg

    def execute(self, cmd: str, args: Optional[dict] = None, id: Any = None,
                timeout: Optional[float] = None) -> dict:
        req: dict = {"execute": cmd}
        if args is not None:
            req["arguments"] = args
        if id is None:
            self._id += 1
            id = self._id
        req["id"] = id
        self.send_raw(json.dumps(req).encode() + b"\n")
        r = self.reply(timeout)
        assert r.get("id") == id, f"reply to {req} has id {r.get('id')!r}: {r}"
        return r

    def cmd(self, cmd: str, args: Optional[dict] = None, timeout: Optional[float] = None) -> Any:
        """The command's "return" value; QMPError if it failed."""
        r = self.execute(cmd, args, timeout=timeout)
        if "error" in r:
            raise QMPError(r)
        return r["return"]

    def negotiate(self) -> None:
        self.cmd("qmp_capabilities")

    def hmp(self, line: str) -> str:
        return self.cmd("human-monitor-command", {"command-line": line})

    def wait_event(self, name: str, timeout: float = 10.0) -> dict:
        """The first event called name, among those seen so far or still to come."""
        for i, e in enumerate(self.events):
            if e["event"] == name:
                return self.events.pop(i)
        end = time.monotonic() + timeout
        while True:
            msg = self.recv(max(0.01, end - time.monotonic()))
            if msg.get("event") == name:
                return msg
            if "event" in msg:
                self.events.append(msg)


class Monitor:
    """A `vmkit run` in the background, its output going to files."""

    def __init__(self, argv: list[str], workdir: Path):
        self.argv = argv
        self.out_path = workdir / "monitor.out"
        self.err_path = workdir / "monitor.err"
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=self._err)

    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def wait_output(self, text: str, timeout: float = 30.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if text in self.stdout():
                return True
            if self.proc.poll() is not None:
                return text in self.stdout()
            time.sleep(0.05)
        return False

    def wait(self, timeout: float = 30.0) -> Optional[int]:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def describe(self) -> str:
        return (f"\n$ {' '.join(self.argv)}\nexit: {self.proc.poll()}\n"
                f"--- stdout ---\n{self.stdout()}\n--- stderr ---\n{self.stderr()}")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._out.close()
        self._err.close()

    def __enter__(self) -> "Monitor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def start_monitor(argv: list[str], workdir: Path) -> Monitor:
    return Monitor(argv, workdir)
