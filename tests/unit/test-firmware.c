// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Firmware boot's devices on a VM without KVM, driven through their
 * registers as SeaBIOS and OVMF drive them: fw_cfg by port I/O and DMA
 * (signature, ID, directory, files, bad DMA addresses), the ACPI tables
 * placed by running the etc/table-loader script as a firmware does and
 * then checked, SMBIOS, the boot order, the i440FX's PAM registers through
 * PCI config cycles and what the BIOS area reads back, and OVMF's pflash
 * command sequences through MMIO with the VARS file's contents after.
 */
#include <endian.h>
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

#include "vmkit/bios-linker.h"
#include "vmkit/device.h"
#include "vmkit/firmware.h"
#include "vmkit/fw-cfg.h"
#include "vmkit/pflash.h"
#include "vmkit/vm.h"

extern const struct vm_device_class fw_cfg_class, firmware_class, fw_boot_class, pci_host_class,
	vga_class, pm_class, piix4_pm_class;

#define RAM_SIZE	(16u << 20)
#define ROM_SIZE	(256u << 10)
#define VARS_SIZE	(16u << 10)
#define FOUR_GIB	0x100000000ULL

struct tvm {
	struct vm vm;
	struct vm_config cfg;
	struct vcpu vcpus[2];
	char rom_path[64], vars_path[64];
};

static void write_file(char *path, size_t size, uint8_t seed)
{
	uint8_t *b = malloc(size);
	size_t i;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	for (i = 0; i < size; i++)
		b[i] = seed == 0xff ? 0xff : (uint8_t)(i * 7 + seed);
	assert_int_equal(write(fd, b, size), (ssize_t)size);
	close(fd);
	free(b);
}

static struct tvm *tvm_new(enum vm_firmware fw)
{
	struct tvm *t = calloc(1, sizeof(*t));
	struct vk_err err = { 0 };

	strcpy(t->rom_path, "/tmp/vmkit-test-romXXXXXX");
	strcpy(t->vars_path, "/tmp/vmkit-test-varsXXXXXX");
	write_file(t->rom_path, ROM_SIZE, 1);
	write_file(t->vars_path, VARS_SIZE, 0xff);
	t->cfg = (struct vm_config){ .cpus = 2, .mem_bytes = RAM_SIZE, .firmware = fw,
				     .firmware_code = t->rom_path, .topo = { 1, 2, 1 } };
	if (fw == FIRMWARE_UEFI)
		t->cfg.firmware_vars = t->vars_path;
	t->vm.cfg = &t->cfg;
	t->vm.kvm_fd = t->vm.vm_fd = -1;
	t->vm.ram = calloc(1, RAM_SIZE);
	t->vm.ram_size = RAM_SIZE;
	t->vm.mem[0] = (struct mem_region){ 0, RAM_SIZE, t->vm.ram };
	t->vm.nr_mem = 1;
	t->vm.low_mem_top = RAM_SIZE;
	t->vcpus[1].apic_id = 1;
	t->vm.vcpus = t->vcpus;
	t->vm.nr_vcpus = 2;
	io_bus_init(&t->vm.pio);
	io_bus_init(&t->vm.mmio);
	assert_int_equal(pci_host_class.create(&t->vm, &err), 0);
	assert_int_equal(fw_cfg_class.create(&t->vm, &err), 0);
	assert_int_equal(firmware_class.create(&t->vm, &err), 0);
	assert_int_equal(fw_boot_class.create(&t->vm, &err), 0);
	return t;
}

static void tvm_free(struct tvm *t)
{
	fw_boot_class.destroy(&t->vm);
	firmware_class.destroy(&t->vm);
	fw_cfg_class.destroy(&t->vm);
	pci_host_class.destroy(&t->vm);
	io_bus_free(&t->vm.pio);
	io_bus_free(&t->vm.mmio);
	unlink(t->rom_path);
	unlink(t->vars_path);
	free(t->vm.ram);
	free(t);
}

/* ---- fw_cfg as SeaBIOS's paravirt.c drives it ---- */

static void outw(struct vm *vm, uint16_t port, uint16_t v)
{
	assert_true(io_bus_write(&vm->pio, port, &v, 2));
}

static void outb(struct vm *vm, uint16_t port, uint8_t v)
{
	io_bus_write(&vm->pio, port, &v, 1);
}

static void outl(struct vm *vm, uint16_t port, uint32_t v)
{
	assert_true(io_bus_write(&vm->pio, port, &v, 4));
}

static uint8_t inb(struct vm *vm, uint16_t port)
{
	uint8_t v = 0xaa;

	io_bus_read(&vm->pio, port, &v, 1);
	return v;
}

static void cfg_read(struct vm *vm, uint16_t key, void *buf, size_t len)
{
	uint8_t *b = buf;

	outw(vm, FW_CFG_PORT_SEL, key);
	while (len--)
		*b++ = inb(vm, FW_CFG_PORT_DATA);
}

