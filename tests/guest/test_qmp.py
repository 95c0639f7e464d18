# SPDX-License-Identifier: GPL-2.0-or-later
"""The control socket (`vmkit run --qmp`): QMP framing, negotiation, every
command, events, pausing a real guest, several clients, hostile input, the
socket's permissions and the --qmp option's checks."""

import json
import os
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest

import vmkit_harness as h
from qmp_client import QMP, QMPError, Monitor

ALL_COMMANDS = {
    "qmp_capabilities", "query-status", "query-name", "query-version", "query-commands",
    "query-kvm", "query-target",
    "query-cpus-fast", "query-block", "query-balloon", "balloon", "qom-get", "qom-set", "stop",
    "cont",
    "system_powerdown", "system_reset", "quit", "human-monitor-command", "set_link",
    "send-key", "input-send-event", "query-mice",                  # keyboard and pointer
    "screendump", "query-vnc", "change-vnc-password",              # the display
    "eject", "blockdev-change-medium",                             # CD-ROMs
    "migrate", "query-migrate",                                    # save/restore
    "migrate_cancel", "migrate-set-parameters", "query-migrate-parameters",  # live migration
    "x-vmkit-snapshot",                                            # a running VM's snapshot
    "x-vmkit-backup", "query-block-jobs", "block-job-cancel", "job-dismiss",  # backups
}


def monitor(tmp_path, guest="spin", extra=(), **kw):
    h.require_vmkit()
    sock = tmp_path / "qmp.sock"
    argv = h.vmkit_argv(h.guest(guest), console="stdio",
                        extra_args=["--qmp", f"unix:{sock},server=on,wait=off", *extra], **kw)
    return Monitor(argv, tmp_path), sock


def connect(sock, negotiate=True):
    q = QMP(sock)
    if negotiate:
        q.negotiate()
    return q


def thread_cpu_ticks(pid, tid):
    """utime + stime of one thread, in clock ticks."""
    fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def runs(pid, tid, ticks=5, within=10.0):
    """Whether the thread uses `ticks` of CPU time within `within` seconds (loaded hosts are slow)."""
    t0 = thread_cpu_ticks(pid, tid)
    end = time.monotonic() + within
    while time.monotonic() < end:
        time.sleep(0.1)
        if thread_cpu_ticks(pid, tid) - t0 >= ticks:
            return True
    return False


def test_greeting_and_negotiation(tmp_path):
    m, sock = monitor(tmp_path)
    with m:
        q = connect(sock, negotiate=False)
        g = q.greeting["QMP"]
        assert g["capabilities"] == []
        assert set(g["version"]["qemu"]) == {"major", "minor", "micro"}
        assert g["version"]["package"].startswith("vmkit")
        # Nothing but qmp_capabilities before negotiation, and no events either.
        r = q.execute("query-status", id="a")
        assert r["error"]["class"] == "CommandNotFound", r
        assert "qmp_capabilities" in r["error"]["desc"]
        assert r["id"] == "a"
        r = q.execute("qmp_capabilities", {"enable": ["oob"]})
        assert r["error"]["class"] == "GenericError", r
        r = q.execute("qmp_capabilities", id={"any": ["json", 1]})
        assert r == {"return": {}, "id": {"any": ["json", 1]}}
        r = q.execute("qmp_capabilities")
        assert r["error"]["class"] == "CommandNotFound", r
        assert q.cmd("query-status") == {"status": "running", "singlestep": False, "running": True}
        r = q.execute("no-such-command")
        assert r["error"] == {"class": "CommandNotFound",
                              "desc": "The command no-such-command has not been found"}
        assert m.proc.poll() is None, m.describe()


