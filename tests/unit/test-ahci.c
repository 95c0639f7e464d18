// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The AHCI controller (vmm/hw/ahci.c) driven through its registers as
 * SeaBIOS and Linux's ahci driver drive it, on a VM without KVM: PCI
 * config cycles on ports 0xcf8/0xcfc to find and enable the function,
 * then the ABAR over the MMIO bus, command lists, command tables and
 * PRDTs in guest RAM. Port 0 is a disk on a temporary raw file, port 1 an
 * ATAPI CD-ROM on an ISO made with xorriso (those steps skip without it).
 * Commands complete on an event loop thread, as on the device loop.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmkit/ahci.h"
#include "vmkit/device.h"
#include "vmkit/firmware.h"
#include "vmkit/evloop.h"
#include "vmkit/pci.h"
#include "vmkit/vm.h"

#define RAM_SIZE	(16u << 20)
#define DISK_SIZE	(8u << 20)
#define CLB		0x10000		/* port p's command list at CLB + 0x1000 * p */
#define FB		0x20000		/* its FIS area at FB + 0x1000 * p */
#define CTBA		0x30000		/* slot s's table at CTBA + 0x1000 * s */
#define BUF		0x100000	/* data buffers */

static struct vm vm;
static struct vm_config cfg;
static struct ahci *hba;
static uint64_t abar;
static pthread_t loop_thread;
static int stop_efd;
extern const struct vm_device_class fw_boot_class;

static char disk_path[] = "/tmp/vmkit-test-ahci-XXXXXX";
static char iso_dir[] = "/tmp/vmkit-test-ahci-iso-XXXXXX";
static char iso_path[600];
static bool have_iso;

int pci_create(struct vm *vm, struct vk_err *err);
unsigned int vm_device_slot(void);

static int on_stop(void *opaque, int fd, uint32_t events)
{
	return 1;
}

static void *run_loop(void *arg)
{
	evloop_run(vm.loop);
	return NULL;
}

static uint32_t cfg_read32(unsigned int slot, unsigned int off)
{
	uint32_t addr = 0x80000000u | slot << 11 | off, v = 0;

	io_bus_write(&vm.pio, 0xcf8, &addr, 4);
	io_bus_read(&vm.pio, 0xcfc, &v, 4);
	return v;
}

static void cfg_write32(unsigned int slot, unsigned int off, uint32_t v)
{
	uint32_t addr = 0x80000000u | slot << 11 | off;

	io_bus_write(&vm.pio, 0xcf8, &addr, 4);
	io_bus_write(&vm.pio, 0xcfc, &v, 4);
}

static uint32_t rd(unsigned int off)
{
	uint32_t v = 0;

	assert_true(io_bus_read(&vm.mmio, abar + off, &v, 4));
	return v;
}

static void wr(unsigned int off, uint32_t v)
{
	assert_true(io_bus_write(&vm.mmio, abar + off, &v, 4));
}

static unsigned int preg(unsigned int port, unsigned int reg)
{
	return 0x100 + 0x80 * port + reg;
}

static uint8_t *ram(uint64_t gpa)
{
	return vm.ram + gpa;
}

/* Start port p as a driver does: command list, FIS area, FRE then ST. */
static void port_start(unsigned int p)
{
	wr(preg(p, 0x00), CLB + 0x1000 * p);
	wr(preg(p, 0x04), 0);
	wr(preg(p, 0x08), FB + 0x1000 * p);
	wr(preg(p, 0x0c), 0);
	wr(preg(p, 0x30), 0xffffffff);		/* SERR */
	wr(preg(p, 0x10), 0xffffffff);		/* IS */
	wr(preg(p, 0x18), rd(preg(p, 0x18)) | 0x10);
	wr(preg(p, 0x18), rd(preg(p, 0x18)) | 0x01);
	assert_int_equal(rd(preg(p, 0x18)) & 0xc011, 0xc011);	/* CR, FR, FRE, ST */
}

struct prd {
	uint64_t gpa;
	uint32_t len;
};

