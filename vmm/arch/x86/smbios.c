// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * SMBIOS 2.8 (DMTF DSP0134) for firmware to install, as the fw_cfg files
 * etc/smbios/smbios-tables (the structures) and etc/smbios/smbios-anchor
 * (the 32-bit entry point, whose table address the firmware fills in):
 * types 0 (BIOS), 1 (system), 3 (chassis), 4 (one per socket), 16, 17
 * (one per 16 GiB of RAM), 19 (one per RAM range), 32 (boot status) and
 * 127, enough for dmidecode and for guests that read their memory size or
 * processor count from them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmkit/firmware.h"
#include "vmkit/fw-cfg.h"
#include "vmkit/vm.h"

#define SMBIOS_MAX		(64 * KiB)
#define DIMM_MAX		(16 * GiB)

struct smbios_ep {
	char anchor[4];
	uint8_t checksum, length, major, minor;
	uint16_t max_struct;
	uint8_t revision;
	uint8_t formatted[5];
	char ianchor[5];
	uint8_t ichecksum;
	uint16_t table_len;
	uint32_t table_addr;
	uint16_t nr_structs;
	uint8_t bcd_revision;
} __attribute__((packed));

_Static_assert(sizeof(struct smbios_ep) == 0x1f, "SMBIOS 2.x entry point");

struct sm {
	uint8_t *buf;
	size_t len;
	uint16_t nr, max;
	bool full;
	uint8_t *cur;		/* the structure being built */
	unsigned int nr_str;
};

/* Start a structure: header, then len - 4 formatted bytes (zero). */
static uint8_t *sm_begin(struct sm *s, uint8_t type, uint8_t len, uint16_t handle)
{
	static uint8_t scratch[256];

	s->nr_str = 0;
	if (s->full || s->len + len + 2 > SMBIOS_MAX) {
		s->full = true;
		return s->cur = scratch;
	}
	s->cur = s->buf + s->len;
	memset(s->cur, 0, len);
	s->cur[0] = type;
	s->cur[1] = len;
	memcpy(s->cur + 2, &handle, 2);
	s->len += len;
	return s->cur;
}

/* Append a string to the structure; returns its number for the field. */
static uint8_t sm_str(struct sm *s, const char *str)
{
	size_t n = strlen(str) + 1;

	if (s->full || !*str)
		return 0;
	if (s->len + n + 2 > SMBIOS_MAX) {
		s->full = true;
		return 0;
	}
	memcpy(s->buf + s->len, str, n);
	s->len += n;
	return ++s->nr_str;
}

static void sm_end(struct sm *s)
{
	size_t start;

	if (s->full)
		return;
	/* A structure without strings ends in two NULs, one with them in one more. */
	s->buf[s->len++] = 0;
	if (!s->nr_str)
		s->buf[s->len++] = 0;
	start = s->cur - s->buf;
	s->nr++;
	s->max = MAX(s->max, (uint16_t)(s->len - start));
}

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

static void type0(struct sm *s)
{
	uint8_t *t = sm_begin(s, 0, 0x18, 0x000);

	t[4] = sm_str(s, "vmkit");
	t[5] = sm_str(s, "1.0");
	put16(t + 6, 0xe800);			/* BIOS start segment */
	t[8] = sm_str(s, "01/01/2024");
	t[9] = 0;				/* ROM size 64 KiB */
	put64(t + 10, 1u << 3);			/* characteristics not supported */
	t[19] = 1u << 3 | 1u << 4;		/* ext. 2: targeted content distribution, a VM */
	t[20] = 0;
	t[21] = 0;
	t[22] = t[23] = 0xff;			/* no embedded controller */
	sm_end(s);
}

/* The product and version strings QEMU gives its two machines. */
static void type1(struct sm *s, const char *name, bool q35)
{
	uint8_t *t = sm_begin(s, 1, 0x1b, 0x100);

	t[4] = sm_str(s, "vmkit");
	t[5] = sm_str(s, q35 ? "Standard PC (Q35 + ICH9, 2009)" : "Standard PC (i440FX + PIIX, 1996)");
	t[6] = sm_str(s, q35 ? "q35" : "pc");
	t[7] = sm_str(s, name ? name : "");
	t[24] = 6;				/* wake-up: power switch */
	t[25] = sm_str(s, "");
	t[26] = sm_str(s, "Virtual Machine");
	sm_end(s);
}

static void type3(struct sm *s)
{
	uint8_t *t = sm_begin(s, 3, 0x16, 0x300);

	t[4] = sm_str(s, "vmkit");
	t[5] = 1;				/* other */
	t[6] = sm_str(s, "pc");
	t[9] = 3;				/* boot-up, power, thermal: safe */
	t[10] = 3;
	t[11] = 3;
	t[12] = 2;				/* security: unknown */
	sm_end(s);
}

