#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Peak memory of a monitor process, and how much of it is guest RAM.

Usage: memprobe.py GUEST_MIB -- COMMAND...

Runs COMMAND under ptrace (PTRACE_O_TRACEEXIT, following its threads) so
that it can be looked at once more when it exits, with its memory still
mapped. At the first exit stop of any of its threads it reads
/proc/TID/status (VmHWM = peak RSS, VmRSS, RssAnon, RssFile, RssShmem) and
/proc/TID/smaps, in which the guest RAM is the mapping(s) at least
GUEST_MIB large: their Rss is the guest memory touched. While the command
runs it also polls smaps every millisecond and keeps the largest guest
Rss seen, in case the monitor unmaps guest RAM before it exits. The peak
RSS (VmHWM) is also polled; ru_maxrss from wait4 is recorded but not used
(it includes this script's forked copy before the exec). Prints one JSON
object.
"""
import ctypes
import json
import os
import signal
import sys
import time

PTRACE_TRACEME = 0
PTRACE_CONT = 7
PTRACE_SETOPTIONS = 0x4200
PTRACE_O_TRACECLONE = 0x08
PTRACE_O_TRACEEXIT = 0x40
PTRACE_O_EXITKILL = 0x100000
PTRACE_EVENT_CLONE = 3
PTRACE_EVENT_EXIT = 6
WALL = 0x40000000

libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
libc.ptrace.restype = ctypes.c_long


def ptrace(req, pid, addr=0, data=0):
    r = libc.ptrace(req, pid, ctypes.c_void_p(addr), ctypes.c_void_p(data))
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


def read_status(tid):
    out = {}
    try:
        with open(f"/proc/{tid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem", "Threads"):
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def guest_rss(tid, guest_kib):
    """Rss/AnonHugePages (KiB) of mappings at least guest_kib large."""
    rss = huge = 0
    sizes = []
    cur = None
    try:
        with open(f"/proc/{tid}/smaps") as f:
            for line in f:
                if line[0] in "0123456789abcdef" and "-" in line.split()[0]:
                    a, b = line.split()[0].split("-")
                    size = (int(b, 16) - int(a, 16)) // 1024
                    cur = size if size >= guest_kib else None
                    if cur:
                        sizes.append(size)
                elif cur and line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif cur and line.startswith("AnonHugePages:"):
                    huge += int(line.split()[1])
    except OSError:
        return None
    return {"rss_kib": rss, "anon_huge_kib": huge, "vma_kib": sizes}


def main():
    argv = sys.argv[1:]
    guest_kib = int(argv[0]) * 1024
    cmd = argv[argv.index("--") + 1:]
    t0 = time.monotonic()
    pid = os.fork()
    if pid == 0:
        try:
            ptrace(PTRACE_TRACEME, 0)
            os.kill(os.getpid(), signal.SIGSTOP)
            fd = os.open(os.devnull, os.O_RDWR)
            os.dup2(fd, 0)
            os.dup2(fd, 1)
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    _, st, _ = os.wait4(pid, WALL)
    if not os.WIFSTOPPED(st):
        print(json.dumps({"error": "child did not stop"}))
        return 1
    ptrace(PTRACE_SETOPTIONS, pid, 0,
           PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL)
    ptrace(PTRACE_CONT, pid)
    res = {"cmd": cmd, "guest_mib": guest_kib // 1024}
    poll_max = None
    exit_sample = None
    ru_maxrss = None
    status = None
    exec_seen = False
    poll_hwm = 0
    while True:
        r = os.wait4(-1, os.WNOHANG | WALL)
        if r[0] == 0:
            hwm = read_status(pid).get("VmHWM")
            if hwm and exec_seen:
                poll_hwm = max(poll_hwm, hwm)
            g = guest_rss(pid, guest_kib)
            if g and g["vma_kib"]:
                exec_seen = True
                if poll_max is None or g["rss_kib"] > poll_max["rss_kib"]:
                    poll_max = g
            time.sleep(0.001)
            continue
        tid, st, ru = r
        if os.WIFEXITED(st) or os.WIFSIGNALED(st):
            if tid == pid:
                ru_maxrss = ru.ru_maxrss
                status = os.WEXITSTATUS(st) if os.WIFEXITED(st) else -os.WTERMSIG(st)
                break
            continue
        if not os.WIFSTOPPED(st):
            continue
        sig = os.WSTOPSIG(st)
        event = (st >> 16) & 0xff
        deliver = 0
        if sig == signal.SIGTRAP and event == PTRACE_EVENT_EXIT:
            if exit_sample is None:
                exit_sample = {"status": read_status(tid), "guest": guest_rss(tid, guest_kib)}
        elif sig == signal.SIGTRAP and event:
            pass
        elif sig == signal.SIGSTOP:
            pass  # a new thread's first stop
        elif sig != signal.SIGTRAP:
            deliver = sig
        try:
            ptrace(PTRACE_CONT, tid, 0, deliver)
        except OSError:
            pass
    res["wall_s"] = round(time.monotonic() - t0, 4)
    res["exit_status"] = status
    res["ru_maxrss_kib"] = ru_maxrss
    res["exit_sample"] = exit_sample
    res["poll_max_guest"] = poll_max
    g = None
    if exit_sample and exit_sample["guest"] and exit_sample["guest"]["vma_kib"]:
        g = exit_sample["guest"]
    if poll_max and (g is None or poll_max["rss_kib"] > g["rss_kib"]):
        g = poll_max
    res["guest_touched_kib"] = g["rss_kib"] if g else None
    # ru_maxrss also counts this script's forked copy before the exec, so it
    # is only a cross-check; VmHWM at the exit stop is the peak.
    peak = None
    if exit_sample and exit_sample["status"].get("VmHWM"):
        peak = exit_sample["status"]["VmHWM"]
    elif poll_hwm:
        peak = poll_hwm
        res["peak_from"] = "poll"
    res["poll_hwm_kib"] = poll_hwm or None
    res["peak_rss_kib"] = peak
    if peak is not None and res["guest_touched_kib"] is not None:
        res["overhead_kib"] = peak - res["guest_touched_kib"]
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
