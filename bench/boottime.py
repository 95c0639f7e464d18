#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Time a guest boot by watching its console as it is written.

Usage: boottime.py --log FILE [--timeout S] [--marker STR] -- COMMAND...

Starts COMMAND with the guest console on its stdout (a pipe) and reads the
pipe and stderr as data arrives, stamping each line with the time since
just before the fork. Records when the first line containing MARKER
(default "Run /init as init process") appeared, and the total time until
the process exits. QEMU does not exit after a KVM emulation failure (it
pauses the VM), so when its stderr says "emulation failure" the process is
stopped 1 s later and the run is reported as failed with the first line
of the error message. A run that outlives TIMEOUT is killed and reported.
Writes the time-stamped console and stderr to FILE; prints one JSON object.
"""
import json
import os
import re
import selectors
import signal
import subprocess
import sys
import time

FAIL_PATTERNS = ("KVM internal error", "emulation failure")


def main():
    args = sys.argv[1:]
    sep = args.index("--")
    opts, cmd = args[:sep], args[sep + 1:]
    log_path, timeout, marker = None, 300.0, "Run /init as init process"
    i = 0
    while i < len(opts):
        if opts[i] == "--log":
            log_path = opts[i + 1]
        elif opts[i] == "--timeout":
            timeout = float(opts[i + 1])
        elif opts[i] == "--marker":
            marker = opts[i + 1]
        else:
            sys.exit(f"boottime.py: unknown option {opts[i]}")
        i += 2

    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    sel = selectors.DefaultSelector()
    bufs = {}
    for name, f in (("out", p.stdout), ("err", p.stderr)):
        os.set_blocking(f.fileno(), False)
        sel.register(f, selectors.EVENT_READ, name)
        bufs[name] = b""
    log = open(log_path, "w", errors="replace") if log_path else None
    res = {"cmd": cmd, "marker_s": None, "marker_kernel_s": None, "total_s": None,
           "exit_status": None, "failure": None, "killed": None, "last_console": None}
    fail_at = None
    fail_lines = []
    deadline = t0 + timeout

    def line_in(name, raw, t):
        text = raw.decode("utf-8", "replace").rstrip("\r\n")
        if log:
            log.write(f"{t:10.4f} {name} {text}\n")
        if name == "out":
            if text.strip():
                res["last_console"] = text.strip()[-160:]
            if res["marker_s"] is None and marker in text:
                res["marker_s"] = round(t, 4)
                m = re.search(r"\[\s*(\d+\.\d+)\]", text)
                if m:
                    res["marker_kernel_s"] = float(m.group(1))
        else:
            nonlocal fail_at
            if text.strip():
                fail_lines.append(text.strip())
            if fail_at is None and any(s in text for s in FAIL_PATTERNS):
                fail_at = t

    open_streams = 2
    while open_streams:
        now = time.monotonic()
        if now > deadline and res["killed"] is None:
            res["killed"] = f"timeout after {timeout:g} s"
            p.kill()
        if fail_at is not None and now - t0 > fail_at + 1.0 and res["killed"] is None:
            res["killed"] = "stopped after emulation failure"
            p.kill()
        for key, _ in sel.select(timeout=0.05):
            name = key.data
            t = time.monotonic() - t0
            try:
                data = os.read(key.fileobj.fileno(), 65536)
            except BlockingIOError:
                continue
            if not data:
                sel.unregister(key.fileobj)
                open_streams -= 1
                if bufs[name]:
                    line_in(name, bufs[name], t)
                    bufs[name] = b""
                continue
            bufs[name] += data
            *lines, bufs[name] = bufs[name].split(b"\n")
            for ln in lines:
                line_in(name, ln, t)
            # A console line that is still being written may already hold
            # the marker (the kernel ends the line later).
            if name == "out" and res["marker_s"] is None and marker.encode() in bufs[name]:
                res["marker_s"] = round(t, 4)
                m = re.search(rb"\[\s*(\d+\.\d+)\]", bufs[name])
                if m:
                    res["marker_kernel_s"] = float(m.group(1))
    rc = p.wait()
    res["total_s"] = round(time.monotonic() - t0, 4)
    res["exit_status"] = rc if rc >= 0 else f"signal {signal.Signals(-rc).name}"
    if fail_at is not None:
        hits = [l for l in fail_lines if any(s in l for s in FAIL_PATTERNS)]
        res["failure"] = " / ".join(dict.fromkeys(hits[:2]))
        res["failure_s"] = round(fail_at, 4)
        rip = next((l for l in fail_lines if l.startswith("RIP=")), None)
        if rip:
            res["failure_rip"] = rip.split()[0][4:]
    if fail_lines:
        res["stderr_last"] = fail_lines[-1][:160]
    if log:
        log.close()
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
