// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Kernel loading: PVH ELF images (the Xen PVH entry note, as QEMU's -kernel
 * accepts), ELF vmlinux and bzImage through Linux's 64-bit boot protocol
 * (Documentation/arch/x86/boot.rst). Everything in the kernel file is
 * checked against the file's size and guest RAM before it is copied.
 */
#include <elf.h>
#include <errno.h>
#include <string.h>

#include "vmkit/q35.h"
#include "vmkit/vm.h"
#include "vmkit/x86.h"
#include "bzimage.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define PVH_START_MAGIC		0x336ec578


struct hvm_start_info {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	uint32_t memmap_entries, reserved;
} __attribute__((packed));

struct hvm_modlist_entry {
	uint64_t paddr, size, cmdline_paddr, reserved;
} __attribute__((packed));

struct hvm_memmap_entry {
	uint64_t addr, size;
	uint32_t type, reserved;
} __attribute__((packed));

struct kernel_file {
	const char *path;
	const uint8_t *data;
	size_t size;
	uint64_t end;		/* highest guest address the kernel occupies */
	uint64_t cmdline_max;	/* longest command line it accepts */
	bool is_linux;		/* bzImage, or an ELF with "Linux" notes */
	uint64_t initrd_max;	/* highest address its initrd may end at */
};

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

unsigned int x86_e820_map(struct vm *vm, struct e820_entry *e, unsigned int max)
{
	unsigned int n = 0;

	if (max < 6)
		return 0;
	e[n++] = (struct e820_entry){ 0, EBDA_START, E820_RAM };
	e[n++] = (struct e820_entry){ EBDA_START, 0xa0000 - EBDA_START, E820_RESERVED };
	e[n++] = (struct e820_entry){ ACPI_START, ACPI_END - ACPI_START, E820_RESERVED };
	e[n++] = (struct e820_entry){ HIGH_MEM_START, vm->low_mem_top - HIGH_MEM_START, E820_RAM };
	/* Linux uses the MCFG's ECAM only where the memory map reserves it. */
	if (vm_is_q35(vm->cfg))
		e[n++] = (struct e820_entry){ Q35_ECAM_BASE, Q35_ECAM_SIZE, E820_RESERVED };
	/* RAM above 4 GiB is the last region (the low one may be split by a VGA's window). */
	if (vm->nr_mem > 1 && vm->mem[vm->nr_mem - 1].gpa >= MMIO_HOLE_END)
		e[n++] = (struct e820_entry){ vm->mem[vm->nr_mem - 1].gpa,
					      vm->mem[vm->nr_mem - 1].size, E820_RAM };
	return n;
}

/* Copy a file range into guest memory, checking both sides. */
static int copy_in(struct vm *vm, struct kernel_file *k, uint64_t gpa,
		   uint64_t off, uint64_t filesz, uint64_t memsz, struct vk_err *err)
{
	uint8_t *dst;

	if (filesz > memsz || off > k->size || filesz > k->size - off)
		return vk_fail(err, -EINVAL, "%s: segment lies outside the file", k->path);
	if (gpa < HIGH_MEM_START || gpa + memsz < gpa || gpa + memsz > vm->low_mem_top)
		return vk_fail(err, -EINVAL,
			       "%s: kernel does not fit in guest memory (needs 0x%llx-0x%llx, RAM ends at 0x%llx)",
			       k->path, (unsigned long long)gpa, (unsigned long long)(gpa + memsz),
			       (unsigned long long)vm->low_mem_top);
	dst = vm_gpa_to_hva(vm, gpa, memsz);
	memcpy(dst, k->data + off, filesz);
	memset(dst + filesz, 0, memsz - filesz);
	k->end = MAX(k->end, gpa + memsz);
	return 0;
}

