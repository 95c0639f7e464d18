#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# virtio-net packet rate and throughput over a tap: vmkit and QEMU side by
# side on the same tap with the same guest, and a host veth pair carrying
# the same traffic as the limit (section 5 of bench/run.sh; runs on its own
# too: bash bench/net.sh). Everything happens in a network namespace this
# script makes and removes.
#
# The guest is build/tests/guest/virtio_netbench.elf: a polling virtio-pci
# driver at CPL3, no interrupts:
#   guest->host  mode=tx: sends SIZE-byte frames for SECS seconds with the
#                transmit ring kept full; the tap's rx_packets counter says
#                how many reached the host's stack
#   host->guest  mode=rx: bench/netblast (AF_PACKET, sendmmsg, qdisc
#                bypassed) blasts SIZE-byte frames into the tap; the guest
#                counts what it receives in SECS seconds
#   veth         netblast into one end of a veth pair, rx_packets of the
#                other: what the host itself does with the same frames
# Sizes: 60 bytes (packet rate) and 1514 (throughput).
#
#   vmkit: --net tap,ifname=vt0,vhost=off (this host has no /dev/vhost-net)
#   QEMU:  -M q35, -netdev tap,vhost=off + virtio-net-pci,disable-legacy=on
#          (QEMU's vhost-net cannot run here either: no /dev/vhost-net)
#
# Progress on stderr, the report on stdout (and build/bench/net/report.txt).
# Knobs: BENCH_NET_RUNS (3), BENCH_NET_SECS (3), BENCH_NET_SIZES ("60 1514"),
# BENCH_QEMU.
set -euo pipefail

cd "$(dirname "$0")/.."
OUT=build/bench/net
VMKIT=build/vmkit
GUEST=build/tests/guest/virtio_netbench.elf
QEMU=${BENCH_QEMU:-qemu-system-x86_64}
RUNS=${BENCH_NET_RUNS:-3}
SECS=${BENCH_NET_SECS:-3}
SIZES=${BENCH_NET_SIZES:-60 1514}
MAC=52:54:00:be:ec:01
NS=vmkbench-$$
RUN_TIMEOUT=$((SECS + 60))
QEMU_BASE=(-M q35 -accel kvm -cpu host,-arch-capabilities -nodefaults -no-user-config
	-nographic -m 128 -no-reboot -serial stdio)