/* Issue a command in slot 0 of port p and wait for it; returns PxTFD. */
static uint32_t issue(unsigned int p, const uint8_t *fis, const uint8_t *acmd, bool write,
		      bool atapi, const struct prd *prds, unsigned int n)
{
	uint8_t *hdr = ram(CLB + 0x1000 * p), *tbl = ram(CTBA);
	uint32_t dw0 = 5 | (atapi ? 1u << 5 : 0) | (write ? 1u << 6 : 0) | n << 16;
	unsigned int i, spins;

	memset(hdr, 0, 32);
	memset(tbl, 0, 0x80 + 16 * n);
	memcpy(hdr, &dw0, 4);
	*(uint32_t *)(hdr + 8) = CTBA;
	memcpy(tbl, fis, 20);
	if (acmd)
		memcpy(tbl + 0x40, acmd, 12);
	for (i = 0; i < n; i++) {
		uint32_t dbc = prds[i].len - 1;

		memcpy(tbl + 0x80 + 16 * i, &prds[i].gpa, 8);
		memcpy(tbl + 0x80 + 16 * i + 12, &dbc, 4);
	}
	wr(preg(p, 0x10), 0xffffffff);
	wr(preg(p, 0x38), 1);
	for (spins = 0; rd(preg(p, 0x38)) & 1; spins++) {
		assert_true(spins < 5000);
		usleep(1000);
	}
	return rd(preg(p, 0x20));
}

static void h2d(uint8_t *f, uint8_t cmd, uint64_t lba, uint16_t count)
{
	unsigned int i;

	memset(f, 0, 20);
	f[0] = 0x27;
	f[1] = 0x80;
	f[2] = cmd;
	for (i = 0; i < 3; i++)
		f[4 + i] = lba >> (8 * i);
	f[7] = 0x40;
	for (i = 3; i < 6; i++)
		f[5 + i] = lba >> (8 * i);
	f[12] = count;
	f[13] = count >> 8;
}

static uint16_t id_word(unsigned int w)
{
	uint16_t v;

	memcpy(&v, ram(BUF) + 2 * w, 2);
	return v;
}

static void test_registers(void **state)
{
	assert_int_equal(rd(0x00) & 0x1f, AHCI_PORTS - 1);
	assert_int_equal(rd(0x00) >> 8 & 0x1f, 31);		/* 32 slots */
	assert_true(rd(0x04) & (1u << 31));			/* AE */
	assert_int_equal(rd(0x0c), (1u << AHCI_PORTS) - 1);
	assert_int_equal(rd(0x10), 0x00010300);
	assert_int_equal(rd(preg(0, 0x28)), 0x113);
	assert_int_equal(rd(preg(0, 0x24)), 0x101);
	assert_int_equal(rd(preg(2, 0x28)), 0);			/* nothing on port 2 */
	if (have_iso)
		assert_int_equal(rd(preg(1, 0x24)), 0xeb140101);
	/* Unaligned and narrow writes are ignored; reads of any width work. */
	{
		uint8_t b = 0xff;

		io_bus_write(&vm.mmio, abar + preg(0, 0x00), &b, 1);
		io_bus_read(&vm.mmio, abar + 0x10 + 1, &b, 1);
		assert_int_equal(b, 0x03);
	}
}

