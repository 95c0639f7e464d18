# SPDX-License-Identifier: GPL-2.0-or-later
"""`vmkit sendkey NAME KEYS...` (issue 13): its errors are one line and exit 2
without a VM; with /dev/kvm, keys reach a running monitor through QMP send-key
and the PS/2 mouse is listed by query-mice."""

from __future__ import annotations

import pytest

import vmkit_harness as h
from test_lifecycle import qmp


def one_line_usage_error(r, *words):
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0], r.stderr
    assert r.stdout == ""


def test_no_such_vm(vk):
    one_line_usage_error(vk("sendkey", "nosuchvm", "ctrl-alt-delete", check=False),
                         "nosuchvm", "does not exist")


def test_bad_key_names(vk):
    # Checked before the VM is looked up: a typo sends nothing.
    one_line_usage_error(vk("sendkey", "nosuchvm", "h", "e", "ctrl-alt-dlete", check=False),
                         "'dlete' is not a key name")
    one_line_usage_error(vk("sendkey", "vm1", "CTRL", check=False), "'CTRL' is not a key name")
    one_line_usage_error(vk("sendkey", "vm1", "--", "-", check=False), "not a chord of keys")
    one_line_usage_error(vk("sendkey", "vm1", "-".join(["a"] * 17), check=False),
                         "more than 16 keys")


def test_usage(vk):
    one_line_usage_error(vk("sendkey", check=False), "expected a VM NAME")
    one_line_usage_error(vk("sendkey", "vm1", check=False), "expected a VM NAME")
    one_line_usage_error(vk("sendkey", "vm1", "--hold-time", "9999", "a", check=False),
                         "--hold-time", "9999")
    one_line_usage_error(vk("sendkey", "vm1", "--bogus", "a", check=False),
                         "unknown option '--bogus'")
    r = vk("sendkey", "--help")
    assert "ctrl-alt-delete" in r.stdout


def test_shut_off_vm(vk, tmp_path):
    n = vk.name()
    kernel = tmp_path / "kernel"
    kernel.write_bytes(b"never started")
    vk("create", "--name", n, "--kernel", str(kernel), "--memory", "64")
    r = vk("sendkey", n, "ret", check=False)
    assert r.returncode != 0
    assert len(r.stderr.strip().splitlines()) == 1 and n in r.stderr, r.stderr


def test_keys_reach_a_running_vm(vk, kvm):
    n = vk.name()
    vk("create", "--name", n, "--kernel", str(h.guest("spin")), "--memory", "64")
    vk("start", n, timeout=30)
    r = vk("sendkey", n, "--hold-time", "10", "ctrl-alt-delete", "h", "e", "l", "l", "o", "ret")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    mice = qmp(vk, n, "query-mice")
    assert mice == [{"name": "PS/2 Mouse", "index": 0, "current": True, "absolute": False}]
    vk("destroy", n)
