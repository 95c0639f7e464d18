# SPDX-License-Identifier: GPL-2.0-or-later
"""VM lifecycle against real monitors running the tiny guests: start (detached,
supervised), list, pause/resume, console, shutdown through the ACPI power button,
reboot, destroy, crash detection, autostart, shared disks, balloon, and the cgroup,
pinning and memory settings read back from the kernel."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

import vmkit_harness as h

pytestmark = pytest.mark.usefixtures("kvm")


def kernel(name: str) -> str:
    return str(h.guest(name))


def wait_for(pred, timeout=20.0, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def qmp(vk, name: str, cmd: str, args: dict | None = None):
    """One QMP command over the VM's socket, from the test's side."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(str(vk.home / "vms" / name / "run" / "qmp.sock"))
    f = s.makefile("rwb")

    def reply():
        while True:
            m = json.loads(f.readline())
            if "event" not in m:
                return m

    json.loads(f.readline())  # greeting
    f.write(b'{"execute": "qmp_capabilities"}\n')
    f.flush()
    reply()
    msg = {"execute": cmd}
    if args:
        msg["arguments"] = args
    f.write(json.dumps(msg).encode() + b"\n")
    f.flush()
    r = reply()
    s.close()
    return r["return"]


def test_start_list_pause_resume_destroy(vk):
    n = vk.name()
    vk("create", "--name", n, "--kernel", kernel("spin"), "--memory", "64")
    r = vk("start", n, timeout=30)
    assert f"VM {n} started" in r.stdout
    # The CLI has returned; the monitor lives on under its supervisor.
    pid = vk.pid(n)
    assert Path(f"/proc/{pid}").exists()
    line = [l for l in vk("list").stdout.splitlines() if l.startswith(n)][0]
    assert "running" in line and " 1 " in line and "64MiB" in line
    assert vk("start", n, check=False).returncode != 0   # already running
    vk("pause", n)
    assert vk.state(n) == "paused"
    assert qmp(vk, n, "query-status")["status"] == "paused"
    vk("resume", n)
    assert vk.state(n) == "running"
    vk("reboot", n)
    assert vk.state(n) == "running"
    vk("destroy", n)
    assert vk.state(n) == "shut off"
    assert "reason: destroyed" in vk("show", n).stdout
    assert not Path(f"/proc/{pid}").exists()
    assert vk("pause", n, check=False).returncode != 0   # not running


def test_shutdown_presses_the_power_button(vk):
    n = vk.name()
    vk("create", "--name", n, "--kernel", kernel("powerbtn"), "--memory", "64")
    vk("start", n, timeout=30)
    r = vk("shutdown", n, "--timeout", "120", timeout=150)
    assert f"VM {n} is shut down" in r.stdout
    assert vk.state(n) == "shut off"
    assert "exited normally" in vk("show", n).stdout


def test_shutdown_timeout_reports_and_force(vk):
    n = vk.name()
    vk("create", "--name", n, "--kernel", kernel("spin"), "--memory", "64")
    vk("start", n, timeout=30)
    # spin ignores the power button.
    r = vk("shutdown", n, "--timeout", "1", check=False)
    assert r.returncode == 1 and "still running" in r.stderr
    assert vk.state(n) == "running"
    r = vk("shutdown", n, "--timeout", "1", "--force", timeout=30)
    assert vk.state(n) == "shut off"


def test_killed_monitor_shows_crashed_and_starts_again(vk):
    n = vk.name()
    vk("create", "--name", n, "--kernel", kernel("spin"), "--memory", "64")
    vk("start", n, timeout=30)
    os.kill(vk.pid(n), signal.SIGKILL)
    wait_for(lambda: vk.state(n) == "crashed", what="crashed state")
    show = vk("show", n).stdout
    assert "signal 9" in show
    assert "crashed" in vk("list", "--all").stdout
    vk("start", n, timeout=30)
    assert vk.state(n) == "running"


def test_monitor_failure_at_start_is_reported(vk, tmp_path):
    n = vk.name()
    bad = tmp_path / "notakernel"
    bad.write_bytes(b"\0" * 4096)
    vk("create", "--name", n, "--kernel", str(bad), "--memory", "64")
    r = vk("start", n, check=False, timeout=30)
    assert r.returncode != 0
    assert "did not start" in r.stderr and "notakernel" in r.stderr
    assert vk.state(n) == "crashed"