/* Scan one PT_NOTE segment for the PVH entry (returned, 0 if absent) and Linux's notes. */
static uint64_t scan_notes(struct kernel_file *k, const uint8_t *p, uint64_t len)
{
	uint64_t off = 0, entry = 0;

	while (len - off >= sizeof(Elf64_Nhdr)) {
		const Elf64_Nhdr *n = (const void *)(p + off);
		uint64_t name = ALIGN_UP((uint64_t)n->n_namesz, 4);
		uint64_t desc = ALIGN_UP((uint64_t)n->n_descsz, 4);
		const uint8_t *nm = p + off + sizeof(*n), *d = nm + name;

		if (name + desc > len - off - sizeof(*n))
			break;
		if (n->n_namesz == 6 && !memcmp(nm, "Linux", 6))
			k->is_linux = true;
		if (n->n_type == XEN_ELFNOTE_PHYS32_ENTRY && n->n_namesz == 4 &&
		    !memcmp(nm, "Xen", 4) && n->n_descsz >= 4)
			entry = get32(d);
		off += sizeof(*n) + name + desc;
	}
	return entry;
}

/* Program headers as 64-bit, whatever the file's class. */
static int elf_phdr(struct kernel_file *k, unsigned int i, Elf64_Phdr *ph, struct vk_err *err)
{
	const Elf64_Ehdr *eh64 = (const void *)k->data;
	const Elf32_Ehdr *eh32 = (const void *)k->data;
	bool is64 = k->data[EI_CLASS] == ELFCLASS64;
	uint64_t off = is64 ? eh64->e_phoff : eh32->e_phoff;
	uint64_t esz = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);

	if (off > k->size || (i + 1) * esz > k->size - off)
		return vk_fail(err, -EINVAL, "%s: ELF program headers lie outside the file", k->path);
	if (is64) {
		memcpy(ph, k->data + off + i * esz, sizeof(*ph));
	} else {
		Elf32_Phdr p;

		memcpy(&p, k->data + off + i * esz, sizeof(p));
		*ph = (Elf64_Phdr){ p.p_type, p.p_flags, p.p_offset, p.p_vaddr,
				    p.p_paddr, p.p_filesz, p.p_memsz, p.p_align };
	}
	return 0;
}

static int load_elf(struct vm *vm, struct kernel_file *k, struct vk_err *err)
{
	const Elf64_Ehdr *eh = (const void *)k->data;
	bool is64 = k->data[EI_CLASS] == ELFCLASS64;
	unsigned int i, phnum;
	uint64_t pvh = 0;
	Elf64_Phdr ph;
	int r;

	if (k->size < sizeof(Elf64_Ehdr) || (!is64 && k->data[EI_CLASS] != ELFCLASS32) ||
	    k->data[EI_DATA] != ELFDATA2LSB)
		return vk_fail(err, -EINVAL, "%s: not a little-endian ELF file", k->path);
	phnum = is64 ? eh->e_phnum : ((const Elf32_Ehdr *)eh)->e_phnum;
	if (!phnum || phnum > 64)
		return vk_fail(err, -EINVAL, "%s: ELF file has %u program headers", k->path, phnum);
	for (i = 0; i < phnum; i++) {
		r = elf_phdr(k, i, &ph, err);
		if (r)
			return r;
		if (ph.p_type == PT_NOTE && ph.p_offset < k->size &&
		    ph.p_filesz <= k->size - ph.p_offset)
			pvh = scan_notes(k, k->data + ph.p_offset, ph.p_filesz) ? : pvh;
		if (ph.p_type != PT_LOAD || !ph.p_memsz)
			continue;
		r = copy_in(vm, k, ph.p_paddr, ph.p_offset, ph.p_filesz, ph.p_memsz, err);
		if (r)
			return r;
	}
	if (!pvh && !is64)
		return vk_fail(err, -EINVAL, "%s: 32-bit ELF without a PVH entry note", k->path);
	vm->entry_pvh = pvh != 0;
	/* vmlinux's e_entry is startup_64's physical address (phys_startup_64). */
	vm->entry = pvh ? pvh : (is64 ? eh->e_entry : 0);
	k->cmdline_max = 2048;
	k->initrd_max = vm->low_mem_top;
	return 0;
}

