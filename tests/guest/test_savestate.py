# SPDX-License-Identifier: GPL-2.0-or-later
"""Save/restore (issue 15): QMP migrate to file:, vmkit run --incoming file:.

The saved file is read and checked against the options before /dev/kvm is
opened, so the refusals run on any host with the monitor built (the files
are made by savefile.py). The counting guest's save and restore needs
/dev/kvm and skips without it; it has not yet run under KVM.
"""
import re
import subprocess
import time

import pytest

import savefile
import vmkit_harness as h
from qmp_client import QMP, QMPError, Monitor


def require_binary():
    if not h.VMKIT.is_file():
        pytest.skip(f"{h.VMKIT} does not exist: build it first (make build)")


@pytest.fixture
def kernel(tmp_path):
    k = tmp_path / "kernel"
    k.write_bytes(b"\0" * 512)  # only needs to be a readable file: nothing boots
    return k


def incoming(kernel, path, *extra):
    require_binary()
    return h.run_argv([str(h.VMKIT), "run", "--kernel", str(kernel), "--memory", "256",
                       "--incoming", f"file:{path}", *extra], timeout=20)


def assert_refused(r, *words):
    assert r.returncode == 2, r.describe()
    errs = [l for l in r.stderr.splitlines() if l.startswith("vmkit: ")
            and "host KVM is PVM" not in l]
    assert len(errs) == 1, f"expected one error line{r.describe()}"
    for w in words:
        assert w in errs[0], f"'{w}' not in the error line{r.describe()}"


def test_only_file_and_tcp_sources(kernel):
    require_binary()
    r = h.run_argv([str(h.VMKIT), "run", "--kernel", str(kernel), "--incoming", "udp:0:4444"])
    assert_refused(r, "--incoming udp:0:4444", "file:PATH", "tcp:ADDR:PORT")


def test_missing_file(kernel, tmp_path):
    assert_refused(incoming(kernel, tmp_path / "nope"), "nope", "No such file")


def test_not_a_saved_vm(kernel, tmp_path):
    f = tmp_path / "f"
    f.write_text("hello\n")
    assert_refused(incoming(kernel, f), "not a vmkit saved VM")


@pytest.mark.parametrize("vm, words", [
    (savefile.vm_section(memory=512 << 20),
     ["saved from a VM with 536870912 bytes of memory, this one has 268435456"]),
    (savefile.vm_section(cpus=4), ["4 vCPUs, this one has 1"]),
    (savefile.vm_section(disks=1), ["1 disks, this one has 0"]),
    (savefile.vm_section(balloon=1), ["balloon"]),
])
def test_other_config(kernel, tmp_path, vm, words):
    f = tmp_path / "saved"
    f.write_bytes(savefile.saved_vm([vm]))
    assert_refused(incoming(kernel, f), str(f), *words)


def test_damaged_and_truncated(kernel, tmp_path):
    good = savefile.saved_vm([savefile.vm_section()], [(0x1000, b"\x5a" * 4096)])
    f = tmp_path / "saved"
    # A byte of the state, of the RAM, of the RAM's checksum; cut short in each part.
    state_at, ram_at = 24 + 20, len(good) - 4 - 16 - 4096
    for at, words in [(state_at, ["damaged", "checksum"]), (ram_at + 100, ["RAM checksum"]),
                      (len(good) - 2, ["RAM checksum"])]:
        b = bytearray(good)
        b[at] ^= 0x20
        f.write_bytes(bytes(b))
        assert_refused(incoming(kernel, f), *words)
    for cut, words in [(30, ["damaged or truncated"]), (ram_at + 10, ["damaged or truncated"]),
                       (len(good) - 1, ["damaged or truncated"])]:
        f.write_bytes(good[:cut])
        assert_refused(incoming(kernel, f), *words)
    f.write_bytes(good)  # and the intact one gets as far as KVM
    r = incoming(kernel, f)
    err = r.stderr.replace(str(tmp_path), "")  # the test's own name says "damaged"
    assert "saved" not in err and "damaged" not in err, r.describe()


