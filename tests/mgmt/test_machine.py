# SPDX-License-Identifier: GPL-2.0-or-later
"""machine: in a VM definition (Proxmox's key): pc, i440fx or q35 (issue 12)."""
import vmkit_harness as h
from test_definitions import KERNEL, one_error


def test_machine_key(vk):
    n = vk.name()
    vk("create", "--name", n, "--kernel", KERNEL)
    vk("set", n, "machine=q35")
    assert "machine: q35\n" in vk.config(n)
    vk("set", n, "machine=pc")
    assert "machine: pc\n" in vk.config(n)
    before = vk.config(n)
    one_error(vk("set", n, "machine=virt", check=False), "machine", "virt")
    assert vk.config(n) == before