def test_console_attach_and_detach(vk):
    n = vk.name()
    vk("create", "--name", n, "--kernel", kernel("echo"), "--memory", "64")
    vk("start", n, timeout=30)
    p = subprocess.Popen([str(h.VMKIT), "console", n], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=vk.env)
    try:
        time.sleep(0.5)
        p.stdin.write(b"hello-from-console\r")
        p.stdin.flush()
        out = b""
        end = time.monotonic() + 30
        while b"hello-from-console" not in out and time.monotonic() < end:
            r, _, _ = select.select([p.stdout], [], [], 1)
            if r:
                out += os.read(p.stdout.fileno(), 4096)
        assert b"hello-from-console" in out, out
        p.stdin.write(b"\x1d")              # Ctrl-] detaches
        p.stdin.flush()
        assert p.wait(10) == 0
    finally:
        p.kill()
    assert b"Escape character is ^]" in p.stderr.read()


def test_cgroup_limits_read_back_and_change_live(vk):
    n = vk.name()
    vk("create", "--name", n, "--kernel", kernel("spin"), "--memory", "64")
    vk("set", n, "cpulimit=0.5", "cpuunits=2048", "memtune=hard_limit=512M,soft_limit=256M")
    vk("start", n, timeout=30)
    pid = vk.pid(n)
    v2 = Path("/sys/fs/cgroup/cgroup.controllers").exists()
    if v2:
        cg = Path(f"/sys/fs/cgroup/vmkit/{n}")
        assert (cg / "cpu.max").read_text().split() == ["50000", "100000"]
        assert (cg / "cpu.weight").read_text().strip() == "200"
        assert (cg / "memory.max").read_text().strip() == str(512 << 20)
        assert (cg / "memory.high").read_text().strip() == str(256 << 20)
        assert str(pid) in (cg / "cgroup.procs").read_text().split()
    else:
        cpu, mem = Path(f"/sys/fs/cgroup/cpu/vmkit/{n}"), Path(f"/sys/fs/cgroup/memory/vmkit/{n}")
        assert (cpu / "cpu.cfs_quota_us").read_text().strip() == "50000"
        assert (cpu / "cpu.shares").read_text().strip() == "2048"
        assert (mem / "memory.limit_in_bytes").read_text().strip() == str(512 << 20)
        assert (mem / "memory.soft_limit_in_bytes").read_text().strip() == str(256 << 20)
        assert str(pid) in (cpu / "cgroup.procs").read_text().split()
        assert str(pid) in (mem / "cgroup.procs").read_text().split()
        # Applied to the running VM at once.
        vk("set", n, "cpulimit=1.25")
        assert (cpu / "cpu.cfs_quota_us").read_text().strip() == "125000"
    vk("destroy", n)
    assert not Path(f"/sys/fs/cgroup/cpu/vmkit/{n}").exists()
    assert not Path(f"/sys/fs/cgroup/vmkit/{n}").exists()


def vcpu_threads(pid: int) -> list[int]:
    out = []
    for t in Path(f"/proc/{pid}/task").iterdir():
        comm = (t / "comm").read_text().strip()
        if comm.startswith("vcpu"):
            out.append(int(t.name))
    return sorted(out)


def test_pinning_ksm_numa_read_back(vk):
    n = vk.name()
    vk("create", "--name", n, "--kernel", kernel("spin"), "--memory", "64", "--cpus", "2")
    vk("set", n, "affinity=1", "allow-ksm=1", "numa=policy=bind,nodes=0")
    vk("start", n, timeout=30)
    pid = vk.pid(n)
    threads = qmp(vk, n, "query-cpus-fast")
    assert len(threads) == 2
    for c in threads:
        assert os.sched_getaffinity(c["thread-id"]) == {1}
    smaps = Path(f"/proc/{pid}/smaps").read_text()
    assert " mg" in smaps, "guest RAM is not MADV_MERGEABLE"
    numa = Path(f"/proc/{pid}/numa_maps").read_text()
    assert "bind:0" in numa
    vk("destroy", n)
    vk("set", n, "affinity=", "vcpupin=0=0 1=1", "allow-ksm=0", "numa=")
    vk("start", n, timeout=30)
    pid = vk.pid(n)
    cpus = {c["cpu-index"]: c["thread-id"] for c in qmp(vk, n, "query-cpus-fast")}
    assert os.sched_getaffinity(cpus[0]) == {0}
    assert os.sched_getaffinity(cpus[1]) == {1}
    assert " mg" not in Path(f"/proc/{pid}/smaps").read_text()

    # Live (virsh vcpupin --live, taskset -a -p): set on a running VM applies at once.
    others = [int(t.name) for t in Path(f"/proc/{pid}/task").iterdir()
              if int(t.name) not in cpus.values()]
    vk("set", n, "vcpupin=0=1 1=0")
    assert os.sched_getaffinity(cpus[0]) == {1}
    assert os.sched_getaffinity(cpus[1]) == {0}
    vk("set", n, "vcpupin=", "affinity=1")
    for tid in list(cpus.values()) + others:
        assert os.sched_getaffinity(tid) == {1}, tid
    vk("set", n, "affinity=")
    assert os.sched_getaffinity(cpus[0]) == os.sched_getaffinity(0) == {0, 1}
    # A vCPU the VM does not have: one line naming it, nothing changed.
    before = vk.config(n)
    r = vk("set", n, "vcpupin=5=0", check=False)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "vcpupin: vCPU 5, but the VM has 2 vCPUs (0-1)" in r.stderr, r.stderr
    assert vk.config(n) == before and vk.pid(n) == pid