def test_ram_record_outside_ram(kernel, tmp_path):
    f = tmp_path / "saved"
    f.write_bytes(savefile.saved_vm([savefile.vm_section()], [(256 << 20, b"\1" * 4096)]))
    assert_refused(incoming(kernel, f), "damaged or truncated")


# ---- with KVM ----

# Whole lines only: a run stopped once three counts were out could otherwise take
# the start of a line still being printed ("count=2" of count=25165824).
COUNT = re.compile(r"count=(\d+)\r?\n")


def counts(text):
    return [int(m) for m in COUNT.findall(text)]


def test_counter_keeps_counting_across_save_and_restore(tmp_path):
    if not h.kvm_usable():
        pytest.skip("needs /dev/kvm")
    h.require_vmkit()
    sock, saved = tmp_path / "qmp.sock", tmp_path / "saved.vm"
    argv = h.vmkit_argv(h.guest("counter"), memory="64",
                        extra_args=["--qmp", f"unix:{sock},server=on,wait=off"])
    with Monitor(argv, tmp_path) as m:
        assert m.wait_output("count="), m.describe()
        q = QMP(sock)
        q.negotiate()
        assert q.cmd("migrate", {"uri": f"file:{saved}"}) == {}
        assert q.cmd("query-migrate")["status"] == "completed"
        assert q.cmd("query-status")["status"] == "paused"
        time.sleep(0.5)
        before = counts(m.stdout())
        q.cmd("quit")
        assert m.wait(10) == 0, m.describe()
    assert before, "no counts before the save"
    r = h.run_argv(h.vmkit_argv(h.guest("counter"), memory="64",
                                extra_args=["--incoming", f"file:{saved}"]),
                   timeout=60, stop_when=lambda out: len(counts(out)) >= 3)
    after = counts(r.stdout)
    assert r.stopped, r.describe()
    assert "counter_boot" not in r.stdout, f"the guest booted again{r.describe()}"
    assert after[0] > before[-1], f"counts went back: {before[-1]} then {after}"
    assert after == sorted(after), after


def test_cdrom_and_virtio_disk_restore_and_a_grown_disk_refused(tmp_path):
    """A SATA CD-ROM ahead of a virtio disk: the disk's state is found again
    (once "saved with 0 disk(s), this VM has 1"); a disk grown since the save
    is refused in one line, and the monitor exits cleanly (it once freed the
    saved file twice and died of SIGSEGV after the message)."""
    if not h.kvm_usable():
        pytest.skip("needs /dev/kvm")
    h.require_vmkit()
    sock, saved, disk, iso = (tmp_path / "qmp.sock", tmp_path / "saved.vm",
                              tmp_path / "d.raw", tmp_path / "cd.iso")
    disk.write_bytes(b"\0" * (1 << 20))
    iso.write_bytes(b"\0" * 0x8001 + b"CD001" + b"\0" * (1 << 16))  # all vmkit looks for
    media = ["--cdrom", str(iso), "--disk", f"path={disk},format=raw"]
    argv = h.vmkit_argv(h.guest("counter"), memory="64",
                        extra_args=[*media, "--qmp", f"unix:{sock},server=on,wait=off"])
    with Monitor(argv, tmp_path) as m:
        assert m.wait_output("count="), m.describe()
        q = QMP(sock)
        q.negotiate()
        assert q.cmd("migrate", {"uri": f"file:{saved}"}) == {}
        q.cmd("quit")
        assert m.wait(10) == 0, m.describe()
    r = h.run_argv(h.vmkit_argv(h.guest("counter"), memory="64",
                                extra_args=[*media, "--incoming", f"file:{saved}"]),
                   timeout=60, stop_when=lambda out: len(counts(out)) >= 2)
    assert r.stopped and "counter_boot" not in r.stdout, r.describe()
    with open(disk, "ab") as f:
        f.write(b"\0" * (1 << 20))
    r = h.run_argv(h.vmkit_argv(h.guest("counter"), memory="64",
                                extra_args=[*media, "--incoming", f"file:{saved}"]), timeout=60)
    assert r.returncode > 0, r.describe()
    assert "was 2048 sectors, now 4096" in r.stderr, r.describe()


