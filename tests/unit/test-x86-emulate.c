// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for the user-space instruction emulator (vmm/arch/x86/emulate.c).
 *
 * Guest memory is a fake array at MEM_BASE. Where the host CPU can run the
 * same instruction (fxsave, fldcw, popcnt), the emulated result is checked
 * against the real one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <vmkit/x86-emulate.h>

#define MEM_BASE	0x100000ull
#define MEM_SIZE	0x10000
#define MEM_FILL	0xcc
#define RIP0		0x401000ull


#define FLAGS6		0x8d5u	/* CF PF AF ZF SF OF */
#define ZF		0x40u

static uint8_t mem[MEM_SIZE];

static struct fake {
	int reads, writes;
	bool fail_read, fail_write;
	uint64_t last_la;
	size_t last_len;
} fake;

static int fake_access(struct fake *f, uint64_t la, size_t len, bool fail)
{
	f->last_la = la;
	f->last_len = len;
	if (fail || la < MEM_BASE || la - MEM_BASE > MEM_SIZE ||
	    len > MEM_SIZE - (la - MEM_BASE))
		return -EFAULT;
	return 0;
}

static int fake_read(void *opaque, uint64_t la, void *buf, size_t len)
{
	struct fake *f = opaque;

	f->reads++;
	if (fake_access(f, la, len, f->fail_read))
		return -EFAULT;
	memcpy(buf, mem + (la - MEM_BASE), len);
	return 0;
}

static int fake_write(void *opaque, uint64_t la, const void *buf, size_t len)
{
	struct fake *f = opaque;

	f->writes++;
	if (fake_access(f, la, len, f->fail_write))
		return -EFAULT;
	memcpy(mem + (la - MEM_BASE), buf, len);
	return 0;
}

static const struct x86_emu_ops fake_ops = {
	.read = fake_read,
	.write = fake_write,
};

#define INSN(...) \
	(const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ })

static int emu(struct x86_emu_state *st, const uint8_t *insn, size_t len)
{
	return x86_emulate(st, insn, len, &fake_ops, &fake);
}

static uint8_t *at(uint64_t la)
{
	return mem + (la - MEM_BASE);
}

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, sizeof(v));
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

static void init_state(struct x86_emu_state *st, int bits)
{
	int i;

	memset(st, 0, sizeof(*st));
	st->code_bits = bits;
	st->rip = RIP0;
	st->rflags = 0x2;
	for (i = 0; i < X86_NR_GPRS; i++)
		st->gpr[i] = 0x0101010101010101ull * (i + 0x10);
	put16(st->fxstate + FX_FCW, 0x037f);
	put32(st->fxstate + FX_MXCSR, 0x1f80);
	st->exception = -1;
}

static int setup(void **unused)
{
	memset(mem, MEM_FILL, sizeof(mem));
	memset(&fake, 0, sizeof(fake));
	return 0;
}

/* Field by field: struct assignment need not preserve padding. */
static void assert_same_state(const struct x86_emu_state *a,
			      const struct x86_emu_state *b)
{
	assert_memory_equal(a->gpr, b->gpr, sizeof(a->gpr));
	assert_int_equal(a->rip, b->rip);
	assert_int_equal(a->rflags, b->rflags);
	assert_memory_equal(a->seg_base, b->seg_base, sizeof(a->seg_base));
	assert_int_equal(a->code_bits, b->code_bits);
	assert_int_equal(a->cpl, b->cpl);
	assert_memory_equal(a->fxstate, b->fxstate, sizeof(a->fxstate));
	assert_int_equal(a->fpu_dirty, b->fpu_dirty);
	assert_int_equal(a->gpr_dirty, b->gpr_dirty);
	assert_int_equal(a->exception, b->exception);
	assert_int_equal(a->exception_has_error, b->exception_has_error);
	assert_int_equal(a->error_code, b->error_code);
}

/* Emulate and expect success with only rip moving by the insn length. */
static void expect_nop(struct x86_emu_state *st, const uint8_t *insn,
		       size_t len, size_t advance)
{
	struct x86_emu_state want = *st;

	assert_int_equal(emu(st, insn, len), 0);
	want.rip += advance;
	want.exception = -1;
	assert_same_state(st, &want);
}

/* Emulate and expect a failure code with st byte-for-byte untouched. */
static void expect_untouched(struct x86_emu_state *st, const uint8_t *insn,
			     size_t len, int rc)
{
	struct x86_emu_state before;

	memcpy(&before, st, sizeof(before));
	assert_int_equal(emu(st, insn, len), rc);
	assert_memory_equal(&before, st, sizeof(before));
}

static void expect_gp(struct x86_emu_state *st, const uint8_t *insn,
		      size_t len)
{
	struct x86_emu_state want = *st;

	assert_int_equal(emu(st, insn, len), 0);
	want.exception = 13;
	want.exception_has_error = true;
	want.error_code = 0;
	assert_same_state(st, &want);
}

/* ---- x87 control ------------------------------------------------------ */

static void test_fwait(void **unused)
{
	struct x86_emu_state st;

	init_state(&st, 64);
	expect_nop(&st, INSN(0x9b), 1);
	/* Not followed by a no-wait x87 form: fwait alone. */
	expect_nop(&st, INSN(0x9b, 0x90), 1);
	expect_nop(&st, INSN(0x9b, 0x9b, 0xdb, 0xe3), 1);
	assert_string_equal(x86_emulate_name(INSN(0x9b)), "fwait");
	/*
	 * Prefixed so that fwait + fnstcw pass 15 bytes: the two are not folded
	 * into one 16-byte instruction (found by the x86 fuzz target); fwait
	 * completes alone, its 12 bytes.
	 */
	expect_nop(&st, INSN(0x65, 0x65, 0x65, 0x65, 0x65, 0x65, 0x65, 0x65, 0x65, 0x65, 0x65, 0x9b,
			     0x65, 0xd9, 0x7c, 0x65), 12);
	assert_int_equal(fake.reads + fake.writes, 0);
}

static void dirty_x87(struct x86_emu_state *st)
{
	uint8_t *fx = st->fxstate;

	put16(fx + FX_FCW, 0x0062);
	put16(fx + FX_FSW, 0xb8a5);
	fx[FX_FTW] = 0xff;
	put16(fx + FX_FOP, 0x07d9);
	put64(fx + FX_FIP, 0x1234567890ull);
	put64(fx + FX_FDP, 0xabcdef0123ull);
	put32(fx + FX_MXCSR, 0x9fc0);
	memset(fx + 32, 0x5a, 512 - 32);
}

static void check_fninit(const struct x86_emu_state *st)
{
	uint8_t want[512];
	const uint8_t *fx = st->fxstate;

	assert_int_equal(get16(fx + FX_FCW), 0x037f);
	assert_int_equal(get16(fx + FX_FSW), 0);
	assert_int_equal(fx[FX_FTW], 0);
	assert_int_equal(get16(fx + FX_FOP), 0);
	assert_int_equal(get64(fx + FX_FIP), 0);
	assert_int_equal(get64(fx + FX_FDP), 0);
	/* SSE state and register contents survive. */
	assert_int_equal(get32(fx + FX_MXCSR), 0x9fc0);
	memset(want, 0x5a, sizeof(want));
	assert_memory_equal(fx + 32, want + 32, 512 - 32);
	assert_true(st->fpu_dirty);
	assert_int_equal(st->exception, -1);
}

static void test_fninit(void **unused)
{
	struct x86_emu_state st;

	init_state(&st, 64);
	dirty_x87(&st);
	assert_int_equal(emu(&st, INSN(0xdb, 0xe3)), 0);
	assert_int_equal(st.rip, RIP0 + 2);
	check_fninit(&st);
	assert_false(st.gpr_dirty);
	assert_string_equal(x86_emulate_name(INSN(0xdb, 0xe3)), "fninit");
}

static void test_finit(void **unused)
{
	struct x86_emu_state st;

	init_state(&st, 64);
	dirty_x87(&st);
	assert_int_equal(emu(&st, INSN(0x9b, 0xdb, 0xe3)), 0);
	assert_int_equal(st.rip, RIP0 + 3);
	check_fninit(&st);
	assert_string_equal(x86_emulate_name(INSN(0x9b, 0xdb, 0xe3)), "finit");
}

static void test_fnclex(void **unused)
{
	struct x86_emu_state st;

	init_state(&st, 64);
	put16(st.fxstate + FX_FSW, 0xffff);
	assert_int_equal(emu(&st, INSN(0xdb, 0xe2)), 0);
	/* C0-C3 and TOP stay. */
	assert_int_equal(get16(st.fxstate + FX_FSW), 0x7f00);
	assert_int_equal(st.rip, RIP0 + 2);
	assert_true(st.fpu_dirty);

	put16(st.fxstate + FX_FSW, 0x38bf);
	assert_int_equal(emu(&st, INSN(0x9b, 0xdb, 0xe2)), 0);
	assert_int_equal(get16(st.fxstate + FX_FSW), 0x3800);
	assert_int_equal(st.rip, RIP0 + 5);
	assert_string_equal(x86_emulate_name(INSN(0xdb, 0xe2)), "fnclex");
	assert_string_equal(x86_emulate_name(INSN(0x9b, 0xdb, 0xe2)), "fclex");
}

static void test_fnstcw(void **unused)
{
	struct x86_emu_state st;

	init_state(&st, 64);
	put16(st.fxstate + FX_FCW, 0x027f);
	st.gpr[X86_RBP] = MEM_BASE + 0x100;
	/* fnstcw [rbp-2] */
	assert_int_equal(emu(&st, INSN(0xd9, 0x7d, 0xfe)), 0);
	assert_int_equal(get16(at(MEM_BASE + 0xfe)), 0x027f);
	assert_int_equal(mem[0x100], MEM_FILL);
	assert_int_equal(st.rip, RIP0 + 3);
	assert_false(st.fpu_dirty);
	assert_int_equal(fake.last_len, 2);

	/* fstcw [rbp-4] */
	assert_int_equal(emu(&st, INSN(0x9b, 0xd9, 0x7d, 0xfc)), 0);
	assert_int_equal(get16(at(MEM_BASE + 0xfc)), 0x027f);
	assert_int_equal(st.rip, RIP0 + 7);
	assert_string_equal(x86_emulate_name(INSN(0xd9, 0x7d, 0xfe)), "fnstcw");
	assert_string_equal(x86_emulate_name(INSN(0x9b, 0xd9, 0x7d, 0xfe)),
			    "fstcw");
}