/* The file's key and size from the directory, as SeaBIOS finds romfiles. */
static int find_file(struct vm *vm, const char *name, uint32_t *size)
{
	uint32_t count, i;
	uint8_t e[64];

	cfg_read(vm, FW_CFG_FILE_DIR, &count, 4);
	count = be32toh(count);
	for (i = 0; i < count; i++) {
		uint32_t sz;
		uint16_t sel;

		for (unsigned int j = 0; j < 64; j++)
			e[j] = inb(vm, FW_CFG_PORT_DATA);
		if (strcmp((char *)e + 8, name))
			continue;
		memcpy(&sz, e, 4);
		memcpy(&sel, e + 4, 2);
		*size = be32toh(sz);
		return be16toh(sel);
	}
	return -1;
}

static uint8_t *read_file(struct vm *vm, const char *name, uint32_t *size)
{
	int key = find_file(vm, name, size);
	uint8_t *b;

	assert_true(key >= FW_CFG_FILE_FIRST);
	b = malloc(*size + 1);
	cfg_read(vm, key, b, *size);
	b[*size] = 0;
	return b;
}

static void test_fwcfg_ports(void **state)
{
	struct tvm *t = tvm_new(FIRMWARE_BIOS);
	struct vm *vm = &t->vm;
	char sig[5] = { 0 };
	uint32_t id, count, prev_ok = 1, size, i;
	char prev[56] = "";
	uint64_t ram;
	uint16_t cpus;
	uint8_t e[64];

	assert_int_equal(x86_firmware_setup(vm, &(struct vk_err){ 0 }), 0);
	cfg_read(vm, FW_CFG_SIGNATURE, sig, 4);
	assert_string_equal(sig, "QEMU");
	cfg_read(vm, FW_CFG_ID, &id, 4);
	assert_int_equal(le32toh(id), FW_CFG_VERSION | FW_CFG_VERSION_DMA);
	cfg_read(vm, FW_CFG_RAM_SIZE, &ram, 8);
	assert_int_equal(le64toh(ram), RAM_SIZE);
	cfg_read(vm, FW_CFG_NB_CPUS, &cpus, 2);
	assert_int_equal(le16toh(cpus), 2);

	/* The directory: big-endian count, entries sorted by name. */
	cfg_read(vm, FW_CFG_FILE_DIR, &count, 4);
	count = be32toh(count);
	assert_true(count >= 6);
	for (i = 0; i < count; i++) {
		for (unsigned int j = 0; j < 64; j++)
			e[j] = inb(vm, FW_CFG_PORT_DATA);
		prev_ok &= strcmp(prev, (char *)e + 8) < 0;
		memcpy(prev, e + 8, 56);
	}
	assert_true(prev_ok);
	/* Reading past the end gives zeros. */
	assert_int_equal(inb(vm, FW_CFG_PORT_DATA), 0);

	free(read_file(vm, "etc/acpi/rsdp", &size));
	assert_int_equal(size, 36);
	{
		uint8_t *e820 = read_file(vm, "etc/e820", &size);
		uint64_t a, l;

		assert_int_equal(size % 20, 0);
		memcpy(&a, e820, 8);
		memcpy(&l, e820 + 8, 8);
		assert_int_equal(a, 0);
		assert_int_equal(l, RAM_SIZE);
		free(e820);
	}
	/* The DMA port reads "QEMU CFG"; an unknown key reads zeros. */
	{
		uint8_t d[8];

		io_bus_read(&vm->pio, FW_CFG_PORT_DMA, d, 4);
		io_bus_read(&vm->pio, FW_CFG_PORT_DMA + 4, d + 4, 4);
		assert_memory_equal(d, "QEMU CFG", 8);
		outw(vm, FW_CFG_PORT_SEL, 0x7777);
		assert_int_equal(inb(vm, FW_CFG_PORT_DATA), 0);
	}
	/* Files are the monitor's to add; names too long are refused. */
	assert_int_equal(fw_cfg_add_file(vm, "x", "1", 1), 0);
	assert_int_equal(fw_cfg_add_file(vm,
		"0123456789012345678901234567890123456789012345678901234567", "", 0), -EINVAL);
	tvm_free(t);
}

struct dma_access {
	uint32_t control, length;
	uint64_t address;
} __attribute__((packed));

/* One DMA transfer the way OVMF's QemuFwCfgLib starts it; returns the control word after. */
static uint32_t dma(struct vm *vm, uint64_t acc_gpa, uint32_t control, uint32_t len,
		    uint64_t addr)
{
	struct dma_access a = { htobe32(control), htobe32(len), htobe64(addr) };
	uint32_t hi = htobe32(acc_gpa >> 32), lo = htobe32((uint32_t)acc_gpa);
	uint8_t *p = vm_gpa_to_hva(vm, acc_gpa, sizeof(a));

	if (p)
		memcpy(p, &a, sizeof(a));
	outl(vm, FW_CFG_PORT_DMA, hi);
	outl(vm, FW_CFG_PORT_DMA + 4, lo);
	if (!p)
		return 0;
	memcpy(&a, p, sizeof(a));
	return be32toh(a.control);
}

