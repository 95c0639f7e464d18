# SPDX-License-Identifier: GPL-2.0-or-later
"""Snapshot create/apply/delete, copy-on-write writes, resize and amend, SIGKILLed at random.

After every kill qemu-img check may find leaked clusters and COPIED flags that are clear
where they could be set (a needless copy later), never a refcount below its references or
a COPIED flag set on a shared cluster; every snapshot still listed reads exactly what the
image held when it was taken.

Half the runs, at random, are SIGKILLed at a random moment of the operation's run time, as
last measured for that kind of operation (within 40 ms until one has run to its end); the
other half run to their end, so that snapshots pile up for apply and delete. (A fixed
40 ms window cut few runs short on a fast host, a tmpfs and an idle CPU, where most
operations end well within it.)
"""
import os
import random
import re
import select
import subprocess
import time

from imgtest import VMKIT, pattern_raw, qemu_img, qemu_io, read

KILLS = 60
KILL_SHARE = 0.5        # of the runs; the others end by themselves
FIRST_WINDOW = 0.04     # seconds: when to kill an operation not yet seen to its end
RUN_LIMIT = 120         # seconds: a run left to end that has not is a hang
BENIGN = (re.compile(r"^Leaked cluster \d+ refcount=\d+ reference=\d+$"),
          re.compile(r"^ERROR OFLAG_COPIED data cluster: l2_entry=([0-9a-f]+) refcount=\d+$"),
          re.compile(r"^ERROR OFLAG_COPIED L2 cluster: l1_index=\d+ l1_entry=([0-9a-f]+) refcount=\d+$"))


def benign(line):
    for rx in BENIGN:
        m = rx.match(line)
        if m:
            # A clear COPIED flag costs a copy; a set one on a shared cluster would corrupt.
            return not m.groups() or int(m.group(1), 16) < (1 << 63)
    return False


def check_and_repair(img):
    p = qemu_img("check", img)
    bad = [ln for ln in p.stderr.splitlines() if ln.strip() and not benign(ln)]
    assert not bad and p.returncode in (0, 2, 3), (p.returncode, bad, p.stdout)
    if p.returncode:
        qemu_img("check", "-r", "all", img, check=True)
        assert qemu_img("check", img).returncode == 0


def contents(tmp_path, img, name=None):
    out = str(tmp_path / "c.raw")
    extra = ["-l", f"snapshot.name={name}"] if name else []
    qemu_img("convert", *extra, "-O", "raw", img, out, check=True)
    return read(out)


def listed(img):
    lines = qemu_img("snapshot", "-l", img, check=True).stdout.splitlines()[2:]
    return [ln.split()[1] for ln in lines]


def run_cut_short(args, window):
    """vmkit img args, SIGKILLed after window seconds (None: left to end) unless it ended
    first; a pidfd tells the moment it ends, so the run time of one that ended is exact.
    Returns the exit status, stderr and the seconds it ran when it ended by itself."""
    proc = subprocess.Popen([VMKIT, "img", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    start = time.monotonic()
    pidfd = os.pidfd_open(proc.pid)
    try:
        ended = select.select([pidfd], [], [], RUN_LIMIT if window is None else window)[0]
    finally:
        os.close(pidfd)
    ran = time.monotonic() - start
    if not ended:
        proc.kill()
    _, err = proc.communicate()
    assert ended or window is not None, f"{args} still running after {RUN_LIMIT} s: {err}"
    return proc.returncode, err, ran if ended else None


def test_killed_snapshot_operations(tmp_path):
    img = str(tmp_path / "k.qcow2")
    qemu_img("create", "-q", "-f", "qcow2", "-o", "cluster_size=512", img, "8M", check=True)
    qemu_io(img, "write -P 1 0 8M")
    srcs = [pattern_raw(str(tmp_path / f"w{i}.raw"), 8 << 20, seed=50 + i) for i in range(3)]
    rnd = random.Random(int(os.environ.get("VMKIT_CRASH_SEED", "1234")))
    expected, counter, killed = {}, 0, 0
    run_time = {}       # kind of operation -> seconds its last complete run took
    for _ in range(KILLS):
        names = listed(img)
        ops = ["write", "resize", "amend"] + (["create"] if len(names) < 4 else []) + \
              (["apply", "delete"] if names else [])
        op = rnd.choice(ops)
        before = None
        if op == "create":
            counter += 1
            before = contents(tmp_path, img)
            args = ["snapshot", "-c", f"s{counter}", img]
        elif op == "write":
            args = ["convert", "-n", "-O", "qcow2", rnd.choice(srcs), img]
        elif op == "resize":
            args = ["resize", "--shrink", img, rnd.choice(["8M", "9M", "12M", "300M"])]
        elif op == "amend":
            args = ["amend", "-o", rnd.choice(["compat=0.10", "compat=1.1", "refcount_bits=8",
                                                 "refcount_bits=16", "refcount_bits=64"]), img]
        else:
            args = ["snapshot", "-a" if op == "apply" else "-d", rnd.choice(names), img]
        # A resize to 300M runs longer than one to 9M; so do the amends, option by option.
        kind = {"resize": (op, args[-1]), "amend": (op, args[2])}.get(op, op)
        kill = rnd.random() < KILL_SHARE
        window = rnd.uniform(0, run_time.get(kind, FIRST_WINDOW)) if kill else None
        rc, err, ran = run_cut_short(args, window)
        if rc == 0 and ran is not None:
            run_time[kind] = ran    # refusals end early: they say nothing of the run time
        killed += rc == -9
        # A v2 image with snapshots cannot be resized; v2 knows only 16-bit refcounts.
        # Nor can it go back to a snapshot of another size (qemu-img refuses both alike).
        refused = (op in ("resize", "apply") and b"v2 image which has snapshots" in err) or \
                  (op == "amend" and (b"16 bits" in err or b"refcount_bits=16" in err))
        assert rc in (0, -9) or refused, (args, rc, err)
        check_and_repair(img)
        now = listed(img)
        if before is not None and f"s{counter}" in now:
            expected[f"s{counter}"] = before
        for name in now:
            # qemu-img reads a snapshot at the image's current size.
            got, want = contents(tmp_path, img, name), expected[name]
            assert got == (want + bytes(max(0, len(got) - len(want))))[:len(got)], (args, name)
    assert killed >= KILLS // 6, killed      # many runs were really cut short
