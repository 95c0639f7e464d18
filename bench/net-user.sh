#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# User-mode NAT networking (--net user, libslirp) side by side: vmkit (slirp in
# the vmkit-slirp helper, frames over a socketpair) and QEMU (-netdev user,
# slirp in its main loop), the same guest, UDP through the NAT both ways:
#
#   guest->host  the guest (tests/guest/virtio_net_user.c, udp_tx=) sends
#                SIZE-byte UDP frames to 10.0.2.2:PORT for SECS seconds;
#                bench/udpblast counts what reaches 127.0.0.1:PORT
#   host->guest  udpblast sends to a udp hostfwd on 127.0.0.1; the guest
#                (udp_rx=) counts what arrives in SECS seconds
#
# Sizes 60 (packet rate) and 1514 (throughput). The median of RUNS runs; the
# report gives packets/s, Mbit/s of frames and vmkit/QEMU. Everything stays on
# 127.0.0.1. Knobs: BENCH_NETU_RUNS (3), BENCH_NETU_SECS (3), BENCH_QEMU.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=build/bench/net-user
VMKIT=build/vmkit
GUEST=build/tests/guest/virtio_net_user.elf
QEMU=${BENCH_QEMU:-qemu-system-x86_64}
RUNS=${BENCH_NETU_RUNS:-3}
SECS=${BENCH_NETU_SECS:-3}
PORT=${BENCH_NETU_PORT:-47311}
HPORT=$((PORT + 1))
QEMU_BASE=(-M q35 -accel kvm -cpu host,-arch-capabilities -nodefaults -no-user-config
	-nographic -m 128 -no-reboot -serial stdio -device isa-debug-exit)

rm -rf "$OUT"
mkdir -p "$OUT/logs"
if [ ! -f "$GUEST" ] || [ ! -x "$VMKIT" ] || [ ! -x build/vmkit-slirp ]; then
	echo "user networking: $GUEST, $VMKIT or build/vmkit-slirp missing" | tee "$OUT/report.txt"
	exit 1
fi
gcc -O2 -Wall -o "$OUT/udpblast" bench/udpblast.c
have_qemu=1
command -v "$QEMU" >/dev/null || have_qemu=0

# cmd IMPL CMDLINE: the monitor's command line in CMD.
cmd() {
	local fwd="hostfwd=udp:127.0.0.1:$HPORT-:5555"
	if [ "$1" = vmkit ]; then
		CMD=("$VMKIT" run --kernel "$GUEST" --memory 128M --console stdio --no-reboot
			--net "user,$fwd" --cmdline "$2")
	else
		CMD=("$QEMU" "${QEMU_BASE[@]}" -kernel "$GUEST" -append "$2"
			-netdev "user,id=n0,$fwd"
			-device virtio-net-pci,netdev=n0,disable-legacy=on,romfile=)
	fi
	printf '%q ' "${CMD[@]}" >> "$OUT/commands.txt"
	echo >> "$OUT/commands.txt"
}
val() { grep -o "$1=[0-9]*" "$2" | tail -1 | cut -d= -f2; }

# tx IMPL SIZE RUN: prints delivered packets/s (host-counted).
tx() {
	local log=$OUT/logs/$1-tx-$2-$3.txt n us
	"$OUT/udpblast" sink "$PORT" $((SECS + 60)) > "$log.sink" &
	local spid=$!
	until grep -q ready "$log.sink" 2>/dev/null; do sleep 0.05; done
	cmd "$1" "udp_tx=$PORT size=$2 secs=$SECS"
	timeout $((SECS + 60)) "${CMD[@]}" < /dev/null > "$log" 2>&1 || true
	wait "$spid" || true
	grep -q 'virtio_net_user PASS' "$log" || { echo "FAILED $1 tx $2: $(tail -1 "$log")" >&2; return; }
	n=$(grep -o 'datagrams=[0-9]*' "$log.sink" | cut -d= -f2)
	us=$(val udp_tx_us "$log")
	echo $((n * 1000000 / us))
}

# rx IMPL SIZE RUN: prints packets/s the guest received.
rx() {
	local log=$OUT/logs/$1-rx-$2-$3.txt
	cmd "$1" "udp_rx=5555 secs=$SECS"
	timeout $((SECS + 60)) "${CMD[@]}" < /dev/null > "$log" 2>&1 &
	local pid=$!
	local t=0
	until grep -q udp_rx_ready "$log" 2>/dev/null || [ $t -gt 600 ]; do sleep 0.05; t=$((t + 1)); done
	"$OUT/udpblast" blast "$HPORT" "$2" $((SECS + 3)) > "$log.blast" || true
	wait "$pid" || true
	grep -q 'virtio_net_user PASS' "$log" || { echo "FAILED $1 rx $2: $(tail -1 "$log")" >&2; return; }
	val udp_rx_pps "$log"
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print 0}'; }

{
	echo "user networking (--net user vs QEMU -netdev user), UDP through the NAT, median of $RUNS x ${SECS}s"
	echo "  vmkit: libslirp in vmkit-slirp, frames over a SOCK_SEQPACKET socketpair; QEMU: $($QEMU --version 2>/dev/null | head -1 || echo missing)"
	printf '  %-12s %5s %12s %9s %12s %9s %7s\n' direction size "vmkit pps" "Mbit/s" "QEMU pps" "Mbit/s" ratio
} > "$OUT/report.txt"
for dir in tx rx; do
	for size in 60 1514; do
		v=$(for r in $(seq "$RUNS"); do $dir vmkit "$size" "$r"; done | median)
		q=0
		if [ $have_qemu = 1 ]; then
			q=$(for r in $(seq "$RUNS"); do $dir qemu "$size" "$r"; done | median)
		fi
		ratio=$(awk -v v="$v" -v q="$q" 'BEGIN { if (q > 0) printf "%.2fx", v / q; else print "-" }')
		name=$([ $dir = tx ] && echo guest-\>host || echo host-\>guest)
		printf '  %-12s %5s %12s %9s %12s %9s %7s\n' "$name" "$size" "$v" \
			$((v * size * 8 / 1000000)) "$q" $((q * size * 8 / 1000000)) "$ratio" >> "$OUT/report.txt"
	done
done
echo "  (guest->host counted at the host's socket; host->guest counted by the guest; the guest polls at CPL3, so the emulated guest kernel does not limit these)" >> "$OUT/report.txt"
cat "$OUT/report.txt"
