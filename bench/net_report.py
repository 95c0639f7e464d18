# SPDX-License-Identifier: GPL-2.0-or-later
"""Report for bench/net.sh: medians per (monitor, direction, size), ratios.

Input lines: IMPL DIR SIZE GUEST_PPS HOST_PPS GUEST_FRAMES HOST_FRAMES
(DIR tx = guest->host, counted where the frames land: the tap's rx_packets;
rx = host->guest, counted by the guest; veth lines carry DIR '-').
"""

import statistics
import sys
from collections import defaultdict


def main() -> None:
    results, env, secs = sys.argv[1], sys.argv[2], sys.argv[3]
    pps = defaultdict(list)
    for line in open(results):
        f = line.split()
        if len(f) < 5:
            continue
        impl, d, size, host_pps = f[0], f[1], int(f[2]), int(f[4])
        if impl == "veth":
            for dd in ("tx", "rx"):
                pps[("veth", dd, size)].append(host_pps)
        else:
            pps[(impl, d, size)].append(host_pps)

    print("virtio-net over a tap: packets/s and Mbit/s (frame bytes), median of the runs,")
    print(f"{secs} s per run; guest = tests/guest/virtio_netbench.c (polling, CPL3)")
    print(open(env).read().rstrip())
    print()
    hdr = f"{'':22}{'vmkit':>22}{'QEMU':>22}{'veth (limit)':>22}{'vmkit/QEMU':>12}{'vmkit/veth':>12}"
    print(hdr)
    sizes = sorted({k[2] for k in pps})
    for size in sizes:
        for d, name in (("tx", "guest->host"), ("rx", "host->guest")):
            row = f"{name + f' {size} B':22}"
            med = {}
            for impl in ("vmkit", "qemu", "veth"):
                v = pps.get((impl, d, size))
                if v:
                    med[impl] = statistics.median(v)
                    mbps = med[impl] * size * 8 / 1e6
                    row += f"{med[impl]:>11,.0f} {mbps:>8.1f} Mb"
                else:
                    row += f"{'-':>22}"
            for a, b in (("vmkit", "qemu"), ("vmkit", "veth")):
                row += f"{med[a] / med[b]:>12.2f}" if med.get(a) and med.get(b) else f"{'-':>12}"
            print(row)
    print()
    print("runs (pps):")
    for k in sorted(pps):
        print(f"  {k[0]:6} {k[1]} {k[2]:5}: {', '.join(f'{v:,}' for v in pps[k])}")


if __name__ == "__main__":
    main()