def test_queries(tmp_path):
    disk = tmp_path / "d.raw"
    disk.write_bytes(b"\0" * (1 << 20))
    base = tmp_path / "base.qcow2"
    top = tmp_path / "top.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(base), "4M"], check=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(base), "-F", "qcow2",
                    str(top)], check=True)
    m, sock = monitor(tmp_path, cpus=2, extra=[
        "--name", "web-1", "--disk", f"path={disk},readonly=on,cache=writeback",
        "--disk", f"path={top},format=qcow2"])
    with m:
        q = connect(sock)
        assert q.cmd("query-name") == {"name": "web-1"}
        v = q.cmd("query-version")
        assert v["package"].startswith("vmkit ") and isinstance(v["qemu"]["major"], int)
        assert {c["name"] for c in q.cmd("query-commands")} == ALL_COMMANDS
        assert q.cmd("query-kvm") == {"enabled": True, "present": True}
        assert q.cmd("query-target") == {"arch": "x86_64"}

        cpus = q.cmd("query-cpus-fast")
        assert [c["cpu-index"] for c in cpus] == [0, 1]
        tids = [c["thread-id"] for c in cpus]
        for t in tids:  # real vCPU threads of the monitor: the lead pins them by TID
            assert Path(f"/proc/{m.proc.pid}/task/{t}").is_dir(), (t, m.describe())
        assert tids[0] != tids[1] and m.proc.pid not in tids
        assert all(c["target"] == "x86_64" for c in cpus)
        assert [c["props"]["core-id"] for c in cpus] == [0, 1]

        blk = q.cmd("query-block")
        assert [b["device"] for b in blk] == ["virtio0", "virtio1"]
        i0, i1 = blk[0]["inserted"], blk[1]["inserted"]
        assert (i0["file"], i0["ro"], i0["drv"]) == (str(disk), True, "raw")
        assert i0["cache"] == {"writeback": True, "direct": False, "no-flush": False}
        assert (i1["file"], i1["ro"], i1["drv"]) == (str(top), False, "qcow2")
        assert i1["backing_file"] == str(base) and i1["backing_file_depth"] == 1
        assert i1["image"] == {"filename": str(top), "format": "qcow2", "virtual-size": 4 << 20}

        text = q.hmp("info block")
        assert f"virtio0: {disk} (raw, read-only)\r\n" in text, text
        assert f"virtio1: {top} (qcow2)\r\n" in text, text
        assert q.hmp("info name") == "web-1\r\n"
        assert "thread_id=%d" % tids[1] in q.hmp("info cpus")
        assert q.hmp("info status") == "VM status: running\r\n"
        assert q.hmp("info nonsense") == "unknown command: 'info nonsense'\r\n"
        assert "No balloon device" in q.hmp("info balloon")
        e = pytest.raises(QMPError, q.cmd, "query-balloon").value
        assert e.cls == "DeviceNotActive"
        assert m.proc.poll() is None, m.describe()


def test_stop_cont_pause_the_guest(tmp_path):
    m, sock = monitor(tmp_path)
    with m:
        assert m.wait_output("spin_counter"), m.describe()
        q = connect(sock)
        tid = q.cmd("query-cpus-fast")[0]["thread-id"]
        assert runs(m.proc.pid, tid), "the spinning vCPU does not run"

        assert q.cmd("stop") == {}
        assert q.wait_event("STOP")["event"] == "STOP"
        assert q.cmd("query-status") == {"status": "paused", "singlestep": False, "running": False}
        assert q.hmp("info status") == "VM status: paused\r\n"
        t1 = thread_cpu_ticks(m.proc.pid, tid)
        time.sleep(1.5)
        paused = thread_cpu_ticks(m.proc.pid, tid) - t1
        assert paused <= 1, f"the vCPU used {paused} ticks while paused"
        q.cmd("stop")  # already paused: no second STOP event
        q.cmd("cont")
        assert q.wait_event("RESUME")
        assert not any(e["event"] == "STOP" for e in q.events), q.events
        assert q.cmd("query-status")["running"] is True
        assert runs(m.proc.pid, tid), "the guest did not run again"
        # HMP spellings act too.
        assert q.hmp("stop") == ""
        assert q.wait_event("STOP")
        assert q.hmp("c") == ""
        assert q.wait_event("RESUME")


