# SPDX-License-Identifier: GPL-2.0-or-later
"""Drive a Linux guest booted from the test root disk, through its own shell.

    from linuxvm import LinuxVM, root_overlay

    with LinuxVM(tmp_path, disks=[f"path={root_overlay(tmp_path)},format=qcow2"]) as vm:
        vm.boot()                          # to the shell prompt on the console
        out = vm.sh("uname -r")            # runs in the guest, returns its output
        rc, out = vm.run("false")          # the same, with the exit status

The guest is build/guest/vmlinux, booted through its PVH entry, with root=/dev/vda (the ext4 image that
scripts/guest-rootfs.sh makes): busybox init runs /etc/init.d/rcS, then a
login shell on the console. Commands are typed on the console (the serial
port, or hvc0 with console="virtio"), exactly as a person would type them;
what the guest prints between two markers is the command's output. Every
`vmkit run` goes through build/vmkit; a QMP socket is always there.

VMKIT_LINUX_MONITOR=qemu-tcg runs the same tests under Debian's QEMU with
software emulation instead (options translated by qemu_argv()): a developer's
aid for checking the guest image and the tests' guest side on a host without
/dev/kvm. It tests QEMU, not vmkit; make check never sets it.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Optional

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "guest"))
from vmkit_harness import BUILD_DIR, VMKIT, require_vmkit  # noqa: E402
from qmp_client import QMP  # noqa: E402

GUEST = BUILD_DIR / "guest"
# Kernel work is emulated on PVM hosts: a boot to the shell takes tens of seconds.
BOOT_TIMEOUT = float(os.environ.get("VMKIT_LINUX_BOOT_TIMEOUT", "300"))
READY = "VMKIT-ROOTFS-READY"
MONITOR = os.environ.get("VMKIT_LINUX_MONITOR", "vmkit")
_DONE_RE = re.compile(r"@@E(\d+):(-?\d+)@@")


def guest_file(name: str) -> Path:
    p = GUEST / name
    if not p.is_file():
        pytest.fail(f"{p} is missing: build the Linux guest first (make guest)")
    return p


def root_overlay(tmp: Path, name: str = "root.qcow2") -> Path:
    """A qcow2 linked clone of the shared root disk: tests never write the base."""
    base = guest_file("rootfs.ext4")
    out = tmp / name
    subprocess.run([str(VMKIT), "img", "create", "-q", "-f", "qcow2", "-b", str(base),
                    "-F", "raw", str(out)], check=True, capture_output=True)
    return out


class GuestError(AssertionError):
    pass


class LinuxVM:
    def __init__(self, tmp: Path, *, disks: list[str] = (), nets: list[str] = (),
                 cpus: int = 1, memory: str = "256M", console: str = "serial",
                 extra: list[str] = (), cmdline: str = "", no_reboot: bool = True,
                 name: Optional[str] = None, monitor: str = MONITOR,
                 firmware: Optional[str] = None, kernel: str = "vmlinux"):
        self.monitor = monitor
        if monitor == "vmkit":
            require_vmkit()
        self.tmp = Path(tmp)
        self.qmp_path = self.tmp / f"qmp-{id(self)}.sock"
        tty = "hvc0" if console == "virtio" else "ttyS0"
        # firmware="bios" / "uefi,...": the firmware boots the disks (their
        # boot loader names the kernel and its command line), no --kernel.
        # kernel: "vmlinux" (PVH, the default) or "kernel" (the bzImage). On a
        # PVM host the bzImage's decompressor runs emulated at CPL0: ~25 s
        # before the kernel's first line, against ~5 s for the ELF's PVH entry.
        boot = (["--firmware", firmware] if firmware else
                ["--kernel", str(guest_file(kernel)),
                 "--cmdline", f"console={tty} root=/dev/vda rw panic=-1 {cmdline}".strip()])
        argv = [str(VMKIT), "run", *boot,
                "--cpus", str(cpus), "--memory", memory,
                "--console", "virtio:stdio" if console == "virtio" else "stdio",
                "--qmp", str(self.qmp_path)]
        if no_reboot:
            argv.append("--no-reboot")
        if name:
            argv += ["--name", name]
        for d in disks:
            argv += ["--disk", d]
        for n in nets:
            argv += ["--net", n]
        argv += list(extra)
        self.argv = argv
        self.proc: Optional[subprocess.Popen] = None
        self.out = bytearray()
        self.err = bytearray()
        self._cond = threading.Condition()
        self._seq = 0
        self._pos = 0  # where the next wait starts looking
        self._threads: list[threading.Thread] = []

    # --- process -----------------------------------------------------------
    def start(self, env: Optional[dict] = None) -> "LinuxVM":
        if self.monitor != "vmkit" and "run" in self.argv:
            i = self.argv.index(str(VMKIT))  # maybe behind a wrapper (ip netns exec)
            self.argv = self.argv[:i] + qemu_argv(self.argv[i:], self.tmp, self.monitor)
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        for stream, buf in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            t = threading.Thread(target=self._reader, args=(stream, buf), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def _reader(self, stream, buf: bytearray) -> None:
        while True:
            chunk = stream.read1(65536)
            with self._cond:
                if not chunk:
                    self._cond.notify_all()
                    return
                buf.extend(chunk)
                self._cond.notify_all()

    def text(self) -> str:
        with self._cond:
            return self.out.decode(errors="replace")

    def describe(self) -> str:
        tail = self.text()[-6000:]
        with self._cond:
            err = self.err.decode(errors="replace")[-3000:]
        rc = self.proc.poll() if self.proc else None
        return (f"\n$ {' '.join(self.argv)}\nexit code: {rc}\n--- console (tail) ---\n{tail}"
                f"\n--- stderr ---\n{err}")

    def wait_for(self, pattern: str | re.Pattern, timeout: float = 60.0,
                 since: Optional[int] = None) -> re.Match:
        """Wait until the console output (from `since`, default the last match) matches."""
        rx = re.compile(re.escape(pattern)) if isinstance(pattern, str) else pattern
        start = self._pos if since is None else since
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                text = self.out.decode(errors="replace")
                m = rx.search(text, start)
                if m:
                    self._pos = m.end()
                    return m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise GuestError(f"timed out after {timeout:.0f} s waiting for "
                                     f"{rx.pattern!r}{self.describe()}")
                if self.proc.poll() is not None and all(not t.is_alive() for t in self._threads):
                    raise GuestError(f"the monitor exited while waiting for {rx.pattern!r}"
                                     f"{self.describe()}")
                self._cond.wait(min(left, 0.5))

    def mark(self) -> int:
        with self._cond:
            return len(self.out)

    def type(self, text: str) -> None:
        """Type on the console (the monitor holds back what the guest cannot take yet)."""
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def boot(self, timeout: float = BOOT_TIMEOUT) -> float:
        """Start (if needed) and wait for the shell; returns the seconds it took."""
        t0 = time.monotonic()
        if self.proc is None:
            self.start()
        self.wait_for(READY, timeout)
        # The login shell's first prompt; commands typed before it would still
        # be read, but waiting keeps the output in order.
        self.wait_for(re.compile(r"vmkit:\S*# "), 60)
        return time.monotonic() - t0

    def wait_prompt(self, timeout: float = BOOT_TIMEOUT) -> None:
        """Attached to a running guest (its prompt may be long gone): press Enter
        until a prompt shows."""
        end = time.monotonic() + timeout
        while True:
            self.type("\n")
            try:
                self.wait_for(re.compile(r"vmkit:\S*# "), 10)
                return
            except GuestError:
                if time.monotonic() > end:
                    raise

    # --- commands ------------------------------------------------------------
    def run(self, cmd: str, timeout: float = 120.0) -> tuple[int, str]:
        """Run one shell command line in the guest: (exit status, output)."""
        self._seq += 1
        n = self._seq
        # Typed as one compound command, so that the shell reads (and echoes)
        # all of it before running any: the echo never lands in the output.
        # The markers are built by printf, so the echo of the typed text never
        # matches them (it shows the format, not the result).
        self.type(f"printf '@@B%s@@\\n' {n}; {{\n{cmd}\n}}; printf '@@E%s:%s@@\\n' {n} $?\n")
        b = self.wait_for(re.compile(rf"@@B{n}@@\r?\n"), timeout)
        e = self.wait_for(re.compile(rf"@@E{n}:(-?\d+)@@"), timeout)
        body = self.text()[b.end():e.start()]
        return int(e.group(1)), "\n".join(l.rstrip("\r") for l in body.split("\n")).rstrip("\n")

    def sh(self, cmd: str, timeout: float = 120.0) -> str:
        """Run a command that must succeed; its output."""
        rc, out = self.run(cmd, timeout)
        if rc != 0:
            raise GuestError(f"guest command failed with {rc}: {cmd}\n{out}{self.describe()}")
        return out

    # --- control ------------------------------------------------------------
    def qmp(self) -> QMP:
        """A negotiated QMP connection to this VM's monitor."""
        q = QMP(str(self.qmp_path))
        q.negotiate()
        return q

    def wait_exit(self, timeout: float = 120.0) -> int:
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise GuestError(f"the monitor did not exit within {timeout:.0f} s"
                             f"{self.describe()}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)

    def close(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for t in self._threads:
            t.join(timeout=5)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass

    def __enter__(self) -> "LinuxVM":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# What vmkit appends to a Linux command line on PVM hosts (vmm/arch/x86/boot.c):
# QEMU needs the same to get as far.
PVM_HIDE = ("noxsave clearcpuid=smap,smep,fsgsbase,rdpid,pku,pcid,invpcid,popcnt,cx16,movbe,"
            "clwb,clflushopt,rdseed,rdrand,ssse3,sse4_1,sse4_2,aes,pclmulqdq")


def qemu_argv(argv: list[str], tmp: Path, monitor: str = "qemu-tcg") -> list[str]:
    """`vmkit run` options as QEMU's: monitor "qemu-tcg" (software emulation, see
    above) or "qemu-kvm" (QEMU on /dev/kvm, for benchmarks side by side)."""
    q = ["qemu-system-x86_64", "-display", "none", "-monitor", "none", "-nodefaults",
         "-no-user-config"]
    if monitor == "qemu-kvm":
        # QEMU refuses the PVM host's ARCH_CAPABILITIES MSR with plain -cpu host.
        q += ["-accel", "kvm", "-cpu", "host,-arch-capabilities"]
    else:
        q += ["-accel", "tcg"]
    it = iter(argv[2:])
    nics = 0
    for opt in it:
        val = None if opt in ("--no-reboot", "--rng", "--balloon") else next(it)
        if opt == "--kernel":
            q += ["-kernel", val]
        elif opt == "--cmdline":
            pvm = monitor == "qemu-kvm" and os.path.exists("/sys/module/kvm_pvm")
            q += ["-append", f"{val} {PVM_HIDE}" if pvm else val]
        elif opt == "--memory":
            q += ["-m", val]
        elif opt == "--cpus":
            q += ["-smp", val]
        elif opt == "--name":
            q += ["-name", val]
        elif opt == "--no-reboot":
            q += ["-no-reboot"]
        elif opt == "--qmp":
            q += ["-qmp", f"unix:{val},server=on,wait=off"]
        elif opt == "--console":
            if val.startswith("virtio"):
                q += ["-serial", "none", "-chardev", "stdio,id=con0", "-device",
                      "virtio-serial-pci", "-device", "virtconsole,chardev=con0"]
            else:
                q += ["-serial", "stdio"]
        elif opt == "--disk":
            q += ["-drive", f"file={val[5:]},if=virtio"]  # path=P,format=F,cache=C,...
        elif opt == "--net":
            kind, _, rest = val.partition(",")
            kv = dict(o.split("=", 1) for o in rest.split(",") if o) if rest else {}
            nd = f"{kind},id=n{nics}"
            if kind == "user":
                nd += "".join(f",hostfwd={v}" for k, v in
                              (o.split("=", 1) for o in rest.split(",") if o) if k == "hostfwd")
            else:
                up = tmp / f"qemu-ifup-{nics}"
                up.write_text(f"#!/bin/sh\nip link set \"$1\" master {kv['bridge']} up\n")
                up.chmod(0o755)
                nd += f",script={up},downscript=no,vhost=off"
                if "queues" in kv:
                    nd += f",queues={kv['queues']}"
            dev = f"virtio-net-pci,netdev=n{nics}"
            if "queues" in kv:
                dev += f",mq=on,vectors={2 * int(kv['queues']) + 2}"
            q += ["-netdev", nd, "-device", dev]
            nics += 1
        elif opt == "--rng":
            q += ["-device", "virtio-rng-pci"]
        elif opt == "--balloon":
            q += ["-device", "virtio-balloon-pci"]
        elif opt == "--device":
            q += ["-device", val]    # virtio-tablet: the same name in QEMU
        else:
            raise ValueError(f"qemu_argv: no translation for {opt}")
    return q