static int load_bzimage(struct vm *vm, struct kernel_file *k, struct vk_err *err)
{
	const uint8_t *d = k->data;
	uint64_t setup, init_size;
	uint16_t version = get16(d + HDR_VERSION);
	int r;

	if (version < 0x020c || !(d[HDR_XLOADFLAGS] & XLF_KERNEL_64))
		return vk_fail(err, -EINVAL,
			       "%s: Linux kernel without a 64-bit entry (boot protocol %u.%02u); need 2.12 or later",
			       k->path, version >> 8, version & 0xff);
	setup = d[HDR_SETUP_SECTS] ? d[HDR_SETUP_SECTS] : 4;
	setup = (setup + 1) * 512;
	if (setup >= k->size)
		return vk_fail(err, -EINVAL, "%s: bzImage setup header larger than the file", k->path);
	init_size = get32(d + HDR_INIT_SIZE);
	r = copy_in(vm, k, BZIMAGE_LOAD_ADDR, setup, k->size - setup,
		    MAX(k->size - setup, init_size), err);
	if (r)
		return r;
	vm->entry = BZIMAGE_LOAD_ADDR + 0x200;	/* startup_64 of the decompressor */
	k->is_linux = true;
	vm->entry_pvh = false;
	k->cmdline_max = get32(d + HDR_CMDLINE_SIZE);
	k->initrd_max = (uint64_t)get32(d + HDR_INITRD_ADDR_MAX) + 1;
	return 0;
}

static bool is_bzimage(const struct kernel_file *k)
{
	return k->size > 0x400 && get16(k->data + HDR_BOOT_FLAG) == 0xaa55 &&
	       get32(k->data + HDR_MAGIC) == 0x53726448;	/* "HdrS" */
}

/* Put the initrd as high as allowed, below the MMIO hole, page-aligned. */
static int load_initrd(struct vm *vm, struct kernel_file *k, uint64_t *gpa, uint64_t *size,
		       struct vk_err *err)
{
	_cleanup_free_ void *buf = NULL;
	uint64_t top = MIN(vm->low_mem_top, k->initrd_max);
	size_t len;
	int r;

	*gpa = *size = 0;
	if (!vm->cfg->initrd)
		return 0;
	r = vk_read_file(vm->cfg->initrd, &buf, &len, vm->low_mem_top);
	if (r == -EFBIG)
		return vk_fail(err, r, "%s: initrd larger than guest memory", vm->cfg->initrd);
	if (r)
		return vk_fail(err, r, "%s: cannot read initrd: %s", vm->cfg->initrd, strerror(-r));
	if (len > top || ALIGN_DOWN(top - len, 4096) < ALIGN_UP(k->end, 4096))
		return vk_fail(err, -ENOSPC,
			       "%s: initrd (%zu bytes) does not fit in guest memory above the kernel",
			       vm->cfg->initrd, len);
	*gpa = ALIGN_DOWN(top - len, 4096);
	*size = len;
	memcpy(vm_gpa_to_hva(vm, *gpa, len), buf, len);
	return 0;
}

/*
 * On PVM hosts the CPUID table KVM is given does not hide the features
 * whose instructions the host cannot emulate at CPL0: the host reports its
 * own bits for them (measured: leaf 1 XSAVE/AVX/SSE4/POPCNT..., leaf 7 and
 * leaf 0xd come through whatever we set). For Linux, --cpu baseline then
 * also hides them the way the kernel offers: these parameters.
 */
static const char pvm_linux_hide[] =
	" noxsave clearcpuid=smap,smep,fsgsbase,rdpid,pku,pcid,invpcid,popcnt,cx16,movbe,"
	"clwb,clflushopt,rdseed,rdrand,ssse3,sse4_1,sse4_2,aes,pclmulqdq";