static void test_fldcw(void **unused)
{
	struct x86_emu_state st;
	uint8_t *fx = st.fxstate;

	init_state(&st, 64);
	st.gpr[X86_RBX] = MEM_BASE + 0x40;
	put16(at(MEM_BASE + 0x40), 0xffff);
	assert_int_equal(emu(&st, INSN(0xd9, 0x2b)), 0);	/* fldcw [rbx] */
	/* Reserved bits as the CPU keeps them (checked in test_real_fldcw). */
	assert_int_equal(get16(fx + FX_FCW), 0x1f7f);
	assert_int_equal(st.rip, RIP0 + 2);
	assert_true(st.fpu_dirty);

	/* Unmasking a flagged ZE makes it pending: ES and B. */
	put16(fx + FX_FSW, 0x3804);
	put16(at(MEM_BASE + 0x40), 0x037b);
	assert_int_equal(emu(&st, INSN(0xd9, 0x2b)), 0);
	assert_int_equal(get16(fx + FX_FCW), 0x037b);
	assert_int_equal(get16(fx + FX_FSW), 0xb884);

	put16(at(MEM_BASE + 0x40), 0x037f);
	assert_int_equal(emu(&st, INSN(0xd9, 0x2b)), 0);
	assert_int_equal(get16(fx + FX_FSW), 0x3804);
	assert_string_equal(x86_emulate_name(INSN(0xd9, 0x2b)), "fldcw");
}

/*
 * x87 instructions beyond the control ones run on the host's FPU with the
 * guest's state loaded (x87-stubs.S): loads, arithmetic, stores, compares.
 */
static void test_x87_arithmetic(void **unused)
{
	struct x86_emu_state st;
	double d;

	init_state(&st, 64);
	st.gpr[X86_RAX] = MEM_BASE;
	put32(at(MEM_BASE), 7);
	/* fild dword [rax]; fld1; faddp; fstp qword [rax+8]: 7 + 1 as a double */
	assert_int_equal(emu(&st, INSN(0xdb, 0x00)), 0);
	assert_true(st.fpu_dirty);
	assert_int_equal(st.rip, RIP0 + 2);
	/* TOP is 7 and ST0's tag valid (abridged tag bit 7) */
	assert_int_equal((get16(st.fxstate + FX_FSW) >> 11) & 7, 7);
	assert_int_equal(st.fxstate[FX_FTW], 0x80);
	assert_int_equal(emu(&st, INSN(0xd9, 0xe8)), 0);
	assert_int_equal(emu(&st, INSN(0xde, 0xc1)), 0);
	assert_int_equal(emu(&st, INSN(0xdd, 0x58, 0x08)), 0);
	memcpy(&d, at(MEM_BASE + 8), sizeof(d));
	assert_true(d == 8.0);
	assert_int_equal(st.fxstate[FX_FTW], 0);	/* the stack is empty again */
	/* The last instruction and operand are the guest's, not the stub's. */
	assert_int_equal(get64(st.fxstate + FX_FDP), MEM_BASE + 8);
	assert_int_equal(get16(st.fxstate + FX_FOP), 0x558);
	assert_string_equal(x86_emulate_name(INSN(0xdb, 0x00)), "x87");

	/* 2.5 truncated by fistp after fldcw sets rounding toward zero: 2 */
	d = 2.5;
	memcpy(at(MEM_BASE), &d, sizeof(d));
	put16(at(MEM_BASE + 16), 0x0f7f);
	assert_int_equal(emu(&st, INSN(0xd9, 0x68, 0x10)), 0);	/* fldcw [rax+16] */
	assert_int_equal(emu(&st, INSN(0xdd, 0x00)), 0);		/* fld qword [rax] */
	assert_int_equal(emu(&st, INSN(0xdf, 0x78, 0x18)), 0);	/* fistp qword [rax+24] */
	assert_int_equal(get64(at(MEM_BASE + 24)), 2);
	put16(at(MEM_BASE + 16), 0x037f);
	assert_int_equal(emu(&st, INSN(0xd9, 0x68, 0x10)), 0);	/* round to nearest: 2.5 -> 2 */
	d = 3.5;
	memcpy(at(MEM_BASE), &d, sizeof(d));
	assert_int_equal(emu(&st, INSN(0xdd, 0x00)), 0);
	assert_int_equal(emu(&st, INSN(0xdf, 0x78, 0x18)), 0);
	assert_int_equal(get64(at(MEM_BASE + 24)), 4);		/* ties to even */
}

/* fcomi writes ZF/PF/CF into the guest's rflags; fcmov reads them. */
static void test_x87_flags(void **unused)
{
	struct x86_emu_state st;
	float f = 2.0f, g;

	init_state(&st, 64);
	st.gpr[X86_RAX] = MEM_BASE;
	memcpy(at(MEM_BASE), &f, sizeof(f));
	st.rflags = 0x2 | 0x8d5;				/* every arithmetic flag set */
	assert_int_equal(emu(&st, INSN(0xd9, 0xe8)), 0);	/* fld1: ST0 = 1 */
	assert_int_equal(emu(&st, INSN(0xd9, 0x00)), 0);	/* fld: ST0 = 2, ST1 = 1 */
	assert_int_equal(st.rflags, 0x2 | 0x8d5);		/* loads leave rflags alone */
	assert_int_equal(emu(&st, INSN(0xdb, 0xf1)), 0);	/* fcomi st1: 2 > 1 */
	assert_int_equal(st.rflags, 0x2);			/* ZF PF CF clear */
	/* fcmovb st1 (CF clear): no move; then with CF set, ST0 becomes 1 */
	assert_int_equal(emu(&st, INSN(0xda, 0xc1)), 0);
	assert_int_equal(emu(&st, INSN(0xd9, 0x50, 0x04)), 0);	/* fst dword [rax+4] */
	memcpy(&g, at(MEM_BASE + 4), sizeof(g));
	assert_true(g == 2.0f);
	st.rflags |= 0x1;
	assert_int_equal(emu(&st, INSN(0xda, 0xc1)), 0);
	assert_int_equal(emu(&st, INSN(0xd9, 0x50, 0x04)), 0);
	memcpy(&g, at(MEM_BASE + 4), sizeof(g));
	assert_true(g == 1.0f);
	assert_int_equal(emu(&st, INSN(0xdf, 0xe9)), 0);	/* fucomip st1: equal */
	assert_int_equal(st.rflags & 0x8d5, 0x40);		/* ZF */
}

/*
 * An unmasked exception is raised (#MF) by the next waiting instruction,
 * not on the host: the instruction does not run and rip stays.
 */
static void test_x87_pending_exception(void **unused)
{
	struct x86_emu_state st, before;

	init_state(&st, 64);
	st.gpr[X86_RAX] = MEM_BASE;
	put16(st.fxstate + FX_FCW, 0x037b);	/* divide by zero unmasked */
	assert_int_equal(emu(&st, INSN(0xd9, 0xe8)), 0);	/* fld1 */
	assert_int_equal(emu(&st, INSN(0xd9, 0xee)), 0);	/* fldz */
	assert_int_equal(emu(&st, INSN(0xde, 0xf9)), 0);	/* fdivp: 1 / 0 */
	assert_true(get16(st.fxstate + FX_FSW) & 0x0084);	/* ZE and ES */
	assert_int_equal(st.exception, -1);	/* nothing raised yet */
	before = st;
	assert_int_equal(emu(&st, INSN(0xd9, 0xe8)), 0);	/* the next fld1 */
	assert_int_equal(st.exception, 16);
	assert_false(st.exception_has_error);
	assert_int_equal(st.rip, before.rip);
	assert_memory_equal(st.fxstate, before.fxstate, sizeof(st.fxstate));
	/* fnstenv does not wait: it stores the environment (28 bytes) */
	st.exception = -1;
	st.protected_mode = true;
	assert_int_equal(emu(&st, INSN(0xd9, 0x30)), 0);
	assert_int_equal(st.exception, -1);
	assert_int_equal(get16(at(MEM_BASE)), 0x037b | 0x0040);	/* FCW */
	assert_true(get16(at(MEM_BASE + 4)) & 0x0004);		/* FSW: ZE */
}

static void test_fnstsw_ax(void **unused)
{
	struct x86_emu_state st;

	init_state(&st, 64);
	st.gpr[X86_RAX] = ~0ull;
	put16(st.fxstate + FX_FSW, 0x3804);
	assert_int_equal(emu(&st, INSN(0xdf, 0xe0)), 0);
	assert_int_equal(st.gpr[X86_RAX], 0xffffffffffff3804ull);
	assert_true(st.gpr_dirty);
	assert_false(st.fpu_dirty);
	assert_int_equal(st.rip, RIP0 + 2);

	put16(st.fxstate + FX_FSW, 0x0001);
	assert_int_equal(emu(&st, INSN(0x9b, 0xdf, 0xe0)), 0);
	assert_int_equal(st.gpr[X86_RAX], 0xffffffffffff0001ull);
	assert_int_equal(st.rip, RIP0 + 5);
	assert_string_equal(x86_emulate_name(INSN(0xdf, 0xe0)), "fnstsw");
	assert_string_equal(x86_emulate_name(INSN(0x9b, 0xdf, 0xe0)), "fstsw");
}