static void type4(struct sm *s, unsigned int socket, unsigned int cores, unsigned int threads)
{
	uint8_t *t = sm_begin(s, 4, 0x2a, 0x400 + socket);
	char name[16];

	snprintf(name, sizeof(name), "CPU %u", socket);
	t[4] = sm_str(s, name);
	t[5] = 3;				/* central processor */
	t[6] = 0xfe;				/* family: see family 2 */
	t[7] = sm_str(s, "vmkit");
	t[16] = sm_str(s, "pc-cpu");
	put16(t + 20, 2000);			/* max and current speed, MHz */
	put16(t + 22, 2000);
	t[24] = 0x41;				/* socket populated, CPU enabled */
	t[25] = 0x01;				/* upgrade: other */
	put16(t + 26, 0xffff);			/* no cache information */
	put16(t + 28, 0xffff);
	put16(t + 30, 0xffff);
	t[35] = MIN(cores, 255u);
	t[36] = MIN(cores, 255u);
	t[37] = MIN(cores * threads, 255u);
	put16(t + 38, 0x02);			/* characteristics: unknown */
	put16(t + 40, 0x01);			/* family 2: other */
	sm_end(s);
}

static void type16(struct sm *s, uint64_t ram, unsigned int dimms)
{
	uint8_t *t = sm_begin(s, 16, 0x17, 0x1000);
	uint64_t kib = ram / KiB;

	t[4] = 0x01;				/* location: other */
	t[5] = 0x03;				/* system memory */
	t[6] = 0x06;				/* multi-bit ECC */
	put32(t + 7, kib < 0x80000000ULL ? kib : 0x80000000u);
	put16(t + 11, 0xfffe);			/* no error information */
	put16(t + 13, dimms);
	put64(t + 15, kib < 0x80000000ULL ? 0 : ram);
	sm_end(s);
}

static void type17(struct sm *s, unsigned int i, uint64_t size)
{
	uint8_t *t = sm_begin(s, 17, 0x28, 0x1100 + i);
	uint64_t mib = size / MiB;
	char name[16];

	put16(t + 4, 0x1000);			/* its array */
	put16(t + 6, 0xfffe);
	put16(t + 8, 64);			/* total and data width */
	put16(t + 10, 64);
	put16(t + 12, mib < 0x7fff ? mib : 0x7fff);
	t[14] = 0x09;				/* DIMM */
	snprintf(name, sizeof(name), "DIMM %u", i);
	t[16] = sm_str(s, name);
	t[18] = 0x07;				/* RAM */
	put16(t + 19, 0x02);			/* type detail: other */
	t[23] = sm_str(s, "vmkit");
	put32(t + 28, mib < 0x7fff ? 0 : mib);
	sm_end(s);
}

static void type19(struct sm *s, unsigned int i, uint64_t start, uint64_t size)
{
	uint8_t *t = sm_begin(s, 19, 0x1f, 0x1300 + i);
	uint64_t end = start + size - 1;

	if (end / KiB < 0xffffffffULL) {
		put32(t + 4, start / KiB);
		put32(t + 8, end / KiB);
	} else {
		put32(t + 4, 0xffffffffu);
		put32(t + 8, 0xffffffffu);
		put64(t + 15, start);
		put64(t + 23, end);
	}
	put16(t + 12, 0x1000);
	t[14] = 1;				/* partition width */
	sm_end(s);
}

static void build(struct sm *s, struct vm *vm)
{
	const struct vm_config *c = vm->cfg;
	unsigned int i, sockets = MAX(c->topo.sockets, 1u), dimms;
	uint64_t left = vm->ram_size;

	type0(s);
	type1(s, c->name, c->machine == MACHINE_Q35);
	type3(s);
	for (i = 0; i < sockets; i++)
		type4(s, i, MAX(c->topo.cores, 1u), MAX(c->topo.threads, 1u));
	dimms = (vm->ram_size + DIMM_MAX - 1) / DIMM_MAX;
	type16(s, vm->ram_size, dimms);
	for (i = 0; i < dimms; i++, left -= MIN(left, DIMM_MAX))
		type17(s, i, MIN(left, DIMM_MAX));
	for (i = 0; i < vm->nr_mem; i++)
		type19(s, i, vm->mem[i].gpa, vm->mem[i].size);
	sm_begin(s, 32, 0x0b, 0x2000);		/* boot status 0: no errors */
	sm_end(s);
	sm_begin(s, 127, 4, 0x7f00);
	sm_end(s);
}

static uint8_t sum8(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint8_t v = 0;

	while (n--)
		v += *b++;
	return v;
}

int x86_smbios_fw_cfg(struct vm *vm, struct vk_err *err)
{
	_cleanup_free_ uint8_t *buf = malloc(SMBIOS_MAX);
	struct sm s = { .buf = buf };
	struct smbios_ep ep = { .anchor = "_SM_", .length = sizeof(ep), .major = 2, .minor = 8,
				.ianchor = "_DMI_", .bcd_revision = 0x28 };
	int r;

	if (!buf)
		return vk_fail(err, -ENOMEM, "out of memory");
	build(&s, vm);
	if (s.full)
		return vk_fail(err, -ENOSPC, "SMBIOS tables larger than %llu KiB", SMBIOS_MAX / KiB);
	ep.max_struct = s.max;
	ep.table_len = s.len;
	ep.nr_structs = s.nr;
	/* The firmware sets table_addr and redoes both checksums; make them right for 0. */
	ep.ichecksum = -sum8(ep.ianchor, 0x0f);
	ep.checksum = -sum8(&ep, sizeof(ep));
	r = fw_cfg_add_file(vm, "etc/smbios/smbios-tables", buf, s.len);
	if (!r)
		r = fw_cfg_add_file(vm, "etc/smbios/smbios-anchor", &ep, sizeof(ep));
	if (r)
		return vk_fail(err, r, "SMBIOS for the firmware: %s", strerror(-r));
	return 0;
}
