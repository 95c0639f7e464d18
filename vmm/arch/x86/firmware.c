// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The firmware's memory: its image read-only at the top of 4 GiB (SeaBIOS,
 * or OVMF's code with its variable store on pflash just below), the last
 * 128 KiB of it aliased at 0xe0000-0xfffff, and the i440FX shadow RAM at
 * 0xc0000-0xfffff switched by the PAM registers so SeaBIOS can copy
 * itself to RAM and lock it read-only (Intel 82441FX datasheet, 3.2.21).
 *
 * Each PAM segment (0xf0000 64 KiB, then twelve of 16 KiB from 0xc0000) is
 * in one of four modes: 0 reads and writes go to ROM (the alias, or
 * nothing below 0xe0000), 1 reads RAM and writes go to ROM (dropped), 2
 * reads ROM and writes RAM, 3 RAM. With KVM, modes 0, 1 and 3 are memory
 * slots (ROM or RAM, read-only or not); mode 2 and every write to a
 * read-only slot exit to the MMIO handler here, which implements all four,
 * so a VM without KVM (the device tests) sees the same thing through the
 * MMIO bus.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "vmkit/device.h"
#include "vmkit/firmware.h"
#include "vmkit/pci.h"
#include "vmkit/pflash.h"
#include "vmkit/savestate.h"
#include "vmkit/vm.h"

#define FOUR_GIB		0x100000000ULL
#define ISA_BIOS_SIZE		(128 * KiB)
#define ISA_BIOS_START		(SHADOW_START + 128 * KiB)	/* 0xe0000 */
#define PAM_SEGS		13

struct firmware {
	struct vm *vm;
	uint8_t *rom;			/* the image, page-aligned, read-only to the guest */
	size_t rom_size;
	uint64_t rom_gpa;
	struct pflash *vars;		/* UEFI: the variable store */
	pthread_mutex_t lock;		/* the PAM modes */
	uint8_t mode[PAM_SEGS];
};

const struct vm_device_class firmware_class;

static struct firmware *get(struct vm *vm)
{
	void **slot = vm_device_state(vm, &firmware_class);

	return slot ? *slot : NULL;
}

const char *fw_image_path(const char *image, char *buf, size_t len)
{
	const char *dir = getenv("VMKIT_FIRMWARE_DIR");

	snprintf(buf, len, "%s/%s", dir && *dir ? dir : "/usr/share", image);
	return buf;
}

static uint64_t seg_start(unsigned int i)
{
	return i == 0 ? 0xf0000 : SHADOW_START + (i - 1) * 16 * KiB;
}

static uint64_t seg_size(unsigned int i)
{
	return i == 0 ? 64 * KiB : 16 * KiB;
}

static unsigned int seg_of(uint64_t gpa)
{
	return gpa >= 0xf0000 ? 0 : 1 + (gpa - SHADOW_START) / (16 * KiB);
}

/* The ROM byte behind gpa in the shadow area (the alias), or NULL. */
static const uint8_t *rom_at(struct firmware *fw, uint64_t gpa)
{
	if (gpa < ISA_BIOS_START || !fw->rom)
		return NULL;
	return fw->rom + fw->rom_size - ISA_BIOS_SIZE + (gpa - ISA_BIOS_START);
}

/* The RAM copy behind the shadow area at gpa (len bytes), or NULL where RAM ends before it. */
static uint8_t *shadow_ram(struct firmware *fw, uint64_t gpa, uint64_t len)
{
	return vm_gpa_to_hva(fw->vm, gpa, len);
}

/* Put segment i's KVM slot in line with its mode. */
static int map_seg(struct firmware *fw, unsigned int i, struct vk_err *err)
{
	struct vm *vm = fw->vm;
	uint64_t gpa = seg_start(i), size = seg_size(i);
	uint8_t m = fw->mode[i];

	if ((m == 3 || m == 1) && shadow_ram(fw, gpa, size))
		return vm_set_memslot(vm, VM_SLOT_PAM + i, gpa, size, shadow_ram(fw, gpa, size),
				      m == 1, err);
	if (m == 0 && rom_at(fw, gpa))
		return vm_set_memslot(vm, VM_SLOT_PAM + i, gpa, size, (void *)rom_at(fw, gpa),
				      true, err);
	return vm_set_memslot(vm, VM_SLOT_PAM + i, gpa, 0, NULL, false, err);
}

