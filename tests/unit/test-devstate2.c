// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Device state across save and restore for the devices issue 15's second
 * round covers, without KVM: the Q35 chipset, AHCI with an ATAPI CD-ROM
 * and virtio-scsi. As in test-devstate.c each device is set up through
 * its registers (PCI config cycles, MMIO), saved, loaded into a fresh VM
 * built from the same config, and must then read back the same; a medium
 * changed at run time comes back, and one that changed on disk is refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmkit/ahci.h"
#include "vmkit/device.h"
#include "vmkit/evloop.h"
#include "vmkit/input.h"
#include "vmkit/pci.h"
#include "vmkit/q35.h"
#include "vmkit/savestate.h"
#include "vmkit/scsi.h"
#include "vmkit/virtio-scsi.h"
#include "vmkit/vm.h"

extern const struct vm_device_class pci_host_class, pm_class, q35_mch_class, ich9_lpc_class,
	virtio_scsi_class, ahci_class, virtio_tablet_class;

static const struct vm_device_class *const classes[] = {
	&pci_host_class, &pm_class, &q35_mch_class, &ich9_lpc_class, &virtio_scsi_class,
	&ahci_class, &virtio_tablet_class,
};
#define NCLASSES	(sizeof(classes) / sizeof(classes[0]))
#define RAM_SIZE	(1u << 20)
#define ISO_SIZE	(64u << 10)
#define PM_TIMER_SANE	(3579545u * 5)	/* 5 s of ticks */

static char dir[] = "/tmp/vmkit-test-devstate2-XXXXXX";
static char iso_a[600], iso_b[600];

struct tvm {
	struct vm vm;
	struct vm_config cfg;
};

static void make_iso(const char *path, size_t size)
{
	uint8_t *b = calloc(1, size);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	memcpy(b + 0x8001, "CD001", 5);		/* what the ISO 9660 check looks for */
	assert_int_equal(write(fd, b, size), (ssize_t)size);
	close(fd);
	free(b);
}

static struct tvm *tvm_new(void)
{
	struct tvm *t = calloc(1, sizeof(*t));
	struct vk_err err = { 0 };
	unsigned int i;

	t->cfg = (struct vm_config){ .cpus = 1, .mem_bytes = RAM_SIZE, .topo = { 1, 1, 1 },
				     .machine = MACHINE_Q35, .tablet = true };
	t->cfg.disks[0] = (struct disk_config){ .path = iso_a, .bus = DISK_BUS_SATA,
						.cdrom = true, .readonly = true };
	t->cfg.disks[1] = (struct disk_config){ .path = iso_a, .bus = DISK_BUS_SCSI,
						.cdrom = true, .readonly = true };
	t->cfg.nr_disks = 2;
	t->vm.cfg = &t->cfg;
	t->vm.kvm_fd = t->vm.vm_fd = t->vm.stop_efd = -1;
	t->vm.ram = calloc(1, RAM_SIZE);
	t->vm.ram_size = RAM_SIZE;
	t->vm.mem[0] = (struct mem_region){ 0, RAM_SIZE, t->vm.ram };
	t->vm.nr_mem = 1;
	t->vm.low_mem_top = RAM_SIZE;
	pthread_mutex_init(&t->vm.lock, NULL);
	pthread_cond_init(&t->vm.cond, NULL);
	io_bus_init(&t->vm.pio);
	io_bus_init(&t->vm.mmio);
	assert_int_equal(evloop_new(&t->vm.loop), 0);
	assert_int_equal(input_router_new(&t->vm, &err), 0);
	for (i = 0; i < NCLASSES; i++)
		assert_int_equal(classes[i]->create(&t->vm, &err), 0);
	return t;
}

static void tvm_free(struct tvm *t)
{
	unsigned int i = NCLASSES;

	while (i--)
		classes[i]->destroy(&t->vm);
	input_router_free(&t->vm);
	io_bus_free(&t->vm.pio);
	io_bus_free(&t->vm.mmio);
	evloop_free(t->vm.loop);
	free(t->vm.ram);
	free(t);
}

static void save(struct tvm *t, uint8_t **buf, size_t *len)
{
	struct vk_err err = { 0 };
	struct ss_writer *w;
	unsigned int i;

	assert_int_equal(ss_writer_new(&w, &err), 0);
	for (i = 0; i < NCLASSES; i++)
		classes[i]->save(&t->vm, w);
	assert_int_equal(ss_writer_finish_buf(w, buf, len, &err), 0);
}