def test_snapshot_of_a_running_vm_with_and_without_ram(tmp_path):
    """x-vmkit-snapshot: the qcow2 disk gets the internal snapshot while the
    VM runs on; with vmstate the RAM and state go to a file that, after the
    disk is reverted to the snapshot, starts the VM again from that point.
    A raw disk is refused by name, and nothing is left behind."""
    if not h.kvm_usable():
        pytest.skip("needs /dev/kvm")
    h.require_vmkit()
    sock, disk, raw, state = (tmp_path / "qmp.sock", tmp_path / "d.qcow2", tmp_path / "r.raw",
                              tmp_path / "s1.state")
    subprocess.run([str(h.VMKIT), "img", "create", "-q", "-f", "qcow2", str(disk), "16M"],
                   check=True)
    raw.write_bytes(b"\0" * (1 << 20))
    media = ["--disk", f"path={disk},format=qcow2"]
    argv = h.vmkit_argv(h.guest("counter"), memory="64",
                        extra_args=[*media, "--qmp", f"unix:{sock},server=on,wait=off"])
    with Monitor(argv, tmp_path) as m:
        assert m.wait_output("count="), m.describe()
        q = QMP(sock)
        q.negotiate()
        assert q.cmd("x-vmkit-snapshot", {"name": "s0"}) == {}
        assert q.cmd("x-vmkit-snapshot", {"name": "s1", "vmstate": str(state)}) == {}
        assert q.cmd("query-status")["status"] == "running"
        at_snapshot = counts(m.stdout())[-1]
        n = len(counts(m.stdout()))
        end = time.monotonic() + 20
        while len(counts(m.stdout())) < n + 3 and time.monotonic() < end:
            time.sleep(0.05)
        assert len(counts(m.stdout())) >= n + 3, f"it did not run on{m.describe()}"
        q.cmd("quit")
        assert m.wait(10) == 0, m.describe()
    later = counts(m.stdout())[-1]
    info = subprocess.run(["qemu-img", "snapshot", "-l", str(disk)], capture_output=True,
                          text=True)
    assert " s0 " in info.stdout and " s1 " in info.stdout, info.stdout + info.stderr
    assert subprocess.run(["qemu-img", "check", str(disk)], capture_output=True).returncode == 0
    subprocess.run(["qemu-img", "snapshot", "-a", "s1", str(disk)], check=True)
    r = h.run_argv(h.vmkit_argv(h.guest("counter"), memory="64",
                                extra_args=[*media, "--incoming", f"file:{state}"]),
                   timeout=60, stop_when=lambda out: len(counts(out)) >= 2)
    assert r.stopped and "counter_boot" not in r.stdout, r.describe()
    back = counts(r.stdout)
    assert at_snapshot <= back[0] < later, f"snapshot at {at_snapshot}, later {later}: {back}"

    # a raw disk cannot have one: refused, naming it, and the qcow2 disk keeps none
    argv = h.vmkit_argv(h.guest("counter"), memory="64", extra_args=[
        *media, "--disk", f"path={raw},format=raw",
        "--qmp", f"unix:{sock},server=on,wait=off"])
    (tmp_path / "2").mkdir()
    with Monitor(argv, tmp_path / "2") as m:
        assert m.wait_output("count="), m.describe()
        q = QMP(sock)
        q.negotiate()
        with pytest.raises(QMPError, match=f"disk {raw}: raw"):
            q.cmd("x-vmkit-snapshot", {"name": "s2", "vmstate": str(tmp_path / "s2.state")})
        assert not (tmp_path / "s2.state").exists()
        assert q.cmd("query-status")["status"] == "running"
        q.cmd("quit")
        m.wait(10)
    info = subprocess.run(["qemu-img", "snapshot", "-l", str(disk)], capture_output=True,
                          text=True)
    assert " s2 " not in info.stdout, info.stdout