static void test_identify_rw(void **state)
{
	uint8_t fis[20];
	struct prd prd = { BUF, 512 }, two[2] = { { BUF + 0x10000, 1024 }, { BUF + 0x20002, 3072 } };
	uint32_t tfd, prdbc;
	unsigned int i;

	port_start(0);
	h2d(fis, 0xec, 0, 0);
	tfd = issue(0, fis, NULL, false, false, &prd, 1);
	assert_int_equal(tfd & 0xff, 0x50);
	assert_true(rd(preg(0, 0x10)) & 0x3);			/* DHRS, PSS */
	assert_int_equal(ram(FB + 0x40)[0], 0x34);		/* the D2H FIS */
	assert_int_equal(ram(FB + 0x20)[0], 0x5f);		/* the PIO Setup FIS */
	assert_int_equal(id_word(0), 0x0040);
	assert_true(id_word(83) & (1u << 10));			/* LBA48 */
	assert_int_equal(id_word(100) | (uint32_t)id_word(101) << 16, DISK_SIZE / 512);
	/* Model, words 27-46: ATA strings swap each word's bytes. */
	for (i = 0; i < 14; i++)
		assert_int_equal(ram(BUF)[54 + (i ^ 1)], "VMKIT HARDDISK"[i]);
	memcpy(&prdbc, ram(CLB) + 4, 4);
	assert_int_equal(prdbc, 512);
	/* WRITE DMA EXT of 8 sectors over two PRDs (one unaligned), READ DMA EXT back. */
	for (i = 0; i < 4096; i++)
		ram(i < 1024 ? BUF + 0x10000 + i : BUF + 0x20002 + i - 1024)[0] = i * 13 + 1;
	h2d(fis, 0x35, 10, 8);
	assert_int_equal(issue(0, fis, NULL, true, false, two, 2) & 0xff, 0x50);
	memset(ram(BUF + 0x40000), 0, 4096);
	prd = (struct prd){ BUF + 0x40000, 4096 };
	h2d(fis, 0x25, 10, 8);
	assert_int_equal(issue(0, fis, NULL, false, false, &prd, 1) & 0xff, 0x50);
	assert_memory_equal(ram(BUF + 0x40000), ram(BUF + 0x10000), 1024);
	assert_memory_equal(ram(BUF + 0x40000 + 1024), ram(BUF + 0x20002), 3072);
	memcpy(&prdbc, ram(CLB) + 4, 4);
	assert_int_equal(prdbc, 4096);
	/* 28-bit READ DMA; FLUSH CACHE EXT; VERIFY. */
	h2d(fis, 0xc8, 10, 1);
	prd.len = 512;
	assert_int_equal(issue(0, fis, NULL, false, false, &prd, 1) & 0xff, 0x50);
	h2d(fis, 0xea, 0, 0);
	assert_int_equal(issue(0, fis, NULL, false, false, NULL, 0) & 0xff, 0x50);
	h2d(fis, 0x42, 0, 8);
	assert_int_equal(issue(0, fis, NULL, false, false, NULL, 0) & 0xff, 0x50);
}

static void test_trim_and_errors(void **state)
{
	uint8_t fis[20];
	struct prd prd = { BUF, 512 }, bad = { RAM_SIZE - 256, 4096 };
	uint64_t range = 10 | (uint64_t)8 << 48;
	uint32_t tfd;

	port_start(0);
	/* DATA SET MANAGEMENT, TRIM of LBA 10-17: they read as zeroes. */
	memset(ram(BUF), 0, 512);
	memcpy(ram(BUF), &range, 8);
	h2d(fis, 0x06, 0, 1);
	fis[3] = 1;
	assert_int_equal(issue(0, fis, NULL, true, false, &prd, 1) & 0xff, 0x50);
	memset(ram(BUF + 0x1000), 0xee, 4096);
	prd = (struct prd){ BUF + 0x1000, 4096 };
	h2d(fis, 0x25, 10, 8);
	issue(0, fis, NULL, false, false, &prd, 1);
	assert_true(ram(BUF + 0x1000)[0] == 0 && ram(BUF + 0x1000)[4095] == 0);
	/* Past the end: ERR with IDNF, the task file error interrupt status. */
	h2d(fis, 0x25, DISK_SIZE / 512, 1);
	prd.len = 512;
	tfd = issue(0, fis, NULL, false, false, &prd, 1);
	assert_int_equal(tfd & 0x01, 0x01);
	assert_int_equal(tfd >> 8 & 0xff, 0x10);
	assert_true(rd(preg(0, 0x10)) & (1u << 30));
	/* An unknown command aborts. */
	h2d(fis, 0x99, 0, 0);
	tfd = issue(0, fis, NULL, false, false, NULL, 0);
	assert_int_equal(tfd >> 8 & 0xff, 0x04);
	/* A PRD outside RAM: Host Bus Fatal Error, and the port works after a restart. */
	h2d(fis, 0x25, 0, 8);
	issue(0, fis, NULL, false, false, &bad, 1);
	assert_true(rd(preg(0, 0x10)) & (1u << 29));
	wr(preg(0, 0x18), rd(preg(0, 0x18)) & ~1u);
	port_start(0);
	h2d(fis, 0xec, 0, 0);
	prd = (struct prd){ BUF, 512 };
	assert_int_equal(issue(0, fis, NULL, false, false, &prd, 1) & 0xff, 0x50);
	/* A command table outside RAM. */
	{
		uint8_t *hdr = ram(CLB);
		uint32_t dw0 = 5 | 1u << 16, ctba = RAM_SIZE + 0x1000;

		memcpy(hdr, &dw0, 4);
		memcpy(hdr + 8, &ctba, 4);
		wr(preg(0, 0x38), 1);
		assert_int_equal(rd(preg(0, 0x38)), 0);
		assert_true(rd(preg(0, 0x10)) & (1u << 29));
	}
}