static void test_fwcfg_dma(void **state)
{
	struct tvm *t = tvm_new(FIRMWARE_BIOS);
	struct vm *vm = &t->vm;
	uint8_t *ram = vm->ram;
	uint32_t size;
	int key;

	assert_int_equal(fw_cfg_add_file(vm, "opt/test", "0123456789abcdef", 16), 0);
	key = find_file(vm, "opt/test", &size);
	assert_int_equal(size, 16);
	/* Select + read into RAM; the rest past the item's end is zero-filled. */
	memset(ram + 0x2000, 0x55, 32);
	assert_int_equal(dma(vm, 0x1000, FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ |
			     (uint32_t)key << 16, 4, 0x2000), 0);
	assert_memory_equal(ram + 0x2000, "0123", 4);
	/* Skip 4, read 4: the offset carries on from where the last transfer left it. */
	assert_int_equal(dma(vm, 0x1000, FW_CFG_DMA_CTL_SKIP, 4, 0), 0);
	assert_int_equal(dma(vm, 0x1000, FW_CFG_DMA_CTL_READ, 20, 0x2000), 0);
	assert_memory_equal(ram + 0x2000, "89abcdef\0\0\0\0\0\0\0\0\0\0\0\0", 20);
	assert_int_equal(ram[0x2014], 0x55);

	/* Buffers outside RAM, or running past its end: the error bit, nothing written. */
	assert_int_equal(dma(vm, 0x1000, FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ |
			     (uint32_t)key << 16, 16, 0xfee00000ULL),
			 FW_CFG_DMA_CTL_ERROR);
	assert_int_equal(dma(vm, 0x1000, FW_CFG_DMA_CTL_READ, 64, RAM_SIZE - 8),
			 FW_CFG_DMA_CTL_ERROR);
	assert_int_equal(dma(vm, 0x1000, FW_CFG_DMA_CTL_READ, 0xffffffffu, 0x2000),
			 FW_CFG_DMA_CTL_ERROR);
	assert_int_equal(dma(vm, 0x1000, FW_CFG_DMA_CTL_READ, 16, 0xfffffffffffffff0ULL),
			 FW_CFG_DMA_CTL_ERROR);
	/* No item takes writes. */
	assert_int_equal(dma(vm, 0x1000, FW_CFG_DMA_CTL_WRITE, 4, 0x2000), FW_CFG_DMA_CTL_ERROR);
	/* The access structure itself outside RAM: ignored, no crash. */
	dma(vm, 0xfffffffffffffff8ULL, FW_CFG_DMA_CTL_READ, 4, 0x2000);
	dma(vm, RAM_SIZE - 8, 0, 0, 0);
	/* A lone low half is a transfer at that address (high half 0). */
	assert_int_equal(dma(vm, 0x3000, FW_CFG_DMA_CTL_SELECT, 0, 0), 0);
	tvm_free(t);
}

/* ---- the table loader, run as SeaBIOS's romfile_loader does ---- */

struct placed {
	char name[56];
	uint8_t *data;
	uint32_t size;
	uint64_t gpa;
};

static struct placed *placed_find(struct placed *p, unsigned int n, const char *name)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (!strcmp(p[i].name, name))
			return &p[i];
	fail_msg("the loader names %s before allocating it", name);
	return NULL;
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s += *p++;
	return s;
}

/* A table at gpa (placed in vm RAM): its checksum is right; returns it. */
static const uint8_t *table_at(struct vm *vm, uint64_t gpa, const char *sig)
{
	const uint8_t *t = vm_gpa_to_hva(vm, gpa, 36);
	uint32_t len;

	assert_non_null(t);
	memcpy(&len, t + 4, 4);
	assert_non_null(vm_gpa_to_hva(vm, gpa, len));
	assert_int_equal(sum(t, len), 0);
	if (sig)
		assert_memory_equal(t, sig, 4);
	return t;
}