def test_autostart_starts_marked_vms(vk):
    a, b = vk.name(), vk.name()
    for n in (a, b):
        vk("create", "--name", n, "--kernel", kernel("spin"), "--memory", "64")
    vk("autostart", a)
    vk("start", "--autostart", timeout=60)
    assert vk.state(a) == "running"
    assert vk.state(b) == "shut off"
    vk("start", "--autostart", timeout=60)       # already running: left alone
    assert vk.state(a) == "running"


def test_writable_disk_is_not_shared_by_accident(vk):
    a, b, c = vk.name(), vk.name(), vk.name()
    vk("vol", "create", "local", "shared.raw", "16M", "--format", "raw")
    vk("create", "--name", a, "--kernel", kernel("spin"), "--memory", "64",
       "--disk", "local:shared.raw")
    vk("create", "--name", b, "--kernel", kernel("spin"), "--memory", "64",
       "--disk", "local:shared.raw")
    vk("start", a, timeout=30)
    r = vk("start", b, check=False, timeout=30)
    assert r.returncode != 0 and "in use by running VM" in r.stderr and a in r.stderr
    assert vk.state(b) == "shut off"
    vk("destroy", a)
    vk("set", a, "virtio0=local:shared.raw,shared=on")
    vk("set", b, "virtio0=local:shared.raw,shared=on")
    vk("start", a, timeout=30)
    vk("start", b, timeout=30)
    assert vk.state(b) == "running"
    vk("create", "--name", c, "--kernel", kernel("spin"), "--memory", "64",
       "--disk", "local:shared.raw")
    assert vk("start", c, check=False, timeout=30).returncode != 0


def test_balloon_through_the_cli(vk):
    n = vk.name()
    vk("create", "--name", n, "--kernel", kernel("virtio_balloon"), "--memory", "128",
       "--balloon", "64")
    vk("start", n, timeout=30)
    vk("balloon", n, "96")
    wait_for(lambda: qmp(vk, n, "query-balloon")["actual"] == 96 << 20, timeout=60,
             what="balloon actual 96 MiB")
    assert '"actual": %d' % (96 << 20) in vk("balloon", n).stdout.replace(":", ": ").replace("  ", " ") \
        or str(96 << 20) in vk("balloon", n).stdout
    r = vk("balloon", n, "lots", check=False)
    assert r.returncode == 2


def test_hugepages_from_the_config(vk):
    nr = Path("/proc/sys/vm/nr_hugepages")
    free = Path("/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages")
    if not free.exists():
        pytest.skip("no 2 MiB hugepages on this host")
    old = nr.read_text().strip()
    n = vk.name()
    vk("create", "--name", n, "--kernel", kernel("spin"), "--memory", "64")
    vk("set", n, "hugepages=2")
    try:
        nr.write_text("0\n")
        r = vk("start", n, check=False, timeout=30)
        assert r.returncode != 0 and "hugepages" in r.stderr and "nr_hugepages" in r.stderr, \
            r.stderr
        nr.write_text(str(int(old) + 40) + "\n")
        if int(free.read_text()) < 32:
            pytest.skip("the host could not give 32 free hugepages")
        vk("start", n, timeout=30)
        smaps = Path(f"/proc/{vk.pid(n)}/smaps").read_text()
        assert "KernelPageSize:     2048 kB" in smaps
        vk("destroy", n)
    finally:
        nr.write_text(old + "\n")


