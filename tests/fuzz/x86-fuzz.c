// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for the x86 instruction completer (vmm/arch/x86/
 * emulate.c): the input is the vCPU state the monitor would pass (mode,
 * CPL, registers, segment bases, the FXSAVE area) and then the instruction
 * bytes KVM reported. Guest memory is a 4 KiB window at a linear address
 * the input picks; accesses outside it fail as an unmapped page does.
 * Checked: the contract of x86_emulate (state untouched on an error, rip
 * moved only forward within 15 bytes on success), besides ASan and UBSan.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmkit/x86-emulate.h"

#define WINDOW	4096

struct mem {
	uint64_t base;
	uint8_t bytes[WINDOW];
};

static int access_ok(struct mem *m, uint64_t la, size_t len)
{
	return la >= m->base && la - m->base <= WINDOW && len <= WINDOW - (la - m->base);
}

static int mem_read(void *opaque, uint64_t la, void *buf, size_t len)
{
	struct mem *m = opaque;

	if (!access_ok(m, la, len))
		return -EFAULT;
	memcpy(buf, m->bytes + (la - m->base), len);
	return 0;
}

static int mem_write(void *opaque, uint64_t la, const void *buf, size_t len)
{
	struct mem *m = opaque;

	if (!access_ok(m, la, len))
		return -EFAULT;
	memcpy(m->bytes + (la - m->base), buf, len);
	return 0;
}

static const struct x86_emu_ops ops = { .read = mem_read, .write = mem_write };

/*
 * Input: u8 mode, CPL and protected/long/stack/GDT-limit bits, u64 window base
 * (also the GDT's), 16 GPRs, 6 segment bases, rflags, fxstate, insn.
 */
#define HDR	(1 + 8 + 8 * (X86_NR_GPRS + X86_NR_SEGS + 1) + 512)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int bits[] = { 16, 32, 64, 64 };
	static struct mem m;
	struct x86_emu_state st = { 0 }, before;
	const uint8_t *p = data;
	int r;

	if (size < HDR)
		return 0;
	st.code_bits = bits[p[0] & 3];
	st.cpl = (p[0] >> 2) & 3;
	/* The mode byte's high bits: what iret needs (modes, stack width, a GDT in the window). */
	st.protected_mode = p[0] & 0x10;
	st.long_mode = st.code_bits == 64 || (p[0] & 0x20);
	st.stack_bits = st.code_bits == 64 ? 64 : (p[0] & 0x40) ? 32 : 16;
	st.gdt_limit = (p[0] & 0x80) ? 0xffff : 0x3f;
	p++;
	memcpy(&m.base, p, 8);
	p += 8;
	st.gdt_base = m.base;
	memcpy(st.gpr, p, sizeof(st.gpr));
	p += sizeof(st.gpr);
	memcpy(st.seg_base, p, sizeof(st.seg_base));
	p += sizeof(st.seg_base);
	memcpy(&st.rflags, p, 8);
	p += 8;
	memcpy(st.fxstate, p, 512);
	p += 512;
	st.rip = 0x1000;
	st.exception = -1;
	memset(m.bytes, 0xcc, sizeof(m.bytes));
	before = st;
	x86_emulate_name(p, size - HDR);
	r = x86_emulate(&st, p, size - HDR, &ops, &m);
	if (r && memcmp(&st, &before, sizeof(st)))
		abort();	/* an error must leave the state as it was */
	if (!r && st.exception < 0 && (st.rip <= before.rip || st.rip - before.rip > 15))
		abort();	/* completed, so rip moved past the instruction */
	return 0;
}