void pam_update(struct vm *vm, const uint8_t regs[PAM_NR_REGS])
{
	struct firmware *fw = get(vm);
	struct vk_err err = { 0 };
	unsigned int i;
	uint8_t m;

	if (!fw)
		return;
	pthread_mutex_lock(&fw->lock);
	for (i = 0; i < PAM_SEGS; i++) {
		/* PAM0 bits 5:4 is 0xf0000; PAMn (n >= 1) low nibble, then high nibble. */
		m = i == 0 ? regs[0] >> 4 : regs[(i + 1) / 2] >> ((i - 1) % 2 ? 4 : 0);
		m &= 3;
		if (m == fw->mode[i])
			continue;
		fw->mode[i] = m;
		if (map_seg(fw, i, &err))
			vm_request_stop(vm, VM_STOP_ERROR, "PAM: %s", err.msg);
	}
	pthread_mutex_unlock(&fw->lock);
}

void pam_init_regs(struct pci_device *d, unsigned int first)
{
	unsigned int i;

	d->wmask[first] = 0x30;		/* PAM0: 0xf0000 only, in the high nibble */
	for (i = 1; i < PAM_NR_REGS; i++)
		d->wmask[first + i] = 0x33;
}

void pam_config_written(struct pci_device *d, unsigned int first, unsigned int off,
			unsigned int len)
{
	if (off < first + PAM_NR_REGS && off + len > first)
		pam_update(d->vm, d->cfg + first);
}

static void shadow_read(void *dev, uint64_t off, void *data, unsigned int len)
{
	struct firmware *fw = dev;
	uint8_t *d = data;
	unsigned int i;

	pthread_mutex_lock(&fw->lock);
	for (i = 0; i < len; i++) {
		uint64_t gpa = SHADOW_START + off + i;
		const uint8_t *rom = rom_at(fw, gpa), *ram = shadow_ram(fw, gpa, 1);

		if (gpa >= HIGH_MEM_START)
			d[i] = 0xff;
		else if (fw->mode[seg_of(gpa)] & 1)
			d[i] = ram ? *ram : 0xff;
		else
			d[i] = rom ? *rom : 0xff;
	}
	pthread_mutex_unlock(&fw->lock);
}

static void shadow_write(void *dev, uint64_t off, const void *data, unsigned int len)
{
	struct firmware *fw = dev;
	const uint8_t *d = data;
	unsigned int i;

	pthread_mutex_lock(&fw->lock);
	for (i = 0; i < len; i++) {
		uint64_t gpa = SHADOW_START + off + i;
		uint8_t *ram = shadow_ram(fw, gpa, 1);

		if (gpa < HIGH_MEM_START && (fw->mode[seg_of(gpa)] & 2) && ram)
			*ram = d[i];
	}
	pthread_mutex_unlock(&fw->lock);
}

static void rom_read(void *dev, uint64_t off, void *data, unsigned int len)
{
	struct firmware *fw = dev;

	memset(data, 0xff, len);
	if (off < fw->rom_size)
		memcpy(data, fw->rom + off, MIN((uint64_t)len, fw->rom_size - off));
}

static void rom_write(void *dev, uint64_t off, const void *data, unsigned int len)
{
	/* A ROM: the guest's writes go nowhere. */
}

static const struct io_ops shadow_ops = { .read = shadow_read, .write = shadow_write };
static const struct io_ops rom_ops = { .read = rom_read, .write = rom_write };

/* Read an image into page-aligned memory the KVM slot can map. */
static int load_rom(struct firmware *fw, const char *path, struct vk_err *err)
{
	_cleanup_free_ void *buf = NULL;
	size_t len;
	int r = vk_read_file(path, &buf, &len, FW_IMAGE_MAX);

	if (r == -EFBIG)
		return vk_fail(err, r, "firmware %s: larger than %llu MiB", path, FW_IMAGE_MAX / MiB);
	if (r)
		return vk_fail(err, r, "firmware %s: %s", path, strerror(-r));
	/*
	 * 4 KiB blocks, as QEMU's pc flash: Debian's OVMF_CODE_4M.fd is 3568 KiB,
	 * a multiple of no larger power of two. The memslot needs whole pages.
	 */
	if (len < ISA_BIOS_SIZE || len % (4 * KiB))
		return vk_fail(err, -EINVAL,
			       "firmware %s: %zu bytes; an image is a multiple of 4 KiB, at least 128 KiB",
			       path, len);
	fw->rom = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (fw->rom == MAP_FAILED) {
		fw->rom = NULL;
		return vk_fail(err, -ENOMEM, "out of memory");
	}
	memcpy(fw->rom, buf, len);
	fw->rom_size = len;
	fw->rom_gpa = FOUR_GIB - len;
	return 0;
}

