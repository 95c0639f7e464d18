# Thin wrapper over meson/ninja. Every target installs the Debian packages
# it needs first (scripts/deps.sh), so a fresh Debian 12 machine needs
# nothing but `make demo` and `make check`.

BUILD ?= build
MESON_OPTS ?= -Dwerror=true
GUEST := $(BUILD)/guest
# Debian's python3-pytest lives with /usr/bin/python3 (not a pyenv python on PATH).
PYTEST ?= /usr/bin/python3 -m pytest

.PHONY: all build deps guest demo check check-unit check-guest check-slow bench clean fuzz

all: build

deps:
	@scripts/deps.sh build

$(BUILD)/build.ninja:
	@scripts/deps.sh build
	meson setup $(BUILD) $(MESON_OPTS)

build: $(BUILD)/build.ninja
	@scripts/deps.sh build
	ninja -C $(BUILD)

# The default Linux guest: a minimal kernel from Debian's linux-source
# package and a busybox initramfs, both cached under ~/.cache/vmkit.
guest:
	@scripts/deps.sh guest
	scripts/guest-kernel.sh $(GUEST)
	scripts/guest-initramfs.sh $(GUEST)

# Boot the default guest to a busybox shell on this terminal (Ctrl-A x quits).
# On a PVM host (kvm_pvm) the guest kernel boots but its user space cannot make
# system calls (see README), so there the demo ends at the kernel's panic.
demo: build guest
	@if [ -e /sys/module/kvm_pvm ]; then \
		echo "make demo: this host's KVM is PVM: the kernel boots (tens of seconds), but /init"; \
		echo "make demo: cannot make system calls here, so no shell; vmkit exits after the panic."; \
	fi
	$(BUILD)/vmkit run --kernel $(GUEST)/kernel --initrd $(GUEST)/initramfs.cpio \
		--memory 256M --cmdline "console=ttyS0 panic=-1 vmkit.action=shell" \
		$$( [ -e /sys/module/kvm_pvm ] && echo --no-reboot )

check-unit: build
	meson test -C $(BUILD) --print-errorlogs

check-guest: build guest
	@scripts/deps.sh check
	$(PYTEST) -v -rs tests/guest tests/linux tests/img tests/mgmt tests/net

check: build guest
	@scripts/deps.sh check
	meson test -C $(BUILD) --print-errorlogs
	$(PYTEST) -v -rs tests/guest tests/linux tests/img tests/mgmt tests/net
	@scripts/deps.sh fuzz
	tests/fuzz/run.sh $(CHECK_FUZZ_SECS)

# Longer runs: Debian's own prebuilt kernel.
check-slow: build guest
	@scripts/deps.sh check slow
	scripts/guest-debian-kernel.sh $(GUEST)
	VMKIT_SLOW=1 $(PYTEST) -v -rs tests/slow

bench: build guest
	@scripts/deps.sh bench
	bench/run.sh

# The libFuzzer target for the qcow2 open/read path (clang, ASan, UBSan), in
# build-fuzz/ apart from the gcc build: FUZZ_SECS seconds (make check: CHECK_FUZZ_SECS).
FUZZ_SECS ?= 300
CHECK_FUZZ_SECS ?= 20
fuzz:
	@scripts/deps.sh fuzz check
	tests/fuzz/run.sh $(FUZZ_SECS)

clean:
	rm -rf $(BUILD)
