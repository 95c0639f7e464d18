# SPDX-License-Identifier: GPL-2.0-or-later
"""virtio-tablet (issue 13): the VNC pointer as absolute positions when there is one, and its options: --tablet, --device virtio-tablet[-pci] and the
tablet: key of a definition, and their errors (one line, exit 2). The device itself is
tested through its registers in tests/unit/test-virtio-tablet.c, the key's effect on
`vmkit run`'s arguments in tests/unit/test-tablet-def.c."""
import os
import struct
import subprocess

import pytest

from test_display import (ENV, VMKIT, free_display, need, rfb_session, served,  # noqa: F401
                          wait_for)


def run(*args, env=None):
    need(VMKIT)
    return subprocess.run([str(VMKIT), "run", "--kernel", "/etc/hostname"] + list(args),
                          capture_output=True, text=True, env=env, timeout=30)


@pytest.mark.parametrize("args,msg", [
    (["--device", "virtio-tablet,bus=usb"],
     "--device virtio-tablet,bus=usb: virtio-tablet takes no options"),
    (["--device", "virtio-tablets"], "unknown device (virtio-balloon, virtio-tablet)"),
    (["--tablet=1"], "unknown option '--tablet=1'"),
])
def test_bad_options(args, msg):
    r = run(*args)
    assert r.returncode == 2, r
    assert msg in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args", [["--tablet"], ["--device", "virtio-tablet"],
                                  ["--device", "virtio-tablet-pci"]])
def test_accepted(args):
    """Parsed; without /dev/kvm the run stops there (not a usage error)."""
    r = run(*args)
    if os.path.exists("/dev/kvm"):
        pytest.skip("would start a VM")
    assert r.returncode != 2, r.stderr
    assert "/dev/kvm" in r.stderr


def test_help_mentions_tablet():
    need(VMKIT)
    r = subprocess.run([str(VMKIT), "run", "--help"], capture_output=True, text=True)
    assert "--tablet" in r.stdout and "virtio-tablet" in r.stdout


def test_definition_tablet_key(tmp_path):
    need(VMKIT)
    env = dict(os.environ, VMKIT_HOME=str(tmp_path))
    subprocess.run([str(VMKIT), "create", "--name", "t1", "--kernel", "/etc/hostname"],
                   env=env, check=True, capture_output=True)
    r = subprocess.run([str(VMKIT), "set", "t1", "tablet=maybe"], env=env, capture_output=True,
                       text=True)
    assert r.returncode == 2 and "tablet: 'maybe': expected 0 or 1" in r.stderr, r.stderr
    for v in ("0", "1"):
        r = subprocess.run([str(VMKIT), "set", "t1", f"tablet={v}"], env=env,
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


def test_vnc_pointer_absolute_with_tablet(served, monkeypatch):
    """With an absolute pointer (a tablet) the VNC pointer goes to it as a position scaled
    to 0..32767 over the screen (720x400 in text mode), buttons and wheel bits as sent."""
    monkeypatch.setitem(ENV, "HARNESS_TABLET", "1")
    n = free_display()
    s = served("text", f"127.0.0.1:{n}")
    c = rfb_session(port=5900 + n)
    c.sendall(struct.pack(">BBHH", 5, 0, 0, 0) + struct.pack(">BBHH", 5, 1, 719, 399) +
              struct.pack(">BBHH", 5, 8, 360, 200) + struct.pack(">BBHH", 5, 0, 9999, 9999))
    assert wait_for(s, "abs 32767 32767 0"), s.log()
    log = s.log()
    want = ["abs 0 0 0", "abs 32767 32767 1", "abs 16406 16424 8", "abs 32767 32767 0"]
    assert all(w in log for w in want), log
    pos = [log.index(w) for w in want]
    assert pos == sorted(pos), log
    assert "rel " not in log                     # nothing went to the mouse
    c.close()