static void test_fnstsw_mem(void **unused)
{
	struct x86_emu_state st;

	init_state(&st, 64);
	put16(st.fxstate + FX_FSW, 0x4123);
	st.gpr[X86_RSP] = MEM_BASE + 0x200;
	assert_int_equal(emu(&st, INSN(0xdd, 0x3c, 0x24)), 0);	/* [rsp] */
	assert_int_equal(get16(at(MEM_BASE + 0x200)), 0x4123);
	assert_int_equal(st.rip, RIP0 + 3);
	assert_false(st.gpr_dirty);
	assert_string_equal(x86_emulate_name(INSN(0xdd, 0x3c, 0x24)), "fnstsw");
}

/* ---- MXCSR and addressing --------------------------------------------- */

static void test_ldmxcsr(void **unused)
{
	struct x86_emu_state st;

	init_state(&st, 64);
	st.gpr[X86_RAX] = MEM_BASE + 0x10;
	put32(at(MEM_BASE + 0x10), 0x9fc0);
	assert_int_equal(emu(&st, INSN(0x0f, 0xae, 0x10)), 0);
	assert_int_equal(get32(st.fxstate + FX_MXCSR), 0x9fc0);
	assert_int_equal(st.rip, RIP0 + 3);
	assert_true(st.fpu_dirty);
	assert_int_equal(fake.last_len, 4);

	/* All 16 architectural bits are valid with the default mask. */
	put32(at(MEM_BASE + 0x10), 0xffff);
	assert_int_equal(emu(&st, INSN(0x0f, 0xae, 0x10)), 0);
	assert_int_equal(get32(st.fxstate + FX_MXCSR), 0xffff);
	assert_string_equal(x86_emulate_name(INSN(0x0f, 0xae, 0x10)), "ldmxcsr");
}

static void test_ldmxcsr_gp(void **unused)
{
	struct x86_emu_state st;

	init_state(&st, 64);
	st.gpr[X86_RAX] = MEM_BASE + 0x10;
	put32(at(MEM_BASE + 0x10), 0x10000 | 0x1f80);
	expect_gp(&st, INSN(0x0f, 0xae, 0x10));
	assert_int_equal(get32(st.fxstate + FX_MXCSR), 0x1f80);
	assert_false(st.fpu_dirty);

	/* A CPU without DAZ reports mask 0xffbf: bit 6 is then reserved. */
	init_state(&st, 64);
	st.gpr[X86_RAX] = MEM_BASE + 0x10;
	put32(st.fxstate + FX_MXCSR_MASK, 0xffbf);
	put32(at(MEM_BASE + 0x10), 0x1fc0);
	expect_gp(&st, INSN(0x0f, 0xae, 0x10));
	put32(at(MEM_BASE + 0x10), 0x1f80);
	assert_int_equal(emu(&st, INSN(0x0f, 0xae, 0x10)), 0);
	assert_int_equal(st.exception, -1);

	/* A later successful insn clears a stale exception report. */
	assert_false(st.exception_has_error);
}

static void test_stmxcsr(void **unused)
{
	struct x86_emu_state st;

	init_state(&st, 64);
	put32(st.fxstate + FX_MXCSR, 0x1fa0);
	st.gpr[X86_RBX] = MEM_BASE + 0x300;
	st.gpr[X86_RCX] = 5;
	/* stmxcsr [rbx+rcx*4+0x10] */
	assert_int_equal(emu(&st, INSN(0x0f, 0xae, 0x5c, 0x8b, 0x10)), 0);
	assert_int_equal(get32(at(MEM_BASE + 0x300 + 20 + 0x10)), 0x1fa0);
	assert_int_equal(st.rip, RIP0 + 5);
	assert_false(st.fpu_dirty);
	assert_false(st.gpr_dirty);
	assert_string_equal(x86_emulate_name(INSN(0x0f, 0xae, 0x18)), "stmxcsr");
}

/* stmxcsr to the given ModRM form; return the linear address it wrote. */
static uint64_t stmxcsr_la(struct x86_emu_state *st, const uint8_t *insn,
			   size_t len)
{
	fake.last_la = 0;
	assert_int_equal(emu(st, insn, len), 0);
	assert_int_equal(fake.last_len, 4);
	assert_int_equal(st->exception, -1);
	return fake.last_la;
}

static void test_addressing_rex_sib(void **unused)
{
	struct x86_emu_state st;

	init_state(&st, 64);
	st.gpr[X86_RAX] = MEM_BASE + 0x100;
	st.gpr[X86_R8] = 3;
	st.gpr[X86_R12] = MEM_BASE + 0x400;
	st.gpr[X86_R13] = MEM_BASE + 0x500;
	st.gpr[X86_RSP] = MEM_BASE + 0x600;

	/* [rax + r8*4] */
	assert_int_equal(stmxcsr_la(&st, INSN(0x42, 0x0f, 0xae, 0x1c, 0x80)),
			 MEM_BASE + 0x10c);
	/* [r12]: needs a SIB with no index */
	assert_int_equal(stmxcsr_la(&st, INSN(0x41, 0x0f, 0xae, 0x1c, 0x24)),
			 MEM_BASE + 0x400);
	/* [rax + r12]: REX.X makes index 4 a real register */
	st.gpr[X86_R12] = 0x20;
	assert_int_equal(stmxcsr_la(&st, INSN(0x42, 0x0f, 0xae, 0x1c, 0x20)),
			 MEM_BASE + 0x120);
	/* [r13 + 8]: r13 as base needs a displacement */
	assert_int_equal(stmxcsr_la(&st, INSN(0x41, 0x0f, 0xae, 0x5d, 0x08)),
			 MEM_BASE + 0x508);
	/* [rsp - 0x80] with disp32 */
	assert_int_equal(stmxcsr_la(&st, INSN(0x0f, 0xae, 0x9c, 0x24,
					      0x80, 0xff, 0xff, 0xff)),
			 MEM_BASE + 0x580);
	/* [disp32]: SIB with no base and no index */
	assert_int_equal(stmxcsr_la(&st, INSN(0x0f, 0xae, 0x1c, 0x25,
					      0x00, 0x08, 0x10, 0x00)),
			 MEM_BASE + 0x800);
	/* [rax*8 + disp32] */
	st.gpr[X86_RAX] = 2;
	assert_int_equal(stmxcsr_la(&st, INSN(0x0f, 0xae, 0x1c, 0xc5,
					      0x00, 0x09, 0x10, 0x00)),
			 MEM_BASE + 0x910);
	/* a REX before a legacy prefix is ignored: [rax], not [r8] */
	st.gpr[X86_RAX] = MEM_BASE + 0x30;
	assert_int_equal(stmxcsr_la(&st, INSN(0x41, 0x3e, 0x0f, 0xae, 0x18)),
			 MEM_BASE + 0x30);
	assert_int_equal(st.rip, RIP0 + 5 + 5 + 5 + 5 + 8 + 8 + 8 + 5);
}

static void test_rip_relative(void **unused)
{
	struct x86_emu_state st;

	init_state(&st, 64);
	st.rip = MEM_BASE + 0x8000;
	/* stmxcsr [rip - 0x100]: relative to the next instruction */
	assert_int_equal(stmxcsr_la(&st, INSN(0x0f, 0xae, 0x1d,
					      0x00, 0xff, 0xff, 0xff)),
			 MEM_BASE + 0x8000 + 7 - 0x100);
	assert_int_equal(st.rip, MEM_BASE + 0x8007);

	/* With a folded fwait, the end of fnstcw is the reference. */
	st.rip = MEM_BASE + 0x8000;
	assert_int_equal(emu(&st, INSN(0x9b, 0xd9, 0x3d,
				      0x10, 0x00, 0x00, 0x00)), 0);
	assert_int_equal(fake.last_la, MEM_BASE + 0x8000 + 7 + 0x10);

	/* 67: eip-relative, truncated to 32 bits */
	st.rip = 0xffffffff00000000ull | (MEM_BASE + 0x8000);
	assert_int_equal(stmxcsr_la(&st, INSN(0x67, 0x0f, 0xae, 0x1d,
					      0x00, 0xff, 0xff, 0xff)),
			 MEM_BASE + 0x8000 + 8 - 0x100);
}

static void test_segment_override(void **unused)
{
	struct x86_emu_state st;

	init_state(&st, 64);
	st.seg_base[X86_FS] = MEM_BASE + 0x1000;
	st.seg_base[X86_GS] = MEM_BASE + 0x2000;
	st.seg_base[X86_DS] = 0x5000;
	st.seg_base[X86_SS] = 0x6000;
	st.gpr[X86_RAX] = 0x40;
	st.gpr[X86_RBP] = MEM_BASE + 0x80;

	assert_int_equal(stmxcsr_la(&st, INSN(0x64, 0x0f, 0xae, 0x18)),
			 MEM_BASE + 0x1040);
	assert_int_equal(stmxcsr_la(&st, INSN(0x65, 0x0f, 0xae, 0x18)),
			 MEM_BASE + 0x2040);
	/* fs with REX and SIB: fs:[rax + r9*2] */
	st.gpr[X86_R9] = 8;
	assert_int_equal(stmxcsr_la(&st, INSN(0x64, 0x42, 0x0f, 0xae, 0x1c,
					      0x48)),
			 MEM_BASE + 0x1050);
	/* Other bases are ignored in 64-bit mode, override or default. */
	st.gpr[X86_RAX] = MEM_BASE + 0x40;
	assert_int_equal(stmxcsr_la(&st, INSN(0x3e, 0x0f, 0xae, 0x18)),
			 MEM_BASE + 0x40);
	assert_int_equal(stmxcsr_la(&st, INSN(0x0f, 0xae, 0x5d, 0x00)),
			 MEM_BASE + 0x80);
	/* fninit with a (meaningless) fs prefix still works */
	assert_int_equal(emu(&st, INSN(0x64, 0xdb, 0xe3)), 0);
}