static int map_rom(struct firmware *fw, struct vk_err *err)
{
	struct vm *vm = fw->vm;
	unsigned int i;
	int r;

	r = vm_set_memslot(vm, VM_SLOT_FW_ROM, fw->rom_gpa, fw->rom_size, fw->rom, true, err);
	if (!r && io_bus_register(&vm->mmio, fw->rom_gpa, fw->rom_size, &rom_ops, fw))
		r = vk_fail(err, -EBUSY, "firmware: 0x%llx-0xffffffff is taken",
			    (unsigned long long)fw->rom_gpa);
	if (!r && io_bus_register(&vm->mmio, SHADOW_START, HIGH_MEM_START - SHADOW_START,
				  &shadow_ops, fw))
		r = vk_fail(err, -EBUSY, "firmware: 0xc0000-0xfffff is taken");
	/* At reset every segment reads the ROM (mode 0), as on the real chipset. */
	for (i = 0; !r && i < PAM_SEGS; i++)
		r = map_seg(fw, i, err);
	return r;
}

static int firmware_create(struct vm *vm, struct vk_err *err)
{
	const struct vm_config *c = vm->cfg;
	struct firmware *fw;
	char code[4096], vars[4096];
	int r;

	if (c->firmware == FIRMWARE_NONE)
		return 0;
	fw = calloc(1, sizeof(*fw));
	if (!fw)
		return vk_fail(err, -ENOMEM, "out of memory");
	fw->vm = vm;
	pthread_mutex_init(&fw->lock, NULL);
	*vm_device_state(vm, &firmware_class) = fw;
	r = load_rom(fw, c->firmware_code ? c->firmware_code :
		     fw_image_path(c->firmware == FIRMWARE_UEFI ? FW_OVMF_CODE : FW_BIOS_IMAGE,
				   code, sizeof(code)), err);
	/* Without a VM's own copy, the template's variables last until the VM stops. */
	if (!r && c->firmware == FIRMWARE_UEFI)
		r = pflash_create(vm, c->firmware_vars ? c->firmware_vars :
				  fw_image_path(FW_OVMF_VARS, vars, sizeof(vars)),
				  c->firmware_vars != NULL, fw->rom_gpa, VM_SLOT_FW_VARS,
				  &fw->vars, err);
	if (!r)
		r = map_rom(fw, err);
	return r;
}

static void firmware_destroy(struct vm *vm)
{
	void **slot = vm_device_state(vm, &firmware_class);
	struct firmware *fw = slot ? *slot : NULL;

	if (!fw)
		return;
	io_bus_unregister(&vm->mmio, SHADOW_START, fw);
	if (fw->rom) {
		io_bus_unregister(&vm->mmio, fw->rom_gpa, fw);
		munmap(fw->rom, fw->rom_size);
	}
	pflash_destroy(fw->vars);
	pthread_mutex_destroy(&fw->lock);
	free(fw);
	*slot = NULL;
}

/*
 * Version 1: the variable store's flash. The PAM modes are not here: they
 * are the host bridge's registers, restored with it (vmm/hw/pci.c).
 */
static void firmware_save(struct vm *vm, struct ss_writer *w)
{
	struct firmware *fw = get(vm);

	if (!fw || !fw->vars)
		return;
	ss_begin(w, "firmware", 0, 1);
	pflash_save(fw->vars, w);
	ss_end(w);
}

static int firmware_load(struct vm *vm, const struct ss_reader *r, struct vk_err *err)
{
	struct firmware *fw = get(vm);
	const struct ss_section *s = ss_find(r, "firmware", 0);
	bool vars = fw && fw->vars;

	if (vars != !!s)
		return vk_fail(err, -EINVAL, "state: saved %s a UEFI variable store, this VM %s",
			       vars ? "without" : "with", vars ? "has one" : "has none");
	return vars ? pflash_load(fw->vars, s, err) : 0;
}

const struct vm_device_class firmware_class = {
	.name = "firmware", .create = firmware_create, .destroy = firmware_destroy,
	.save = firmware_save, .load = firmware_load,
};