static uint64_t run_loader(struct vm *vm)
{
	struct placed p[8];
	unsigned int n = 0, i;
	uint32_t size;
	uint8_t *script = read_file(vm, "etc/table-loader", &size);
	uint64_t high = 0x200000, rsdp = 0;

	assert_int_equal(size % BIOS_LINKER_ENTRY_LEN, 0);
	for (i = 0; i < size / BIOS_LINKER_ENTRY_LEN; i++) {
		struct bios_linker_entry e;

		memcpy(&e, script + i * BIOS_LINKER_ENTRY_LEN, sizeof(e));
		switch (le32toh(e.command)) {
		case BIOS_LINKER_ALLOCATE: {
			uint32_t align = le32toh(e.alloc.align);

			assert_true(n < 8);
			snprintf(p[n].name, 56, "%s", e.alloc.file);
			p[n].data = read_file(vm, p[n].name, &p[n].size);
			if (e.alloc.zone == BIOS_LINKER_ZONE_FSEG) {
				p[n].gpa = 0xf0000;
				rsdp = p[n].gpa;
			} else {
				high = ALIGN_UP(high, align);
				p[n].gpa = high;
				high += p[n].size;
			}
			n++;
			break;
		}
		case BIOS_LINKER_ADD_POINTER: {
			struct placed *d = placed_find(p, n, e.pointer.dest_file);
			struct placed *s = placed_find(p, n, e.pointer.src_file);
			uint32_t off = le32toh(e.pointer.offset);
			uint64_t v = 0;

			assert_true(off + e.pointer.size <= d->size);
			memcpy(&v, d->data + off, e.pointer.size);
			assert_true(v < s->size);
			v += s->gpa;
			memcpy(d->data + off, &v, e.pointer.size);
			break;
		}
		case BIOS_LINKER_ADD_CHECKSUM: {
			struct placed *f = placed_find(p, n, e.cksum.file);
			uint32_t start = le32toh(e.cksum.start), len = le32toh(e.cksum.length);

			assert_true(start + len <= f->size && le32toh(e.cksum.offset) < f->size);
			f->data[le32toh(e.cksum.offset)] -= sum(f->data + start, len);
			break;
		}
		default:
			fail_msg("unknown loader command %u", le32toh(e.command));
		}
	}
	for (i = 0; i < n; i++) {
		memcpy(vm_gpa_to_hva(vm, p[i].gpa, p[i].size), p[i].data, p[i].size);
		free(p[i].data);
	}
	free(script);
	return rsdp;
}

static void test_table_loader(void **state)
{
	struct tvm *t = tvm_new(FIRMWARE_BIOS);
	struct vm *vm = &t->vm;
	const uint8_t *rsdp, *xsdt, *rsdt, *fadt = NULL, *madt = NULL;
	uint64_t rsdp_gpa, xsdt_gpa, e64, dsdt64;
	uint32_t rsdt_gpa, len, e32, dsdt32, facs32, i;
	unsigned int lapics = 0;
	const uint8_t *p;

	assert_int_equal(x86_firmware_setup(vm, &(struct vk_err){ 0 }), 0);
	rsdp_gpa = run_loader(vm);
	assert_int_equal(rsdp_gpa, 0xf0000);
	rsdp = vm_gpa_to_hva(vm, rsdp_gpa, 36);
	assert_memory_equal(rsdp, "RSD PTR ", 8);
	assert_int_equal(sum(rsdp, 20), 0);
	assert_int_equal(sum(rsdp, 36), 0);
	memcpy(&rsdt_gpa, rsdp + 16, 4);
	memcpy(&xsdt_gpa, rsdp + 24, 8);
	xsdt = table_at(vm, xsdt_gpa, "XSDT");
	rsdt = table_at(vm, rsdt_gpa, "RSDT");
	memcpy(&len, xsdt + 4, 4);
	assert_int_equal((len - 36) / 8, 2);
	for (i = 0; i < (len - 36) / 8; i++) {
		memcpy(&e64, xsdt + 36 + 8 * i, 8);
		memcpy(&e32, rsdt + 36 + 4 * i, 4);
		assert_int_equal(e64, e32);	/* both lists name the same tables */
		p = table_at(vm, e64, NULL);
		if (!memcmp(p, "FACP", 4))
			fadt = p;
		if (!memcmp(p, "APIC", 4))
			madt = p;
	}
	assert_non_null(fadt);
	assert_non_null(madt);
	memcpy(&facs32, fadt + 36, 4);
	memcpy(&dsdt32, fadt + 40, 4);
	memcpy(&dsdt64, fadt + 140, 8);
	assert_int_equal(dsdt32, dsdt64);
	table_at(vm, dsdt64, "DSDT");
	assert_memory_equal(vm_gpa_to_hva(vm, facs32, 4), "FACS", 4);
	assert_int_equal(facs32 % 64, 0);
	memcpy(&len, madt + 4, 4);
	for (p = madt + 44; p < madt + len; p += p[1])
		lapics += p[0] == 0;
	assert_int_equal(lapics, 2);
	tvm_free(t);
}