static void test_addr32_in_64bit(void **unused)
{
	struct x86_emu_state st;

	init_state(&st, 64);
	st.gpr[X86_RAX] = 0xdeadbeef00000000ull | (MEM_BASE + 0x80);
	assert_int_equal(stmxcsr_la(&st, INSN(0x67, 0x0f, 0xae, 0x18)),
			 MEM_BASE + 0x80);
	/* fs base is added after truncating the effective address */
	st.seg_base[X86_FS] = 0x100000000ull;
	st.gpr[X86_RAX] = 0xffffffff00000080ull;
	fake.last_la = 0;
	assert_int_equal(emu(&st, INSN(0x64, 0x67, 0x0f, 0xae, 0x18)), -EFAULT);
	assert_int_equal(fake.last_la, 0x100000080ull);
}

static void test_32bit_code(void **unused)
{
	struct x86_emu_state st;

	init_state(&st, 32);
	st.seg_base[X86_DS] = MEM_BASE;
	st.seg_base[X86_SS] = MEM_BASE + 0x1000;
	st.seg_base[X86_ES] = MEM_BASE + 0x2000;
	st.gpr[X86_RAX] = 0xffffffff00000020ull;	/* upper half ignored */
	st.gpr[X86_RBP] = 0x100;

	assert_int_equal(stmxcsr_la(&st, INSN(0x0f, 0xae, 0x18)),
			 MEM_BASE + 0x20);
	/* [ebp+8] defaults to ss */
	assert_int_equal(stmxcsr_la(&st, INSN(0x0f, 0xae, 0x5d, 0x08)),
			 MEM_BASE + 0x1108);
	/* [esp] too */
	st.gpr[X86_RSP] = 0x10;
	assert_int_equal(stmxcsr_la(&st, INSN(0x0f, 0xae, 0x1c, 0x24)),
			 MEM_BASE + 0x1010);
	/* es override */
	assert_int_equal(stmxcsr_la(&st, INSN(0x26, 0x0f, 0xae, 0x18)),
			 MEM_BASE + 0x2020);
	/* mod 0 rm 5 is absolute disp32, not rip-relative */
	assert_int_equal(stmxcsr_la(&st, INSN(0x0f, 0xae, 0x1d,
					      0x00, 0x03, 0x00, 0x00)),
			 MEM_BASE + 0x300);
	/* linear addresses wrap at 4 GiB */
	st.seg_base[X86_DS] = MEM_BASE + 0x100;
	st.gpr[X86_RAX] = 0xffffff00;
	assert_int_equal(stmxcsr_la(&st, INSN(0x0f, 0xae, 0x18)), MEM_BASE);
	/* 40-4f are inc/dec here, not REX */
	expect_untouched(&st, INSN(0x48, 0x0f, 0xae, 0x18), -ENOTSUP);
	/* eip wraps too */
	st.rip = 0xfffffffe;
	assert_int_equal(emu(&st, INSN(0xdb, 0xe3)), 0);
	assert_int_equal(st.rip, 0);
	assert_int_equal(emu(&st, INSN(0xcc)), 0);
	assert_int_equal(st.rip, 1);
	assert_int_equal(st.exception, 3);
}

static void test_16bit_code(void **unused)
{
	struct x86_emu_state st;

	init_state(&st, 16);
	st.seg_base[X86_DS] = MEM_BASE;
	st.seg_base[X86_SS] = MEM_BASE + 0x1000;
	st.gpr[X86_RBX] = 0x10;
	st.gpr[X86_RSI] = 0x20;
	st.gpr[X86_RDI] = 0x30;
	st.gpr[X86_RBP] = 0x40;
	st.gpr[X86_RAX] = 0x50;

	/* [0x1234] */
	assert_int_equal(stmxcsr_la(&st, INSN(0x0f, 0xae, 0x1e, 0x34, 0x12)),
			 MEM_BASE + 0x1234);
	/* ss:[bp+si] */
	assert_int_equal(stmxcsr_la(&st, INSN(0x0f, 0xae, 0x1a)),
			 MEM_BASE + 0x1060);
	/* [bx+di+0x10] */
	assert_int_equal(stmxcsr_la(&st, INSN(0x0f, 0xae, 0x59, 0x10)),
			 MEM_BASE + 0x50);
	/* ss:[bp-2] (disp8) and ds:[bp] override */
	assert_int_equal(stmxcsr_la(&st, INSN(0x0f, 0xae, 0x5e, 0xfe)),
			 MEM_BASE + 0x103e);
	assert_int_equal(stmxcsr_la(&st, INSN(0x3e, 0x0f, 0xae, 0x5e, 0x00)),
			 MEM_BASE + 0x40);
	/* offsets wrap at 64 KiB */
	st.gpr[X86_RBX] = 0xffff;
	st.gpr[X86_RDI] = 2;
	assert_int_equal(stmxcsr_la(&st, INSN(0x0f, 0xae, 0x19)),
			 MEM_BASE + 1);
	/* 67: 32-bit addressing, [eax] */
	assert_int_equal(stmxcsr_la(&st, INSN(0x67, 0x0f, 0xae, 0x18)),
			 MEM_BASE + 0x50);
	/* ip wraps at 64 KiB */
	st.rip = 0xffff;
	assert_int_equal(emu(&st, INSN(0x0f, 0xae, 0xe8)), 0);
	assert_int_equal(st.rip, 2);
}

/* ---- FXSAVE / FXRSTOR ------------------------------------------------- */

static void pattern_fxstate(struct x86_emu_state *st)
{
	int i;

	for (i = 0; i < 512; i++)
		st->fxstate[i] = i * 7 + 1;
	put16(st->fxstate + FX_FCW, 0x037f);
	put16(st->fxstate + FX_FOP, 0x0123);
	put64(st->fxstate + FX_FIP, 0xffffffff81234567ull);
	put64(st->fxstate + FX_FDP, 0xffff888012345678ull);
	put32(st->fxstate + FX_MXCSR, 0x1f80);
	put32(st->fxstate + FX_MXCSR_MASK, 0);
}

static void test_fxsave64(void **unused)
{
	struct x86_emu_state st, before;
	uint8_t *img = at(MEM_BASE + 0x1000), want[512];

	init_state(&st, 64);
	pattern_fxstate(&st);
	before = st;
	st.gpr[X86_RBX] = MEM_BASE + 0x1000;
	assert_int_equal(emu(&st, INSN(0x48, 0x0f, 0xae, 0x03)), 0);
	assert_int_equal(st.rip, RIP0 + 4);
	assert_false(st.fpu_dirty);
	assert_memory_equal(st.fxstate, before.fxstate, 512);

	memcpy(want, before.fxstate, 512);
	want[5] = 0;
	put32(want + FX_MXCSR_MASK, 0xffff);
	assert_memory_equal(img, want, 416);
	assert_int_equal(get64(img + FX_FIP), 0xffffffff81234567ull);
	assert_int_equal(get64(img + FX_FDP), 0xffff888012345678ull);
	/* 416-511: reserved and software-available, never written */
	memset(want, MEM_FILL, sizeof(want));
	assert_memory_equal(img + 416, want, 96);
	assert_int_equal(fake.writes, 1);
	assert_string_equal(x86_emulate_name(INSN(0x48, 0x0f, 0xae, 0x03)),
			    "fxsave64");
}

static void test_fxsave_legacy(void **unused)
{
	struct x86_emu_state st;
	uint8_t *img = at(MEM_BASE + 0x1000);

	init_state(&st, 64);
	pattern_fxstate(&st);
	put32(st.fxstate + FX_MXCSR_MASK, 0x2ffff);	/* reported mask kept */
	st.gpr[X86_RBX] = MEM_BASE + 0x1000;
	assert_int_equal(emu(&st, INSN(0x0f, 0xae, 0x03)), 0);
	assert_int_equal(st.rip, RIP0 + 3);
	/* FIP/FDP are 32 bits plus a selector, stored as 0. */
	assert_int_equal(get32(img + FX_FIP), 0x81234567);
	assert_int_equal(get32(img + FX_FIP + 4), 0);
	assert_int_equal(get32(img + FX_FDP), 0x12345678);
	assert_int_equal(get32(img + FX_FDP + 4), 0);
	assert_int_equal(get32(img + FX_MXCSR_MASK), 0x2ffff);
	assert_memory_equal(img + 32, st.fxstate + 32, 416 - 32);
	assert_string_equal(x86_emulate_name(INSN(0x0f, 0xae, 0x03)), "fxsave");
}

static void test_fxsave_32bit_code(void **unused)
{
	struct x86_emu_state st;
	uint8_t *img = at(MEM_BASE + 0x1000), fill[512];

	init_state(&st, 32);
	pattern_fxstate(&st);
	st.seg_base[X86_DS] = MEM_BASE;
	st.gpr[X86_RBX] = 0x1000;
	assert_int_equal(emu(&st, INSN(0x0f, 0xae, 0x03)), 0);
	assert_int_equal(fake.last_len, 288);
	assert_memory_equal(img + 32, st.fxstate + 32, 288 - 32);
	/* XMM8-15 do not exist outside 64-bit mode. */
	memset(fill, MEM_FILL, sizeof(fill));
	assert_memory_equal(img + 288, fill, 512 - 288);
}

static void test_fxsave_misaligned(void **unused)
{
	struct x86_emu_state st;
	uint8_t fill[512];

	init_state(&st, 64);
	st.gpr[X86_RBX] = MEM_BASE + 0x1008;
	expect_gp(&st, INSN(0x48, 0x0f, 0xae, 0x03));
	assert_int_equal(fake.writes, 0);
	memset(fill, MEM_FILL, sizeof(fill));
	assert_memory_equal(at(MEM_BASE + 0x1000), fill, sizeof(fill));

	/* The linear address counts: fs base supplies the misalignment. */
	st.exception = -1;
	st.exception_has_error = false;
	st.gpr[X86_RBX] = MEM_BASE + 0x1000;
	st.seg_base[X86_FS] = 4;
	expect_gp(&st, INSN(0x64, 0x0f, 0xae, 0x03));
}

