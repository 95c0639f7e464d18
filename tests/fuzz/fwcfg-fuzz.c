// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for fw_cfg (vmm/hw/fw-cfg.c) and the i440FX's PAM
 * registers (vmm/arch/x86/firmware.c): the input is a guest's sequence of
 * port and MMIO accesses, selects, data reads, DMA access structures with
 * any control word, length and address (the structure itself put at any
 * address), and PAM writes with shadow-area reads and writes. RAM is 64
 * KiB with an inaccessible page on either side, so a transfer the device
 * lets past RAM's end faults at once.
 *
 * Ops (first byte % 8), then their bytes:
 *   0 select KEY16    1 read N8 data bytes    2 DMA CTL32 LEN32 ADDR64 AT16
 *   3 DMA port write OFF8 LEN8 VAL64          4 DMA port read OFF8 LEN8
 *   5 PAM REG8 VAL8   6 shadow read OFF16     7 shadow write OFF16 VAL8
 */
#include <endian.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmkit/device.h"
#include "vmkit/firmware.h"
#include "vmkit/fw-cfg.h"
#include "vmkit/vm.h"

extern const struct vm_device_class fw_cfg_class, firmware_class, pci_host_class;

#define RAM_SIZE	(64u << 10)

static struct vm vm;
static struct vm_config cfg;

static uint8_t *map_ram(void)
{
	size_t page = sysconf(_SC_PAGESIZE);
	uint8_t *p = mmap(NULL, RAM_SIZE + 2 * page, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		abort();
	mprotect(p, page, PROT_NONE);
	mprotect(p + page + RAM_SIZE, page, PROT_NONE);
	return p + page;
}

/* A BIOS image for the PAM side: 128 KiB of a pattern, in a file the firmware class reads. */
static const char *rom_file(void)
{
	static char path[] = "/tmp/vmkit-fwcfg-fuzz-XXXXXX";
	static uint8_t rom[128 << 10];
	int fd = mkstemp(path);
	size_t i;

	for (i = 0; i < sizeof(rom); i++)
		rom[i] = i * 13;
	if (fd < 0 || write(fd, rom, sizeof(rom)) != sizeof(rom))
		abort();
	close(fd);
	return path;
}

static void setup(void)
{
	static uint8_t big[5000];
	struct vk_err err = { 0 };
	const char *rom = rom_file();

	cfg = (struct vm_config){ .cpus = 1, .mem_bytes = RAM_SIZE, .firmware = FIRMWARE_BIOS,
				  .firmware_code = rom };
	vm.cfg = &cfg;
	vm.kvm_fd = vm.vm_fd = -1;
	vm.ram = map_ram();
	vm.ram_size = RAM_SIZE;
	vm.mem[0] = (struct mem_region){ 0, RAM_SIZE, vm.ram };
	vm.nr_mem = 1;
	vm.low_mem_top = RAM_SIZE;
	io_bus_init(&vm.pio);
	io_bus_init(&vm.mmio);
	if (pci_host_class.create(&vm, &err) || fw_cfg_class.create(&vm, &err) ||
	    firmware_class.create(&vm, &err)) {
		fprintf(stderr, "fwcfg-fuzz: %s\n", err.msg);
		abort();
	}
	unlink(rom);
	memset(big, 0xa5, sizeof(big));
	fw_cfg_add_file(&vm, "etc/e820", big, 40);
	fw_cfg_add_file(&vm, "bootorder", "/pci@i0cf8/*@2", 15);
	fw_cfg_add_file(&vm, "etc/empty", NULL, 0);
	fw_cfg_add_file(&vm, "etc/big", big, sizeof(big));
	fw_cfg_add_i64(&vm, FW_CFG_RAM_SIZE, RAM_SIZE);
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

static void dma_op(struct in *in)
{
	uint32_t ctl = take(in, 4), len = take(in, 4);
	uint64_t addr = take(in, 8), at = take(in, 2);
	uint32_t hi = htobe32(at >> 32), lo = htobe32((uint32_t)at);
	uint8_t *p;

	/* Small addresses land in RAM more often than not; big ones test the checks. */
	if (!(addr >> 63))
		addr &= 0x1ffff;
	p = vm_gpa_to_hva(&vm, at, 16);
	if (p) {
		ctl = htobe32(ctl);
		len = htobe32(len % 0x20000 == len ? len : len & 0x1ffff);
		addr = htobe64(addr);
		memcpy(p, &ctl, 4);
		memcpy(p + 4, &len, 4);
		memcpy(p + 8, &addr, 8);
	}
	io_bus_write(&vm.pio, FW_CFG_PORT_DMA, &hi, 4);
	io_bus_write(&vm.pio, FW_CFG_PORT_DMA + 4, &lo, 4);
}

static void pam_op(struct in *in)
{
	uint8_t reg = take(in, 1) % 8, val = take(in, 1);
	uint32_t addr = 0x80000000u | 0x58;

	io_bus_write(&vm.pio, 0xcf8, &addr, 4);
	io_bus_write(&vm.pio, 0xcfc + (reg & 3) + (reg & 4), &val, 1);
}

static void one(struct in *in)
{
	uint8_t op = take(in, 1) % 8, buf[256];
	uint64_t v;
	unsigned int off, len;

	switch (op) {
	case 0:
		v = htole16(take(in, 2));
		io_bus_write(&vm.pio, FW_CFG_PORT_SEL, &v, 2);
		break;
	case 1:
		len = take(in, 1);
		while (len--)
			io_bus_read(&vm.pio, FW_CFG_PORT_DATA, buf, 1);
		break;
	case 2:
		dma_op(in);
		break;
	case 3:
		off = take(in, 1) % 8;
		len = 1u << (take(in, 1) % 4);
		v = take(in, 8);
		if (off + len <= 8)
			io_bus_write(&vm.pio, FW_CFG_PORT_DMA + off, &v, len);
		break;
	case 4:
		off = take(in, 1) % 8;
		len = 1u << (take(in, 1) % 4);
		if (off + len <= 8)
			io_bus_read(&vm.pio, FW_CFG_PORT_DMA + off, buf, len);
		break;
	case 5:
		pam_op(in);
		break;
	case 6:
		io_bus_read(&vm.mmio, 0xc0000 + take(in, 2) % 0x40000, buf, 1);
		break;
	case 7:
		v = take(in, 2) % 0x40000;
		buf[0] = take(in, 1);
		io_bus_write(&vm.mmio, 0xc0000 + v, buf, 1);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	uint16_t zero = 0;

	if (!vm.ram)
		setup();
	while (in.n)
		one(&in);
	/* The next input starts from a selected signature and read-only shadow. */
	io_bus_write(&vm.pio, FW_CFG_PORT_SEL, &zero, 2);
	return 0;
}