static int load(struct tvm *t, const uint8_t *buf, size_t len, struct vk_err *err)
{
	struct ss_reader *r;
	unsigned int i;
	int ret = ss_parse(&r, buf, len, err);

	for (i = 0; !ret && i < NCLASSES; i++)
		ret = classes[i]->load(&t->vm, r, err);
	ss_reader_free(r);
	return ret;
}

static uint32_t cfg_read(struct tvm *t, unsigned int slot, unsigned int off)
{
	uint32_t a = 0x80000000u | slot << 11 | (off & ~3u), v = 0;

	io_bus_write(&t->vm.pio, 0xcf8, &a, 4);
	io_bus_read(&t->vm.pio, 0xcfc, &v, 4);
	return v;
}

static void cfg_write(struct tvm *t, unsigned int slot, unsigned int off, uint32_t v)
{
	uint32_t a = 0x80000000u | slot << 11 | off;

	io_bus_write(&t->vm.pio, 0xcf8, &a, 4);
	io_bus_write(&t->vm.pio, 0xcfc, &v, 4);
}

static uint32_t mmio_read(struct tvm *t, uint64_t gpa)
{
	uint32_t v = 0;

	io_bus_read(&t->vm.mmio, gpa, &v, 4);
	return v;
}

static void mmio_write(struct tvm *t, uint64_t gpa, uint32_t v)
{
	io_bus_write(&t->vm.mmio, gpa, &v, 4);
}

static unsigned int find_fn(struct tvm *t, uint32_t id)
{
	unsigned int slot;

	for (slot = 0; slot < 32; slot++)
		if (cfg_read(t, slot, 0) == id)
			return slot;
	fail_msg("no function %08x", id);
	return 0;
}

/* PCIEXBAR moved, PIRQ routed, the PM block moved: all as the guest left them. */
static void q35_chipset(void **state)
{
	struct tvm *a = tvm_new(), *b;
	struct vk_err err = { 0 };
	uint32_t t1, t2;
	uint8_t *buf;
	size_t len;

	(void)state;
	cfg_write(a, 0, Q35_PCIEXBAR, 0xe0000001);
	assert_int_equal(mmio_read(a, 0xe0000000), 0x29c08086);
	cfg_write(a, ICH9_LPC_SLOT, ICH9_PIRQA_ROUT, 0x0b0a8085);
	cfg_write(a, ICH9_LPC_SLOT, ICH9_PMBASE, 0x701);
	io_bus_read(&a->vm.pio, 0x708, &t1, 4);
	save(a, &buf, &len);
	b = tvm_new();
	assert_int_equal(load(b, buf, len, &err), 0);
	assert_int_equal(cfg_read(b, 0, Q35_PCIEXBAR), 0xe0000001);
	assert_int_equal(mmio_read(b, 0xe0000000), 0x29c08086);	/* the window moved */
	assert_int_not_equal(mmio_read(b, Q35_ECAM_BASE), 0x29c08086);
	assert_int_equal(cfg_read(b, ICH9_LPC_SLOT, ICH9_PIRQA_ROUT), 0x0b0a8085);
	assert_int_equal(cfg_read(b, ICH9_LPC_SLOT, ICH9_PMBASE) & 0xffff, 0x701);
	io_bus_read(&b->vm.pio, 0x708, &t2, 4);		/* the timer decodes there, and ran on */
	assert_true(((t2 - t1) & 0xffffff) < PM_TIMER_SANE);
	free(buf);
	tvm_free(a);
	tvm_free(b);
}

/* AHCI: BAR5 and every port register of the CD-ROM's port back as written. */
static uint64_t abar(struct tvm *t)
{
	unsigned int slot = find_fn(t, 0x29228086);

	cfg_write(t, slot, PCI_COMMAND, cfg_read(t, slot, PCI_COMMAND) | 0x6);
	return cfg_read(t, slot, 0x24) & ~0xfu;
}