def test_vm_on_a_bridge_in_a_namespace(vk):
    """net0: virtio,bridge=BR makes a tap on the bridge (in a namespace the test owns)."""
    ns = f"vkm{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "add", "br0", "type", "bridge"], check=True)
        n = vk.name()
        vk("create", "--name", n, "--kernel", kernel("spin"), "--memory", "64",
           "--net", "virtio=52:54:00:00:00:42,bridge=br0")
        # `ip netns exec` mounts a /sys of the namespace, without cgroups: the VM
        # (which sets no limits) then runs in the caller's cgroup, with a warning.
        r = subprocess.run(["ip", "netns", "exec", ns, str(h.VMKIT), "start", n],
                           capture_output=True, text=True, env=vk.env, timeout=30)
        assert r.returncode == 0, r.stderr
        out = subprocess.run(["ip", "-n", ns, "-j", "link", "show", "master", "br0"],
                             capture_output=True, text=True, check=True).stdout
        ports = json.loads(out)
        assert len(ports) == 1, ports
        vk("destroy", n)
        out = subprocess.run(["ip", "-n", ns, "-j", "link", "show", "master", "br0"],
                             capture_output=True, text=True, check=True).stdout
        assert json.loads(out or "[]") == [], "the tap outlived the VM"
        # A bridge that does not exist: the start fails and says why.
        vk("set", n, "net0=virtio,bridge=nosuchbr")
        # `ip netns exec` mounts a /sys of the namespace, without cgroups: the VM
        # (which sets no limits) then runs in the caller's cgroup, with a warning.
        r = subprocess.run(["ip", "netns", "exec", ns, str(h.VMKIT), "start", n],
                           capture_output=True, text=True, env=vk.env, timeout=30)
        assert r.returncode != 0 and "nosuchbr" in r.stderr, r.stderr
    finally:
        subprocess.run(["ip", "netns", "del", ns])


def test_monitor_and_supervisor_killed(vk):
    n = vk.name()
    vk("create", "--name", n, "--kernel", kernel("spin"), "--memory", "64")
    vk("start", n, timeout=30)
    mon, _, sup, _ = (vk.home / "vms" / n / "run" / "pid").read_text().split()
    os.kill(int(sup), signal.SIGKILL)
    os.kill(int(mon), signal.SIGKILL)
    wait_for(lambda: not Path(f"/proc/{mon}/stat").exists() or
             Path(f"/proc/{mon}/stat").read_text().split(") ")[1][0] == "Z", what="monitor gone")
    assert vk.state(n) == "crashed"
    assert "supervisor are gone" in vk("show", n).stdout
    vk("start", n, timeout=30)
    assert vk.state(n) == "running"


def test_overcommit_warning(vk):
    """Seed 001: past 8 vCPUs per host CPU over the running VMs, start warns (and starts)."""
    host = os.cpu_count() or 1
    per_vm = min(host, 2)
    count = (8 * host) // per_vm + 1
    if count > 40:
        pytest.skip(f"{count} VMs would be needed on this {host}-CPU host")
    names = [vk.name("oc") for _ in range(count)]
    warned = []
    for n in names:
        vk("create", "--name", n, "--kernel", kernel("spin"), "--memory", "16", "--cpus",
           str(per_vm))
        r = vk("start", n, timeout=30)
        warned.append("overcommit" in r.stderr)
    assert not any(warned[:-1]) and warned[-1], warned


def test_user_networking_vm(vk):
    """net0: virtio,user,... starts the NAT helper with the VM, and it goes with it."""
    n = vk.name()
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    vk("create", "--name", n, "--kernel", kernel("spin"), "--memory", "32",
       "--net", f"user,hostfwd=tcp:127.0.0.1:{port}-:22")
    vk("start", n, timeout=30)
    pid = vk.pid(n)
    helpers = [p for p in Path("/proc").iterdir() if p.name.isdigit()
               and (p / "stat").exists() and f" {pid} " in (p / "stat").read_text()
               and "vmkit-slirp" in (p / "comm").read_text()]
    assert helpers, "no vmkit-slirp child of the monitor"
    c = socket.create_connection(("127.0.0.1", port), timeout=5)   # the forward listens
    c.close()
    vk("destroy", n)
    wait_for(lambda: not helpers[0].exists(), what="the NAT helper to exit")
