# SPDX-License-Identifier: GPL-2.0-or-later
"""Saved-VM files written from Python (include/vmkit/vm-state.h and savestate.h),
for tests of how `vmkit run --incoming` and `vmkit restore` refuse bad ones
without needing /dev/kvm to make a real one."""
import struct
import zlib


def _name(n: str) -> bytes:
    b = n.encode()
    return struct.pack("<H", len(b)) + b


def stream(sections) -> bytes:
    """sections: [(name, instance, version, {field: int | bytes})] -> a state stream."""
    out = bytearray(b"VMKITSS\n" + struct.pack("<II", 1, 0))
    for name, inst, ver, fields in sections:
        out += b"S" + _name(name) + struct.pack("<II", inst, ver)
        for k, v in fields.items():
            out += b"F" + _name(k)
            if isinstance(v, int):
                out += b"\x01" + struct.pack("<Q", v)
            else:
                out += b"\x02" + struct.pack("<I", len(v)) + v
        out += b"E"
    out += b"Z"
    out += struct.pack("<I", zlib.crc32(bytes(out)))
    return bytes(out)


def vm_section(name="", memory=256 << 20, cpus=1, **kw):
    f = {"name": name.encode(), "memory": memory, "ram-size": memory, "cpus": cpus,
         "firmware": 0, "disks": 0, "nets": 0, "vga": 0, "rng": 0, "balloon": 0,
         "virtio-console": 0}
    f.update(kw)
    return ("vm", 0, 1, f)


def saved_vm(sections, ram_records=()) -> bytes:
    """A whole file: header, state, RAM records [(offset, bytes)], end record, CRC."""
    state = stream(sections)
    ram = bytearray()
    for off, data in ram_records:
        ram += struct.pack("<QQ", off, len(data)) + data
    ram += struct.pack("<QQ", 2**64 - 1, 0)
    return (b"VMKITSAV" + struct.pack("<IIQ", 1, 0, len(state)) + state + bytes(ram)
            + struct.pack("<I", zlib.crc32(bytes(ram))))