T0=$(date +%s.%N)
log() { printf '[net %6.1fs] %s\n' "$(echo "$(date +%s.%N) - $T0" | bc)" "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }

rm -rf "$OUT"
mkdir -p "$OUT/logs"
R=$OUT/results.txt
: > "$R"

if [ ! -f "$GUEST" ] || [ ! -x "$VMKIT" ]; then
	echo "virtio-net: $GUEST or $VMKIT missing (ninja -C build)" | tee "$OUT/report.txt"
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "virtio-net: needs root (a network namespace, a tap, a veth pair)" | tee "$OUT/report.txt"
	exit 1
fi
gcc -O2 -Wall -o "$OUT/netblast" bench/netblast.c

cleanup() { ip netns del "$NS" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$NS"
nsx() { ip netns exec "$NS" "$@"; }
nsx sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 || true
ip -n "$NS" tuntap add dev vt0 mode tap vnet_hdr
ip -n "$NS" link add ve0 type veth peer name ve1
for d in vt0 ve0 ve1; do ip -n "$NS" link set "$d" up; done
stat() { nsx cat "/sys/class/net/$1/statistics/$2"; }

{
	echo "host: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
	echo "kvm modules: $(ls /sys/module 2>/dev/null | grep '^kvm' | tr '\n' ' ' || true)"
	echo "vhost-net: $([ -e /dev/vhost-net ] && echo present || echo 'absent (vmkit and QEMU both without vhost)')"
	echo "qemu: $($QEMU --version 2>/dev/null | head -1 || echo missing)"
	echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$OUT/env.txt"

# monitor IMPL MODE SIZE: the command line of one guest run, in CMD.
monitor() {
	local impl=$1 cmdline="mode=$2 size=$3 secs=$SECS"
	if [ "$impl" = vmkit ]; then
		CMD=("$VMKIT" run --kernel "$GUEST" --memory 128M --console stdio
			--net "tap,ifname=vt0,mac=$MAC,vhost=off" --cmdline "$cmdline")
	else
		CMD=("$QEMU" "${QEMU_BASE[@]}" -kernel "$GUEST" -append "$cmdline"
			-netdev tap,id=n0,ifname=vt0,script=no,downscript=no,vhost=off
			-device "virtio-net-pci,netdev=n0,mac=$MAC,disable-legacy=on,romfile=")
	fi
	printf '%q ' "${CMD[@]}" >> "$OUT/commands.txt"
	echo >> "$OUT/commands.txt"
}

val() { grep -o "$1=[0-9]*" "$2" | tail -1 | cut -d= -f2; }

# tx IMPL SIZE RUN: guest -> host.
tx() {
	local impl=$1 size=$2 run=$3 log=$OUT/logs/$1-tx-$2-$3.txt before after us
	before=$(stat vt0 rx_packets)
	monitor "$impl" tx "$size"
	timeout "$RUN_TIMEOUT" ip netns exec "$NS" "${CMD[@]}" < /dev/null > "$log" 2>&1 || true
	after=$(stat vt0 rx_packets)
	if ! grep -q 'virtio_netbench PASS' "$log"; then
		log "FAILED $impl tx $size: $(grep -m1 -i 'fail\|error' "$log" || tail -1 "$log")"
		return
	fi
	us=$(val tx_us "$log")
	echo "$impl tx $size $(val tx_pps "$log") $(( (after - before) * 1000000 / us )) $(val tx_frames "$log") $((after - before))" >> "$R"
}

# rx IMPL SIZE RUN: host -> guest.
rx() {
	local impl=$1 size=$2 run=$3 log=$OUT/logs/$1-rx-$2-$3.txt pid
	monitor "$impl" rx "$size"
	timeout "$RUN_TIMEOUT" ip netns exec "$NS" "${CMD[@]}" < /dev/null > "$log" 2>&1 &
	pid=$!
	# Blast until the guest is done (it counts SECS seconds from its first frame).
	nsx "$OUT/netblast" vt0 "$MAC" "$size" $((SECS + 20)) > "$log.blast" 2>&1 &
	local bpid=$!
	wait "$pid" || true
	kill "$bpid" 2>/dev/null || true
	wait "$bpid" 2>/dev/null || true
	if ! grep -q 'virtio_netbench PASS' "$log"; then
		log "FAILED $impl rx $size: $(grep -m1 -i 'fail\|error' "$log" || tail -1 "$log")"
		return
	fi
	echo "$impl rx $size $(val rx_pps "$log") $(val rx_pps "$log") $(val rx_frames "$log") -" >> "$R"
}

# veth SIZE: the host's own rate for the same frames.
veth() {
	local size=$1 before after out
	before=$(stat ve1 rx_packets)
	out=$(nsx "$OUT/netblast" ve0 "$MAC" "$size" "$SECS")
	after=$(stat ve1 rx_packets)
	echo "veth - $size $(( (after - before) / SECS )) $(( (after - before) / SECS )) $((after - before)) -" >> "$R"
	echo "$out" >> "$OUT/logs/veth-$size.txt"
}

for size in $SIZES; do
	for run in $(seq "$RUNS"); do
		log "size $size run $run/$RUNS"
		tx vmkit "$size" "$run"
		rx vmkit "$size" "$run"
		if have "$QEMU"; then
			tx qemu "$size" "$run"
			rx qemu "$size" "$run"
		fi
		veth "$size"
	done
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/env.txt"
python3 bench/net_report.py "$R" "$OUT/env.txt" "$SECS" | tee "$OUT/report.txt"