static void fill_image(uint8_t *img)
{
	int i;

	for (i = 0; i < 512; i++)
		img[i] = 0xa0 ^ (i * 13);
	put16(img + FX_FCW, 0xffff);
	put16(img + FX_FSW, 0x3804);
	img[FX_FTW] = 0x81;
	put16(img + FX_FOP, 0xffff);
	put64(img + FX_FIP, 0xffffffff81000010ull);
	put64(img + FX_FDP, 0x00007fff12345678ull);
	put32(img + FX_MXCSR, 0x9fc0);
	put32(img + FX_MXCSR_MASK, 0x12345678);
}

static void test_fxrstor64(void **unused)
{
	struct x86_emu_state st;
	uint8_t *img = at(MEM_BASE + 0x2000), *fx = st.fxstate;

	init_state(&st, 64);
	fill_image(img);
	st.gpr[X86_RDX] = MEM_BASE + 0x2000;
	assert_int_equal(emu(&st, INSN(0x48, 0x0f, 0xae, 0x0a)), 0);
	assert_int_equal(st.rip, RIP0 + 4);
	assert_true(st.fpu_dirty);
	assert_int_equal(st.exception, -1);
	assert_int_equal(fake.last_len, 416);
	/* Normalised as the CPU does (see test_real_fxrstor). */
	assert_int_equal(get16(fx + FX_FCW), 0x1f7f);
	assert_int_equal(get16(fx + FX_FSW), 0x3804);
	assert_int_equal(fx[FX_FTW], 0x81);
	assert_int_equal(fx[5], 0);
	assert_int_equal(get16(fx + FX_FOP), 0x07ff);
	assert_int_equal(get64(fx + FX_FIP), 0xffffffff81000010ull);
	assert_int_equal(get64(fx + FX_FDP), 0x00007fff12345678ull);
	assert_int_equal(get32(fx + FX_MXCSR), 0x9fc0);
	/* MXCSR_MASK belongs to the CPU, not the image. */
	assert_int_equal(get32(fx + FX_MXCSR_MASK), 0);
	assert_memory_equal(fx + 32, img + 32, 416 - 32);
	assert_string_equal(x86_emulate_name(INSN(0x48, 0x0f, 0xae, 0x0a)),
			    "fxrstor64");
}

static void test_fxrstor_legacy(void **unused)
{
	struct x86_emu_state st;
	uint8_t *img = at(MEM_BASE + 0x2000), *fx = st.fxstate, zero[128];

	init_state(&st, 64);
	fill_image(img);
	st.gpr[X86_RDX] = MEM_BASE + 0x2000;
	assert_int_equal(emu(&st, INSN(0x0f, 0xae, 0x0a)), 0);
	/* Selectors dropped, offsets zero-extended. */
	assert_int_equal(get64(fx + FX_FIP), 0x81000010ull);
	assert_int_equal(get64(fx + FX_FDP), 0x12345678ull);
	assert_string_equal(x86_emulate_name(INSN(0x0f, 0xae, 0x0a)), "fxrstor");

	/* In 32-bit code XMM8-15 are neither read nor loaded. */
	init_state(&st, 32);
	st.seg_base[X86_DS] = MEM_BASE;
	st.gpr[X86_RDX] = 0x2000;
	assert_int_equal(emu(&st, INSN(0x0f, 0xae, 0x0a)), 0);
	assert_int_equal(fake.last_len, 288);
	assert_memory_equal(fx + 32, img + 32, 288 - 32);
	memset(zero, 0, sizeof(zero));
	assert_memory_equal(fx + 288, zero, sizeof(zero));
}

static void test_fxrstor_gp(void **unused)
{
	struct x86_emu_state st;
	uint8_t *img = at(MEM_BASE + 0x2000);

	init_state(&st, 64);
	pattern_fxstate(&st);
	fill_image(img);
	put32(img + FX_MXCSR, 0x20000 | 0x1f80);
	st.gpr[X86_RDX] = MEM_BASE + 0x2000;
	expect_gp(&st, INSN(0x48, 0x0f, 0xae, 0x0a));

	/* Misaligned: #GP before touching memory. */
	put32(img + FX_MXCSR, 0x1f80);
	st.exception = -1;
	st.exception_has_error = false;
	st.gpr[X86_RDX] = MEM_BASE + 0x2001;
	fake.reads = 0;
	expect_gp(&st, INSN(0x48, 0x0f, 0xae, 0x0a));
	assert_int_equal(fake.reads, 0);
}

static void test_fxsave_fxrstor_roundtrip(void **unused)
{
	struct x86_emu_state a, b;

	init_state(&a, 64);
	pattern_fxstate(&a);
	put32(a.fxstate + FX_MXCSR_MASK, 0xffff);
	a.fxstate[5] = 0;
	init_state(&b, 64);
	put32(b.fxstate + FX_MXCSR_MASK, 0xffff);
	a.gpr[X86_RSI] = b.gpr[X86_RSI] = MEM_BASE + 0x3000;
	assert_int_equal(emu(&a, INSN(0x48, 0x0f, 0xae, 0x06)), 0);
	assert_int_equal(emu(&b, INSN(0x48, 0x0f, 0xae, 0x0e)), 0);
	assert_memory_equal(a.fxstate, b.fxstate, 416);
}

/* ---- Fences, int3 ----------------------------------------------------- */

static void test_fences(void **unused)
{
	struct x86_emu_state st;

	init_state(&st, 64);
	expect_nop(&st, INSN(0x0f, 0xae, 0xe8), 3);
	expect_nop(&st, INSN(0x0f, 0xae, 0xf0), 3);
	expect_nop(&st, INSN(0x0f, 0xae, 0xf8), 3);
	/* Any rm is accepted by hardware. */
	expect_nop(&st, INSN(0x0f, 0xae, 0xef), 3);
	expect_nop(&st, INSN(0x0f, 0xae, 0xff), 3);
	assert_string_equal(x86_emulate_name(INSN(0x0f, 0xae, 0xe8)), "lfence");
	assert_string_equal(x86_emulate_name(INSN(0x0f, 0xae, 0xf0)), "mfence");
	assert_string_equal(x86_emulate_name(INSN(0x0f, 0xae, 0xf8)), "sfence");
	assert_int_equal(fake.reads + fake.writes, 0);
}

static void test_int3(void **unused)
{
	struct x86_emu_state st, want;

	init_state(&st, 64);
	want = st;
	assert_int_equal(emu(&st, INSN(0xcc)), 0);
	want.rip = RIP0 + 1;
	want.exception = 3;
	assert_same_state(&st, &want);
	assert_false(st.exception_has_error);
	assert_string_equal(x86_emulate_name(INSN(0xcc)), "int3");
}

/* ---- popcnt ----------------------------------------------------------- */

static uint64_t real_popcnt(uint64_t v, int size, uint64_t *flags)
{
	uint64_t r = 0, f;

	switch (size) {
	case 16:
		asm("popcnt %w2, %w0; pushfq; popq %1"
		    : "+r"(r), "=r"(f) : "r"(v) : "cc");
		break;
	case 32:
		asm("popcnt %k2, %k0; pushfq; popq %1"
		    : "+r"(r), "=r"(f) : "r"(v) : "cc");
		break;
	default:
		asm("popcnt %2, %0; pushfq; popq %1"
		    : "=r"(r), "=r"(f) : "r"(v) : "cc");
		break;
	}
	*flags = f;
	return r;
}

static void check_popcnt(uint64_t v, int size)
{
	static const uint8_t op16[] = { 0x66, 0xf3, 0x0f, 0xb8, 0xc1 };
	static const uint8_t op32[] = { 0xf3, 0x0f, 0xb8, 0xc1 };
	static const uint8_t op64[] = { 0xf3, 0x48, 0x0f, 0xb8, 0xc1 };
	const uint8_t *insn = size == 16 ? op16 : size == 32 ? op32 : op64;
	size_t len = size == 32 ? sizeof(op32) : sizeof(op16);
	uint64_t rax = 0xfedcba9876543210ull, want, flags;
	struct x86_emu_state st;

	init_state(&st, 64);
	st.rflags = 0x2 | FLAGS6;
	st.gpr[X86_RAX] = rax;
	st.gpr[X86_RCX] = v;
	want = real_popcnt(v, size, &flags);
	if (size == 16)
		want |= rax & ~0xffffull;
	assert_int_equal(emu(&st, insn, len), 0);
	assert_int_equal(st.gpr[X86_RAX], want);
	assert_int_equal(st.rflags & FLAGS6, flags & FLAGS6);
	assert_int_equal(st.rflags & ~(uint64_t)FLAGS6, 0x2);
	assert_int_equal(st.rip, RIP0 + len);
	assert_true(st.gpr_dirty);
}

static void test_popcnt_reg(void **unused)
{
	static const uint64_t vals[] = {
		0, 1, 0xffff, 0x10000, 0xffffffff, 0x100000000ull,
		0x8000000000000001ull, ~0ull, 0xf0f0f0f0a5a5a5a5ull,
	};
	struct x86_emu_state st;
	size_t i;

	for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		check_popcnt(vals[i], 16);
		check_popcnt(vals[i], 32);
		check_popcnt(vals[i], 64);
	}

	/* popcnt r8, r9 */
	init_state(&st, 64);
	st.gpr[X86_R9] = 0x7;
	assert_int_equal(emu(&st, INSN(0xf3, 0x4d, 0x0f, 0xb8, 0xc1)), 0);
	assert_int_equal(st.gpr[X86_R8], 3);
	assert_int_equal(st.rflags & ZF, 0);
	/* 66 before or after f3 */
	st.gpr[X86_RAX] = ~0ull;
	st.gpr[X86_RCX] = 0x30000;
	assert_int_equal(emu(&st, INSN(0xf3, 0x66, 0x0f, 0xb8, 0xc1)), 0);
	assert_int_equal(st.gpr[X86_RAX], 0xffffffffffff0000ull);
	assert_true(st.rflags & ZF);
	assert_string_equal(x86_emulate_name(INSN(0xf3, 0x0f, 0xb8, 0xc1)),
			    "popcnt");
}

