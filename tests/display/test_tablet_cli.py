# SPDX-License-Identifier: GPL-2.0-or-later
"""virtio-tablet's options (issue 13): --tablet, --device virtio-tablet[-pci] and the
tablet: key of a definition, and their errors (one line, exit 2). The device itself is
tested through its registers in tests/unit/test-virtio-tablet.c, the key's effect on
`vmkit run`'s arguments in tests/unit/test-tablet-def.c."""
import os
import subprocess

import pytest

from test_display import VMKIT, need


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
