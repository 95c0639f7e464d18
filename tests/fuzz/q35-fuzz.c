// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for the Q35 chipset (vmm/hw/q35-mch.c, ich9-lpc.c and
 * the ECAM path of vmm/hw/pci.c, the MCFG patching of
 * vmm/arch/x86/acpi-q35.c): the input is a guest's config cycles through
 * CF8/CFC and through ECAM wherever PCIEXBAR puts it (including over RAM,
 * the ROM or other windows, and at any length), PMBASE/ACPI_CNTL moves and
 * port I/O in and around the PM block. The VM boots "through firmware" so
 * fw_cfg holds the ACPI tables a PCIEXBAR write patches.
 *
 * Ops (first byte % 8), then their bytes:
 *   0 CF8 ADDR32               1 CFC write OFF8 LEN8 VAL32   2 CFC read OFF8 LEN8
 *   3 ECAM read OFF32 LEN8     4 ECAM write OFF32 LEN8 VAL64
 *   5 PCIEXBAR LO32 HI32       6 LPC REG8 VAL32 (PMBASE, ACPI_CNTL, PIRQ, RCBA)
 *   7 port PORT16 LEN8 VAL32 WRITE8
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmkit/device.h"
#include "vmkit/pci.h"
#include "vmkit/q35.h"
#include "vmkit/vm.h"
#include "vmkit/x86.h"

extern const struct vm_device_class pci_host_class, pm_class, q35_mch_class, ich9_lpc_class,
	fw_cfg_class, firmware_class;

#define RAM_SIZE	(1u << 20)

static struct vm vm;
static struct vm_config cfg;
static struct vcpu vcpu;
static struct pci_device dev;

static const char *rom_file(void)
{
	static char path[] = "/tmp/vmkit-q35-fuzz-XXXXXX";
	static uint8_t rom[128 << 10];
	int fd = mkstemp(path);

	memset(rom, 0xf4, sizeof(rom));
	if (fd < 0 || write(fd, rom, sizeof(rom)) != sizeof(rom))
		abort();
	close(fd);
	return path;
}

static void setup(void)
{
	struct vk_err err = { 0 };
	const char *rom = rom_file();

	cfg = (struct vm_config){ .cpus = 1, .mem_bytes = RAM_SIZE, .firmware = FIRMWARE_BIOS,
				  .firmware_code = rom, .machine = MACHINE_Q35 };
	vm.cfg = &cfg;
	vm.kvm_fd = vm.vm_fd = -1;
	vm.ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	vm.ram_size = RAM_SIZE;
	vm.mem[0] = (struct mem_region){ 0, RAM_SIZE, vm.ram };
	vm.nr_mem = 1;
	vm.low_mem_top = RAM_SIZE;
	vm.vcpus = &vcpu;
	vm.nr_vcpus = 1;
	io_bus_init(&vm.pio);
	io_bus_init(&vm.mmio);
	if (pci_host_class.create(&vm, &err) || pm_class.create(&vm, &err) ||
	    q35_mch_class.create(&vm, &err) || ich9_lpc_class.create(&vm, &err) ||
	    fw_cfg_class.create(&vm, &err) || firmware_class.create(&vm, &err) ||
	    x86_acpi_build_fw_cfg(&vm, &err)) {
		fprintf(stderr, "q35-fuzz: %s\n", err.msg);
		abort();
	}
	unlink(rom);
	/* A function with a BAR, so ECAM can be put over a BAR that is decoding. */
	pci_device_init(&dev, 0x1af4, 0x1041, 0x020000, 0, 0);
	pci_device_use_intx(&dev);
	if (pci_register_device(&vm, &dev, &err))
		abort();
}

struct in {
	const uint8_t *p;
	size_t n;
};

static uint64_t take(struct in *in, unsigned int bytes)
{
	uint64_t v = 0;

	while (bytes-- && in->n) {
		v = v << 8 | *in->p++;
		in->n--;
	}
	return v;
}

/* An access size the buses see: 1, 2, 4 or 8. */
static unsigned int size_of(uint8_t v)
{
	return 1u << (v % 4);
}

static void cfg_write(unsigned int slot, unsigned int reg, uint32_t v, unsigned int len)
{
	uint32_t addr = 0x80000000u | slot << 11 | (reg & 0xfc);

	io_bus_write(&vm.pio, 0xcf8, &addr, 4);
	io_bus_write(&vm.pio, 0xcfc + (reg & 3), &v, len);
}

static void ecam(struct in *in, bool write)
{
	uint64_t base, size, off = take(in, 4), v = 0;
	unsigned int len = size_of(take(in, 1));
	uint8_t buf[8];

	if (write)
		v = take(in, 8);
	q35_ecam_window(&vm, &base, &size);
	if (!size)
		return;
	off %= size;
	if (write) {
		memcpy(buf, &v, 8);
		io_bus_write(&vm.mmio, base + off, buf, len);
	} else {
		io_bus_read(&vm.mmio, base + off, buf, len);
	}
}

static void port_op(struct in *in)
{
	uint16_t port = take(in, 2);
	unsigned int len = size_of(take(in, 1)) % 8;
	uint32_t v = take(in, 4);

	/* Half the time near the PM block, where PMBASE usually puts it. */
	if (port & 0x8000)
		port = 0x600 + (port & 0x7f);
	len = len ? len : 4;
	if (take(in, 1) & 1)
		io_bus_write(&vm.pio, port, &v, len);
	else
		io_bus_read(&vm.pio, port, &v, len);
}

static void one(struct in *in)
{
	uint8_t op = take(in, 1) % 8, off, buf[8];
	uint32_t v, hi;
	unsigned int len;

	switch (op) {
	case 0:
		v = take(in, 4);
		io_bus_write(&vm.pio, 0xcf8, &v, 4);
		break;
	case 1:
		off = take(in, 1) % 4;
		len = size_of(take(in, 1)) % 8;
		v = take(in, 4);
		if (len && off + len <= 4)
			io_bus_write(&vm.pio, 0xcfc + off, &v, len);
		break;
	case 2:
		off = take(in, 1) % 4;
		len = size_of(take(in, 1)) % 8;
		if (len && off + len <= 4)
			io_bus_read(&vm.pio, 0xcfc + off, buf, len);
		break;
	case 3:
	case 4:
		ecam(in, op == 4);
		break;
	case 5:
		v = take(in, 4);
		hi = take(in, 4);
		cfg_write(0, Q35_PCIEXBAR, 0, 4);
		cfg_write(0, Q35_PCIEXBAR + 4, hi, 4);
		cfg_write(0, Q35_PCIEXBAR, v, 4);
		break;
	case 6:
		off = take(in, 1);
		v = take(in, 4);
		cfg_write(ICH9_LPC_SLOT, off, v, 4 - (off & 3) >= 4 ? 4 : 1);
		break;
	case 7:
		port_op(in);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };

	if (!vm.ram)
		setup();
	while (in.n)
		one(&in);
	/* The next input starts from the chipset after reset: ECAM and the PM block off. */
	cfg_write(0, Q35_PCIEXBAR, 0, 4);
	cfg_write(0, Q35_PCIEXBAR + 4, 0, 4);
	cfg_write(ICH9_LPC_SLOT, ICH9_ACPI_CNTL, 0, 1);
	return 0;
}
