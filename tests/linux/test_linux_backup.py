# SPDX-License-Identifier: GPL-2.0-or-later
"""A backup of the Linux guest while it writes its file system (issue 15).

The guest has an ext4 data disk (qcow2) with files it wrote and synced; a
writer keeps rewriting other files throughout. The backup starts (QMP
x-vmkit-backup, slowed so that it is still copying afterwards); then the
guest creates a file, deletes one of the synced ones and syncs. The backup,
read with Debian's qemu-img and e2fsprogs, is the file system of the
moment it started: fsck passes once the journal is replayed (as a mount
would), the synced files are there with their bytes, and neither the
new file nor the deletion is.
"""
import hashlib
import re
import shutil
import subprocess
import time

import pytest

from linuxvm import LinuxVM, root_overlay

FILES = 4


def tool(name):
    p = shutil.which(name) or shutil.which(f"/sbin/{name}")
    if not p:
        pytest.skip(f"{name} (e2fsprogs / qemu-utils) is needed")
    return p


def test_backup_of_a_writing_linux_guest_is_its_start(tmp_path):
    raw = tmp_path / "data.raw"
    with open(raw, "wb") as f:
        f.truncate(64 << 20)
    subprocess.run([tool("mkfs.ext4"), "-q", "-F", str(raw)], check=True)
    data = tmp_path / "data.qcow2"
    subprocess.run([tool("qemu-img"), "convert", "-O", "qcow2", str(raw), str(data)], check=True)
    raw.unlink()
    root = root_overlay(tmp_path)
    vm = LinuxVM(tmp_path, disks=[f"path={root},format=qcow2", f"path={data},format=qcow2"])
    target = tmp_path / "backup.qcow2"
    t0 = time.monotonic()

    def step(what):
        print(f"{time.monotonic() - t0:6.1f} s  {what}")

    with vm:
        vm.boot()
        step("booted")
        # Each file its own bytes, cheaply (the guest kernel's work is emulated here).
        sums = {}
        for line in vm.sh("mkdir -p /mnt/d && mount /dev/vdb /mnt/d && cd /mnt/d && "
                          f"i=1; while [ $i -le {FILES} ]; do "
                          "(echo file $i; dd if=/dev/zero bs=65536 count=1 2>/dev/null) > a$i; "
                          "i=$((i+1)); done; "
                          "sync; sha256sum a*").splitlines():
            m = re.fullmatch(r"([0-9a-f]{64})\s+(a\d+)", line.strip())
            if m:       # (kernel messages may come between the lines)
                sums[m.group(2)] = m.group(1)
        assert len(sums) == FILES, sums
        step("files written")
        vm.sh("(i=0; while [ ! -e /tmp/stop ]; do "
              "dd if=/dev/zero of=/mnt/d/busy$((i%4)) bs=4096 count=32 2>/dev/null; sync; "
              "i=$((i+1)); done; echo VMKIT-WRITER-DONE) >/dev/console 2>&1 &")
        time.sleep(2)
        q = vm.qmp()
        q.cmd("x-vmkit-backup", {"disks": [{"device": "virtio1", "target": str(target)}],
                                 "speed": 4 << 20})
        step("backup started")
        vm.sh("echo after > /mnt/d/after && rm /mnt/d/a1 && sync")
        step("changed after the start")
        job = q.cmd("query-block-jobs")[0]
        assert job["status"] == "running", \
            f"the backup ended before the guest's changes: the test shows nothing {job}"
        end = time.monotonic() + 180
        while time.monotonic() < end and job["status"] != "concluded":
            time.sleep(0.5)
            job = q.cmd("query-block-jobs")[0]
        assert job["status"] == "concluded" and "error" not in job, job
        step(f"backup done, {job['x-held-writes']} guest writes held")
        before = vm.mark()     # the writer's last line may come before the prompt
        vm.sh("touch /tmp/stop")
        vm.wait_for("VMKIT-WRITER-DONE", 120, since=before)
        assert vm.sh("ls /mnt/d/after /mnt/d/a1 2>&1 || true").count("No such file") == 1
        vm.type("umount /mnt/d; poweroff -f\n")
        vm.wait_exit(120)
        step("guest off")

    out = tmp_path / "restored.raw"
    subprocess.run([tool("qemu-img"), "check", str(target)], check=True, capture_output=True)
    subprocess.run([tool("qemu-img"), "convert", "-O", "raw", str(target), str(out)], check=True)
    # The journal replayed, as a mount does; then nothing left to fix.
    r = subprocess.run([tool("e2fsck"), "-fy", str(out)], capture_output=True, text=True)
    assert r.returncode in (0, 1), r.stdout + r.stderr
    r = subprocess.run([tool("e2fsck"), "-fn", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    ls = subprocess.run([tool("debugfs"), "-R", "ls /", str(out)], capture_output=True,
                        text=True, check=True).stdout
    assert "after" not in ls, f"a file made after the backup started is in it: {ls}"
    for name, want in sums.items():
        got = subprocess.run([tool("debugfs"), "-R", f"cat /{name}", str(out)],
                             capture_output=True, check=True).stdout
        assert hashlib.sha256(got).hexdigest() == want, f"{name} differs in the backup"
