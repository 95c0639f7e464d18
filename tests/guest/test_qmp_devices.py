# SPDX-License-Identifier: GPL-2.0-or-later
"""What the control socket does to a guest: system_powerdown presses the ACPI
power button (powerbtn guest: SCI, then S5), and balloon moves a virtio-balloon
driver (virtio_balloon guest), whose freed pages leave the monitor's RSS."""

import subprocess
import time
from pathlib import Path

import pytest

import vmkit_harness as h
from qmp_client import QMP, QMPError, Monitor

MiB = 1 << 20


def monitor(tmp_path, guest, extra=(), **kw):
    h.require_vmkit()
    sock = tmp_path / "qmp.sock"
    argv = h.vmkit_argv(h.guest(guest), console="stdio",
                        extra_args=["--qmp", str(sock), *extra], **kw)
    return Monitor(argv, tmp_path), sock


def rss(pid):
    for l in Path(f"/proc/{pid}/status").read_text().splitlines():
        if l.startswith("VmRSS:"):
            return int(l.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_system_powerdown(tmp_path):
    m, sock = monitor(tmp_path, "powerbtn")
    with m:
        q = QMP(sock)
        q.negotiate()
        assert m.wait_output("powerbtn=armed"), m.describe()
        assert m.proc.poll() is None, "the guest must wait for the button"
        assert q.cmd("system_powerdown") == {}
        assert q.wait_event("POWERDOWN")
        assert q.wait_event("SHUTDOWN", timeout=30)["data"] == {"guest": True,
                                                                "reason": "guest-shutdown"}
        assert m.wait(30) == 0, m.describe()
        out = m.stdout()
        assert "VMKIT-INFO sci=1" in out and "VMKIT-TEST powerbtn PASS" in out, m.describe()


def test_powerdown_by_hmp(tmp_path):
    m, sock = monitor(tmp_path, "powerbtn")
    with m:
        q = QMP(sock)
        q.negotiate()
        assert m.wait_output("powerbtn=armed"), m.describe()
        assert q.hmp("system_powerdown") == ""
        assert m.wait(30) == 0, m.describe()
        assert "VMKIT-TEST powerbtn PASS" in m.stdout(), m.describe()


def wait_actual(q, want, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        b = q.cmd("query-balloon")
        if b["actual"] == want:
            return b
        time.sleep(0.1)
    raise AssertionError(f"balloon actual {b['actual']}, want {want}")


def test_balloon(tmp_path):
    m, sock = monitor(tmp_path, "virtio_balloon", memory="256M", extra=["--balloon"])
    with m:
        q = QMP(sock)
        q.negotiate()
        assert m.wait_output("pool_pages=", 60), m.describe()
        assert "hostile_inflate=done" in m.stdout(), "frames outside RAM must be skipped"
        pool = int(m.stdout().split("pool_pages=")[1].split()[0])
        time.sleep(0.5)
        full = rss(m.proc.pid)
        assert full > pool * 4096, f"RSS {full} before ballooning: the guest touched {pool} pages"
        b = q.cmd("query-balloon")
        assert b["actual"] == 256 * MiB and b["target"] == 256 * MiB, b
        stats = b["guest-stats"]["stats"]
        assert stats["stat-total-memory"] > 200 * MiB, b
        assert stats["stat-swap-in"] == -1, "stats the guest did not give are -1"

        # Take 128 MiB away.
        assert q.cmd("balloon", {"value": 128 * MiB}) == {}
        wait_actual(q, 128 * MiB)
        assert m.wait_output("balloon_pages=32768"), m.describe()
        last = q.wait_event("BALLOON_CHANGE")
        while last["data"]["actual"] != 128 * MiB:
            last = q.wait_event("BALLOON_CHANGE")
        # Polled, not a fixed pause: on a loaded host (make check beside other
        # VMs) the guest and the monitor's madvise can take longer.
        end = time.monotonic() + 10
        while True:
            shrunk = rss(m.proc.pid)
            if full - shrunk > 120 * MiB or time.monotonic() > end:
                break
            time.sleep(0.2)
        print(f"RSS before {full >> 20} MiB, after balloon 128M {shrunk >> 20} MiB")
        assert full - shrunk > 120 * MiB, f"RSS {full} -> {shrunk}: 128 MiB should have gone"

        # Statistics are refreshed when read: a later read shows the guest's view.
        end = time.monotonic() + 10
        while True:
            q.cmd("query-balloon")
            time.sleep(0.5)
            st = q.cmd("qom-get", {"path": "/machine/peripheral-anon/device[0]",
                                   "property": "guest-stats"})
            if st["stats"]["stat-free-memory"] == (pool - 32768) * 4096 or \
                    time.monotonic() > end:
                break
        assert st["stats"]["stat-free-memory"] == (pool - 32768) * 4096, st
        assert st["last-update"] > 0

        # HMP, as seed 002 uses it: MiB.
        assert q.hmp("info balloon") == "balloon: actual=128\r\n"
        assert q.hmp("balloon 200") == ""
        wait_actual(q, 200 * MiB)
        assert m.wait_output("balloon_pages=14336"), m.describe()
        # The deflated pages come back zeroed: the host really dropped them.
        zero = int(m.stdout().rsplit("deflated_zero=", 1)[1].split()[0])
        assert zero == 32768 - 14336, m.describe()

        # More than the guest has: the balloon empties.
        q.cmd("balloon", {"value": 1 << 40})
        wait_actual(q, 256 * MiB)
        e = pytest.raises(QMPError, q.cmd, "balloon", {"value": 0}).value
        assert e.cls == "GenericError"
        assert "not a size" in q.hmp("balloon lots")
        q.cmd("quit")
        assert m.wait(10) == 0, m.describe()
        assert "FAIL" not in m.stdout(), m.describe()


def test_balloon_device_spelling(tmp_path):
    m, sock = monitor(tmp_path, "virtio_balloon", memory="128M",
                      extra=["--device", "virtio-balloon-pci,deflate-on-oom=on"])
    with m:
        assert m.wait_output("ready=1", 60), m.describe()
        assert "deflate_on_oom=1" in m.stdout(), m.describe()
        q = QMP(sock)
        q.negotiate()
        q.cmd("quit")
        assert m.wait(10) == 0
    m, sock = monitor(tmp_path, "virtio_balloon", memory="128M", extra=["--balloon"])
    with m:
        assert m.wait_output("ready=1", 60), m.describe()
        assert "deflate_on_oom=0" in m.stdout(), m.describe()


@pytest.mark.parametrize("args,msg", [
    (["--balloon=deflate-on-oom=maybe"], "deflate-on-oom=maybe"),
    (["--balloon=size=4"], "unknown option 'size'"),
    (["--balloon=guest-stats-polling-interval=-1"], "guest-stats-polling-interval=-1"),
    (["--balloon=guest-stats-polling-interval=99999999"], "0 to 86400"),
    (["--device", "virtio-gpu"], "unknown device"),
])
def test_bad_balloon_options(args, msg):
    h.require_vmkit()
    r = subprocess.run(h.vmkit_argv(h.guest("hello"), console="none", extra_args=args),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and msg in r.stderr, r


def test_balloon_target_survives_reset(tmp_path):
    m, sock = monitor(tmp_path, "virtio_balloon", memory="128M", extra=["--balloon"])
    with m:
        q = QMP(sock)
        q.negotiate()
        assert m.wait_output("pool_pages=", 60), m.describe()
        q.cmd("balloon", {"value": 100 * MiB})
        wait_actual(q, 100 * MiB)
        # The guest prints after it writes `actual`: a reset before the line is
        # whole cuts it (seen under load: "VMKIT-INF" then the next boot).
        end = time.monotonic() + 10
        while "balloon_pages=7168\n" not in m.stdout() and time.monotonic() < end:
            time.sleep(0.05)
        q.cmd("system_reset")
        assert q.wait_event("RESET")
        end = time.monotonic() + 60
        while m.stdout().count("pool_pages=") < 2 and time.monotonic() < end:
            time.sleep(0.05)
        # The new guest's driver finds the old target and follows it unasked.
        b = wait_actual(q, 100 * MiB)
        assert b["target"] == 100 * MiB
        end = time.monotonic() + 10  # the guest prints after it writes `actual`
        while m.stdout().count("balloon_pages=7168\n") < 2 and time.monotonic() < end:
            time.sleep(0.05)
        assert m.stdout().count("balloon_pages=7168\n") == 2, m.describe()
        q.cmd("quit")
        assert m.wait(10) == 0


def test_balloon_stats_polling(tmp_path):
    m, sock = monitor(tmp_path, "virtio_balloon", memory="128M",
                      extra=["--balloon=guest-stats-polling-interval=1"])
    with m:
        q = QMP(sock)
        q.negotiate()
        assert m.wait_output("ready=1", 60), m.describe()
        path = "/machine/peripheral/balloon0"
        assert q.cmd("qom-get", {"path": path, "property": "guest-stats-polling-interval"}) == 1
        # The device asks every second, without anyone reading: stats_sent climbs.
        assert m.wait_output("stats_sent=3", 20), m.describe()
        q.cmd("qom-set", {"path": path, "property": "guest-stats-polling-interval", "value": 0})
        time.sleep(3)  # a request already made may still be answered
        n = m.stdout().count("stats_sent=")
        time.sleep(3)
        assert m.stdout().count("stats_sent=") == n, "polling should have stopped"
        assert q.cmd("qom-get", {"path": path, "property": "guest-stats-polling-interval"}) == 0
        for bad in ({"value": -1}, {"value": "1"}, {"value": 1 << 40}):
            e = pytest.raises(QMPError, q.cmd, "qom-set",
                              {"path": path, "property": "guest-stats-polling-interval", **bad})
            assert e.value.cls == "GenericError"
        e = pytest.raises(QMPError, q.cmd, "qom-set", {"path": path, "property": "x", "value": 1})
        assert "cannot be set" in e.value.reply["error"]["desc"]
        # Set over QMP, it survives a reset.
        q.cmd("qom-set", {"path": path, "property": "guest-stats-polling-interval", "value": 1})
        q.cmd("system_reset")
        assert q.wait_event("RESET")
        assert q.cmd("qom-get", {"path": path, "property": "guest-stats-polling-interval"}) == 1
        q.cmd("quit")
        assert m.wait(10) == 0