def test_quit(tmp_path):
    m, sock = monitor(tmp_path)
    with m:
        q = connect(sock)
        assert q.cmd("quit") == {}
        ev = q.wait_event("SHUTDOWN")
        assert ev["data"] == {"guest": False, "reason": "host-qmp-quit"}
        assert set(ev["timestamp"]) == {"seconds", "microseconds"}
        assert abs(ev["timestamp"]["seconds"] - time.time()) < 60
        assert m.wait(10) == 0, m.describe()
        with pytest.raises(EOFError):
            q.recv(timeout=5)
        assert not sock.exists(), "the socket should be removed on exit"


def test_sigterm_sends_shutdown(tmp_path):
    m, sock = monitor(tmp_path)
    with m:
        q = connect(sock)
        m.proc.send_signal(signal.SIGTERM)
        assert q.wait_event("SHUTDOWN")["data"] == {"guest": False, "reason": "host-signal"}
        assert m.wait(10) == 0, m.describe()


def test_system_reset(tmp_path):
    m, sock = monitor(tmp_path)
    with m:
        assert m.wait_output("spin_counter"), m.describe()
        q = connect(sock)
        q.cmd("stop")
        old = {c["thread-id"] for c in q.cmd("query-cpus-fast")}
        assert q.cmd("system_reset") == {}
        assert q.wait_event("RESET")["data"] == {"guest": False, "reason": "host-qmp-system-reset"}
        # The VM was rebuilt; paused it was, paused it stays (as QEMU), until cont.
        new = {c["thread-id"] for c in q.cmd("query-cpus-fast")}
        assert new and not new & old
        assert q.cmd("query-status")["status"] == "paused"
        q.cmd("cont")
        end = time.monotonic() + 20
        while m.stdout().count("spin_counter") < 2 and time.monotonic() < end:
            time.sleep(0.05)
        assert m.stdout().count("spin_counter") == 2, m.describe()
        q.cmd("quit")
        assert m.wait(10) == 0, m.describe()


def test_system_reset_no_reboot(tmp_path):
    m, sock = monitor(tmp_path, no_reboot=True)
    with m:
        q = connect(sock)
        q.cmd("system_reset")
        ev = q.wait_event("SHUTDOWN")
        assert ev["data"] == {"guest": False, "reason": "host-qmp-system-reset"}
        assert m.wait(10) == 0, m.describe()


def test_malformed_input(tmp_path):
    m, sock = monitor(tmp_path)
    with m:
        q = connect(sock)
        bad = [
            (b"{\"execute\": bad}\n", "JSON parse error"),
            (b"[1, 2]\n", "QMP input must be a JSON object"),
            (b"42\n", "QMP input must be a JSON object"),
            (b"\"execute\"\n", "QMP input must be a JSON object"),
            (b"{}\n", "QMP input lacks member 'execute'"),
            (b"{\"execute\": 1}\n", "QMP input member 'execute' must be a string"),
            (b"{\"execute\": \"stop\", \"arguments\": []}\n", "must be an object"),
            (b"{\"execute\": \"stop\", \"foo\": 1}\n", "QMP input member 'foo' is unexpected"),
            (b"{\"execute\": \"balloon\"}\n", "Parameter 'value' is missing"),
            (b"{\"execute\": \"balloon\", \"arguments\": {\"value\": \"1G\"}}\n",
             "Invalid parameter type for 'value', expected: integer"),
            (b"{\"execute\": \"query-status\", \"arguments\": {\"x\": 1}}\n",
             "Parameter 'x' is unexpected"),
            (b"\xff\xfe\x00garbage\x01\n", "JSON parse error"),
            (b"[" * 10000 + b"\n", "JSON parse error"),
        ]
        for data, want in bad:
            q.send_raw(data)
            r = q.recv()
            assert "error" in r and want in r["error"]["desc"], (data[:40], r)
        # An unfinished request longer than 1 MiB is refused, not buffered forever.
        q.send_raw(b"{\"execute\": \"" + b"x" * (1100 << 10))
        r = q.recv()
        assert "longer than" in r["error"]["desc"], r
        q.send_raw(b"\"}\n")
        try:  # the tail of the long request may be reported as a parse error
            while True:
                r = q.recv(timeout=1)
        except TimeoutError:
            pass
        # Requests split across writes, and several in one write.
        q.send_raw(b'{"execute": "query-')
        time.sleep(0.1)
        q.send_raw(b'name", "id": 1}')
        assert q.recv() == {"return": {}, "id": 1}
        q.send_raw(b'{"execute":"query-name","id":2}{"execute":"query-status","id":3}\n')
        assert q.recv()["id"] == 2 and q.recv()["id"] == 3
        assert q.cmd("query-status")["running"] is True
        # A client that vanishes mid-request harms nobody.
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(sock))
        s.sendall(b'{"execute": "qmp_capabilities"}\n{"execute": "query-stat')
        s.close()
        assert q.cmd("query-status")["running"] is True
        assert m.proc.poll() is None, m.describe()