static void test_popcnt_mem(void **unused)
{
	struct x86_emu_state st;

	init_state(&st, 64);
	st.gpr[X86_RBX] = MEM_BASE + 0x40;
	put64(at(MEM_BASE + 0x40), 0xff000000000000ffull);

	assert_int_equal(emu(&st, INSN(0xf3, 0x0f, 0xb8, 0x03)), 0);
	assert_int_equal(st.gpr[X86_RAX], 8);
	assert_int_equal(fake.last_len, 4);
	assert_int_equal(emu(&st, INSN(0xf3, 0x48, 0x0f, 0xb8, 0x03)), 0);
	assert_int_equal(st.gpr[X86_RAX], 16);
	assert_int_equal(fake.last_len, 8);
	st.gpr[X86_RDX] = 0x1234567800000000ull;
	assert_int_equal(emu(&st, INSN(0x66, 0xf3, 0x0f, 0xb8, 0x13)), 0);
	assert_int_equal(st.gpr[X86_RDX], 0x1234567800000008ull);
	assert_int_equal(fake.last_len, 2);
	/* popcnt r10, fs:[rip+0x10] in 32-bit operand size reading zero */
	st.seg_base[X86_FS] = MEM_BASE + 0x100;
	st.rip = 0;
	put32(at(MEM_BASE + 0x100 + 0x10 + 10), 0);
	assert_int_equal(emu(&st, INSN(0x64, 0xf3, 0x44, 0x0f, 0xb8, 0x15,
				      0x10, 0x00, 0x00, 0x00)), 0);
	assert_int_equal(st.gpr[X86_R10], 0);
	assert_int_equal(st.rflags & FLAGS6, ZF);
	assert_int_equal(st.rip, 10);
}

/* ---- Refusals --------------------------------------------------------- */

/* ---- iret in protected mode --------------------------------------------- */

#define GDT		(MEM_BASE + 0x100)
#define STACK		(MEM_BASE + 0x800)
#define SEL_CODE32	0x10	/* flat 32-bit ring-0 code, accessed */
#define SEL_CODE16	0x18	/* 16-bit code at 0x12340, limit 0xffff, not yet accessed */
#define SEL_ABSENT	0x20
#define SEL_DATA	0x28
#define SEL_RING3	0x30	/* DPL 3 code */
#define GDT_LIMIT	0x37

static void gdt_setup(void)
{
	put64(at(GDT + 0x00), 0);
	put64(at(GDT + 0x08), 0x00cf93000000ffffull);
	put64(at(GDT + SEL_CODE32), 0x00cf9b000000ffffull);
	put64(at(GDT + SEL_CODE16), 0x00009a012340ffffull);
	put64(at(GDT + SEL_ABSENT), 0x00cf1b000000ffffull);
	put64(at(GDT + SEL_DATA), 0x00cf93000000ffffull);
	put64(at(GDT + SEL_RING3), 0x00cffb000000ffffull);
}

static void init_pm(struct x86_emu_state *st)
{
	init_state(st, 32);
	st->stack_bits = 32;
	st->protected_mode = true;
	st->gdt_base = GDT;
	st->gdt_limit = GDT_LIMIT;
	st->gpr[X86_RSP] = STACK;
	gdt_setup();
}

static void push_frame32(uint32_t eip, uint16_t cs, uint32_t eflags)
{
	put32(at(STACK), eip);
	put32(at(STACK + 4), 0xbeef0000u | cs);	/* the upper half is ignored */
	put32(at(STACK + 8), eflags);
}

static void test_iret_same_level(void **unused)
{
	struct x86_emu_state st;

	init_pm(&st);
	st.rflags = 0x2 | 0x200;
	push_frame32(0x1234, SEL_CODE32, 0x2 | ZF | 0x400 | 0x40000);
	assert_int_equal(emu(&st, INSN(0xcf)), 0);
	assert_int_equal(st.exception, -1);
	assert_int_equal(st.rip, 0x1234);
	assert_int_equal(st.gpr[X86_RSP], STACK + 12);
	/* IF cleared (CPL 0 <= IOPL 0), DF and AC loaded. */
	assert_int_equal(st.rflags, 0x2 | ZF | 0x400 | 0x40000);
	assert_true(st.cs_dirty);
	assert_int_equal(st.cs.selector, SEL_CODE32);
	assert_int_equal(st.cs.limit, 0xffffffffu);
	assert_int_equal(st.cs.db, 1);
	assert_int_equal(st.cs.type, 0xb);
	assert_int_equal(st.code_bits, 32);
	assert_string_equal(x86_emulate_name(INSN(0xcf)), "iret");
}

static void test_iret_to_16bit_code(void **unused)
{
	struct x86_emu_state st;

	init_pm(&st);
	push_frame32(0xfff0, SEL_CODE16, 0x2);
	assert_int_equal(emu(&st, INSN(0xcf)), 0);
	assert_int_equal(st.exception, -1);
	assert_int_equal(st.rip, 0xfff0);
	assert_int_equal(st.seg_base[X86_CS], 0x12340);
	assert_int_equal(st.code_bits, 16);
	assert_int_equal(st.cs.limit, 0xffff);
	/* Loaded: the descriptor is marked accessed, in the GDT too. */
	assert_int_equal(st.cs.type, 0xb);
	assert_int_equal(*at(GDT + SEL_CODE16 + 5), 0x9b);
}

static void test_iret16_keeps_upper_flags(void **unused)
{
	struct x86_emu_state st;

	/* o16 iret in 32-bit code, on a 16-bit stack: three words, SP wraps in 16 bits. */
	init_pm(&st);
	st.stack_bits = 16;
	st.seg_base[X86_SS] = MEM_BASE;
	st.gpr[X86_RSP] = 0xdead0000u | 0x1000;
	st.rflags = 0x2 | 0x40000;
	put16(at(MEM_BASE + 0x1000), 0x5678);
	put16(at(MEM_BASE + 0x1002), SEL_CODE32);
	put16(at(MEM_BASE + 0x1004), 0x2 | 0x1);
	assert_int_equal(emu(&st, INSN(0x66, 0xcf)), 0);
	assert_int_equal(st.exception, -1);
	assert_int_equal(st.rip, 0x5678);
	assert_int_equal(st.gpr[X86_RSP], 0xdead0000u | 0x1006);
	assert_int_equal(st.rflags, 0x2 | 0x1 | 0x40000);
}

static void expect_iret_fault(uint16_t sel, uint32_t eip, int vector, uint32_t code)
{
	struct x86_emu_state st, before;

	init_pm(&st);
	push_frame32(eip, sel, 0x2);
	before = st;
	assert_int_equal(emu(&st, INSN(0xcf)), 0);
	assert_int_equal(st.exception, vector);
	assert_true(st.exception_has_error);
	assert_int_equal(st.error_code, code);
	/* A fault: nothing else moved. */
	assert_int_equal(st.rip, before.rip);
	assert_int_equal(st.gpr[X86_RSP], before.gpr[X86_RSP]);
	assert_int_equal(st.rflags, before.rflags);
	assert_false(st.cs_dirty);
}

static void test_iret_faults(void **unused)
{
	expect_iret_fault(0, 0x1000, 13, 0);			/* null selector */
	expect_iret_fault(0x40, 0x1000, 13, 0x40);		/* past the GDT's limit */
	expect_iret_fault(SEL_ABSENT, 0x1000, 11, SEL_ABSENT);	/* not present */
	expect_iret_fault(SEL_DATA, 0x1000, 13, SEL_DATA);	/* not code */
	expect_iret_fault(SEL_RING3, 0x1000, 13, SEL_RING3);	/* DPL 3 with RPL 0 */
	expect_iret_fault(SEL_CODE16, 0x10000, 13, 0);		/* past the segment's limit */
}

static void test_iret_not_handled(void **unused)
{
	struct x86_emu_state st;

	init_pm(&st);
	push_frame32(0x1000, SEL_RING3 | 3, 0x2);	/* to an outer level */
	expect_untouched(&st, INSN(0xcf), -ENOTSUP);
	push_frame32(0x1000, SEL_CODE32, 0x2 | 0x20000);	/* to virtual-8086 mode */
	expect_untouched(&st, INSN(0xcf), -ENOTSUP);
	push_frame32(0x1000, SEL_CODE32 | 4, 0x2);	/* an LDT selector */
	expect_untouched(&st, INSN(0xcf), -ENOTSUP);
	push_frame32(0x1000, SEL_CODE32, 0x2);
	st.rflags |= 0x4000;				/* NT: a task return */
	expect_untouched(&st, INSN(0xcf), -ENOTSUP);
	init_pm(&st);
	st.protected_mode = false;			/* real mode: KVM's own */
	expect_untouched(&st, INSN(0xcf), -ENOTSUP);
	init_state(&st, 64);
	st.protected_mode = st.long_mode = true;
	expect_untouched(&st, INSN(0x48, 0xcf), -ENOTSUP);
	/* The frame unreadable: -EFAULT, nothing changed. */
	init_pm(&st);
	st.gpr[X86_RSP] = 0x10;
	expect_untouched(&st, INSN(0xcf), -EFAULT);
}