static void test_smbios(void **state)
{
	struct tvm *t = tvm_new(FIRMWARE_BIOS);
	struct vm *vm = &t->vm;
	uint32_t size, asize, seen = 0;
	uint8_t *tab, *anchor;
	const uint8_t *p;
	uint16_t tlen, nr, count = 0;

	t->cfg.name = "vm1";
	assert_int_equal(x86_firmware_setup(vm, &(struct vk_err){ 0 }), 0);
	anchor = read_file(vm, "etc/smbios/smbios-anchor", &asize);
	tab = read_file(vm, "etc/smbios/smbios-tables", &size);
	assert_int_equal(asize, 0x1f);
	assert_memory_equal(anchor, "_SM_", 4);
	assert_memory_equal(anchor + 0x10, "_DMI_", 5);
	assert_int_equal(sum(anchor, 0x1f), 0);
	memcpy(&tlen, anchor + 0x16, 2);
	memcpy(&nr, anchor + 0x1c, 2);
	assert_int_equal(tlen, size);
	/* Walk the structures: formatted area, then strings to a double NUL. */
	for (p = tab; p < tab + size; count++) {
		assert_true(p[1] >= 4 && p + p[1] + 2 <= tab + size);
		if (p[0] <= 32 || p[0] == 127)
			seen |= 1u << (p[0] == 127 ? 31 : p[0] == 32 ? 30 : p[0]);
		if (p[0] == 1)
			assert_non_null(memmem(p, 0x80, "vm1", 4));
		p += p[1];
		while (p[0] || p[1])
			p++;
		p += 2;
	}
	assert_int_equal(count, nr);
	assert_int_equal(seen, (1u << 0) | (1u << 1) | (1u << 3) | (1u << 4) | (1u << 16) |
			 (1u << 17) | (1u << 19) | (1u << 30) | (1u << 31));
	free(anchor);
	free(tab);
	tvm_free(t);
}

static void test_boot_order(void **state)
{
	struct tvm *t = tvm_new(FIRMWARE_BIOS);
	struct vm *vm = &t->vm;
	char path[FW_BOOT_PATH_MAX], text[1024];
	uint32_t size;
	uint8_t *f;

	assert_int_equal(fw_boot_pci_path(path, sizeof(path), "scsi", 3, 0), 17);
	assert_string_equal(path, "/pci@i0cf8/scsi@3");
	/* OVMF drops the whole file for a line it cannot parse: SeaBIOS's '*' among them. */
	assert_int_equal(fw_boot_add(vm, FW_BOOT_DISK, "virtio0", "/pci@i0cf8/*@3"), -EINVAL);
	assert_int_equal(fw_boot_add(vm, FW_BOOT_DISK, "virtio0", "/pci@i0cf8/scsi@"), -EINVAL);
	assert_int_equal(fw_boot_add(vm, FW_BOOT_DISK, "virtio0", "pci@i0cf8"), -EINVAL);
	assert_int_equal(fw_boot_add(vm, FW_BOOT_DISK, "virtio0", strcat(path, "/disk@0,0")), 0);
	assert_int_equal(fw_boot_add(vm, FW_BOOT_DISK, "scsi0",
				     "/pci@i0cf8/scsi@4/channel@0/disk@0,0"), 0);
	assert_int_equal(fw_boot_add(vm, FW_BOOT_CDROM, "ide2",
				     "/pci@i0cf8/pci8086,2922@5/drive@0/disk@0"), 0);
	assert_int_equal(fw_boot_add(vm, FW_BOOT_NET, "net0",
				     "/pci@i0cf8/ethernet@6/ethernet-phy@0"), 0);
	t->cfg.boot_order[0] = "cdrom";
	t->cfg.boot_order[1] = "scsi0";
	t->cfg.boot_order[2] = "disk";
	t->cfg.nr_boot_order = 3;
	assert_int_equal(fw_boot_order_text(vm, text, sizeof(text)), 0);
	assert_string_equal(text, "/pci@i0cf8/pci8086,2922@5/drive@0/disk@0\n"
			    "/pci@i0cf8/scsi@4/channel@0/disk@0,0\n/pci@i0cf8/scsi@3/disk@0,0");
	assert_int_equal(fw_boot_order_text(vm, text, 20), -ENOSPC);
	assert_int_equal(x86_firmware_setup(vm, &(struct vk_err){ 0 }), 0);
	f = read_file(vm, "bootorder", &size);
	assert_int_equal(size, strlen((char *)f) + 1);
	assert_true(!strncmp((char *)f, "/pci@i0cf8/pci8086,2922@5", 25));
	free(f);
	assert_true(fw_boot_order_word_ok("scsi30"));
	assert_true(fw_boot_order_word_ok("cdrom"));
	assert_false(fw_boot_order_word_ok("floppy"));
	assert_false(fw_boot_order_word_ok("scsi"));
	assert_false(fw_boot_order_word_ok("scsi1x"));
	tvm_free(t);
}

/*
 * --vga std under SeaBIOS: Debian's vgabios-stdvga.bin reaches the firmware
 * whole as fw_cfg's vgaroms/vgabios-stdvga.bin, which SeaBIOS runs as the
 * VGA option ROM; a missing image is one line naming it.
 */