static void test_interrupts(void **state)
{
	uint8_t fis[20];
	struct prd prd = { BUF, 512 };
	uint32_t cmd = cfg_read32(vm_device_slot(), 0x04);

	port_start(0);
	wr(preg(0, 0x14), 0x1);			/* DHRS */
	wr(0x04, 0x2);				/* GHC.IE */
	h2d(fis, 0xec, 0, 0);
	issue(0, fis, NULL, false, false, &prd, 1);
	assert_int_equal(rd(0x08), 1);		/* IS: port 0 */
	assert_true(cfg_read32(vm_device_slot(), 0x04) >> 16 & 0x08);	/* INTx asserted */
	wr(preg(0, 0x10), 0xffffffff);
	assert_int_equal(rd(0x08), 0);
	assert_false(cfg_read32(vm_device_slot(), 0x04) >> 16 & 0x08);
	wr(0x04, 0);
	(void)cmd;
}

static void test_comreset(void **state)
{
	port_start(0);
	wr(preg(0, 0x18), rd(preg(0, 0x18)) & ~1u);	/* stop, keep FIS receive */
	wr(preg(0, 0x2c), 1);
	assert_int_equal(rd(preg(0, 0x28)), 0);
	wr(preg(0, 0x2c), 0);
	assert_int_equal(rd(preg(0, 0x28)), 0x113);
	assert_int_equal(ram(FB + 0x40)[0], 0x34);
	assert_int_equal(ram(FB + 0x40)[12], 1);		/* signature count */
	assert_int_equal(rd(preg(0, 0x20)) & 0x80, 0);		/* not busy */
	/* HBA reset: ports back to their power-on state. */
	wr(0x04, 1);
	assert_int_equal(rd(0x04) & 1, 0);
	assert_int_equal(rd(preg(0, 0x18)) & 1, 0);
	assert_int_equal(rd(preg(0, 0x24)), 0x101);
}

static void test_atapi(void **state)
{
	uint8_t fis[20], cdb[12] = { 0 };
	struct prd prd = { BUF, 2048 };
	uint32_t tfd;

	if (!have_iso)
		skip();
	port_start(1);
	/* IDENTIFY aborts with the ATAPI signature; IDENTIFY PACKET DEVICE answers. */
	h2d(fis, 0xec, 0, 0);
	tfd = issue(1, fis, NULL, false, false, &prd, 1);
	assert_int_equal(tfd & 1, 1);
	assert_int_equal(ram(FB + 0x1000 + 0x40)[6], 0xeb);
	h2d(fis, 0xa1, 0, 0);
	assert_int_equal(issue(1, fis, NULL, false, false, &prd, 1) & 0xff, 0x50);
	assert_int_equal(id_word(0), 0x85c0);
	/* PACKET READ (10) of the volume descriptor at LBA 16. */
	h2d(fis, 0xa0, 0, 0);
	fis[3] = 1;				/* DMA */
	cdb[0] = 0x28;
	cdb[5] = 16;
	cdb[8] = 1;
	assert_int_equal(issue(1, fis, cdb, false, true, &prd, 1) & 0xff, 0x50);
	assert_memory_equal(ram(BUF), "\x01" "CD001", 6);
	/* A write: CHECK CONDITION, sense key DATA PROTECT in the error register. */
	cdb[0] = 0x2a;
	tfd = issue(1, fis, cdb, true, true, &prd, 1);
	assert_int_equal(tfd & 1, 1);
	assert_int_equal(tfd >> 12 & 0xf, 7);
	/* REQUEST SENSE then says why, as libata asks. */
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0x03;
	cdb[4] = 18;
	prd.len = 18;
	assert_int_equal(issue(1, fis, cdb, false, true, &prd, 1) & 0xff, 0x50);
	assert_int_equal(ram(BUF)[2], 7);
	assert_int_equal(ram(BUF)[12], 0x27);
	/* TEST UNIT READY with no data. */
	memset(cdb, 0, sizeof(cdb));
	assert_int_equal(issue(1, fis, cdb, false, true, NULL, 0) & 0xff, 0x50);
}

/* The slot the controller took (the only device on the bus). */
unsigned int vm_device_slot(void)
{
	return ahci_pci(hba)->slot;
}

