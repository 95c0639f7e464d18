/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * emulate: at CPL0 executes the instructions a PVM host's emulator refuses
 * and the monitor completes in user space (vmm/arch/x86/emulate.c), and
 * checks each result: x87 control (fninit, fnstcw, fldcw, fnstsw, fwait),
 * x87 arithmetic (fild, fld1, faddp, fstp, fcomi, fistp under fldcw's
 * rounding: what OVMF's drivers run through OpenSSL's doubles),
 * MXCSR (ldmxcsr, stmxcsr, the #GP on reserved bits), fxsave/fxrstor,
 * popcnt, and int3 delivered as a #BP trap to the guest's own handler.
 * On a host whose KVM runs these natively the same checks hold.
 */
#include "lib/rt.h"

RT_TEST("emulate");

static uint8_t fxarea[512] __attribute__((aligned(16)));
static volatile unsigned bp_hits, gp_hits;
static volatile uint64_t bp_rip;

static bool on_fault(struct rt_frame *f)
{
	if (f->vector == 3) {		/* int3 is a trap: rip is past it */
		bp_hits++;
		bp_rip = f->rip;
		return true;
	}
	if (f->vector == 13 && gp_hits == 0) {	/* the bad ldmxcsr: skip it (4 bytes) */
		gp_hits++;
		f->rip += 4;
		return true;
	}
	return false;
}

static void check(bool ok, const char *what)
{
	if (!ok)
		rt_fail("%s", what);
	rt_info("ok=%s", what);
}

static void x87(void)
{
	uint16_t cw = 0, sw = 0xffff, newcw = 0x027f;

	__asm__ volatile("fninit; fnstcw %0" : "=m"(cw));
	check(cw == 0x037f, "fninit+fnstcw");
	__asm__ volatile("fldcw %1; fnstcw %0" : "=m"(cw) : "m"(newcw));
	check(cw == 0x027f, "fldcw");
	__asm__ volatile("fnstsw %%ax" : "=a"(sw));
	check(sw == 0, "fnstsw");
	__asm__ volatile("fwait");
	check(true, "fwait");
}

static void x87_arith(void)
{
	uint32_t seven = 7;
	uint64_t sum = 0, trunc = 0, eq = 0;
	uint16_t cw_trunc = 0x0f7f, cw_near = 0x037f;
	double eight = 0, two_half = 2.5;

	__asm__ volatile("fninit; fildl %1; fld1; faddp; fstpl %0"
			 : "=m"(eight) : "m"(seven));
	__builtin_memcpy(&sum, &eight, sizeof(sum));
	check(sum == 0x4020000000000000ull, "fild+fld1+faddp+fstp");
	__asm__ volatile("fldcw %1; fldl %2; fistpll %0; fldcw %3"
			 : "=m"(trunc) : "m"(cw_trunc), "m"(two_half), "m"(cw_near));
	check(trunc == 2, "fldcw+fistp truncates");
	__asm__ volatile("fldl %1; fldl %1; fcomip %%st(1), %%st; fstp %%st(0); sete %b0"
			 : "=q"(eq) : "m"(two_half) : "cc");
	check((eq & 0xff) == 1, "fcomip sets ZF");
}

static void mxcsr(void)
{
	uint32_t in = 0x1fa0, out = 0, bad = 0xdead0000;

	__asm__ volatile("ldmxcsr %1; stmxcsr %0" : "=m"(out) : "m"(in));
	check(out == 0x1fa0, "ldmxcsr+stmxcsr");
	/* ldmxcsr (%rax): 0f ae 10, 3 bytes + the nop the handler also skips */
	__asm__ volatile("ldmxcsr (%0); nop" :: "r"(&bad) : "memory");
	check(gp_hits == 1, "ldmxcsr reserved bits -> #GP");
	__asm__ volatile("stmxcsr %0" : "=m"(out));
	check(out == 0x1fa0, "mxcsr unchanged after #GP");
}

static uint8_t fxarea2[512] __attribute__((aligned(16)));

/*
 * fxsave/fxrstor round trip. On PVM hosts the host's emulator completes
 * these itself, on the real FPU state the monitor cannot reach, while the
 * monitor completes ldmxcsr/stmxcsr on its own shadow of that state; so the
 * check is that what fxrstor loads, fxsave gives back.
 */
static void fx(void)
{
	uint32_t m;

	__asm__ volatile("fxsave64 %0" : "=m"(fxarea));
	memcpy(&m, fxarea + 24, 4);
	rt_info("fxsave_mxcsr=%x", m);
	check((m & 0xffc0) == 0x1f80, "fxsave64");
	m = 0x1f90;
	memcpy(fxarea + 24, &m, 4);
	__asm__ volatile("fxrstor64 %0" : : "m"(fxarea) : "memory");
	__asm__ volatile("fxsave64 %0" : "=m"(fxarea2));
	memcpy(&m, fxarea2 + 24, 4);
	check(m == 0x1f90, "fxrstor64+fxsave64");
}

static void misc(void)
{
	uint64_t v = 0xf0f00000000000ffULL, n = 0;
	uint64_t before;

	__asm__ volatile("popcnt %1, %0" : "=r"(n) : "r"(v) : "cc");
	check(n == 16, "popcnt");
	__asm__ volatile("lea 1f(%%rip), %0; int3; 1:" : "=r"(before));
	check(bp_hits == 1 && bp_rip == before, "int3 -> #BP trap");
	__asm__ volatile("lfence; mfence; sfence");
	check(true, "fences");
}

void guest_main(struct hvm_start_info *si)
{
	rt_fault_hook = on_fault;
	x87();
	x87_arith();
	mxcsr();
	fx();
	misc();
	rt_pass();
}