static void test_vga_bios(void **state)
{
	const char *real = "/usr/share/seabios/vgabios-stdvga.bin";
	struct tvm *t = tvm_new(FIRMWARE_BIOS);
	struct vk_err err = { 0 };
	void *want = NULL;
	size_t want_len = 0;
	uint32_t size;
	uint8_t *f;

	if (vk_read_file(real, &want, &want_len, 1 << 20)) {
		tvm_free(t);
		skip();		/* Debian's seabios is a check dependency (scripts/deps.sh) */
	}
	t->cfg.vga = VGA_STD;
	assert_int_equal(vga_class.create(&t->vm, &err), 0);
	f = read_file(&t->vm, "vgaroms/vgabios-stdvga.bin", &size);
	assert_int_equal(size, want_len);
	assert_memory_equal(f, want, want_len);
	assert_int_equal(f[0], 0x55);	/* an option ROM's signature */
	assert_int_equal(f[1], 0xaa);
	free(f);
	vga_class.destroy(&t->vm);

	setenv("VMKIT_FIRMWARE_DIR", "/nonexistent", 1);
	assert_int_not_equal(vga_class.create(&t->vm, &err), 0);
	assert_non_null(strstr(err.msg, "/nonexistent/seabios/vgabios-stdvga.bin"));
	vga_class.destroy(&t->vm);
	unsetenv("VMKIT_FIRMWARE_DIR");
	free(want);
	tvm_free(t);
}

/* ---- PAM through the host bridge's config space ---- */

static void pci_cfg_write8(struct vm *vm, unsigned int slot, unsigned int reg, uint8_t v)
{
	outl(vm, 0xcf8, 0x80000000u | slot << 11 | (reg & 0xfc));
	outb(vm, 0xcfc + (reg & 3), v);
}

static uint32_t pci_cfg_read32(struct vm *vm, unsigned int slot, unsigned int reg)
{
	uint32_t v;

	outl(vm, 0xcf8, 0x80000000u | slot << 11 | reg);
	io_bus_read(&vm->pio, 0xcfc, &v, 4);
	return v;
}

static uint8_t mmio8(struct vm *vm, uint64_t gpa)
{
	uint8_t v = 0;

	assert_true(io_bus_read(&vm->mmio, gpa, &v, 1));
	return v;
}

static void mmio_w8(struct vm *vm, uint64_t gpa, uint8_t v)
{
	assert_true(io_bus_write(&vm->mmio, gpa, &v, 1));
}

static void test_pam(void **state)
{
	struct tvm *t = tvm_new(FIRMWARE_BIOS);
	struct vm *vm = &t->vm;
	uint8_t rom_fff0 = (uint8_t)((ROM_SIZE - 0x10) * 7 + 1);
	uint8_t rom_f0000 = (uint8_t)((ROM_SIZE - 0x10000) * 7 + 1);

	/* The i440FX and the PIIX3, as SeaBIOS looks for them. */
	assert_int_equal(pci_cfg_read32(vm, 0, 0), 0x12378086);
	assert_int_equal(pci_cfg_read32(vm, 1, 0), 0x70008086);
	assert_int_equal(pci_cfg_read32(vm, 1, 8) >> 8, 0x060100);
	pci_cfg_write8(vm, 1, 0x60, 0x0b);
	assert_int_equal(pci_cfg_read32(vm, 1, 0x60) & 0xff, 0x0b);

	/* Reset: the ROM at the top of 4 GiB and its last 128 KiB at 0xe0000. */
	assert_int_equal(mmio8(vm, FOUR_GIB - 0x10), rom_fff0);
	assert_int_equal(mmio8(vm, 0xffff0), rom_fff0);
	assert_int_equal(mmio8(vm, 0xc0000), 0xff);	/* nothing below the alias */
	mmio_w8(vm, FOUR_GIB - 0x10, 0);		/* a ROM: the write goes nowhere */
	assert_int_equal(mmio8(vm, FOUR_GIB - 0x10), rom_fff0);
	mmio_w8(vm, 0xf0000, 0x42);
	assert_int_equal(vm->ram[0xf0000], 0);

	/* PAM0 = write-only: reads still the ROM, writes land in the RAM copy. */
	pci_cfg_write8(vm, 0, 0x59, 0x20);
	mmio_w8(vm, 0xf0000, 0x42);
	assert_int_equal(vm->ram[0xf0000], 0x42);
	assert_int_equal(mmio8(vm, 0xf0000), rom_f0000);
	/* RW: reads and writes the RAM. */
	pci_cfg_write8(vm, 0, 0x59, 0x30);
	assert_int_equal(mmio8(vm, 0xf0000), 0x42);
	mmio_w8(vm, 0xf0001, 0x43);
	assert_int_equal(mmio8(vm, 0xf0001), 0x43);
	/* Locked (read-only): reads the RAM, writes dropped. */
	pci_cfg_write8(vm, 0, 0x59, 0x10);
	mmio_w8(vm, 0xf0000, 0x99);
	assert_int_equal(mmio8(vm, 0xf0000), 0x42);
	/* The low nibble of 0x59 is reserved; 0x5a's nibbles are 0xc0000 and 0xc4000. */
	assert_int_equal(pci_cfg_read32(vm, 0, 0x58) >> 8 & 0xff, 0x10);
	pci_cfg_write8(vm, 0, 0x5a, 0x03);
	mmio_w8(vm, 0xc0000, 0x77);
	mmio_w8(vm, 0xc4000, 0x77);
	assert_int_equal(mmio8(vm, 0xc0000), 0x77);
	assert_int_equal(mmio8(vm, 0xc4000), 0xff);
	/* Back to off: the ROM again. */
	pci_cfg_write8(vm, 0, 0x59, 0x00);
	assert_int_equal(mmio8(vm, 0xf0000), rom_f0000);
	tvm_free(t);
}