static int setup(void **state)
{
	struct vk_err err = { 0 };
	static const unsigned int idx[] = { 0, 1 };
	int fd = mkstemp(disk_path);
	char cmd[1024];

	if (fd < 0 || ftruncate(fd, DISK_SIZE))
		return -1;
	close(fd);
	if (mkdtemp(iso_dir) && !system("command -v xorriso > /dev/null 2>&1")) {
		snprintf(iso_path, sizeof(iso_path), "%s/cd.iso", iso_dir);
		snprintf(cmd, sizeof(cmd), "mkdir -p %s/t && echo hi > %s/t/a && "
			 "xorriso -as mkisofs -quiet -o %s %s/t 2>/dev/null", iso_dir, iso_dir,
			 iso_path, iso_dir);
		have_iso = !system(cmd);
	}
	vm.ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	vm.ram_size = RAM_SIZE;
	vm.mem[0] = (struct mem_region){ 0, RAM_SIZE, vm.ram };
	vm.nr_mem = 1;
	vm.low_mem_top = RAM_SIZE;
	vm.kvm_fd = vm.vm_fd = -1;
	vm.cfg = &cfg;
	cfg.cpus = 1;
	cfg.disks[0] = (struct disk_config){ .path = disk_path, .cache = CACHE_WRITEBACK,
					     .format = "raw", .aio = AIO_THREADS,
					     .bus = DISK_BUS_SATA };
	cfg.disks[1] = (struct disk_config){ .path = iso_path, .cache = CACHE_WRITEBACK,
					     .format = "raw", .aio = AIO_THREADS,
					     .bus = DISK_BUS_SATA, .cdrom = true, .readonly = true };
	cfg.nr_disks = have_iso ? 2 : 1;
	io_bus_init(&vm.pio);
	io_bus_init(&vm.mmio);
	if (evloop_new(&vm.loop) || pci_create(&vm, &err))
		return -1;
	stop_efd = eventfd(0, EFD_CLOEXEC);
	evloop_add(vm.loop, stop_efd, 0x001, on_stop, NULL);
	pthread_create(&loop_thread, NULL, run_loop, NULL);
	/* Under SeaBIOS: the boot-path registry exists, so the ports register theirs. */
	cfg.firmware = FIRMWARE_BIOS;
	if (fw_boot_class.create(&vm, &err))
		return -1;
	if (ahci_create(&vm, idx, cfg.nr_disks, &hba, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return -1;
	}
	/* As firmware and the driver: the function's IDs, then memory decode and bus master. */
	if (cfg_read32(vm_device_slot(), 0) != 0x29228086 ||
	    cfg_read32(vm_device_slot(), 8) >> 8 != 0x010601)
		return -1;
	abar = cfg_read32(vm_device_slot(), 0x24) & ~0xfu;
	cfg_write32(vm_device_slot(), 0x04, 0x6);
	return abar ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[700];

	ahci_destroy(hba);
	fw_boot_class.destroy(&vm);
	eventfd_write(stop_efd, 1);
	pthread_join(loop_thread, NULL);
	unlink(disk_path);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", iso_dir);
	return system(cmd) ? -1 : 0;
}

/* Under firmware the ports are bootable by the paths SeaBIOS and OVMF match. */
static void test_boot_paths(void **state)
{
	char text[512], want[512];
	unsigned int slot = vm_device_slot();

	cfg.boot_order[0] = "cdrom";
	cfg.boot_order[1] = "sata0";
	cfg.nr_boot_order = 2;
	assert_int_equal(fw_boot_order_text(&vm, text, sizeof(text)), 0);
	if (have_iso)
		snprintf(want, sizeof(want), "/pci@i0cf8/pci8086,2922@%x/drive@1/disk@0\n"
			 "/pci@i0cf8/pci8086,2922@%x/drive@0/disk@0", slot, slot);
	else
		snprintf(want, sizeof(want), "/pci@i0cf8/pci8086,2922@%x/drive@0/disk@0", slot);
	assert_string_equal(text, want);
	cfg.nr_boot_order = 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registers),
		cmocka_unit_test(test_identify_rw),
		cmocka_unit_test(test_trim_and_errors),
		cmocka_unit_test(test_interrupts),
		cmocka_unit_test(test_comreset),
		cmocka_unit_test(test_atapi),
		cmocka_unit_test(test_boot_paths),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