static void test_unknown(void **unused)
{
	static const struct {
		uint8_t b[8];
		size_t len;
	} cases[] = {
		{ { 0x90 }, 1 },			/* nop */
		{ { 0x0f, 0x0b }, 2 },			/* ud2 */
		{ { 0xcd, 0x03 }, 2 },			/* int 3 */
		{ { 0xf1 }, 1 },			/* icebp */
		{ { 0x0f, 0xae, 0x38 }, 3 },		/* clflush */
		{ { 0x0f, 0xae, 0x20 }, 3 },		/* xsave */
		{ { 0x0f, 0xae, 0x28 }, 3 },		/* xrstor */
		{ { 0x0f, 0xae, 0xc0 }, 3 },		/* reg form of /0 */
		{ { 0xf3, 0x0f, 0xae, 0xc0 }, 4 },	/* rdfsbase */
		{ { 0x66, 0x0f, 0xae, 0x38 }, 4 },	/* clflushopt */
		{ { 0x66, 0x0f, 0xae, 0x10 }, 4 },
		{ { 0xf0, 0x0f, 0xae, 0x10 }, 4 },	/* lock */
		{ { 0xf0, 0xdb, 0xe3 }, 3 },
		{ { 0x0f, 0xb8, 0xc1 }, 3 },		/* jmpe */
		{ { 0xf2, 0xf3, 0x0f, 0xb8, 0xc1 }, 5 },
		{ { 0xdb, 0xe1 }, 2 },			/* fndisi */
		{ { 0xdb, 0xe4 }, 2 },
		{ { 0xdf, 0xe1 }, 2 },
		/* x87 forms that do not exist (#UD on hardware) */
		{ { 0xd9, 0xd1 }, 2 },
		{ { 0xd9, 0xe2 }, 2 },
		{ { 0xd9, 0x08 }, 2 },			/* d9 /1 with memory */
		{ { 0xdb, 0x20 }, 2 },			/* db /4 with memory */
		{ { 0xdd, 0x28 }, 2 },			/* dd /5 with memory */
		{ { 0xdd, 0xf0 }, 2 },
		{ { 0xde, 0xd8 }, 2 },
		{ { 0xdf, 0xc0 }, 2 },			/* ffreep: undocumented */
		/* the 16-bit environment layout is not done */
		{ { 0x66, 0xd9, 0x30 }, 3 },		/* fnstenv m14 */
		{ { 0xf3, 0xcc }, 2 },
		{ { 0xf2, 0xdb, 0xe3 }, 3 },
		{ { 0x0f, 0x01, 0xd0 }, 3 },		/* xgetbv */
		{ { 0xc5, 0xf8, 0xae, 0x10 }, 4 },	/* vldmxcsr */
	};
	struct x86_emu_state st;
	size_t i;

	init_state(&st, 64);
	st.gpr[X86_RAX] = MEM_BASE;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		expect_untouched(&st, cases[i].b, cases[i].len, -ENOTSUP);
		assert_string_equal(x86_emulate_name(cases[i].b, cases[i].len),
				    "unknown");
	}
	assert_int_equal(fake.reads + fake.writes, 0);

	/* Bad arguments are refused, not crashed on. */
	st.code_bits = 8;
	expect_untouched(&st, INSN(0xcc), -ENOTSUP);
	st.code_bits = 64;
	assert_int_equal(x86_emulate(&st, NULL, 1, &fake_ops, &fake), -ENOTSUP);
	assert_string_equal(x86_emulate_name(NULL, 4), "unknown");
}

static void test_too_long(void **unused)
{
	uint8_t insn[16];
	struct x86_emu_state st;

	init_state(&st, 64);
	st.gpr[X86_RAX] = MEM_BASE;
	/* 12 prefixes + 0f ae 18: exactly 15 bytes is fine */
	memset(insn, 0x2e, 12);
	memcpy(insn + 12, (const uint8_t[]){ 0x0f, 0xae, 0x18 }, 3);
	assert_int_equal(emu(&st, insn, 15), 0);
	assert_int_equal(st.rip, RIP0 + 15);
	/* one more is #GP on hardware; refused here */
	memset(insn, 0x2e, 13);
	memcpy(insn + 13, (const uint8_t[]){ 0x0f, 0xae, 0x18 }, 3);
	expect_untouched(&st, insn, 16, -ENOTSUP);
	assert_string_equal(x86_emulate_name(insn, 16), "unknown");
}

/*
 * Place insn[0..n) right before an inaccessible page: reading past the
 * end would crash the test.
 */
static uint8_t *guard_area(void)
{
	static uint8_t *end;
	long page = sysconf(_SC_PAGESIZE);
	uint8_t *p;

	if (end)
		return end;
	p = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	assert_int_equal(mprotect(p + page, page, PROT_NONE), 0);
	end = p + page;
	return end;
}

static void check_truncations(const uint8_t *insn, size_t len)
{
	uint8_t *end = guard_area();
	struct x86_emu_state st;
	size_t n;

	init_state(&st, 64);
	st.gpr[X86_RAX] = MEM_BASE;
	st.gpr[X86_RCX] = 0x100;
	st.rip = MEM_BASE;
	for (n = 0; n < len; n++) {
		memcpy(end - n, insn, n);
		expect_untouched(&st, end - n, n, -ENOTSUP);
		assert_string_equal(x86_emulate_name(end - n, n), "unknown");
	}
	memcpy(end - len, insn, len);
	assert_int_equal(emu(&st, end - len, len), 0);
	assert_int_equal(st.rip, MEM_BASE + len);
}