/* ---- The PIIX4's PM function (00:01.3) and its PM timer ---- */

static uint32_t pci_fn_read32(struct vm *vm, unsigned int slot, unsigned int fn, unsigned int reg)
{
	uint32_t v;

	outl(vm, 0xcf8, 0x80000000u | slot << 11 | fn << 8 | reg);
	io_bus_read(&vm->pio, 0xcfc, &v, 4);
	return v;
}

static void pci_fn_write32(struct vm *vm, unsigned int slot, unsigned int fn, unsigned int reg,
			   uint32_t v)
{
	outl(vm, 0xcf8, 0x80000000u | slot << 11 | fn << 8 | reg);
	outl(vm, 0xcfc, v);
}

/* Two reads of the PM timer at port, 2 ms apart: it counts (3.58 MHz: ~7000 ticks). */
static bool timer_runs(struct vm *vm, uint16_t port)
{
	uint32_t a = 0, b = 0;

	if (!io_bus_read(&vm->pio, port, &a, 4))
		return false;
	usleep(2000);
	io_bus_read(&vm->pio, port, &b, 4);
	return ((b - a) & 0xffffff) >= 3000 && a <= 0xffffff && b <= 0xffffff;
}

static void test_piix4_pm(void **state)
{
	struct tvm *t = tvm_new(FIRMWARE_UEFI);
	struct vm *vm = &t->vm;
	struct vk_err err = { 0 };
	uint16_t cnt = 0;

	assert_int_equal(pm_class.create(vm, &err), 0);
	assert_int_equal(piix4_pm_class.create(vm, &err), 0);
	/* Where OVMF's timer library looks on an i440FX, already enabled at 0x600. */
	assert_int_equal(pci_fn_read32(vm, 1, 3, 0), 0x71138086);
	assert_int_equal(pci_fn_read32(vm, 1, 3, 8) >> 8, 0x068000);
	assert_int_equal(pci_fn_read32(vm, 1, 3, 0x40), 0x601);
	assert_int_equal(pci_fn_read32(vm, 1, 3, 0x80) & 1, 1);
	/* APMC_EN, read-only: SeaBIOS skips its SMM set-up (there is no SMM). */
	pci_fn_write32(vm, 1, 3, 0x58, 0);
	assert_int_equal(pci_fn_read32(vm, 1, 3, 0x58), 1u << 25);
	assert_int_equal(pci_fn_read32(vm, 1, 2, 0), 0xffffffff);	/* no other function */
	assert_true(timer_runs(vm, 0x608));
	assert_true(io_bus_read(&vm->pio, 0x604, &cnt, 2));
	assert_int_equal(cnt & 1, 1);				/* PM1 control: SCI_EN */

	/* Moved as on the real part (bit 0 stays: I/O space); PM1 and the timer go along. */
	pci_fn_write32(vm, 1, 3, 0x40, 0xb000);
	assert_int_equal(pci_fn_read32(vm, 1, 3, 0x40), 0xb001);
	assert_true(timer_runs(vm, 0xb008));
	assert_false(timer_runs(vm, 0x608));
	assert_true(io_bus_read(&vm->pio, 0xb004, &cnt, 2));
	/* PMIOSE off: decoded nowhere. */
	pci_fn_write32(vm, 1, 3, 0x80, 0);
	assert_false(timer_runs(vm, 0xb008));
	assert_false(io_bus_read(&vm->pio, 0xb004, &cnt, 2));
	pci_fn_write32(vm, 1, 3, 0x80, 1);
	assert_true(timer_runs(vm, 0xb008));
	piix4_pm_class.destroy(vm);
	pm_class.destroy(vm);
	tvm_free(t);

	/* Direct kernel boot: no PIIX at all, nothing at 00:01.3. */
	t = tvm_new(FIRMWARE_NONE);
	vm = &t->vm;
	assert_int_equal(pm_class.create(vm, &err), 0);
	assert_int_equal(piix4_pm_class.create(vm, &err), 0);
	assert_int_equal(pci_fn_read32(vm, 1, 3, 0), 0xffffffff);
	assert_false(timer_runs(vm, 0x608));
	piix4_pm_class.destroy(vm);
	pm_class.destroy(vm);
	tvm_free(t);
}

/* ---- OVMF's pflash ---- */

static uint8_t file_byte(const char *path, off_t off)
{
	uint8_t b = 0;
	int fd = open(path, O_RDONLY);

	assert_int_equal(pread(fd, &b, 1, off), 1);
	close(fd);
	return b;
}