def test_two_clients(tmp_path):
    m, sock = monitor(tmp_path)
    with m:
        a, b = connect(sock), connect(sock)
        c = connect(sock, negotiate=False)  # not negotiated: gets no events
        a.cmd("stop")
        assert a.wait_event("STOP") and b.wait_event("STOP")
        assert b.cmd("query-status")["status"] == "paused"
        b.cmd("cont")
        assert a.wait_event("RESUME") and b.wait_event("RESUME")
        with pytest.raises(TimeoutError):
            c.recv(timeout=0.5)
        a.close()
        assert b.cmd("query-status")["running"] is True
        b.cmd("quit")
        assert b.wait_event("SHUTDOWN")
        assert m.wait(10) == 0, m.describe()


def test_socket_permissions_and_replacement(tmp_path):
    h.require_vmkit()
    sock = tmp_path / "qmp.sock"
    # A stale socket (nobody listening) is replaced.
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(sock))
    stale.close()
    m, _ = monitor(tmp_path)
    with m:
        q = connect(sock)
        st = os.stat(sock)
        assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
        assert not [p for p in tmp_path.iterdir() if ".tmp" in p.name]
        # A second monitor on a live socket is refused, and leaves it alone.
        argv = h.vmkit_argv(h.guest("spin"), console="none", extra_args=["--qmp", str(sock)])
        r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert r.returncode == 2, r
        assert "another process is serving it" in r.stderr, r.stderr
        assert q.cmd("query-status")["running"] is True
        q.cmd("quit")
        assert m.wait(10) == 0


@pytest.mark.parametrize("spec,msg", [
    ("", "no socket path"),
    ("unix:", "no socket path"),
    ("tcp:localhost:4444", "only unix sockets"),
    ("unix:/tmp/x.sock,server=off", "server=off"),
    ("unix:/tmp/x.sock,wait=on", "wait=on"),
    ("unix:/tmp/x.sock,bogus=1", "unknown option 'bogus=1'"),
    ("/nonexistent-dir/q.sock", "No such file or directory"),
    ("/" + "x" * 200, "path too long"),
])
def test_bad_qmp_spec(tmp_path, spec, msg):
    h.require_vmkit()
    argv = h.vmkit_argv(h.guest("hello"), console="none", extra_args=["--qmp", spec])
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r
    lines = [l for l in r.stderr.splitlines() if "PVM" not in l]
    assert len(lines) == 1 and msg in lines[0], r.stderr