static void test_truncated(void **unused)
{
	static const struct {
		uint8_t b[12];
		size_t len;
	} cases[] = {
		{ { 0xcc }, 1 },
		{ { 0xdb, 0xe3 }, 2 },
		{ { 0xdf, 0xe0 }, 2 },
		{ { 0x0f, 0xae, 0x18 }, 3 },
		{ { 0x0f, 0xae, 0x58, 0x10 }, 4 },
		{ { 0x0f, 0xae, 0x98, 0x00, 0x01, 0x00, 0x00 }, 7 },
		{ { 0x0f, 0xae, 0x1c, 0x08 }, 4 },
		{ { 0x0f, 0xae, 0x5c, 0x08, 0x10 }, 5 },
		{ { 0x0f, 0xae, 0x9c, 0x08, 0x00, 0x01, 0x00, 0x00 }, 8 },
		{ { 0x0f, 0xae, 0x1d, 0x00, 0x00, 0x00, 0x00 }, 7 },
		{ { 0x0f, 0xae, 0x1c, 0x25, 0x00, 0x00, 0x10, 0x00 }, 8 },
		{ { 0x64, 0x48, 0x0f, 0xae, 0x00 }, 5 },
		{ { 0x66, 0xf3, 0x48, 0x0f, 0xb8, 0x00 }, 6 },
		{ { 0x0f, 0xae, 0xf0 }, 3 },
		{ { 0xd9, 0x78, 0x10 }, 3 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_truncations(cases[i].b, cases[i].len);
}

static void test_truncated_fwait(void **unused)
{
	uint8_t *end = guard_area();
	struct x86_emu_state st;

	/* A cut-off finit still starts with a complete fwait. */
	init_state(&st, 64);
	memcpy(end - 2, (const uint8_t[]){ 0x9b, 0xdb }, 2);
	expect_nop(&st, end - 2, 2, 1);
	assert_string_equal(x86_emulate_name(end - 2, 2), "fwait");
	memcpy(end - 1, (const uint8_t[]){ 0x9b }, 1);
	expect_nop(&st, end - 1, 1, 1);
}

static void expect_efault(struct x86_emu_state *st, const uint8_t *insn,
			  size_t len, bool read)
{
	fake.fail_read = read;
	fake.fail_write = !read;
	expect_untouched(st, insn, len, -EFAULT);
	fake.fail_read = fake.fail_write = false;
}

static void test_memory_fault(void **unused)
{
	struct x86_emu_state st;

	init_state(&st, 64);
	pattern_fxstate(&st);
	st.exception = 14;	/* must survive too */
	st.gpr[X86_RAX] = MEM_BASE + 0x1000;
	put32(at(MEM_BASE + 0x1000 + 24), 0x1f80);

	expect_efault(&st, INSN(0x0f, 0xae, 0x10), true);		/* ldmxcsr */
	expect_efault(&st, INSN(0x0f, 0xae, 0x18), false);		/* stmxcsr */
	expect_efault(&st, INSN(0xd9, 0x28), true);			/* fldcw */
	expect_efault(&st, INSN(0xd9, 0x38), false);			/* fnstcw */
	expect_efault(&st, INSN(0xdd, 0x38), false);			/* fnstsw */
	expect_efault(&st, INSN(0x48, 0x0f, 0xae, 0x00), false);	/* fxsave */
	expect_efault(&st, INSN(0x48, 0x0f, 0xae, 0x08), true);		/* fxrstor */
	expect_efault(&st, INSN(0xf3, 0x0f, 0xb8, 0x00), true);		/* popcnt */

	/* Out of range of the fake memory: same thing. */
	st.gpr[X86_RAX] = 0x10;
	expect_untouched(&st, INSN(0x0f, 0xae, 0x10), -EFAULT);
	/* No callbacks at all. */
	assert_int_equal(x86_emulate(&st, INSN(0x0f, 0xae, 0x10), NULL, NULL),
			 -EFAULT);
}

static void test_fwait_fold_fallback(void **unused)
{
	struct x86_emu_state st;

	/* fstcw to unreachable memory: fwait completes, fnstcw reports later. */
	init_state(&st, 64);
	st.gpr[X86_RAX] = MEM_BASE;
	fake.fail_write = true;
	expect_nop(&st, INSN(0x9b, 0xd9, 0x38), 1);
	expect_untouched(&st, INSN(0xd9, 0x38), -EFAULT);
}

/* ---- Cross-checks against the host CPU -------------------------------- */

#if defined(__x86_64__)
/* The real fxsave after fninit; fldcw fcw; ldmxcsr mxcsr. Restores both. */
static void real_fxsave(uint16_t fcw, uint32_t mxcsr, bool wide,
			uint8_t *img)
{
	uint16_t old_fcw;
	uint32_t old_mxcsr;

	if (wide)
		asm volatile("fnstcw %1; stmxcsr %2; fninit; fldcw %3;"
			     "ldmxcsr %4; fxsave64 %0; ldmxcsr %2; fldcw %1"
			     : "=m"(*(uint8_t (*)[512])img), "=m"(old_fcw),
			       "=m"(old_mxcsr)
			     : "m"(fcw), "m"(mxcsr) : "memory");
	else
		asm volatile("fnstcw %1; stmxcsr %2; fninit; fldcw %3;"
			     "ldmxcsr %4; fxsave %0; ldmxcsr %2; fldcw %1"
			     : "=m"(*(uint8_t (*)[512])img), "=m"(old_fcw),
			       "=m"(old_mxcsr)
			     : "m"(fcw), "m"(mxcsr) : "memory");
}

/* The same sequence, emulated on a state with garbage x87 header fields. */
static void emulated_fxsave(uint16_t fcw, uint32_t mxcsr, bool wide,
			    uint8_t *img)
{
	struct x86_emu_state st;

	init_state(&st, 64);
	dirty_x87(&st);
	st.gpr[X86_RBX] = MEM_BASE + 0x40;
	st.gpr[X86_RSI] = MEM_BASE + 0x44;
	st.gpr[X86_RDI] = MEM_BASE + 0x1000;
	put16(at(MEM_BASE + 0x40), fcw);
	put32(at(MEM_BASE + 0x44), mxcsr);
	assert_int_equal(emu(&st, INSN(0xdb, 0xe3)), 0);
	assert_int_equal(emu(&st, INSN(0xd9, 0x2b)), 0);
	assert_int_equal(emu(&st, INSN(0x0f, 0xae, 0x16)), 0);
	if (wide)
		assert_int_equal(emu(&st, INSN(0x48, 0x0f, 0xae, 0x07)), 0);
	else
		assert_int_equal(emu(&st, INSN(0x0f, 0xae, 0x07)), 0);
	assert_int_equal(st.exception, -1);
	memcpy(img, at(MEM_BASE + 0x1000), 512);
}

static void test_real_fxsave(void **unused)
{
	static const struct {
		uint16_t fcw;
		uint32_t mxcsr;
	} cases[] = {
		{ 0x037f, 0x1f80 }, { 0x027f, 0x9fc0 }, { 0x0f7b, 0x7f80 },
		{ 0x0040, 0x0000 }, { 0x1f7f, 0xffff },
	};
	uint8_t real[512] __attribute__((aligned(16)));
	uint8_t fake_img[512];
	size_t i;
	int wide;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (wide = 0; wide < 2; wide++) {
			real_fxsave(cases[i].fcw, cases[i].mxcsr, wide, real);
			emulated_fxsave(cases[i].fcw, cases[i].mxcsr, wide,
					fake_img);
			assert_int_equal(get16(fake_img + FX_FCW),
					 get16(real + FX_FCW));
			assert_int_equal(get32(fake_img + FX_MXCSR),
					 get32(real + FX_MXCSR));
			/* 0xffff when the state reports none. */
			assert_int_equal(get32(fake_img + FX_MXCSR_MASK),
					 get32(real + FX_MXCSR_MASK) & 0xffff);
			/* The whole header: FSW, FTW, FOP, FIP, FDP too. */
			put32(real + FX_MXCSR_MASK, 0xffff);
			assert_memory_equal(fake_img, real, 32);
		}
	}
}

/* Restoring the real image and saving it again gives the real image. */
static void test_real_fxrstor(void **unused)
{
	uint8_t real[512] __attribute__((aligned(16)));
	uint8_t odd[512] __attribute__((aligned(16)));
	uint8_t mine[512] __attribute__((aligned(16)));
	struct x86_emu_state st;

	real_fxsave(0x027f, 0x9fc0, true, real);
	memcpy(at(MEM_BASE + 0x2000), real, 512);
	init_state(&st, 64);
	st.gpr[X86_RAX] = MEM_BASE + 0x2000;
	st.gpr[X86_RBX] = MEM_BASE + 0x3000;
	put32(st.fxstate + FX_MXCSR_MASK, get32(real + FX_MXCSR_MASK));
	assert_int_equal(emu(&st, INSN(0x48, 0x0f, 0xae, 0x08)), 0);
	assert_int_equal(emu(&st, INSN(0x48, 0x0f, 0xae, 0x03)), 0);
	assert_memory_equal(at(MEM_BASE + 0x3000), real, 416);

	/* Reserved FCW/FOP bits are dropped the same way by the CPU. */
	memcpy(odd, real, 512);
	put16(odd + FX_FCW, 0xffff);
	put16(odd + FX_FOP, 0xffff);
	odd[5] = 0x55;
	/* Run with the image loaded, then put the process's own state back. */
	asm volatile("fxsave64 %1; fxrstor64 %0; fxsave64 %0; fxrstor64 %1"
		     : "+m"(odd), "=m"(mine) : : "memory");
	put16(at(MEM_BASE + 0x2000) + FX_FCW, 0xffff);
	put16(at(MEM_BASE + 0x2000) + FX_FOP, 0xffff);
	at(MEM_BASE + 0x2000)[5] = 0x55;
	assert_int_equal(emu(&st, INSN(0x48, 0x0f, 0xae, 0x08)), 0);
	assert_int_equal(emu(&st, INSN(0x48, 0x0f, 0xae, 0x03)), 0);
	assert_memory_equal(at(MEM_BASE + 0x3000), odd, 6);
	/*
	 * FOP: Intel CPUs save the 11 bits loaded; AMD ones save FOP (and FIP,
	 * FDP) only while an unmasked exception is pending (FSW.ES), else zero.
	 * Which one this host is decides the CPU's side; ours follows Intel.
	 */
	if (get16(odd + FX_FOP) || (get16(odd + FX_FSW) & 0x80))
		assert_memory_equal(at(MEM_BASE + 0x3000) + FX_FOP, odd + FX_FOP, 2);
	else
		assert_int_equal(get16(at(MEM_BASE + 0x3000) + FX_FOP), 0x07ff);
}

static void test_real_fldcw(void **unused)
{
	struct x86_emu_state st;
	uint16_t old, got;
	unsigned int v;

	init_state(&st, 64);
	st.gpr[X86_RBX] = MEM_BASE + 0x40;
	st.gpr[X86_RCX] = MEM_BASE + 0x50;
	for (v = 0; v < 0x10000; v += 0x0111) {
		uint16_t cw = v | 0x3f;	/* keep exceptions masked */

		asm volatile("fnstcw %0; fldcw %2; fnstcw %1; fldcw %0"
			     : "=m"(old), "=m"(got) : "m"(cw));
		put16(at(MEM_BASE + 0x40), cw);
		assert_int_equal(emu(&st, INSN(0xd9, 0x2b)), 0);
		assert_int_equal(emu(&st, INSN(0xd9, 0x39)), 0);
		assert_int_equal(get16(at(MEM_BASE + 0x50)), got);
	}
}
#endif

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_fwait, setup),
		cmocka_unit_test_setup(test_fninit, setup),
		cmocka_unit_test_setup(test_finit, setup),
		cmocka_unit_test_setup(test_fnclex, setup),
		cmocka_unit_test_setup(test_fnstcw, setup),
		cmocka_unit_test_setup(test_fldcw, setup),
		cmocka_unit_test_setup(test_fnstsw_ax, setup),
		cmocka_unit_test_setup(test_x87_arithmetic, setup),
		cmocka_unit_test_setup(test_x87_flags, setup),
		cmocka_unit_test_setup(test_x87_pending_exception, setup),
		cmocka_unit_test_setup(test_fnstsw_mem, setup),
		cmocka_unit_test_setup(test_ldmxcsr, setup),
		cmocka_unit_test_setup(test_ldmxcsr_gp, setup),
		cmocka_unit_test_setup(test_stmxcsr, setup),
		cmocka_unit_test_setup(test_addressing_rex_sib, setup),
		cmocka_unit_test_setup(test_rip_relative, setup),
		cmocka_unit_test_setup(test_segment_override, setup),
		cmocka_unit_test_setup(test_addr32_in_64bit, setup),
		cmocka_unit_test_setup(test_32bit_code, setup),
		cmocka_unit_test_setup(test_16bit_code, setup),
		cmocka_unit_test_setup(test_fxsave64, setup),
		cmocka_unit_test_setup(test_fxsave_legacy, setup),
		cmocka_unit_test_setup(test_fxsave_32bit_code, setup),
		cmocka_unit_test_setup(test_fxsave_misaligned, setup),
		cmocka_unit_test_setup(test_fxrstor64, setup),
		cmocka_unit_test_setup(test_fxrstor_legacy, setup),
		cmocka_unit_test_setup(test_fxrstor_gp, setup),
		cmocka_unit_test_setup(test_fxsave_fxrstor_roundtrip, setup),
		cmocka_unit_test_setup(test_fences, setup),
		cmocka_unit_test_setup(test_int3, setup),
		cmocka_unit_test_setup(test_popcnt_reg, setup),
		cmocka_unit_test_setup(test_popcnt_mem, setup),
		cmocka_unit_test_setup(test_iret_same_level, setup),
		cmocka_unit_test_setup(test_iret_to_16bit_code, setup),
		cmocka_unit_test_setup(test_iret16_keeps_upper_flags, setup),
		cmocka_unit_test_setup(test_iret_faults, setup),
		cmocka_unit_test_setup(test_iret_not_handled, setup),
		cmocka_unit_test_setup(test_unknown, setup),
		cmocka_unit_test_setup(test_too_long, setup),
		cmocka_unit_test_setup(test_truncated, setup),
		cmocka_unit_test_setup(test_truncated_fwait, setup),
		cmocka_unit_test_setup(test_memory_fault, setup),
		cmocka_unit_test_setup(test_fwait_fold_fallback, setup),
#if defined(__x86_64__)
		cmocka_unit_test_setup(test_real_fxsave, setup),
		cmocka_unit_test_setup(test_real_fxrstor, setup),
		cmocka_unit_test_setup(test_real_fldcw, setup),
#endif
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
