#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Turn the results bench/run.sh left in build/bench/results into a report.

Usage: report.py RESULTS_DIR ELAPSED_SECONDS CMDLINE
"""
import json
import os
import statistics
import sys

R = sys.argv[1]
ELAPSED = float(sys.argv[2])
CMDLINE = sys.argv[3]
summary = []  # (section, item, value, note)


def path(name):
    return os.path.join(R, name)


def err(name):
    try:
        with open(path(name + ".err")) as f:
            return f.read().strip().splitlines()[0]
    except OSError:
        return None


def jsonl(name):
    try:
        with open(path(name + ".jsonl")) as f:
            return [json.loads(l) for l in f if l.strip()]
    except OSError:
        return []


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, spec=".2f", unit=""):
    return "-" if x is None else f"{x:{spec}}{unit}"


def ratio(a, b):
    return a / b if a is not None and b else None


def goal(value, limit, lower_is_better=True):
    if value is None:
        return "n/a"
    ok = value <= limit if lower_is_better else value >= limit
    return "met" if ok else "MISSED"


out = []
p = out.append

p("vmkit benchmark report")
p("=" * 78)
try:
    with open(path("env.txt")) as f:
        out.extend(l.rstrip() for l in f)
except OSError:
    pass
p(f"bench wall time: {ELAPSED:.0f} s ({ELAPSED / 60:.1f} min)")
p("")

# --- 1. start-up ------------------------------------------------------------
p("1. Start-up: whole-process wall time, tiny PVH guest (firstinsn.elf)")
p("-" * 78)
p("   The guest's first instruction writes QEMU's isa-debug-exit port (0xf4),")
p("   which ends the monitor there. Timed with hyperfine -N -i (no shell), 128 MiB")
p("   guest, console off. floor = bench/floor.c: open /dev/kvm, create VM,")
p("   128 MiB slot, 1 vCPU, 5 bytes of real-mode code, run to the first")
p("   KVM_EXIT_IO (OUT to 0x3f8), exit. user/sys: mean CPU time per run.")
p("")
HF = {
    "floor": "build/bench/floor",
    "floor-irqchip": "build/bench/floor irqchip (+ KVM_CREATE_IRQCHIP)",
    "floor-pit": "build/bench/floor pit (+ KVM_CREATE_IRQCHIP + KVM_CREATE_PIT2)",
    "vmkit": "vmkit run --memory 128M --console none",
    "microvm": "qemu -M microvm -m 128 -serial null",
    "pc": "qemu -M pc -m 128 -serial null",
}
hf = {}
p(f"   {'':13} {'runs':>4} {'median':>10} {'mean':>10} {'stddev':>9} {'min':>9} {'max':>9} "
  f"{'user':>8} {'sys':>8}")
for name, desc in HF.items():
    try:
        with open(path(f"hf-{name}.json")) as f:
            r = json.load(f)["results"][0]
        t = [x * 1000 for x in r["times"]]
        hf[name] = statistics.median(t)
        p(f"   {name:13} {len(t):4d} {statistics.median(t):8.2f}ms {statistics.mean(t):8.2f}ms "
          f"{(statistics.stdev(t) if len(t) > 1 else 0):7.2f}ms {min(t):7.2f}ms {max(t):7.2f}ms "
          f"{r['user'] * 1000:6.2f}ms {r['system'] * 1000:6.2f}ms")
    except (OSError, KeyError, ValueError, IndexError):
        hf[name] = None
        p(f"   {name:13} FAILED: {err('hf-' + name) or 'no result'}")
p("")
for name, desc in HF.items():
    p(f"   {name:13} = {desc}")
p("")
r_floor = ratio(hf["vmkit"], hf["floor"])
r_micro = ratio(hf["vmkit"], hf["microvm"])
r_pit = ratio(hf["vmkit"], hf["floor-pit"])
p(f"   vmkit / floor     = {fmt(r_floor, '.2f', 'x'):>8}   (goal <= 1.5x: {goal(r_floor, 1.5)})")
p(f"   vmkit / microvm   = {fmt(r_micro, '.3f', 'x'):>8}   (goal <= 0.2x: {goal(r_micro, 0.2)})")
p(f"   vmkit / floor-pit = {fmt(r_pit, '.2f', 'x'):>8}   (floor with the same in-kernel irqchip and PIT)")
p(f"   microvm / floor   = {fmt(ratio(hf['microvm'], hf['floor']), '.2f', 'x'):>8}")
p(f"   pc / floor        = {fmt(ratio(hf['pc'], hf['floor']), '.1f', 'x'):>8}")
p("   floor-irqchip and floor-pit show what creating, and tearing down at exit,")
p("   KVM's in-kernel irqchip and PIT cost on this host. Wall times include")
p("   waiting for CPU: see the load average above (the host may be shared).")
p("")
for name in HF:
    summary.append(("start-up", f"{name} median", fmt(hf[name], ".2f", " ms"),
                    "" if hf[name] is not None else (err("hf-" + name) or "failed")))
summary.append(("start-up", "vmkit / floor", fmt(r_floor, ".2f", "x"), f"goal <= 1.5x: {goal(r_floor, 1.5)}"))
summary.append(("start-up", "vmkit / microvm", fmt(r_micro, ".3f", "x"), f"goal <= 0.2x: {goal(r_micro, 0.2)}"))
summary.append(("start-up", "vmkit / floor-pit", fmt(r_pit, ".2f", "x"), "floor + in-kernel irqchip + PIT"))

# --- 2. memory --------------------------------------------------------------
p("2. Memory overhead: peak RSS minus resident guest RAM, 1 vCPU (hello.elf)")
p("-" * 78)
p("   Method (bench/memprobe.py): the monitor runs under ptrace with")
p("   PTRACE_O_TRACEEXIT; at its exit stop, memory still mapped, VmHWM (peak")
p("   RSS) is read from /proc/PID/status and the Rss of the guest-RAM mapping")
p("   (the mapping at least as large as the guest) from /proc/PID/smaps; smaps")
p("   is also polled every 1 ms while it runs and the largest guest Rss kept.")
p("   overhead = VmHWM - guest Rss (guest Rss counts whole 2 MiB pages where")
p("   the monitor uses THP for guest RAM). Same guest with 128 MiB and 512 MiB:")
p("   equal peaks mean guest RAM is not touched up front. Medians over runs.")
p("")
p(f"   {'':12} {'runs':>4} {'peak RSS':>10} {'guest Rss':>10} {'overhead':>10} "
  f"{'anon':>9} {'file':>9} {'guest THP':>9}")
mem = {}
for name in ("vmkit-128", "vmkit-512", "microvm-128", "microvm-512"):
    rs = [r for r in jsonl("mem-" + name) if r.get("exit_status") == 0]
    if not rs:
        mem[name] = None
        e = err("mem-" + name)
        bad = jsonl("mem-" + name)
        if not e and bad:
            e = f"exit status {bad[0].get('exit_status')}"
        p(f"   {name:12} FAILED: {e or 'no result'}")
        continue

    def m(f):
        v = med([f(r) for r in rs])
        return None if v is None else v / 1024

    st = lambda r: (r.get("exit_sample") or {}).get("status") or {}
    gg = lambda r: (r.get("poll_max_guest") or (r.get("exit_sample") or {}).get("guest") or {})
    d = {
        "peak": m(lambda r: r.get("peak_rss_kib")),
        "guest": m(lambda r: r.get("guest_touched_kib")),
        "over": m(lambda r: r.get("overhead_kib")),
        "anon": m(lambda r: st(r).get("RssAnon")),
        "file": m(lambda r: st(r).get("RssFile")),
        "thp": m(lambda r: gg(r).get("anon_huge_kib")),
    }
    mem[name] = d
    p(f"   {name:12} {len(rs):4d} {fmt(d['peak'], '.2f', ' MiB'):>10} {fmt(d['guest'], '.2f', ' MiB'):>10} "
      f"{fmt(d['over'], '.2f', ' MiB'):>10} {fmt(d['anon'], '.2f', ' MiB'):>9} "
      f"{fmt(d['file'], '.2f', ' MiB'):>9} {fmt(d['thp'], '.0f', ' MiB'):>9}")
p("   (anon/file: RssAnon/RssFile at exit; file = binary and shared libraries)")
p("")
vo = mem["vmkit-128"]["over"] if mem.get("vmkit-128") else None
qo = mem["microvm-128"]["over"] if mem.get("microvm-128") else None
for a, b in (("vmkit-128", "vmkit-512"), ("microvm-128", "microvm-512")):
    if mem.get(a) and mem.get(b):
        dlt = mem[b]["peak"] - mem[a]["peak"]
        p(f"   {a.split('-')[0]}: peak RSS 512 MiB guest - 128 MiB guest = {dlt * 1024:+.0f} KiB "
          f"({'guest RAM not touched up front' if abs(dlt) < 1 else 'grows with guest size'})")
p(f"   vmkit overhead = {fmt(vo, '.2f', ' MiB')} (goal < 2 MiB: {goal(vo, 2.0 - 1e-9)}); "
  f"QEMU microvm overhead = {fmt(qo, '.2f', ' MiB')}; ratio {fmt(ratio(vo, qo), '.3f', 'x')}")
p("")
summary.append(("memory", "vmkit overhead", fmt(vo, ".2f", " MiB"), f"goal < 2 MiB: {goal(vo, 2.0 - 1e-9)}"))
summary.append(("memory", "microvm overhead", fmt(qo, ".2f", " MiB"), ""))
summary.append(("memory", "vmkit / microvm", fmt(ratio(vo, qo), ".3f", "x"), ""))

# --- 3. Linux boot ----------------------------------------------------------
p("3. Linux boot to \"Run /init as init process\" (same kernel and initramfs)")
p("-" * 78)
p(f"   cmdline \"{CMDLINE}\", 256 MiB, 1 vCPU, initramfs decompressed")
p("   (build/bench/initramfs.cpio), --no-reboot / -no-reboot. Times from just")
p("   before the fork; \"to init\" = when the line appeared on the console,")
p("   \"printk\" = the kernel's own timestamp on that line, \"total\" = until")
p("   the monitor exited (vmkit: after the panic on this PVM host, init cannot")
p("   make syscalls; QEMU: killed 1 s after it reports a KVM emulation failure).")
p("")
p(f"   {'':16} {'runs':>4} {'to init':>9} {'printk':>9} {'total':>9}  result")
BOOT = ["vmkit-vmlinux", "vmkit-bzImage", "microvm-vmlinux", "microvm-bzImage",
        "pc-vmlinux", "pc-bzImage"]
boot = {}
for name in BOOT:
    rs = jsonl("boot-" + name)
    if not rs:
        boot[name] = None
        p(f"   {name:16} FAILED: {err('boot-' + name) or 'no result'}")
        summary.append(("linux", f"{name} to init", "-", err("boot-" + name) or "failed"))
        continue
    ok = [r for r in rs if r.get("marker_s") is not None]
    d = {
        "init": med([r["marker_s"] for r in ok]),
        "printk": med([r.get("marker_kernel_s") for r in ok]),
        "total": med([r.get("total_s") for r in rs]),
    }
    boot[name] = d
    results = []
    for r in rs:
        if r.get("failure"):
            s = f"failed at {r.get('failure_s', r.get('total_s')):.1f} s: {r['failure']}"
            if r.get("failure_rip"):
                s += f" (RIP {r['failure_rip']})"
            if r.get("last_console") is None:
                s += ", no console output"
        elif r.get("killed"):
            s = f"killed: {r['killed']}"
            if r.get("marker_s") is None:
                s += (f"; last console line: {r['last_console']}" if r.get("last_console")
                      else "; no console output")
        elif r.get("marker_s") is None:
            s = (f"no \"Run /init\", exit {r.get('exit_status')}; "
                 f"last console line: {r.get('last_console')}; stderr: {r.get('stderr_last')}")
        else:
            s = f"reached init, exit {r.get('exit_status')}"
        results.append(s)
    uniq = list(dict.fromkeys(results))
    res_txt = uniq[0] if len(uniq) == 1 else "; ".join(uniq)
    if len(rs) > 1 and len(uniq) == 1:
        res_txt += f" (all {len(rs)})"
    p(f"   {name:16} {len(rs):4d} {fmt(d['init'], '.2f', ' s'):>9} {fmt(d['printk'], '.2f', ' s'):>9} "
      f"{fmt(d['total'], '.2f', ' s'):>9}  {res_txt}")
    if len(ok) > 1:
        p(f"   {'':16} to init per run: " + ", ".join(f"{r['marker_s']:.2f}" for r in ok) + " s")
    d["note"] = res_txt
    if d["init"] is not None:
        summary.append(("linux", f"{name} to init", fmt(d["init"], ".2f", " s"),
                        f"printk {fmt(d['printk'], '.2f', ' s')}, total {fmt(d['total'], '.2f', ' s')}"))
    else:
        fs = med([r.get("failure_s") for r in rs])
        summary.append(("linux", f"{name} to init",
                        "-" if fs is None else f"fail@{fs:.1f} s", rs[0].get("failure") or res_txt))
p("")
for name in BOOT:
    rs = [r for r in jsonl("boot-" + name) if r.get("marker_s") is not None
          and r.get("marker_kernel_s") is not None]
    if rs:
        pre = med([r["marker_s"] - r["marker_kernel_s"] for r in rs])
        p(f"   {name}: to init - printk = {pre:.2f} s (before the kernel's clock"
          f" starts: monitor, firmware, decompressor, early boot)")
vv = boot.get("vmkit-vmlinux") or {}
vb = boot.get("vmkit-bzImage") or {}
rb = ratio(vb.get("init"), vv.get("init"))
p("")
p(f"   vmkit bzImage / PVH vmlinux (to init) = {fmt(rb, '.2f', 'x')}")
p("   The initramfs is unpacked by the emulated guest kernel; most of the time")
p("   is guest CPL0 code running ~5000x slower under PVM, not the monitor.")
p("")
summary.append(("linux", "vmkit bzImage / vmlinux", fmt(rb, ".2f", "x"), ""))

# --- summary ----------------------------------------------------------------
p("Summary")
p("=" * 78)
w = max(len(s[1]) for s in summary)
p(f"   {'section':9} {'item':{w}}  {'median':>12}  note")
for sec, item, val, note in summary:
    if len(note) > 64:
        note = note[:61] + "..."
    p(f"   {sec:9} {item:{w}}  {val:>12}  {note}")
print("\n".join(out))
