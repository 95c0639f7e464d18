# SPDX-License-Identifier: GPL-2.0-or-later
"""virtio-tablet seen from inside Linux (issue 13): virtio_input binds the
device, /proc/bus/input/devices lists it with absolute X and Y and the three
buttons, and a pointer event sent through QMP input-send-event (what the
VNC link's input_abs() becomes) reaches its event device as EV_ABS.
Needs /dev/kvm (skips without it); not yet run under KVM."""
import re
import struct
import time

from linuxvm import LinuxVM, root_overlay
from vmkit_harness import require_vmkit

EV_ABS = 3
ABS_X, ABS_Y = 0, 1


def test_tablet_in_linux(tmp_path):
    require_vmkit()  # skip before looking for the guest image
    vm = LinuxVM(tmp_path, disks=[f"path={root_overlay(tmp_path)},format=qcow2"],
                 extra=["--device", "virtio-tablet"])
    with vm:
        vm.boot()
        devices = vm.sh("cat /proc/bus/input/devices")
        block = re.search(r'I: Bus=0006 .*?\nN: Name="vmkit Virtio Tablet"\n(.*?)\n\n',
                          devices + "\n\n", re.S)
        assert block, devices
        body = block.group(1)
        # EV=0xf: SYN, KEY, REL, ABS; ABS=3: X and Y.
        assert re.search(r"B: EV=f\b", body), body
        assert re.search(r"B: ABS=3\b", body), body
        event = re.search(r"Handlers=[^\n]*\b(event\d+)", body).group(1)
        with vm.qmp() as q:
            mice = q.cmd("query-mice")
            assert any(m["absolute"] and m["current"] for m in mice), mice
        vm.sh(f"(dd if=/dev/input/{event} of=/tmp/ev bs=24 count=3 2>/dev/null &)")
        time.sleep(0.5)
        with vm.qmp() as q:
            q.cmd("input-send-event", {"events": [
                {"type": "abs", "data": {"axis": "x", "value": 16384}},
                {"type": "abs", "data": {"axis": "y", "value": 8192}}]})
        time.sleep(1)
        raw = bytes.fromhex(vm.sh("od -An -tx1 -v /tmp/ev | tr -d ' \\n'"))
        events = [struct.unpack("qqHHi", raw[i:i + 24]) for i in range(0, len(raw) - 23, 24)]
        assert (EV_ABS, ABS_X, 16384) in [(t, c, v) for _, _, t, c, v in events], events
        assert (EV_ABS, ABS_Y, 8192) in [(t, c, v) for _, _, t, c, v in events], events