/*
 * Linux reads clearcpuid= into a 128-byte buffer: the list above must stay
 * shorter. noxsave covers the rest, as AVX and its successors depend on XSAVE.
 */
_Static_assert(sizeof(pvm_linux_hide) - sizeof(" noxsave clearcpuid=") < 128,
	       "clearcpuid list longer than Linux reads");

static int put_cmdline(struct vm *vm, struct kernel_file *k, struct vk_err *err)
{
	const char *cmd = vm->cfg->cmdline ? vm->cfg->cmdline : "";
	const char *extra = "";
	size_t len, max = MIN(k->cmdline_max, BOOT_CMDLINE_MAX);
	char *dst;

	if (vm->pvm && k->is_linux && vm->cfg->cpu_model == CPU_MODEL_BASELINE)
		extra = pvm_linux_hide;
	len = strlen(cmd);
	if (len >= max)
		return vk_fail(err, -E2BIG, "kernel command line too long (%zu bytes, kernel accepts %llu)",
			       len, (unsigned long long)max - 1);
	if (len + strlen(extra) >= max)
		extra = "";
	dst = vm_gpa_to_hva(vm, BOOT_CMDLINE_ADDR, max);
	memcpy(dst, cmd, len);
	strcpy(dst + len, extra);
	return 0;
}

static void setup_start_info(struct vm *vm, uint64_t initrd, uint64_t initrd_size, uint64_t rsdp)
{
	struct hvm_start_info *si = vm_gpa_to_hva(vm, BOOT_START_INFO_ADDR, 0x1000);
	struct hvm_modlist_entry *mod = (void *)(si + 1);
	struct hvm_memmap_entry *mm = (void *)(mod + 1);
	struct e820_entry e[8];
	unsigned int i, n = x86_e820_map(vm, e, ARRAY_SIZE(e));

	memset(si, 0, 0x1000);
	si->magic = PVH_START_MAGIC;
	si->version = 1;
	si->cmdline_paddr = BOOT_CMDLINE_ADDR;
	si->rsdp_paddr = rsdp;
	if (initrd_size) {
		si->nr_modules = 1;
		si->modlist_paddr = BOOT_START_INFO_ADDR + sizeof(*si);
		mod->paddr = initrd;
		mod->size = initrd_size;
	}
	si->memmap_paddr = BOOT_START_INFO_ADDR + ((uint8_t *)mm - (uint8_t *)si);
	si->memmap_entries = n;
	for (i = 0; i < n; i++)
		mm[i] = (struct hvm_memmap_entry){ e[i].addr, e[i].size, e[i].type, 0 };
	vm->boot_info_gpa = BOOT_START_INFO_ADDR;
}

static void setup_boot_params(struct vm *vm, struct kernel_file *k, uint64_t initrd,
			      uint64_t initrd_size, uint64_t rsdp)
{
	uint8_t *bp = vm_gpa_to_hva(vm, BOOT_PARAMS_ADDR, 4096);
	unsigned int n;

	memset(bp, 0, 4096);
	if (is_bzimage(k)) {
		/* The setup header runs from 0x1f1 to 0x202 + the byte at 0x201. */
		size_t end = MIN((size_t)0x202 + k->data[0x201], 4096 - 1);

		memcpy(bp + HDR_SETUP_SECTS, k->data + HDR_SETUP_SECTS, end - HDR_SETUP_SECTS);
	} else {
		put16(bp + HDR_BOOT_FLAG, 0xaa55);
		put32(bp + HDR_MAGIC, 0x53726448);
		put32(bp + HDR_KERNEL_ALIGNMENT, 0x1000000);
	}
	bp[HDR_TYPE_OF_LOADER] = 0xff;
	bp[HDR_LOADFLAGS] |= LOADED_HIGH;
	put32(bp + HDR_CMD_LINE_PTR, BOOT_CMDLINE_ADDR);
	put32(bp + HDR_RAMDISK_IMAGE, (uint32_t)initrd);
	put32(bp + HDR_RAMDISK_SIZE, (uint32_t)initrd_size);
	put32(bp + BP_EXT_RAMDISK_IMAGE, (uint32_t)(initrd >> 32));
	put32(bp + BP_EXT_RAMDISK_SIZE, (uint32_t)(initrd_size >> 32));
	memcpy(bp + BP_ACPI_RSDP_ADDR, &rsdp, 8);
	n = x86_e820_map(vm, (struct e820_entry *)(bp + BP_E820_TABLE), BP_E820_MAX);
	bp[BP_E820_ENTRIES] = n;
	vm->boot_info_gpa = BOOT_PARAMS_ADDR;
}

