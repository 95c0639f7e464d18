# SPDX-License-Identifier: GPL-2.0-or-later
"""Live migration of the Linux guest (issue 15), on shared storage.

The source and the destination run in one network namespace, each with a
tap on its bridge br0 (as two hosts on one LAN); a peer namespace behind
a veth holds a TCP connection to the guest. While the guest writes its
data disk, it moves: afterwards its shell, a file it holds open and the
TCP connection are still there on the destination (the bridge learned the
new port from the NIC's announcement), what it wrote reads back the same
on the host, and its qcow2 root disk, handed over while both monitors had
it open, checks clean.
"""
import hashlib
import os
import re
import socket
import subprocess
import time

import pytest

from linuxvm import LinuxVM, root_overlay

MAC = "52:54:00:4d:49:47"
GUEST_IP = "10.79.0.50"
PEER_IP = "10.79.0.1"


def ns(name, *cmd, check=True, **kw):
    return subprocess.run(["ip", "netns", "exec", name, *cmd], check=check,
                          capture_output=True, text=True, **kw)


@pytest.fixture
def lan():
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    tag = f"{os.getpid() % 100000}"
    vmns, peerns = f"vkmig{tag}", f"vkmigp{tag}"
    cmds = [
        ["ip", "netns", "add", vmns], ["ip", "netns", "add", peerns],
        ["ip", "-n", vmns, "link", "add", "br0", "type", "bridge"],
        ["ip", "-n", vmns, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1",
         "netns", peerns],
        ["ip", "-n", vmns, "link", "set", "veth0", "master", "br0"],
        ["ip", "-n", vmns, "link", "set", "veth0", "up"],
        ["ip", "-n", vmns, "link", "set", "br0", "up"],
        ["ip", "-n", vmns, "link", "set", "lo", "up"],
        ["ip", "-n", peerns, "addr", "add", f"{PEER_IP}/24", "dev", "veth1"],
        ["ip", "-n", peerns, "link", "set", "veth1", "up"],
        ["ip", "-n", peerns, "link", "set", "lo", "up"],
    ]
    try:
        for c in cmds:
            subprocess.run(c, check=True, capture_output=True)
        yield vmns, peerns
    finally:
        for n in (vmns, peerns):
            subprocess.run(["ip", "netns", "del", n], capture_output=True)


