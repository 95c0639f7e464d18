#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Seed corpus for the vpc, vdi and vhdx fuzzers, made here with qemu-img (not
# downloaded), then made small enough to fuzz (at most 1088 KiB each): the
# formats' blocks are 1 MiB (vdi) to 2 MiB (vpc) and up, so the images are
# repacked with small blocks (vpc), truncated after their metadata (vdi) or
# have their regions moved close together (vhdx). Usage: foreign-corpus.sh FORMAT DIR
set -euo pipefail
FMT=${1:?usage: foreign-corpus.sh vpc|vdi|vhdx DIR}
DIR=${2:?usage: foreign-corpus.sh vpc|vdi|vhdx DIR}
mkdir -p "$DIR"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
raw() {	# raw FILE SIZE: data at the start and the end, a hole between
	head -c 5000 /dev/urandom > "$1"
	truncate -s "$2" "$1"
	printf 'end of disk' | dd of="$1" bs=1 seek=$(( $2 - 11 )) conv=notrunc status=none
}
case $FMT in
vpc)
	qemu-img create -q -f vpc -o subformat=dynamic "$DIR/empty.vpc" 3M
	raw "$T/r" 40960
	qemu-img convert -O vpc -o subformat=fixed "$T/r" "$DIR/fixed.vpc"
	qemu-img convert -O vpc -o subformat=dynamic,force_size=on "$T/r" "$T/d.vpc"
	# The same disk in 4 KiB blocks (a 512-byte bitmap before each), and as a
	# differencing disk.
	python3 - "$T/d.vpc" "$DIR/small-blocks.vpc" "$DIR/differencing.vpc" <<'P'
import struct, sys
b = open(sys.argv[1], "rb").read()
foot, hdr_off = b[:512], struct.unpack(">Q", b[16:24])[0]
hdr = bytearray(b[hdr_off:hdr_off + 1024])
bat_off = struct.unpack(">Q", hdr[16:24])[0]
size = struct.unpack(">Q", foot[48:56])[0]
bs, n = 4096, (size + 4095) // 4096
bat_len = (n * 4 + 511) // 512 * 512
first = struct.unpack(">I", b[bat_off:bat_off + 4])[0] * 512 + 512
data = b[first:first + size]                     # block 0 of 2 MiB holds the whole disk
out = bytearray(foot) + bytes(1024) + bytes([0xff]) * bat_len
bat = []
for i in range(n):
    blk = data[i * bs:(i + 1) * bs]
    if any(blk):
        bat.append(len(out) // 512)
        out += bytes([0xff]) * 512 + blk.ljust(bs, b"\0")
    else:
        bat.append(0xffffffff)
out[1536:1536 + 4 * n] = struct.pack(">%dI" % n, *bat)
hdr[16:24] = struct.pack(">Q", 1536)
hdr[28:36] = struct.pack(">II", n, bs)
hdr[36:40] = bytes(4)
hdr[36:40] = struct.pack(">I", ~sum(hdr) & 0xffffffff)
out[512:1536] = hdr
open(sys.argv[2], "wb").write(out + foot)
# A differencing disk over "base.vpc" (its parent name): every other sector its own.
foot = bytearray(foot)
foot[60:64] = struct.pack(">I", 4)
foot[64:68] = bytes(4)
foot[64:68] = struct.pack(">I", ~sum(foot) & 0xffffffff)
hdr[64:80] = "base.vpc".encode("utf-16-be")
out[:512], out[512:1536] = foot, hdr
for i, e in enumerate(bat):
    if e != 0xffffffff:
        out[e * 512:e * 512 + 512] = bytes([0xaa]) + bytes(511)
open(sys.argv[3], "wb").write(out + foot)
P
	;;
vdi)
	qemu-img create -q -f vdi "$DIR/empty.vdi" 5M
	raw "$T/r" 3145728
	qemu-img convert -O vdi "$T/r" "$T/d.vdi"
	qemu-img convert -O vdi -o static=on "$T/r" "$T/s.vdi"
	# Past the header and block map: the first block, cut short (reads past it fail).
	head -c 32768 "$T/d.vdi" > "$DIR/dynamic.vdi"
	head -c 32768 "$T/s.vdi" > "$DIR/static.vdi"
	;;
vhdx)
	raw "$T/r" 65536
	qemu-img convert -O vhdx -o subformat=dynamic,block_size=1M "$T/r" "$T/d.vhdx"
	qemu-img create -q -f vhdx -o subformat=dynamic "$T/e.vhdx" 10M
	# The regions moved to 320 KiB (BAT) and 384 KiB (metadata), the log to
	# 2 MiB (past the end: it is empty), the one data block (64 KiB of disk) to 1 MiB.
	python3 - "$T/d.vhdx" "$DIR/small.vhdx" "$T/e.vhdx" "$DIR/empty.vhdx" <<'P'
import struct, sys
def crc32c(d):
    c = 0xffffffff
    for x in d:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ (0x82f63b78 & -(c & 1))
    return c ^ 0xffffffff
def fix(b, off, n):
    b[off + 4:off + 8] = bytes(4)
    b[off + 4:off + 8] = struct.pack("<I", crc32c(bytes(b[off:off + n])))
def shrink(src, dst):
    b = open(src, "rb").read()
    out = bytearray(b[:320 * 1024]) + bytes(192 * 1024)   # the metadata items are 64 KiB in
    for h in (64 * 1024, 128 * 1024):
        out[h + 68:h + 80] = struct.pack("<IQ", 1 << 20, 2 << 20)
        fix(out, h, 4096)
    for rt in (192 * 1024, 256 * 1024):
        for i in range(struct.unpack("<I", out[rt + 8:rt + 12])[0]):
            e = rt + 16 + 32 * i
            old, ln = struct.unpack("<QI", out[e + 16:e + 28])
            new, keep = (320 * 1024, 64 * 1024) if out[e] == 0x66 else (384 * 1024, 128 * 1024)
            out[e + 16:e + 28] = struct.pack("<QI", new, keep)
            blob = b[old:old + keep]
            if out[e] == 0x66:          # the BAT: the first data block moves to 1 MiB
                ents = list(struct.unpack("<%dQ" % (len(blob) // 8), blob))
                if ents[0] & 7 == 6:
                    old0 = ents[0] & ~0xfffff
                    if len(out) <= 1024 * 1024:     # once, for the first table
                        out += bytes(1024 * 1024 - len(out)) + b[old0:old0 + 64 * 1024]
                    ents[0] = 1024 * 1024 | 6
                blob = struct.pack("<%dQ" % len(ents), *ents)
            out[new:new + keep] = blob
        fix(out, rt, 64 * 1024)
    open(dst, "wb").write(out)
shrink(sys.argv[1], sys.argv[2])
shrink(sys.argv[3], sys.argv[4])
P
	;;
*) echo "foreign-corpus.sh: unknown format $FMT" >&2; exit 1 ;;
esac