static void ahci_ports(void **state)
{
	struct tvm *a = tvm_new(), *b;
	struct vk_err err = { 0 };
	uint64_t p0;
	uint8_t *buf;
	size_t len;

	(void)state;
	p0 = abar(a) + 0x100;
	mmio_write(a, abar(a) + 0x04, 0x2);		/* GHC.IE */
	mmio_write(a, p0 + 0x00, 0x10000);		/* CLB */
	mmio_write(a, p0 + 0x08, 0x20000);		/* FB */
	mmio_write(a, p0 + 0x14, 0x7);			/* IE */
	mmio_write(a, p0 + 0x18, 0x10);			/* CMD.FRE */
	save(a, &buf, &len);
	b = tvm_new();
	assert_int_equal(load(b, buf, len, &err), 0);
	assert_int_equal(abar(b), abar(a));
	p0 = abar(b) + 0x100;
	assert_int_equal(mmio_read(b, abar(b) + 0x04) & 0x2, 0x2);
	assert_int_equal(mmio_read(b, p0 + 0x00), 0x10000);
	assert_int_equal(mmio_read(b, p0 + 0x08), 0x20000);
	assert_int_equal(mmio_read(b, p0 + 0x14), 0x7);
	assert_int_equal(mmio_read(b, p0 + 0x18), mmio_read(a, p0 + 0x18));
	assert_int_equal(mmio_read(b, p0 + 0x24), 0xeb140101);	/* ATAPI signature */
	assert_int_equal(mmio_read(b, p0 + 0x28), mmio_read(a, p0 + 0x28));
	free(buf);
	tvm_free(a);
	tvm_free(b);
}

static void lun_is(struct scsi_lun *lun, const char *path, bool locked)
{
	struct scsi_lun_info info;

	scsi_lun_info(lun, &info);
	if (path)
		assert_string_equal(info.path, path);
	else
		assert_null(info.path);
	assert_int_equal(info.locked, locked);
}

/* A medium changed at run time comes back from its path; ejected stays ejected. */
static void media_changed(void **state)
{
	struct tvm *a = tvm_new(), *b;
	struct vk_err err = { 0 };
	uint8_t *buf;
	size_t len;

	(void)state;
	assert_int_equal(scsi_lun_change(ahci_lun(&a->vm, 0), iso_b, "raw", &err), 0);
	assert_int_equal(scsi_lun_eject(virtio_scsi_lun(&a->vm, 1), true, &err), 0);
	save(a, &buf, &len);
	b = tvm_new();
	assert_int_equal(load(b, buf, len, &err), 0);
	lun_is(ahci_lun(&b->vm, 0), iso_b, false);
	lun_is(virtio_scsi_lun(&b->vm, 1), NULL, false);
	tvm_free(b);
	/* The ISO grew since: not the medium the guest knew. */
	make_iso(iso_b, 2 * ISO_SIZE);
	b = tvm_new();
	assert_int_not_equal(load(b, buf, len, &err), 0);
	assert_non_null(strstr(err.msg, "not the same medium"));
	tvm_free(b);
	make_iso(iso_b, ISO_SIZE);
	free(buf);
	tvm_free(a);
}

/* The stream's CRC-32 (zlib's polynomial) over what was edited, so the value is what is judged. */
static void fix_crc(uint8_t *buf, size_t len)
{
	uint32_t crc = 0xffffffffu;
	size_t i;
	int k;

	for (i = 0; i < len - 4; i++) {
		crc ^= buf[i];
		for (k = 0; k < 8; k++)
			crc = crc >> 1 ^ (0xedb88320u & -(crc & 1));
	}
	crc = ~crc;
	memcpy(buf + len - 4, &crc, 4);
}

/* Damaged values are refused with a line, never loaded. */
static void refused(void **state)
{
	struct tvm *a = tvm_new(), *b;
	struct vk_err err = { 0 };
	uint8_t *buf, *p;
	size_t len;

	(void)state;
	save(a, &buf, &len);
	/* p0-clb's value: the field's name, kind byte, then 8 bytes little-endian. */
	p = memmem(buf, len, "p0-clb", 6);
	assert_non_null(p);
	p[7] = 0x01;					/* CLB not 1 KiB aligned */
	fix_crc(buf, len);
	b = tvm_new();
	assert_int_equal(load(b, buf, len, &err), -EINVAL);
	assert_string_equal(err.msg, "state of ahci: port 0 registers out of range");
	free(buf);
	tvm_free(a);
	tvm_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(q35_chipset),
		cmocka_unit_test(ahci_ports),
		cmocka_unit_test(media_changed),
		cmocka_unit_test(refused),
	};
	int r;

	assert_non_null(mkdtemp(dir));
	snprintf(iso_a, sizeof(iso_a), "%s/a.iso", dir);
	snprintf(iso_b, sizeof(iso_b), "%s/b.iso", dir);
	make_iso(iso_a, ISO_SIZE);
	make_iso(iso_b, ISO_SIZE);
	r = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(iso_a);
	unlink(iso_b);
	rmdir(dir);
	return r;
}