def test_bad_qmp_after_a_good_one(tmp_path):
    # The second --qmp used to free the first's path before parsing, then free it
    # again at exit (a double free): now the bad one is reported and nothing else.
    if not h.VMKIT.is_file():
        pytest.skip("build/vmkit is not built")
    r = subprocess.run([str(h.VMKIT), "run", "--kernel", str(tmp_path / "k"),
                        "--qmp", str(tmp_path / "a.sock"), "--qmp", "tcp:1.2.3.4:5"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r
    assert r.stderr.strip().splitlines() == ["vmkit: --qmp tcp:1.2.3.4:5: only unix sockets are "
                                             "supported (unix:PATH)"], r.stderr


def test_regular_file_not_clobbered(tmp_path):
    h.require_vmkit()
    f = tmp_path / "not-a-socket"
    f.write_text("keep me")
    argv = h.vmkit_argv(h.guest("hello"), console="none", extra_args=["--qmp", str(f)])
    r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "exists and is not a socket" in r.stderr, r
    assert f.read_text() == "keep me"


def test_guest_reset_event(tmp_path):
    # The reboot guest resets the machine as soon as it boots, again and again.
    m, sock = monitor(tmp_path, "reboot")
    with m:
        q = connect(sock)
        ev = q.wait_event("RESET", timeout=30)
        assert ev["data"] == {"guest": True, "reason": "guest-reset"}, ev
        assert q.cmd("query-status")["status"] == "running"
        q.cmd("quit")
        assert m.wait(10) == 0, m.describe()


def test_client_that_does_not_read(tmp_path):
    m, sock = monitor(tmp_path)
    with m:
        good = connect(sock)
        greedy = connect(sock)
        greedy.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        req = b'{"execute": "query-commands"}\n' * 512
        sent = 0
        greedy.sock.settimeout(10)
        try:  # ~700 bytes of reply per request; it is dropped past 4 MiB owed
            while sent < 20000:
                greedy.sock.sendall(req)
                sent += 512
                assert good.cmd("query-status")["running"] is True
        except (BrokenPipeError, ConnectionResetError):
            dropped = True
        else:
            dropped = False
        assert dropped, f"a client owed {sent * 700} bytes should have been dropped"
        assert good.cmd("query-status")["running"] is True
        assert m.proc.poll() is None, m.describe()


def test_random_input(tmp_path):
    import random
    rnd = random.Random(1234)
    m, sock = monitor(tmp_path)
    with m:
        good = connect(sock)
        pieces = [b"{", b"}", b"[", b"]", b'"', b"\\", b":", b",", b"\n", b"execute",
                  b"qmp_capabilities", b"quit", b"stop", b"arguments", b"id", b"\x00", b"\xff",
                  b"1e999", b"-", b"null", b"true", b"'", b"/*", b"\\u0000"]
        for i in range(30):
            s = socket.socket(socket.AF_UNIX)
            s.connect(str(sock))
            s.settimeout(5)
            s.recv(4096)
            data = b"".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 2000)))
            # Never a real quit or stop: those are valid requests, not garbage.
            data = data.replace(b"quit", b"qu1t").replace(b"stop", b"st0p")
            s.sendall(data)
            if i % 2:
                s.close()
            else:
                s.shutdown(socket.SHUT_WR)
                try:
                    while s.recv(65536):
                        pass
                except socket.timeout:
                    pass
                s.close()
        assert good.cmd("query-status") == {"status": "running", "singlestep": False,
                                            "running": True}
        assert m.proc.poll() is None, m.describe()


def test_commands_across_resets(tmp_path):
    # The reboot guest resets the machine over and over: commands keep working
    # while VMs are torn down and built again under them.
    m, sock = monitor(tmp_path, "reboot")
    with m:
        q = connect(sock)
        end = time.monotonic() + 5
        n = 0
        while time.monotonic() < end:
            assert len(q.cmd("query-cpus-fast")) == 1
            q.cmd("stop")
            q.cmd("cont")
            assert q.cmd("query-status")["running"] is True
            n += 1
        resets = [e for e in q.events if e["event"] == "RESET"]
        assert n > 10 and len(resets) > 2, (n, len(resets))
        # A quit that lands while the VM is stopping for a reset still quits.
        q.cmd("quit")
        assert q.wait_event("SHUTDOWN")["data"] == {"guest": False, "reason": "host-qmp-quit"}
        assert m.wait(10) == 0, m.describe()