class PeerClient:
    """A TCP connection from the peer namespace to the guest, driven line by line."""

    def __init__(self, peerns):
        code = ("import socket,sys,time\n"
                "for i in range(100):\n"
                "    try:\n"
                f"        c=socket.create_connection(({GUEST_IP!r},5000),timeout=5); break\n"
                "    except OSError:\n"
                "        time.sleep(0.2)\n"
                "else:\n"
                "    sys.exit('no connection')\n"
                "print('connected',flush=True)\n"
                "for line in sys.stdin:\n"
                "    c.sendall(line.encode())\n"
                "    print('sent',flush=True)\n"
                "c.close()\n")
        self.p = subprocess.Popen(["ip", "netns", "exec", peerns, "python3", "-c", code],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.p.stdout.readline().strip() == "connected"

    def send(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        assert self.p.stdout.readline().strip() == "sent"

    def close(self):
        self.p.stdin.close()
        assert self.p.wait(timeout=30) == 0


def writes(vm):
    """Write requests the guest's vdb has completed (/sys/block/vdb/stat)."""
    return int(vm.sh("cat /sys/block/vdb/stat").split()[4])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_linux_guest_migrates_with_shell_open_file_tcp_and_disk_writes(tmp_path, lan):
    vmns, peerns = lan
    root = root_overlay(tmp_path)
    data = tmp_path / "data.raw"
    with open(data, "wb") as f:
        f.truncate(64 << 20)
    disks = [f"path={root},format=qcow2", f"path={data},format=raw"]
    port = free_port()
    (tmp_path / "src").mkdir()
    (tmp_path / "dst").mkdir()
    src = LinuxVM(tmp_path / "src", disks=disks, nets=[f"tap,bridge=br0,ifname=vkmsrc,mac={MAC}"])
    src.argv = ["ip", "netns", "exec", vmns] + src.argv
    dst = LinuxVM(tmp_path / "dst", disks=disks,
                  nets=[f"tap,bridge=br0,ifname=vkmdst,mac={MAC}"],
                  extra=["--incoming", f"tcp:127.0.0.1:{port}"])
    dst.argv = ["ip", "netns", "exec", vmns] + dst.argv
    with src, dst:
        src.boot()
        src.sh(f"ip addr add {GUEST_IP}/24 dev eth0 && ip link set eth0 up")
        src.sh("(nc -l -p 5000 </dev/null > /tmp/tcp.log; echo VMKIT-NC-DONE) >/dev/console 2>&1 &")
        peer = PeerClient(peerns)
        peer.send("before")
        src.sh("exec 3>/tmp/held.txt; echo one >&3")
        # The disk writes go on across the migration, until /tmp/stop: sector i says
        # "block i" (printf is the shell's own: no process per block). They pass
        # the guest's page cache (busybox dd's O_DIRECT wants aligned buffers it
        # does not have): written back every half second.
        src.sh("echo 50 > /proc/sys/vm/dirty_writeback_centisecs; "
               "echo 50 > /proc/sys/vm/dirty_expire_centisecs")
        src.sh("(i=0; while [ ! -e /tmp/stop ]; do printf 'block %-505d\\n' $i; i=$((i+1)); "
               "done | dd of=/dev/vdb bs=512 iflag=fullblock 2>/tmp/dd.err; "
               "echo VMKIT-DD-DONE) >/dev/console 2>&1 &")
        end = time.monotonic() + 60
        while (before := writes(src)) < 2 and time.monotonic() < end:
            time.sleep(1)
        assert before >= 2, f"the guest does not write its disk{src.describe()}"
        dst.start()
        time.sleep(1)  # listening: the port is bound before the VM is built
        q = src.qmp()
        q.cmd("migrate", {"uri": f"tcp:127.0.0.1:{port}"})
        end = time.monotonic() + 120
        while time.monotonic() < end:
            try:
                r = q.cmd("query-migrate")
            except OSError:
                pytest.fail(f"the source's monitor is gone{src.describe()}")
            if r["status"] in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.2)
        assert r["status"] == "completed", f"{r}{dst.describe()}"
        assert q.cmd("query-status")["status"] == "paused"

        dst.wait_prompt(60)
        fdb = subprocess.run(["bridge", "-n", vmns, "fdb", "show", "br", "br0"],
                             capture_output=True, text=True).stdout
        assert f"{MAC} dev vkmdst" in fdb, f"the bridge did not learn the new port: {fdb}"
        peer.send("after")
        peer.close()
        try:
            dst.wait_for("VMKIT-NC-DONE", 60)
        except AssertionError:
            print(dst.run("cat /tmp/tcp.log; netstat -tn; cat /proc/net/snmp", timeout=60))
            raise
        assert dst.sh("cat /tmp/tcp.log").split() == ["before", "after"]
        dst.sh("echo two >&3")
        assert dst.sh("cat /tmp/held.txt").split() == ["one", "two"]
        end = time.monotonic() + 60
        while writes(dst) <= before + 1 and time.monotonic() < end:
            time.sleep(1)
        assert writes(dst) > before + 1, "no disk writes on the destination"
        dst.sh("touch /tmp/stop")
        dst.wait_for("VMKIT-DD-DONE", 120)
        m = re.search(r"(\d+)\+0 records out", dst.sh("cat /tmp/dd.err"))
        assert m, dst.sh("cat /tmp/dd.err")
        blocks = int(m.group(1))
        want = dst.sh(f"dd if=/dev/vdb bs=512 count={blocks} iflag=direct 2>/dev/null | "
                      "sha256sum").split()[0]
        dst.type("poweroff -f\n")
        dst.wait_exit(60)
    disk = data.read_bytes()[:blocks * 512]
    assert hashlib.sha256(disk).hexdigest() == want, "the host's file differs from the guest's disk"
    for i in range(blocks):
        assert disk[i * 512:i * 512 + 16].startswith(f"block {i:<9}".encode()), f"sector {i}"
    r = subprocess.run(["qemu-img", "check", str(root)], capture_output=True, text=True)
    assert r.returncode == 0 and "No errors were found" in r.stdout, r.stdout + r.stderr
