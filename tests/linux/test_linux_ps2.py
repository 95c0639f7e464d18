# SPDX-License-Identifier: GPL-2.0-or-later
"""The i8042 seen from inside Linux (issue 13): the i8042 driver finds both
ports through the DSDT's PNP0303/PNP0F13, atkbd binds a translated set 2
keyboard, psmouse finds the IntelliMouse Explorer, and keys sent through QMP
send-key reach the keyboard's event device as IRQ 1 interrupts and KEY_A.
Needs /dev/kvm (skips without it); not yet run under KVM."""
import re
import struct
import time

from linuxvm import LinuxVM, root_overlay
from vmkit_harness import require_vmkit

EV_KEY = 1
KEY_A = 30


def irq_count(vm: LinuxVM, irq: int) -> int:
    line = vm.sh(f"grep '^ *{irq}:' /proc/interrupts")
    return sum(int(x) for x in line.split()[1:] if x.isdigit())


def test_ps2_keyboard_and_mouse_in_linux(tmp_path):
    require_vmkit()  # skip before looking for the guest image
    vm = LinuxVM(tmp_path, disks=[f"path={root_overlay(tmp_path)},format=qcow2"])
    with vm:
        vm.boot()
        dmesg = vm.sh("dmesg")
        assert re.search(r"serio: i8042 KBD port at 0x60,0x64 irq 1", dmesg), dmesg
        assert re.search(r"serio: i8042 AUX port at 0x60,0x64 irq 12", dmesg), dmesg
        devices = vm.sh("cat /proc/bus/input/devices")
        assert 'Name="AT Translated Set 2 keyboard"' in devices, devices
        assert re.search(r'Name=".*PS/2.*Mouse"', devices), devices
        kbd = re.search(r'Name="AT Translated Set 2 keyboard".*?Handlers=[^\n]*\b(event\d+)',
                        devices, re.S).group(1)

        before = irq_count(vm, 1)
        vm.sh(f"(dd if=/dev/input/{kbd} of=/tmp/ev bs=24 count=4 2>/dev/null &)")
        time.sleep(0.5)
        with vm.qmp() as q:
            q.cmd("send-key", {"keys": [{"type": "qcode", "data": "a"}], "hold-time": 50})
        time.sleep(1)
        assert irq_count(vm, 1) >= before + 2  # make and break, translated
        raw = bytes.fromhex(vm.sh("od -An -tx1 -v /tmp/ev | tr -d ' \\n'"))
        events = [struct.unpack("qqHHi", raw[i:i + 24]) for i in range(0, len(raw) - 23, 24)]
        assert any(t == EV_KEY and c == KEY_A and v == 1 for _, _, t, c, v in events), events
