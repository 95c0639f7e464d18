# SPDX-License-Identifier: GPL-2.0-or-later
"""Guest RAM backing and thread placement of `vmkit run`, read back from the kernel.

--memory SIZE[,hugepages=][,mem-path=][,prealloc=][,thp=][,merge=][,policy=,host-nodes=]
and --cpu-affinity / --vcpu-affinity / --io-affinity. Each test boots a tiny guest
(`spin` keeps running while the test reads /proc/PID/smaps, numa_maps and the
threads' status; `memsize` writes near the top of RAM and powers off) and checks
what the kernel says about the monitor's guest mapping and threads.

Hugepage tests raise the host's pool themselves (root) and put it back.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import pytest

import vmkit_harness as h

MiB = 1 << 20
HUGE_2M = Path("/sys/kernel/mm/hugepages/hugepages-2048kB")
HUGE_1G = Path("/sys/kernel/mm/hugepages/hugepages-1048576kB")
THP_ENABLED = Path("/sys/kernel/mm/transparent_hugepage/enabled")


@pytest.fixture(autouse=True)
def _needs_vmkit() -> None:
    h.require_vmkit()


# --- reading the kernel's view -------------------------------------------------------

def smaps(pid: int) -> list[dict]:
    """Every mapping of pid: start, end, path, and the smaps fields (kB values as ints)."""
    maps: list[dict] = []
    head = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$")
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        m = head.match(line)
        if m:
            maps.append({"start": int(m.group(1), 16), "end": int(m.group(2), 16),
                         "path": m.group(3)})
            continue
        key, _, val = line.partition(":")
        val = val.strip()
        if key == "VmFlags":
            maps[-1][key] = val.split()
        elif val.endswith(" kB"):
            maps[-1][key] = int(val[:-3])
    return maps


def guest_ram(pid: int, size: int) -> dict:
    """The one mapping of exactly the guest's RAM size (tests pick sizes nothing else has)."""
    found = [m for m in smaps(pid) if m["end"] - m["start"] == size]
    assert len(found) == 1, f"want one {size // MiB} MiB mapping, found {found}"
    return found[0]


def numa_policy(pid: int, start: int) -> str:
    """The policy field of /proc/PID/numa_maps for the mapping at start."""
    for line in Path(f"/proc/{pid}/numa_maps").read_text().splitlines():
        addr, policy, *_ = line.split()
        if int(addr, 16) == start:
            return policy
    raise AssertionError(f"no numa_maps line for {start:#x}")


def thread_list(pid: int) -> list[tuple[str, str]]:
    """(comm, Cpus_allowed_list) of every thread of pid."""
    out = []
    for t in Path(f"/proc/{pid}/task").iterdir():
        comm = (t / "comm").read_text().strip()
        status = (t / "status").read_text()
        out.append((comm, re.search(r"Cpus_allowed_list:\s*(\S+)", status).group(1)))
    return out


def threads(pid: int) -> dict[str, str]:
    """comm -> Cpus_allowed_list (names such as "vcpu 0" are unique)."""
    return dict(thread_list(pid))