static void test_pflash(void **state)
{
	struct tvm *t = tvm_new(FIRMWARE_UEFI);
	struct vm *vm = &t->vm;
	uint64_t base = FOUR_GIB - ROM_SIZE - VARS_SIZE;
	uint8_t orig, w4[4] = { 1, 2, 3, 4 };

	/* OVMF's QemuFlashDetected: clear status reads the array, read status gives 0. */
	orig = mmio8(vm, base);
	assert_int_equal(orig, 0xff);
	mmio_w8(vm, base, PFLASH_CMD_CLEAR_STATUS);
	assert_int_equal(mmio8(vm, base), orig);
	mmio_w8(vm, base, PFLASH_CMD_READ_STATUS);
	assert_int_equal(mmio8(vm, base), 0x00);
	mmio_w8(vm, base, PFLASH_CMD_READ_ARRAY);

	/* Program a byte (QemuFlashWrite), status ready, the file has it. */
	mmio_w8(vm, base + 0x123, PFLASH_CMD_PROGRAM);
	mmio_w8(vm, base + 0x123, 0x5a);
	assert_int_equal(mmio8(vm, base), PFLASH_STATUS_READY);
	mmio_w8(vm, base, PFLASH_CMD_READ_ARRAY);
	assert_int_equal(mmio8(vm, base + 0x123), 0x5a);
	assert_int_equal(file_byte(t->vars_path, 0x123), 0x5a);

	/* CFI query: "QRY", Intel command set, the geometry. */
	mmio_w8(vm, base, PFLASH_CMD_CFI_QUERY);
	assert_int_equal(mmio8(vm, base + 0x10), 'Q');
	assert_int_equal(mmio8(vm, base + 0x11), 'R');
	assert_int_equal(mmio8(vm, base + 0x12), 'Y');
	assert_int_equal(mmio8(vm, base + 0x13), 1);
	assert_int_equal(mmio8(vm, base + 0x2d), VARS_SIZE / PFLASH_BLOCK_SIZE - 1);
	assert_int_equal(mmio8(vm, base + 0x30) << 8 | mmio8(vm, base + 0x2f),
			 PFLASH_BLOCK_SIZE / 256);
	mmio_w8(vm, base, PFLASH_CMD_READ_ID);
	assert_int_equal(mmio8(vm, base), 0x89);
	mmio_w8(vm, base, PFLASH_CMD_READ_ARRAY);

	/* Block erase: the whole 4 KiB block is 0xff again, in the file too. */
	mmio_w8(vm, base + 0x100, PFLASH_CMD_ERASE);
	mmio_w8(vm, base + 0x100, PFLASH_CMD_CONFIRM);
	assert_int_equal(mmio8(vm, base) & PFLASH_STATUS_READY, PFLASH_STATUS_READY);
	mmio_w8(vm, base, PFLASH_CMD_READ_ARRAY);
	assert_int_equal(mmio8(vm, base + 0x123), 0xff);
	assert_int_equal(file_byte(t->vars_path, 0x123), 0xff);
	/* An erase without its confirm: error bits, nothing erased. */
	mmio_w8(vm, base + 0x2000, PFLASH_CMD_PROGRAM);
	mmio_w8(vm, base + 0x2000, 0x11);
	mmio_w8(vm, base + 0x2000, PFLASH_CMD_ERASE);
	mmio_w8(vm, base + 0x2000, 0x00);
	assert_int_equal(mmio8(vm, base) & 0x30, 0x30);
	mmio_w8(vm, base, PFLASH_CMD_CLEAR_STATUS);
	assert_int_equal(mmio8(vm, base + 0x2000), 0x11);

	/* A buffered write of 4 bytes. */
	mmio_w8(vm, base + 0x3000, PFLASH_CMD_WRITE_BUFFER);
	mmio_w8(vm, base + 0x3000, 3);
	assert_true(io_bus_write(&vm->mmio, base + 0x3000, w4, 4));
	mmio_w8(vm, base + 0x3000, PFLASH_CMD_CONFIRM);
	mmio_w8(vm, base, PFLASH_CMD_READ_ARRAY);
	assert_int_equal(mmio8(vm, base + 0x3003), 4);
	assert_int_equal(file_byte(t->vars_path, 0x3003), 4);
	/* Program at the very end with a wide write: refused, not past the chip. */
	mmio_w8(vm, base + VARS_SIZE - 1, PFLASH_CMD_PROGRAM);
	io_bus_write(&vm->mmio, base + VARS_SIZE - 1, w4, 4);
	assert_int_equal(mmio8(vm, base) & PFLASH_STATUS_PROG_ERR, PFLASH_STATUS_PROG_ERR);
	tvm_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fwcfg_ports),
		cmocka_unit_test(test_fwcfg_dma),
		cmocka_unit_test(test_table_loader),
		cmocka_unit_test(test_smbios),
		cmocka_unit_test(test_boot_order),
		cmocka_unit_test(test_vga_bios),
		cmocka_unit_test(test_pam),
		cmocka_unit_test(test_piix4_pm),
		cmocka_unit_test(test_pflash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
