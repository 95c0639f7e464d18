# SPDX-License-Identifier: GPL-2.0-or-later
"""Read and patch qcow2 headers and refcounts, to craft test images."""
import struct

HDR = ">4sIQIIQIIQQIIQ"  # through snapshots_offset (72 bytes)
FIELDS = ("magic version backing_file_offset backing_file_size cluster_bits size "
          "crypt_method l1_size l1_table_offset refcount_table_offset "
          "refcount_table_clusters nb_snapshots snapshots_offset").split()
V3 = ">QQQII"
V3_FIELDS = "incompatible_features compatible_features autoclear_features refcount_order header_length".split()
OFFS = {}
_o = 0
for _f, _c in zip(FIELDS, ["4s"] + list("IQIIQIIQQIIQ")):
    OFFS[_f] = (_o, _c)
    _o += struct.calcsize(">" + _c)
for _f, _c in zip(V3_FIELDS, "QQQII"):
    OFFS[_f] = (_o, _c)
    _o += struct.calcsize(">" + _c)


def read_header(path):
    with open(path, "rb") as f:
        data = f.read(104)
    h = dict(zip(FIELDS, struct.unpack_from(HDR, data, 0)))
    if h["version"] >= 3:
        h.update(zip(V3_FIELDS, struct.unpack_from(V3, data, 72)))
    else:
        h.update(incompatible_features=0, refcount_order=4, header_length=72)
    return h


def patch(path, field, value):
    off, c = OFFS[field]
    with open(path, "r+b") as f:
        f.seek(off)
        f.write(struct.pack(">" + c, value))


def set_refcount(path, cluster, value):
    """Set the refcount of a cluster covered by an existing refcount block (16-bit)."""
    h = read_header(path)
    assert h["refcount_order"] == 4
    cs = 1 << h["cluster_bits"]
    per_block = cs // 2
    with open(path, "r+b") as f:
        f.seek(h["refcount_table_offset"] + 8 * (cluster // per_block))
        (rb,) = struct.unpack(">Q", f.read(8))
        assert rb, "no refcount block"
        f.seek(rb + 2 * (cluster % per_block))
        f.write(struct.pack(">H", value))


def add_leak(path, count=1):
    """Append count clusters to the file with refcount 1 and no reference: leaks."""
    h = read_header(path)
    cs = 1 << h["cluster_bits"]
    with open(path, "r+b") as f:
        f.seek(0, 2)
        end = f.tell()
    first = (end + cs - 1) // cs
    with open(path, "r+b") as f:
        f.truncate((first + count) * cs)
    for c in range(first, first + count):
        set_refcount(path, c, 1)
    return first


def extensions(path):
    """The header extensions as (type, data) pairs, in order."""
    h = read_header(path)
    with open(path, "rb") as f:
        buf = f.read(1 << h["cluster_bits"])
    off, out = h["header_length"] if h["version"] >= 3 else 72, []
    end = h["backing_file_offset"] or len(buf)
    while off + 8 <= end:
        t, n = struct.unpack_from(">II", buf, off)
        if t == 0:
            break
        out.append((t, buf[off + 8:off + 8 + n]))
        off += 8 + (n + 7) // 8 * 8
    return out


def add_extension(path, ext_type, data):
    """Put an extension first in the list, moving the rest and the backing name after it."""
    h = read_header(path)
    exts = [(ext_type, data)] + extensions(path)
    with open(path, "rb") as f:
        buf = bytearray(f.read(1 << h["cluster_bits"]))
    name = bytes(buf[h["backing_file_offset"]:h["backing_file_offset"] + h["backing_file_size"]])
    off = h["header_length"] if h["version"] >= 3 else 72
    area = b"".join(struct.pack(">II", t, len(d)) + d + bytes((8 - len(d) % 8) % 8) for t, d in exts)
    area += bytes(8)
    buf[off:] = bytes(len(buf) - off)
    buf[off:off + len(area)] = area
    if name:
        buf[off + len(area):off + len(area) + len(name)] = name
        struct.pack_into(">Q", buf, 8, off + len(area))
    with open(path, "r+b") as f:
        f.write(buf)
