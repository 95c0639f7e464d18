# Thin wrapper over meson/ninja. Every target installs the Debian packages
# it needs first (scripts/deps.sh), so a fresh Debian 12 machine needs
# nothing but `make demo` and `make check`.

BUILD ?= build
MESON_OPTS ?= -Dwerror=true
GUEST := $(BUILD)/guest
# Debian's python3-pytest lives with /usr/bin/python3 (not a pyenv python on PATH).
PYTEST ?= /usr/bin/python3 -m pytest

.PHONY: all build deps guest demo check check-unit check-guest check-slow check-kvm-tcg bench clean fuzz

all: build

deps:
	@scripts/deps.sh build

$(BUILD)/build.ninja:
	@scripts/deps.sh build
	meson setup $(BUILD) $(MESON_OPTS)

# The web root of vmkit serve, build/web: web/ plus its two npm packages
# (xterm.js, noVNC), installed by npm ci from web/package-lock.json.
build: $(BUILD)/build.ninja
	@scripts/deps.sh build
	ninja -C $(BUILD)
	scripts/web-vendor.sh $(BUILD)/web

# The default Linux guest: a minimal kernel from Debian's linux-source
# package with guest/patches (cached under ~/.cache/vmkit), a busybox
# initramfs, and the root disk (ext4: busybox init, tools, e2fsprogs).
guest:
	@scripts/deps.sh guest
	scripts/guest-kernel.sh $(GUEST)
	scripts/guest-initramfs.sh $(GUEST)
	scripts/guest-rootfs.sh $(GUEST)

# Boot the default guest from its root disk to a busybox shell on this
# terminal (Ctrl-A x quits; `poweroff` in the guest too). The disk is a qcow2
# linked clone of build/guest/rootfs.ext4, made anew for each demo, with user
# networking (udhcpc eth0 gets 10.0.2.15). On a PVM host (kvm_pvm) the
# kernel's boot takes tens of seconds: its code is emulated there.
demo: build guest
	@rm -f $(GUEST)/demo.qcow2
	$(BUILD)/vmkit img create -q -f qcow2 -b rootfs.ext4 -F raw $(GUEST)/demo.qcow2
	$(BUILD)/vmkit run --kernel $(GUEST)/kernel --memory 256M --cpus 2 \
		--disk path=$(GUEST)/demo.qcow2,format=qcow2 --net user --rng \
		--cmdline "console=ttyS0 root=/dev/vda rw"

check-unit: build
	meson test -C $(BUILD) --print-errorlogs

check-guest: build guest
	@scripts/deps.sh check
	$(PYTEST) -v -rs tests/guest tests/linux tests/img tests/mgmt tests/net tests/serve tests/display

check: build guest
	@scripts/deps.sh check
	meson test -C $(BUILD) --print-errorlogs
	$(PYTEST) -v -rs --durations=30 tests/guest tests/linux tests/img tests/mgmt tests/net tests/serve tests/display
	PYTEST="$(PYTEST)" scripts/kvm-smoke.sh
	tests/unit/asan.sh
	@scripts/deps.sh fuzz
	FUZZ_SEED=1 tests/fuzz/run.sh $(CHECK_FUZZ_SECS)

# On a host without /dev/kvm: the tests that start VMs, run on a KVM of
# their own inside QEMU's software emulation with nested SVM
# (scripts/kvm-under-tcg.sh), failing rather than skipping without KVM.
# Slow (everything emulated); timings there mean nothing.
KVM_TESTS ?= tests/guest tests/linux tests/mgmt tests/serve tests/display
check-kvm-tcg: build guest
	@scripts/deps.sh check
	scripts/kvm-under-tcg.sh 'VMKIT_REQUIRE_KVM=1 $(PYTEST) -v -rs -p no:cacheprovider $(KVM_TESTS)'

# Longer runs: Debian's own prebuilt kernel; OVMF, which make check skips on
# a PVM host (its code runs at CPL0, emulated there); and the tests marked
# pvm_slow, which make check skips there too (tests/conftest.py).
check-slow: build guest
	@scripts/deps.sh check slow
	scripts/guest-debian-kernel.sh $(GUEST)
	VMKIT_SLOW=1 $(PYTEST) -v -rs tests/slow tests/guest/test_firmware.py::test_ovmf_reaches_shell \
		tests/guest/test_q35.py::test_ovmf_on_q35
	VMKIT_SLOW=1 $(PYTEST) -v -rs -m pvm_slow tests/guest tests/linux tests/mgmt tests/net \
		tests/serve tests/display

bench: build guest
	@scripts/deps.sh bench
	bench/run.sh

# The libFuzzer targets (clang, ASan, UBSan; tests/fuzz/run.sh lists them), in
# build-fuzz/ apart from the gcc build: FUZZ_SECS seconds each, CHECK_FUZZ_SECS
# in make check (20, issue 16), one target per CPU at a time (FUZZ_JOBS):
# 23 targets take about four minutes on this 2-CPU host.
FUZZ_SECS ?= 60
CHECK_FUZZ_SECS ?= 20
fuzz:
	@scripts/deps.sh fuzz check
	tests/fuzz/run.sh $(FUZZ_SECS)

clean:
	rm -rf $(BUILD)