def meminfo(key: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


@contextmanager
def running(memory: str, *args: str, cpus: int = 1) -> Iterator[subprocess.Popen]:
    """vmkit running the spin guest, until the guest has said it spins."""
    argv = h.vmkit_argv(h.guest("spin"), cpus=cpus, memory=memory, extra_args=args)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        deadline = time.monotonic() + 30
        while "spin_counter" not in line and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                pytest.fail(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr.read()}")
        assert "spin_counter" in line, f"spin guest did not start: {' '.join(argv)}"
        # vCPU 0 prints; the others may not have been scheduled yet on a loaded host.
        want = {f"vcpu {i}" for i in range(cpus)}
        while not want <= {c for c, _ in thread_list(proc.pid)}:
            assert time.monotonic() < deadline, f"vCPU threads missing: {thread_list(proc.pid)}"
            time.sleep(0.05)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def run_bad(*args: str, memory: Optional[str] = None, cpus: Optional[int] = None) -> h.Result:
    argv = h.vmkit_argv(h.guest("hello"), memory=memory, cpus=cpus, extra_args=args)
    return h.run_argv(argv, timeout=20)


def assert_one_line(r: h.Result, code: int, *words: str) -> None:
    assert not r.timed_out and r.returncode == code, r.describe()
    lines = [l for l in r.stderr.splitlines() if not l.startswith("vmkit: host KVM is PVM")]
    assert len(lines) == 1, f"want one line on stderr{r.describe()}"
    for w in words:
        assert w in lines[0], f"'{w}' not in the message{r.describe()}"
    assert "VMKIT-TEST" not in r.stdout, f"the guest ran{r.describe()}"


# --- hugepages ------------------------------------------------------------------------

@contextmanager
def hugepage_pool(pool: Path, extra: int) -> Iterator[int]:
    """Grow a hugepage pool by `extra` pages (skip if the host cannot); yields free pages."""
    nr = pool / "nr_hugepages"
    if not os.access(nr, os.W_OK):
        pytest.skip(f"needs root to change {nr}")
    old = int(nr.read_text())
    try:
        nr.write_text(str(old + extra))
        free = int((pool / "free_hugepages").read_text())
        resv = int((pool / "resv_hugepages").read_text())
        if free - resv < extra:
            pytest.skip(f"the host could only give {free - resv} of {extra} pages in {pool}")
        yield free - resv
    finally:
        nr.write_text(str(old))


@pytest.mark.parametrize("prealloc", [False, True])
def test_hugepages_2m(prealloc: bool) -> None:
    size = 70 * MiB
    with hugepage_pool(HUGE_2M, 40):
        free0 = meminfo("HugePages_Free")
        avail0 = free0 - meminfo("HugePages_Rsvd")
        opts = "70M,hugepages=2M" + (",prealloc=on" if prealloc else "")
        with running(opts) as proc:
            ram = guest_ram(proc.pid, size)
            assert ram["KernelPageSize"] == 2048, ram
            assert "vmkit-ram" in ram["path"], ram
            assert "ht" in ram["VmFlags"], ram
            # The kernel reserved all 35 pages at mmap; prealloc faulted them all in.
            avail = meminfo("HugePages_Free") - meminfo("HugePages_Rsvd")
            assert avail0 - avail == 35, (avail0, avail)
            free = meminfo("HugePages_Free")
            if prealloc:
                assert free0 - free == 35, (free0, free)
                assert ram["Private_Hugetlb"] + ram["Shared_Hugetlb"] == 70 * 1024, ram
            else:
                assert 0 < free0 - free < 35, (free0, free)
        assert meminfo("HugePages_Free") == free0


def test_hugepages_guest_runs() -> None:
    """The guest writes and reads back a word at the top of hugetlb-backed RAM."""
    with hugepage_pool(HUGE_2M, 64):
        r = h.run_vmkit(h.guest("memsize"), memory="128M,hugepages=2M")
        h.assert_test_passed(r, "memsize")
        assert int(r.info["ram_top"], 16) == 128 * MiB, r.describe()


def test_hugepages_pool_too_small() -> None:
    """More pages than the pool has: one line with the counts and the knob, exit 1, fast."""
    free = int((HUGE_2M / "free_hugepages").read_text())
    resv = int((HUGE_2M / "resv_hugepages").read_text())
    over = int((HUGE_2M / "nr_overcommit_hugepages").read_text())
    if over:
        pytest.skip("nr_overcommit_hugepages is set: the pool may grow on demand")
    need = free - resv + 8
    start = time.monotonic()
    r = run_bad(memory=f"{need * 2}M,hugepages=2M")
    assert time.monotonic() - start < 10, r.describe()
    assert_one_line(r, 1, f"needs {need} free", f"the host has {free - resv}", "nr_hugepages")


def test_hugepages_1g() -> None:
    if not HUGE_1G.is_dir():
        pytest.skip("the host kernel has no 1 GiB hugepages")
    with hugepage_pool(HUGE_1G, 1):
        with running("1G,hugepages=1G") as proc:
            ram = guest_ram(proc.pid, 1024 * MiB)
            assert ram["KernelPageSize"] == 1024 * 1024, ram


def test_mem_path_hugetlbfs() -> None:
    """mem-path= on a hugetlbfs mount: the file is unlinked at once, its pages are hugetlb."""
    with hugepage_pool(HUGE_2M, 40), tempfile.TemporaryDirectory() as d:
        r = subprocess.run(["mount", "-t", "hugetlbfs", "-o", "pagesize=2M", "none", d],
                           capture_output=True, text=True)
        if r.returncode:
            pytest.skip(f"cannot mount hugetlbfs: {r.stderr.strip()}")
        try:
            with running(f"70M,mem-path={d},prealloc=on") as proc:
                ram = guest_ram(proc.pid, 70 * MiB)
                assert ram["KernelPageSize"] == 2048, ram
                assert ram["path"].startswith(d + "/vmkit-ram-"), ram
                assert os.listdir(d) == [], "the backing file was left with a name"
            r = run_bad(memory=f"70M,mem-path={d},hugepages=1G")
            assert_one_line(r, 2, "hugetlbfs mount of 2048 kB pages")
        finally:
            subprocess.run(["umount", d], check=True)


# --- THP, KSM, prealloc ------------------------------------------------------------------

def thp_mode() -> str:
    try:
        return re.search(r"\[(\w+)\]", THP_ENABLED.read_text()).group(1)
    except (OSError, AttributeError):
        return "none"


@pytest.mark.parametrize("opts", ["72M,thp=on,prealloc=on", "72M,prealloc=on"])
def test_thp_on(opts: str) -> None:
    """thp=on, and the default (as QEMU's): MADV_HUGEPAGE, huge pages once touched."""
    mode = thp_mode()
    if mode not in ("madvise", "always"):
        pytest.skip(f"transparent hugepages are '{mode}' on this host")
    with running(opts) as proc:
        ram = guest_ram(proc.pid, 72 * MiB)
        assert "hg" in ram["VmFlags"], ram
        assert ram["AnonHugePages"] > 0, ram


def test_thp_off() -> None:
    with running("72M,thp=off,prealloc=on") as proc:
        ram = guest_ram(proc.pid, 72 * MiB)
        assert "nh" in ram["VmFlags"], ram
        assert ram["AnonHugePages"] == 0, ram


def test_thp_on_refused_when_host_disables_it() -> None:
    if thp_mode() != "never":
        pytest.skip("transparent hugepages are enabled on this host")
    assert_one_line(run_bad(memory="64M,thp=on"), 2, "thp=on", "never")


@pytest.mark.parametrize("merge,flag", [("on", True), ("off", False), (None, True)])
def test_merge(merge: Optional[str], flag: bool) -> None:
    """merge=on (and QEMU's default): MADV_MERGEABLE for KSM; merge=off: nosharepages."""
    opts = "74M" + (f",merge={merge}" if merge else "")
    with running(opts) as proc:
        ram = guest_ram(proc.pid, 74 * MiB)
        assert ("mg" in ram["VmFlags"]) == flag, ram


@pytest.mark.parametrize("prealloc", [False, True])
def test_prealloc(prealloc: bool) -> None:
    opts = "76M,thp=off" + (",prealloc=on" if prealloc else "")
    with running(opts) as proc:
        ram = guest_ram(proc.pid, 76 * MiB)
        if prealloc:
            assert ram["Rss"] == 76 * 1024, ram
        else:
            assert ram["Rss"] < 16 * 1024, ram


# --- NUMA ---------------------------------------------------------------------------------

def online_nodes() -> list[int]:
    text = Path("/sys/devices/system/node/online").read_text().strip()
    nodes = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        nodes += range(int(lo), int(hi or lo) + 1)
    return nodes


@pytest.mark.parametrize("policy,shown", [("bind", "bind:0"), ("preferred", "prefer:0"),
                                          ("interleave", "interleave:0")])
def test_numa_policy(policy: str, shown: str) -> None:
    if not Path("/sys/devices/system/node/node0").is_dir():
        pytest.skip("the host kernel has no NUMA nodes in sysfs")
    with running(f"78M,policy={policy},host-nodes=0") as proc:
        ram = guest_ram(proc.pid, 78 * MiB)
        assert numa_policy(proc.pid, ram["start"]) == shown


def test_numa_bind_hugepages() -> None:
    if not Path("/sys/devices/system/node/node0").is_dir():
        pytest.skip("the host kernel has no NUMA nodes in sysfs")
    with hugepage_pool(HUGE_2M, 40):
        with running("70M,hugepages=2M,policy=bind,host-nodes=0,prealloc=on") as proc:
            ram = guest_ram(proc.pid, 70 * MiB)
            assert numa_policy(proc.pid, ram["start"]) == "bind:0"
            assert ram["KernelPageSize"] == 2048, ram


def test_numa_node_missing() -> None:
    if not Path("/sys/devices/system/node/online").exists():
        pytest.skip("the host kernel has no NUMA nodes in sysfs")
    missing = max(online_nodes()) + 1
    r = run_bad(memory=f"64M,policy=bind,host-nodes={missing}")
    assert_one_line(r, 2, f"host node {missing} does not exist")


@pytest.mark.parametrize("memory,words", [
    ("64M,hugepages=3M", ["hugepages=3M"]),
    ("65M,hugepages=2M", ["not a multiple"]),
    ("64M,hugepages=2M,merge=on", ["merge=on"]),
    ("64M,hugepages=2M,thp=on", ["thp=on"]),
    ("64M,policy=bind", ["host-nodes"]),
    ("64M,host-nodes=0", ["policy="]),
    ("64M,policy=strange,host-nodes=0", ["policy=strange"]),
    ("64M,host-nodes=0-x,policy=bind", ["host-nodes=0-x"]),
    ("64M,prealloc=yes", ["prealloc=yes"]),
    ("64M,mem-path=/nonexistent", ["mem-path=/nonexistent"]),
    ("64M,mem-path=/proc/self/status", ["not a directory"]),
    ("64M,size=1", ["unknown option 'size'"]),
    ("64M,sharing=on", ["unknown option 'sharing'"]),
    ("lots,hugepages=2M", ["not a size"]),
])
def test_bad_memory_options(memory: str, words: list[str]) -> None:
    assert_one_line(run_bad(memory=memory), 2, *words)


def test_memory_size_key() -> None:
    """QEMU's -m size=SIZE spelling, and a bare size, both still work."""
    for memory in ("size=64M,merge=off", "64"):
        r = h.run_vmkit(h.guest("memsize"), memory=memory)
        h.assert_test_passed(r, "memsize")
        assert int(r.info["ram_top"], 16) == 64 * MiB, r.describe()


# --- vCPU and I/O thread affinity ---------------------------------------------------------

def host_cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def cpu_list(cpus: list[int]) -> str:
    return ",".join(str(c) for c in cpus)


def test_vcpu_affinity_per_vcpu() -> None:
    cpus = host_cpus()
    if len(cpus) < 2:
        pytest.skip("needs two host CPUs")
    a, b = cpus[0], cpus[1]
    with running("64M", "--vcpu-affinity", f"0={b},1={a}", cpus=2) as proc:
        t = threads(proc.pid)
        assert t["vcpu 0"] == str(b), t
        assert t["vcpu 1"] == str(a), t


def test_cpu_affinity_all_and_override() -> None:
    cpus = host_cpus()
    if len(cpus) < 2:
        pytest.skip("needs two host CPUs")
    a, b = cpus[0], cpus[1]
    with running("64M", "--cpu-affinity", str(a), "--vcpu-affinity", f"1={a},{b}",
                 cpus=2) as proc:
        t = threads(proc.pid)
        assert t["vcpu 0"] == str(a), t
        assert t["vcpu 1"] == (f"{a}-{b}" if b == a + 1 else cpu_list([a, b])), t


def test_io_affinity(tmp_path: Path) -> None:
    """--io-affinity pins the main thread and the disk's I/O threads; vCPUs without a
    pin keep the monitor's CPUs."""
    cpus = host_cpus()
    if len(cpus) < 2:
        pytest.skip("needs two host CPUs")
    own = Path("/proc/self/status").read_text()
    own = re.search(r"Cpus_allowed_list:\s*(\S+)", own).group(1)
    disk = tmp_path / "d.raw"
    disk.write_bytes(bytes(1 << 20))
    with running("64M", "--io-affinity", str(cpus[-1]), "--disk",
                 f"path={disk},iothread=on,aio=threads", cpus=1) as proc:
        tl = thread_list(proc.pid)
        t = dict(tl)
        assert t["vcpu 0"] == own, tl
        others = [(c, a) for c, a in tl if not c.startswith(("vcpu", "kvm"))]
        assert len(others) >= 3, tl   # main, iothread, pool threads
        assert all(a == str(cpus[-1]) for _, a in others), tl


def test_vcpu_affinity_lists_with_commas() -> None:
    """"0=a,b,1=a": the bare b continues vCPU 0's list."""
    cpus = host_cpus()
    if len(cpus) < 2:
        pytest.skip("needs two host CPUs")
    a, b = cpus[0], cpus[1]
    with running("64M", "--vcpu-affinity", f"0={a},{b},1={a}", cpus=2) as proc:
        t = threads(proc.pid)
        assert t["vcpu 0"] == (f"{a}-{b}" if b == a + 1 else f"{a},{b}"), t
        assert t["vcpu 1"] == str(a), t


@pytest.mark.parametrize("args,words", [
    (["--cpu-affinity", "4096"], ["CPU number too large"]),
    (["--cpu-affinity", "3-1"], ["expected a CPU list"]),
    (["--cpu-affinity", ""], ["expected a CPU list"]),
    (["--vcpu-affinity", "0"], ["expected VCPU=CPUS"]),
    (["--vcpu-affinity", "x=0"], ["'x' is not a vCPU number"]),
    (["--vcpu-affinity", "1=0"], ["vCPU 1 does not exist"]),
    (["--vcpu-affinity", "0=0,,1"], ["expected a CPU list"]),
    (["--io-affinity", "a"], ["expected a CPU list"]),
])
def test_bad_affinity(args: list[str], words: list[str]) -> None:
    assert_one_line(run_bad(*args), 2, *words)


def test_offline_cpu_refused() -> None:
    """A CPU the host does not have online: one line naming it and the online set."""
    online = Path("/sys/devices/system/cpu/online").read_text().strip()
    missing = max(int(p.split("-")[-1]) for p in online.split(",")) + 1
    for args in (["--cpu-affinity", str(missing)], ["--vcpu-affinity", f"0={missing}"],
                 ["--io-affinity", str(missing)]):
        assert_one_line(run_bad(*args), 2, f"CPU {missing} is not online", online)


# --- the guest's view -------------------------------------------------------------------

@pytest.mark.parametrize("opts,pool", [("256M,thp=off", 0), ("256M,thp=on,merge=off", 0),
                                       ("256M,hugepages=2M", 128),
                                       ("256M,hugepages=2M,prealloc=on,policy=interleave,host-nodes=0", 128)])
def test_memtouch(opts: str, pool: int) -> None:
    """The guest writes a word in every page of its RAM and reads all of them back."""
    if pool:
        ctx = hugepage_pool(HUGE_2M, pool)
    else:
        ctx = contextmanager(lambda: iter([0]))()
    with ctx:
        r = h.run_vmkit(h.guest("memtouch"), memory=opts, timeout=60)
        h.assert_test_passed(r, "memtouch")
        assert r.info["touch_mib"] == str(256 - 4), r.describe()