/*
 * Identity-map the first 4 GiB with 2 MiB pages and lay out the GDT the
 * 64-bit entry state refers to (selectors 0x10 code, 0x18 data, 0x20 TSS).
 */
static void setup_page_tables(struct vm *vm)
{
	uint64_t *pml4 = vm_gpa_to_hva(vm, BOOT_PML4_ADDR, 4096);
	uint64_t *pdpt = vm_gpa_to_hva(vm, BOOT_PDPT_ADDR, 4096);
	uint64_t *pd = vm_gpa_to_hva(vm, BOOT_PD_ADDR, 4 * 4096);
	uint64_t *gdt = vm_gpa_to_hva(vm, BOOT_GDT_ADDR, 8 * 8);
	unsigned int i;

	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = BOOT_PDPT_ADDR | 0x3;
	for (i = 0; i < 4; i++)
		pdpt[i] = (BOOT_PD_ADDR + i * 4096) | 0x3;
	for (i = 0; i < 4 * 512; i++)
		pd[i] = ((uint64_t)i << 21) | 0x83;	/* present, writable, 2 MiB */
	gdt[0] = 0;
	gdt[1] = 0x00cf9b000000ffffULL;	/* 0x08: 32-bit code (PVH entry) */
	gdt[2] = 0x00af9b000000ffffULL;	/* 0x10: 64-bit code */
	gdt[3] = 0x00cf93000000ffffULL;	/* 0x18: data */
	gdt[4] = 0x00008b0000000067ULL;	/* 0x20: TSS */
}

static int load_kernel_file(struct vm *vm, struct kernel_file *k, struct vk_err *err)
{
	if (k->size >= 4 && !memcmp(k->data, ELFMAG, SELFMAG))
		return load_elf(vm, k, err);
	if (is_bzimage(k))
		return load_bzimage(vm, k, err);
	return vk_fail(err, -ENOEXEC, "%s: not a kernel (neither ELF nor a Linux bzImage)", k->path);
}

int x86_load_kernel(struct vm *vm, struct vk_err *err)
{
	_cleanup_free_ void *buf = NULL;
	struct kernel_file k = { .path = vm->cfg->kernel };
	uint64_t initrd, initrd_size, rsdp;
	int r;

	r = vk_read_file(k.path, &buf, &k.size, vm->low_mem_top);
	if (r == -EFBIG)
		return vk_fail(err, r, "%s: kernel larger than guest memory", k.path);
	if (r)
		return vk_fail(err, r, "%s: cannot read kernel: %s", k.path, strerror(-r));
	k.data = buf;
	r = load_kernel_file(vm, &k, err);
	if (!r)
		r = load_initrd(vm, &k, &initrd, &initrd_size, err);
	if (!r)
		r = put_cmdline(vm, &k, err);
	if (r)
		return r;
	rsdp = x86_acpi_build(vm);
	setup_page_tables(vm);
	if (vm->entry_pvh)
		setup_start_info(vm, initrd, initrd_size, rsdp);
	else
		setup_boot_params(vm, &k, initrd, initrd_size, rsdp);
	return 0;
}
