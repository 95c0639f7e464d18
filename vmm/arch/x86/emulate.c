// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * User-space completion of the instructions a PVM host's KVM emulator refuses.
 *
 * The set is small and fixed (x87 control, MXCSR, FXSAVE/FXRSTOR, fences,
 * int3, popcnt, and iret outside 64-bit mode, which KVM's emulator does
 * only in real mode), so this is a tiny decoder that recognises exactly those
 * encodings and refuses everything else with -ENOTSUP. The rest of the x87
 * instruction set (loads, stores, arithmetic, compares: what OVMF's DXE
 * drivers run, through OpenSSL's doubles) is not decoded into operations
 * but run as it is on this thread's own FPU with the guest's x87 state
 * loaded (x87-stubs.S), so its results are the hardware's. Emulation works on a
 * copy of the vCPU state: all guest reads come first, then the result is
 * computed, then guest writes, and the copy is committed only when all of
 * that succeeded, so a failure never leaves st half-updated.
 *
 * Not modelled: pending x87 exceptions at fwait and fldcw (the x87
 * instructions run on the host FPU raise #MF for them), CR0.TS/EM
 * (#NM), CR4.OSFXSR, EFER.FFXSR (fast FXSAVE), segment limits, alignment
 * checking (#AC) and canonical-address checks; a bad address surfaces as a
 * failing memory callback (-EFAULT).
 */
#include <errno.h>
#include <string.h>

#include <vmkit/x86-emulate.h>

/* Longer encodings are #GP on hardware; never look further. */
#define X86_MAX_INSN_LEN	15

#define REX_B			0x01
#define REX_X			0x02
#define REX_R			0x04
#define REX_W			0x08

#define RFLAGS_CF		(1u << 0)
#define RFLAGS_PF		(1u << 2)
#define RFLAGS_AF		(1u << 4)
#define RFLAGS_ZF		(1u << 6)
#define RFLAGS_SF		(1u << 7)
#define RFLAGS_TF		(1u << 8)
#define RFLAGS_IF		(1u << 9)
#define RFLAGS_DF		(1u << 10)
#define RFLAGS_OF		(1u << 11)
#define RFLAGS_IOPL		(3u << 12)
#define RFLAGS_NT		(1u << 14)
#define RFLAGS_RF		(1u << 16)
#define RFLAGS_VM		(1u << 17)
#define RFLAGS_AC		(1u << 18)
#define RFLAGS_VIF		(1u << 19)
#define RFLAGS_VIP		(1u << 20)
#define RFLAGS_ID		(1u << 21)
#define RFLAGS_FIXED		(1u << 1)	/* always reads as 1 */

/* Outside 64-bit mode only XMM0-7 are saved: the area ends at XMM8. */
#define FX_END_LEGACY		288
/* The CPU never writes bytes 416-511 (reserved and software-available). */
#define FX_END_64		416
#define FX_ALIGN		16

#define FCW_INIT		0x037f
/* FLDCW/FXRSTOR keep these bits; bit 6 always reads back as 1. */
#define FCW_KEEP		0x1f3f
#define FCW_ONES		0x0040
#define FOP_MASK		0x07ff

#define FSW_EXCEPTIONS		0x003f	/* IE DE ZE OE UE PE */
#define FSW_SF			0x0040
#define FSW_ES			0x0080
#define FSW_B			0x8000

/* A zero MXCSR_MASK means "not reported": every CPU since 2004 has 0xffff. */
#define MXCSR_MASK_DEFAULT	0xffff

#define VEC_BP			3
#define VEC_NP			11
#define VEC_GP			13
#define VEC_MF			16

enum x86_op {
	OP_UNKNOWN,
	OP_FWAIT,
	OP_FNINIT,
	OP_FNCLEX,
	OP_FNSTCW,
	OP_FLDCW,
	OP_FNSTSW,
	OP_FNSTSW_AX,
	OP_LDMXCSR,
	OP_STMXCSR,
	OP_FXSAVE,
	OP_FXRSTOR,
	OP_LFENCE,
	OP_MFENCE,
	OP_SFENCE,
	OP_INT3,
	OP_POPCNT,
	OP_IRET,
	OP_X87,		/* any other x87 instruction: run on the host's FPU */
	NR_OPS
};

struct x86_insn {
	enum x86_op op;
	int code_bits;
	int opsize;		/* 16, 32 or 64 */
	int addrsize;		/* 16, 32 or 64 */
	int seg;		/* segment override, or -1 */
	uint8_t rex;
	bool p66, p67, pf2, pf3;
	uint8_t modrm;
	bool mem;		/* ModRM.rm names memory */

	/* Memory operand: base + (index << scale) + disp, or rip-relative. */
	int base, index;	/* a gpr, or -1 */
	int scale;
	int64_t disp;
	bool rip_rel;
	int def_seg;

	size_t len;
	/* A leading fwait folded in (finit = fwait; fninit): its length. */
	size_t wait_len;
	uint8_t x87;		/* the escape byte (d8-df) of an x87 instruction */
};

/* Bytes of the instruction still available to the decoder. */
struct cursor {
	const uint8_t *p;
	size_t len;
	size_t pos;
};

/* The vCPU state being worked on, committed to the caller's only on success. */
struct emu {
	struct x86_emu_state s;
	const struct x86_insn *d;
	const struct x86_emu_ops *ops;
	void *opaque;
	uint64_t la;		/* linear address of the memory operand */
	bool fault;		/* a fault was raised: rip stays put */
	bool jumped;		/* the instruction set rip itself (iret) */
};

static uint16_t get16(const uint8_t *p)
{
	return p[0] | (uint16_t)p[1] << 8;
}

static uint32_t get32(const uint8_t *p)
{
	return get16(p) | (uint32_t)get16(p + 2) << 16;
}

static uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = v;
	p[1] = v >> 8;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v);
	put16(p + 2, v >> 16);
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, v);
	put32(p + 4, v >> 32);
}

static uint64_t trunc_bits(uint64_t v, int bits)
{
	return bits == 64 ? v : v & ((1ull << bits) - 1);
}

/* ---- Decoder ---------------------------------------------------------- */

static bool next_byte(struct cursor *c, uint8_t *b)
{
	if (c->pos >= c->len)
		return false;
	*b = c->p[c->pos++];
	return true;
}

/* A little-endian, sign-extended displacement of n bytes. */
static bool next_disp(struct cursor *c, int n, int64_t *disp)
{
	uint64_t v = 0;
	uint8_t b;
	int i;

	for (i = 0; i < n; i++) {
		if (!next_byte(c, &b))
			return false;
		v |= (uint64_t)b << (8 * i);
	}
	if (n && n < 8 && (v >> (8 * n - 1)) & 1)
		v |= ~0ull << (8 * n);
	*disp = (int64_t)v;
	return true;
}

static int decode_prefixes(struct cursor *c, struct x86_insn *d, uint8_t *op)
{
	uint8_t b;

	for (;;) {
		if (!next_byte(c, &b))
			return -ENOTSUP;
		switch (b) {
		case 0xf0:
			/* None of ours takes lock: it would be #UD. */
			return -ENOTSUP;
		case 0x66:
			d->p66 = true;
			break;
		case 0x67:
			d->p67 = true;
			break;
		case 0xf2:
			d->pf2 = true;
			break;
		case 0xf3:
			d->pf3 = true;
			break;
		case 0x26:
			d->seg = X86_ES;
			break;
		case 0x2e:
			d->seg = X86_CS;
			break;
		case 0x36:
			d->seg = X86_SS;
			break;
		case 0x3e:
			d->seg = X86_DS;
			break;
		case 0x64:
			d->seg = X86_FS;
			break;
		case 0x65:
			d->seg = X86_GS;
			break;
		default:
			if (d->code_bits == 64 && (b & 0xf0) == 0x40) {
				d->rex = b;
				continue;
			}
			*op = b;
			return 0;
		}
		/* REX counts only right before the opcode. */
		d->rex = 0;
	}
}

static void decode_sizes(struct x86_insn *d)
{
	/* 66 toggles between 16 and 32 bits; REX.W overrides it. */
	d->opsize = (d->code_bits == 16) != d->p66 ? 16 : 32;
	if (d->rex & REX_W)
		d->opsize = 64;

	d->addrsize = d->code_bits;
	if (d->p67)
		d->addrsize = d->code_bits == 32 ? 16 : 32;
}

/* 16-bit ModRM: fixed base/index pairs, no SIB. */
static int decode_ea16(struct cursor *c, struct x86_insn *d)
{
	static const int base16[8] = {
		X86_RBX, X86_RBX, X86_RBP, X86_RBP, -1, -1, X86_RBP, X86_RBX
	};
	static const int index16[8] = {
		X86_RSI, X86_RDI, X86_RSI, X86_RDI, X86_RSI, X86_RDI, -1, -1
	};
	int mod = d->modrm >> 6, rm = d->modrm & 7;
	int disp_size = mod == 1 ? 1 : mod == 2 ? 2 : 0;

	d->base = base16[rm];
	d->index = index16[rm];
	if (mod == 0 && rm == 6) {
		d->base = -1;
		disp_size = 2;
	}
	d->def_seg = d->base == X86_RBP ? X86_SS : X86_DS;
	return next_disp(c, disp_size, &d->disp) ? 0 : -ENOTSUP;
}

static int decode_ea32(struct cursor *c, struct x86_insn *d)
{
	int mod = d->modrm >> 6, rm = d->modrm & 7;
	int rex_b = d->rex & REX_B ? 8 : 0;
	int disp_size = mod == 1 ? 1 : mod == 2 ? 4 : 0;
	uint8_t sib;

	d->base = rm | rex_b;
	if (rm == 4) {
		if (!next_byte(c, &sib))
			return -ENOTSUP;
		d->scale = sib >> 6;
		d->index = ((sib >> 3) & 7) | (d->rex & REX_X ? 8 : 0);
		if (d->index == X86_RSP)	/* "no index"; r12 is fine */
			d->index = -1;
		d->base = (sib & 7) | rex_b;
		if ((sib & 7) == 5 && mod == 0) {
			d->base = -1;
			disp_size = 4;
		}
	} else if (rm == 5 && mod == 0) {
		d->base = -1;
		d->rip_rel = d->code_bits == 64;
		disp_size = 4;
	}
	d->def_seg = d->base == X86_RSP || d->base == X86_RBP ? X86_SS : X86_DS;
	return next_disp(c, disp_size, &d->disp) ? 0 : -ENOTSUP;
}

static int decode_modrm(struct cursor *c, struct x86_insn *d)
{
	if (!next_byte(c, &d->modrm))
		return -ENOTSUP;
	d->mem = d->modrm >> 6 != 3;
	if (!d->mem)
		return 0;
	if (d->addrsize == 16)
		return decode_ea16(c, d);
	return decode_ea32(c, d);
}

static int modrm_reg(const struct x86_insn *d)
{
	return (d->modrm >> 3) & 7;
}

static bool x87_form_valid(const struct x86_insn *d);

/*
 * d9 /5 /7, dd /7 with memory; db e2, db e3, df e0 are emulated here; every
 * other d8-df form that exists is OP_X87, run by em_x87.
 */
static int decode_x87(struct cursor *c, struct x86_insn *d, uint8_t op)
{
	int rc = decode_modrm(c, d);

	if (rc)
		return rc;
	if (d->mem) {
		if (op == 0xd9 && modrm_reg(d) == 5)
			d->op = OP_FLDCW;
		else if (op == 0xd9 && modrm_reg(d) == 7)
			d->op = OP_FNSTCW;
		else if (op == 0xdd && modrm_reg(d) == 7)
			d->op = OP_FNSTSW;
	} else if (op == 0xdb && d->modrm == 0xe3) {
		d->op = OP_FNINIT;
	} else if (op == 0xdb && d->modrm == 0xe2) {
		d->op = OP_FNCLEX;
	} else if (op == 0xdf && d->modrm == 0xe0) {
		d->op = OP_FNSTSW_AX;
	}
	d->x87 = op;
	if (d->op == OP_UNKNOWN && x87_form_valid(d))
		d->op = OP_X87;
	return d->op == OP_UNKNOWN ? -ENOTSUP : 0;
}

/* 0f ae: /0-/3 with memory, fences with a register form. */
static int decode_0fae(struct cursor *c, struct x86_insn *d)
{
	static const enum x86_op mem_ops[8] = {
		OP_FXSAVE, OP_FXRSTOR, OP_LDMXCSR, OP_STMXCSR,
	};
	static const enum x86_op reg_ops[8] = {
		[5] = OP_LFENCE, [6] = OP_MFENCE, [7] = OP_SFENCE,
	};
	int rc = decode_modrm(c, d);

	if (rc)
		return rc;
	/* With 66/f2/f3 these are other instructions (clwb, rdfsbase...). */
	if (d->p66 || d->pf2 || d->pf3)
		return -ENOTSUP;
	d->op = d->mem ? mem_ops[modrm_reg(d)] : reg_ops[modrm_reg(d)];
	return d->op == OP_UNKNOWN ? -ENOTSUP : 0;
}

static int decode_0f(struct cursor *c, struct x86_insn *d)
{
	uint8_t op;
	int rc;

	if (!next_byte(c, &op))
		return -ENOTSUP;
	if (op == 0xae)
		return decode_0fae(c, d);
	if (op != 0xb8)
		return -ENOTSUP;
	rc = decode_modrm(c, d);
	if (rc)
		return rc;
	/* Without f3 0f b8 is jmpe (#UD); f2 makes it undefined. */
	if (!d->pf3 || d->pf2)
		return -ENOTSUP;
	d->op = OP_POPCNT;
	return 0;
}

static int decode_opcode(struct cursor *c, struct x86_insn *d, uint8_t op)
{
	switch (op) {
	case 0x0f:
		return decode_0f(c, d);
	case 0x9b:
		d->op = OP_FWAIT;
		break;
	case 0xcc:
		d->op = OP_INT3;
		break;
	case 0xcf:
		d->op = OP_IRET;
		break;
	case 0xd8: case 0xd9: case 0xda: case 0xdb:
	case 0xdc: case 0xdd: case 0xde: case 0xdf:
		if (decode_x87(c, d, op))
			return -ENOTSUP;
		break;
	default:
		return -ENOTSUP;
	}
	/* Repeat prefixes would make them something else or undefined. */
	return d->pf2 || d->pf3 ? -ENOTSUP : 0;
}

/* The no-wait x87 forms that an assembler pairs with fwait (finit...). */
static bool foldable(enum x86_op op)
{
	return op == OP_FNINIT || op == OP_FNCLEX || op == OP_FNSTCW ||
	       op == OP_FNSTSW || op == OP_FNSTSW_AX;
}

static int decode(struct x86_insn *d, const uint8_t *insn, size_t len,
		  int code_bits, bool fold);

/*
 * finit, fclex, fstcw and fstsw are fwait followed by the no-wait form.
 * Doing both in one exit saves a round trip; since pending exceptions are
 * not modelled, fwait has no effect of its own to order against.
 */
static void fold_wait(struct x86_insn *d, const uint8_t *insn, size_t len)
{
	/*
	 * Only within the bytes of one instruction's window (what KVM reports
	 * at most): found by fuzzing, prefixed fwait + fnstcw made a 16-byte
	 * "instruction" out of bytes past it.
	 */
	size_t window = len < X86_MAX_INSN_LEN ? len : X86_MAX_INSN_LEN;
	struct x86_insn next;

	if (d->len >= window || decode(&next, insn + d->len, window - d->len, d->code_bits, false))
		return;
	if (!foldable(next.op))
		return;
	next.wait_len = d->len;
	next.len += d->len;
	*d = next;
}

static int decode(struct x86_insn *d, const uint8_t *insn, size_t len,
		  int code_bits, bool fold)
{
	struct cursor c = {
		.p = insn,
		.len = len < X86_MAX_INSN_LEN ? len : X86_MAX_INSN_LEN,
	};
	uint8_t op;
	int rc;

	memset(d, 0, sizeof(*d));
	d->code_bits = code_bits;
	d->seg = -1;
	d->base = -1;
	d->index = -1;

	rc = decode_prefixes(&c, d, &op);
	if (rc)
		return rc;
	decode_sizes(d);
	rc = decode_opcode(&c, d, op);
	if (rc)
		return rc;
	d->len = c.pos;
	if (fold && d->op == OP_FWAIT)
		fold_wait(d, insn, len);
	return 0;
}

/* ---- Execution -------------------------------------------------------- */

static uint64_t linear_address(const struct x86_emu_state *s,
			       const struct x86_insn *d)
{
	int seg = d->seg >= 0 ? d->seg : d->def_seg;
	uint64_t ea = d->disp, seg_base;

	if (d->rip_rel)
		ea += s->rip + d->len;
	if (d->base >= 0)
		ea += s->gpr[d->base];
	if (d->index >= 0)
		ea += s->gpr[d->index] << d->scale;
	ea = trunc_bits(ea, d->addrsize);

	/* 64-bit mode ignores all segment bases but fs and gs. */
	seg_base = s->seg_base[seg];
	if (s->code_bits == 64 && seg != X86_FS && seg != X86_GS)
		seg_base = 0;
	return trunc_bits(seg_base + ea, s->code_bits == 64 ? 64 : 32);
}

static int mem_read(struct emu *e, uint64_t la, void *buf, size_t n)
{
	if (!e->ops || !e->ops->read || e->ops->read(e->opaque, la, buf, n))
		return -EFAULT;
	return 0;
}

static int mem_write(struct emu *e, uint64_t la, const void *buf, size_t n)
{
	if (!e->ops || !e->ops->write || e->ops->write(e->opaque, la, buf, n))
		return -EFAULT;
	return 0;
}

static int raise_fault(struct emu *e, int vector, uint32_t error_code)
{
	e->s.exception = vector;
	e->s.exception_has_error = true;
	e->s.error_code = error_code;
	e->fault = true;
	return 0;
}

static int raise_gp(struct emu *e)
{
	return raise_fault(e, VEC_GP, 0);
}

static uint32_t mxcsr_mask(const struct x86_emu_state *s)
{
	uint32_t mask = get32(s->fxstate + FX_MXCSR_MASK);

	return mask ? mask : MXCSR_MASK_DEFAULT;
}

static int em_nop(struct emu *e)
{
	return 0;
}

static int em_int3(struct emu *e)
{
	/* A trap: delivered after the instruction, rip points past it. */
	e->s.exception = VEC_BP;
	return 0;
}

static int em_fninit(struct emu *e)
{
	uint8_t *fx = e->s.fxstate;

	put16(fx + FX_FCW, FCW_INIT);
	put16(fx + FX_FSW, 0);
	fx[FX_FTW] = 0;		/* abridged: all registers empty */
	put16(fx + FX_FOP, 0);
	put64(fx + FX_FIP, 0);
	put64(fx + FX_FDP, 0);
	e->s.fpu_dirty = true;
	return 0;
}

static int em_fnclex(struct emu *e)
{
	uint8_t *fx = e->s.fxstate;
	uint16_t fsw = get16(fx + FX_FSW);

	fsw &= ~(FSW_EXCEPTIONS | FSW_SF | FSW_ES | FSW_B);
	put16(fx + FX_FSW, fsw);
	e->s.fpu_dirty = true;
	return 0;
}

static int em_fnstcw(struct emu *e)
{
	return mem_write(e, e->la, e->s.fxstate + FX_FCW, 2);
}

static uint16_t fcw_value(uint16_t fcw)
{
	return (fcw & FCW_KEEP) | FCW_ONES;
}

/*
 * Unmasking a flagged exception makes it pending (ES and B set) for the
 * next waiting instruction, as on hardware; masking clears the summary.
 */
static void set_fcw(uint8_t *fx, uint16_t fcw)
{
	uint16_t fsw = get16(fx + FX_FSW);

	fcw = fcw_value(fcw);
	if (fsw & FSW_EXCEPTIONS & ~fcw)
		fsw |= FSW_ES | FSW_B;
	else
		fsw &= ~(FSW_ES | FSW_B);
	put16(fx + FX_FCW, fcw);
	put16(fx + FX_FSW, fsw);
}

static int em_fldcw(struct emu *e)
{
	uint8_t buf[2];
	int rc = mem_read(e, e->la, buf, sizeof(buf));

	if (rc)
		return rc;
	set_fcw(e->s.fxstate, get16(buf));
	e->s.fpu_dirty = true;
	return 0;
}

static int em_fnstsw(struct emu *e)
{
	return mem_write(e, e->la, e->s.fxstate + FX_FSW, 2);
}

static int em_fnstsw_ax(struct emu *e)
{
	uint64_t *rax = &e->s.gpr[X86_RAX];

	*rax = (*rax & ~0xffffull) | get16(e->s.fxstate + FX_FSW);
	e->s.gpr_dirty = true;
	return 0;
}

static int em_ldmxcsr(struct emu *e)
{
	uint8_t buf[4];
	int rc = mem_read(e, e->la, buf, sizeof(buf));

	if (rc)
		return rc;
	if (get32(buf) & ~mxcsr_mask(&e->s))
		return raise_gp(e);
	memcpy(e->s.fxstate + FX_MXCSR, buf, sizeof(buf));
	e->s.fpu_dirty = true;
	return 0;
}

static int em_stmxcsr(struct emu *e)
{
	return mem_write(e, e->la, e->s.fxstate + FX_MXCSR, 4);
}

/* How much of the FXSAVE area the CPU reads and writes in this mode. */
static size_t fx_size(const struct x86_emu_state *s)
{
	return s->code_bits == 64 ? FX_END_64 : FX_END_LEGACY;
}

/*
 * fxstate keeps the 64-bit (REX.W) layout. Without REX.W, FIP and FDP are
 * 32 bits followed by selectors, stored as 0 as on CPUs that deprecate
 * FCS/FDS.
 */
static int em_fxsave(struct emu *e)
{
	const uint8_t *fx = e->s.fxstate;
	uint8_t img[FX_END_64];

	if (e->la % FX_ALIGN)
		return raise_gp(e);
	memcpy(img, fx, sizeof(img));
	img[FX_RSVD5] = 0;
	if (!(e->d->rex & REX_W)) {
		put32(img + FX_FIP, get32(fx + FX_FIP));
		put32(img + FX_FCS, 0);
		put32(img + FX_FDP, get32(fx + FX_FDP));
		put32(img + FX_FDS, 0);
	}
	put32(img + FX_MXCSR_MASK, mxcsr_mask(&e->s));
	return mem_write(e, e->la, img, fx_size(&e->s));
}

static int em_fxrstor(struct emu *e)
{
	uint8_t img[FX_END_64], *fx = e->s.fxstate;
	size_t n = fx_size(&e->s);
	bool wide = e->d->rex & REX_W;
	int rc;

	if (e->la % FX_ALIGN)
		return raise_gp(e);
	rc = mem_read(e, e->la, img, n);
	if (rc)
		return rc;
	if (get32(img + FX_MXCSR) & ~mxcsr_mask(&e->s))
		return raise_gp(e);

	put16(fx + FX_FCW, fcw_value(get16(img + FX_FCW)));
	put16(fx + FX_FSW, get16(img + FX_FSW));
	fx[FX_FTW] = img[FX_FTW];
	fx[FX_RSVD5] = 0;
	put16(fx + FX_FOP, get16(img + FX_FOP) & FOP_MASK);
	put64(fx + FX_FIP, wide ? get64(img + FX_FIP) : get32(img + FX_FIP));
	put64(fx + FX_FDP, wide ? get64(img + FX_FDP) : get32(img + FX_FDP));
	memcpy(fx + FX_MXCSR, img + FX_MXCSR, 4);	/* the mask is not loaded */
	memcpy(fx + FX_REGS, img + FX_REGS, n - FX_REGS);
	e->s.fpu_dirty = true;
	return 0;
}

/*
 * x87 instructions other than the control ones above, run on this thread's
 * FPU by the stubs of x87-stubs.S with the guest's x87 state (fxstate)
 * loaded: the hardware computes, so every rounding, NaN and flag is the
 * CPU's own.
 */
uint64_t vk_x87_stubs(void *operand, void *guest_fx, uint64_t flags, void *host_fx);

#define X87_STUB_SIZE		32
#define X87_STUBS_PER_OP	72	/* 8 memory forms, 64 register forms */

/* The memory operand of an x87 memory form: bytes, and its direction. */
enum x87_dir { X87_BAD, X87_LOAD, X87_STORE };
struct x87_mem { uint8_t size; uint8_t dir; };

#define LD(n)	{ n, X87_LOAD }
#define ST(n)	{ n, X87_STORE }
#define NO	{ 0, X87_BAD }
/*
 * Per escape byte and ModRM reg (Intel SDM Vol. 2, the x87 opcode map);
 * d9 /5 /7 and dd /7 are decoded as their own ops. 28 and 108 bytes: the
 * protected-mode 32-bit environment and state layouts.
 */
static const struct x87_mem x87_mem_forms[8][8] = {
	/* d8: fadd fmul fcom fcomp fsub fsubr fdiv fdivr, m32fp */
	{ LD(4), LD(4), LD(4), LD(4), LD(4), LD(4), LD(4), LD(4) },
	/* d9: fld m32fp, -, fst, fstp, fldenv, (fldcw), fnstenv, (fnstcw) */
	{ LD(4), NO, ST(4), ST(4), LD(28), NO, ST(28), NO },
	/* da: fiadd ... fidivr, m32int */
	{ LD(4), LD(4), LD(4), LD(4), LD(4), LD(4), LD(4), LD(4) },
	/* db: fild m32int, fisttp, fist, fistp, -, fld m80fp, -, fstp m80fp */
	{ LD(4), ST(4), ST(4), ST(4), NO, LD(10), NO, ST(10) },
	/* dc: fadd ... fdivr, m64fp */
	{ LD(8), LD(8), LD(8), LD(8), LD(8), LD(8), LD(8), LD(8) },
	/* dd: fld m64fp, fisttp m64int, fst, fstp, frstor, -, fnsave, (fnstsw) */
	{ LD(8), ST(8), ST(8), ST(8), LD(108), NO, ST(108), NO },
	/* de: fiadd ... fidivr, m16int */
	{ LD(2), LD(2), LD(2), LD(2), LD(2), LD(2), LD(2), LD(2) },
	/* df: fild m16int, fisttp, fist, fistp, fbld, fild m64int, fbstp, fistp m64int */
	{ LD(2), ST(2), ST(2), ST(2), LD(10), LD(8), ST(10), ST(8) },
};
#undef LD
#undef ST
#undef NO

/* Does the register form (ModRM c0-ff) exist? The others are #UD on hardware. */
static bool x87_reg_form_valid(uint8_t op, uint8_t modrm)
{
	switch (op) {
	case 0xd8:
		return true;
	case 0xd9:	/* fld, fxch, fnop, fchs fabs ftst fxam, constants, f2xm1..fcos */
		return modrm < 0xd1 || modrm == 0xe0 || modrm == 0xe1 || modrm == 0xe4 ||
		       modrm == 0xe5 || (modrm >= 0xe8 && modrm <= 0xee) || modrm >= 0xf0;
	case 0xda:	/* fcmovb/e/be/u, fucompp */
		return modrm < 0xe0 || modrm == 0xe9;
	case 0xdb:	/* fcmovnb/ne/nbe/nu, fucomi, fcomi */
		return modrm < 0xe0 || (modrm >= 0xe8 && modrm < 0xf8);
	case 0xdc:	/* fadd fmul fsubr fsub fdivr fdiv st(i), st */
		return modrm < 0xd0 || modrm >= 0xe0;
	case 0xdd:	/* ffree, fst, fstp, fucom, fucomp */
		return (modrm < 0xc8) || (modrm >= 0xd0 && modrm < 0xf0);
	case 0xde:	/* faddp fmulp, fcompp, fsubrp fsubp fdivrp fdivp */
		return modrm < 0xd0 || modrm == 0xd9 || modrm >= 0xe0;
	case 0xdf:	/* fucomip, fcomip */
		return modrm >= 0xe8 && modrm < 0xf8;
	}
	return false;
}

/*
 * A form em_x87 runs: one that exists, and not the environment or state in
 * their 16-bit layouts (an operand-size prefix), which are not done.
 */
static bool x87_form_valid(const struct x86_insn *d)
{
	const struct x87_mem *m;

	if (d->x87 < 0xd8 || d->x87 > 0xdf)
		return false;
	if (!d->mem)
		return x87_reg_form_valid(d->x87, d->modrm);
	m = &x87_mem_forms[d->x87 - 0xd8][modrm_reg(d)];
	return m->dir != X87_BAD && !(m->size >= 28 && d->opsize == 16);
}

/* fcomi, fucomi and their popping forms write ZF, PF and CF (OF, SF, AF cleared). */
static bool x87_sets_rflags(uint8_t op, uint8_t modrm)
{
	return (op == 0xdb || op == 0xdf) && modrm >= 0xe8 && modrm < 0xf8;
}

/* fnstenv and fnsave are no-wait: they do not raise a pending exception. */
static bool x87_waits(uint8_t op, const struct x86_insn *d)
{
	return !(d->mem && (op == 0xd9 || op == 0xdd) && modrm_reg(d) == 6);
}

/* The bits of MXCSR this CPU takes: FXRSTOR64 of anything else is #GP. */
static uint32_t host_mxcsr_mask(void)
{
	static uint32_t mask;
	_Alignas(16) uint8_t fx[512];

	if (!mask) {
		memset(fx, 0, sizeof(fx));
		__asm__ volatile("fxsave64 %0" : "=m"(fx));
		mask = get32(fx + FX_MXCSR_MASK);
		if (!mask)
			mask = MXCSR_MASK_DEFAULT;
	}
	return mask;
}

static int em_x87(struct emu *e)
{
	const struct x86_insn *d = e->d;
	const uint64_t arith = RFLAGS_CF | RFLAGS_PF | RFLAGS_AF | RFLAGS_ZF | RFLAGS_SF |
			       RFLAGS_OF;
	uint8_t op = d->x87, *fx = e->s.fxstate;
	_Alignas(16) uint8_t guest[512], host[512];
	uint8_t operand[108] = { 0 };
	struct x87_mem m = { 0, X87_BAD };
	uint16_t fcw = get16(fx + FX_FCW), fsw = get16(fx + FX_FSW);
	uint64_t (*stub)(void *, void *, uint64_t, void *);
	unsigned int idx;
	uint64_t flags;
	int rc;

	if (d->mem) {
		m = x87_mem_forms[op - 0xd8][modrm_reg(d)];
		/* The real-mode layouts of the environment and state: not done. */
		if (m.size >= 28 && !e->s.protected_mode)
			return -ENOTSUP;
		idx = (op - 0xd8) * X87_STUBS_PER_OP + modrm_reg(d);
	} else {
		idx = (op - 0xd8) * X87_STUBS_PER_OP + 8 + (d->modrm - 0xc0);
	}
	/* An unmasked exception left pending is raised by the next waiting instruction. */
	if (x87_waits(op, d) && (fsw & FSW_EXCEPTIONS & ~fcw)) {
		e->s.exception = VEC_MF;
		e->fault = true;
		return 0;
	}
	if (m.dir == X87_LOAD) {
		rc = mem_read(e, e->la, operand, m.size);
		if (rc)
			return rc;
	}

	memcpy(guest, fx, sizeof(guest));
	put32(guest + FX_MXCSR, get32(fx + FX_MXCSR) & host_mxcsr_mask());
	stub = (uint64_t (*)(void *, void *, uint64_t, void *))
		((const uint8_t *)vk_x87_stubs + idx * X87_STUB_SIZE);
	flags = stub(operand, guest, (e->s.rflags & arith) | RFLAGS_FIXED, host);

	if (m.dir == X87_STORE) {
		rc = mem_write(e, e->la, operand, m.size);
		if (rc)
			return rc;
	}
	/* The x87 part only; the last instruction and operand are the guest's, not the stub's. */
	memcpy(fx, guest, FX_MXCSR);
	memcpy(fx + FX_REGS, guest + FX_REGS, FX_XMM - FX_REGS);
	put16(fx + FX_FOP, ((op & 7) << 8 | d->modrm) & FOP_MASK);
	put64(fx + FX_FIP, e->s.seg_base[X86_CS] + e->s.rip);
	put64(fx + FX_FDP, d->mem ? e->la : 0);
	e->s.fpu_dirty = true;
	if (x87_sets_rflags(op, d->modrm))
		e->s.rflags = (e->s.rflags & ~arith) | (flags & arith);
	return 0;
}

static int em_popcnt(struct emu *e)
{
	const struct x86_insn *d = e->d;
	int dst = modrm_reg(d) | (d->rex & REX_R ? 8 : 0);
	uint64_t src = 0, *reg = &e->s.gpr[dst];
	uint8_t buf[8];
	int rc;

	if (d->mem) {
		rc = mem_read(e, e->la, buf, d->opsize / 8);
		if (rc)
			return rc;
		memset(buf + d->opsize / 8, 0, sizeof(buf) - d->opsize / 8);
		src = get64(buf);
	} else {
		src = e->s.gpr[(d->modrm & 7) | (d->rex & REX_B ? 8 : 0)];
	}
	src = trunc_bits(src, d->opsize);

	/* 16-bit writes merge; 32-bit writes zero-extend, as on hardware. */
	if (d->opsize == 16)
		*reg = (*reg & ~0xffffull) | __builtin_popcountll(src);
	else
		*reg = __builtin_popcountll(src);
	e->s.rflags &= ~(uint64_t)(RFLAGS_CF | RFLAGS_PF | RFLAGS_AF |
				   RFLAGS_ZF | RFLAGS_SF | RFLAGS_OF);
	if (!src)
		e->s.rflags |= RFLAGS_ZF;
	e->s.gpr_dirty = true;
	return 0;
}

/* An 8-byte GDT descriptor as the segment register caches it. */
static void unpack_desc(uint64_t desc, uint16_t selector, struct x86_emu_seg *seg)
{
	uint32_t lo = (uint32_t)desc, hi = desc >> 32;

	seg->selector = selector;
	seg->base = (lo >> 16) | (hi & 0xff) << 16 | (hi & 0xff000000u);
	seg->limit = (lo & 0xffff) | (hi & 0xf0000);
	seg->type = (hi >> 8) & 0xf;
	seg->s = (hi >> 12) & 1;
	seg->dpl = (hi >> 13) & 3;
	seg->present = (hi >> 15) & 1;
	seg->avl = (hi >> 20) & 1;
	seg->l = (hi >> 21) & 1;
	seg->db = (hi >> 22) & 1;
	seg->g = (hi >> 23) & 1;
	if (seg->g)
		seg->limit = seg->limit << 12 | 0xfff;
}

/*
 * Load CS for a far return to the same privilege level (Intel SDM Vol. 2,
 * IRET: "RETURN-TO-SAME-PRIVILEGE-LEVEL"), checking the descriptor as the
 * CPU does. Sets e->s.cs, or raises the fault and leaves it.
 */
static int load_return_cs(struct emu *e, uint16_t sel, uint32_t eip)
{
	struct x86_emu_state *s = &e->s;
	struct x86_emu_seg cs;
	uint8_t raw[8];
	bool conforming;
	int rc;

	if (!(sel & ~3u))
		return raise_gp(e);
	if (sel & 4)		/* an LDT selector: no guest of ours has an LDT */
		return -ENOTSUP;
	if ((sel | 7u) > s->gdt_limit)
		return raise_fault(e, VEC_GP, sel & ~3u);
	rc = mem_read(e, s->gdt_base + (sel & ~7u), raw, sizeof(raw));
	if (rc)
		return rc;
	unpack_desc(get64(raw), sel, &cs);
	conforming = cs.type & 4;
	if (!cs.s || !(cs.type & 8) || (conforming ? cs.dpl > (sel & 3) : cs.dpl != (sel & 3)))
		return raise_fault(e, VEC_GP, sel & ~3u);
	if (!cs.present)
		return raise_fault(e, VEC_NP, sel & ~3u);
	if (eip > cs.limit)
		return raise_gp(e);
	if (!(cs.type & 1)) {	/* the CPU marks the descriptor accessed */
		cs.type |= 1;
		raw[5] |= 1;
		rc = mem_write(e, s->gdt_base + (sel & ~7u) + 5, raw + 5, 1);
		if (rc)
			return rc;
	}
	s->cs = cs;
	return 0;
}

/*
 * iret in protected mode, returning to the same privilege level: what a
 * 32-bit boot loader's interrupt handlers do (syslinux's core, run under
 * SeaBIOS). KVM's emulator completes iret only in real mode and PVM hosts
 * send every CPL0 iret here. Task returns (NT), returns to virtual-8086 mode
 * and to an outer level, and 64-bit mode's iretq are not handled.
 */
static int em_iret(struct emu *e)
{
	struct x86_emu_state *s = &e->s;
	const uint64_t always = RFLAGS_CF | RFLAGS_PF | RFLAGS_AF | RFLAGS_ZF | RFLAGS_SF |
				RFLAGS_TF | RFLAGS_DF | RFLAGS_OF | RFLAGS_NT;
	unsigned int n = e->d->opsize / 8;
	uint64_t sp = trunc_bits(s->gpr[X86_RSP], s->stack_bits), mask = always, fl;
	uint8_t frame[12];
	uint32_t eip;
	uint16_t sel;
	int rc;

	if (!s->protected_mode || s->long_mode || n == 8 || (s->rflags & (RFLAGS_NT | RFLAGS_VM)))
		return -ENOTSUP;
	rc = mem_read(e, s->seg_base[X86_SS] + sp, frame, 3 * n);
	if (rc)
		return rc;
	eip = n == 4 ? get32(frame) : get16(frame);
	sel = get16(frame + n);
	fl = n == 4 ? get32(frame + 2 * n) : get16(frame + 2 * n);
	if (s->cpl == 0 && (fl & RFLAGS_VM))
		return -ENOTSUP;
	if ((sel & 3) < s->cpl)
		return raise_fault(e, VEC_GP, sel & ~3u);
	if ((sel & 3) > s->cpl)
		return -ENOTSUP;
	rc = load_return_cs(e, sel, eip);
	if (rc || e->fault)
		return rc;

	if ((unsigned int)s->cpl <= ((s->rflags & RFLAGS_IOPL) >> 12))
		mask |= RFLAGS_IF;
	if (s->cpl == 0)
		mask |= RFLAGS_IOPL;
	if (n == 4)
		mask |= RFLAGS_RF | RFLAGS_AC | RFLAGS_ID | RFLAGS_VIF | RFLAGS_VIP;
	s->rflags = (s->rflags & ~mask) | (fl & mask) | RFLAGS_FIXED;

	sp = trunc_bits(sp + 3 * n, s->stack_bits);
	s->gpr[X86_RSP] = s->stack_bits == 16 ? (s->gpr[X86_RSP] & ~0xffffull) | sp : sp;
	s->gpr_dirty = true;
	s->cs_dirty = true;
	s->seg_base[X86_CS] = s->cs.base;
	s->code_bits = s->cs.db ? 32 : 16;
	s->rip = eip;
	e->jumped = true;
	return 0;
}

static const struct op_info {
	const char *name;
	const char *wait_name;	/* with a folded fwait */
	const char *wide_name;	/* with REX.W */
	int (*run)(struct emu *e);
} op_info[NR_OPS] = {
	[OP_UNKNOWN]	= { "unknown", NULL, NULL, NULL },
	[OP_FWAIT]	= { "fwait", NULL, NULL, em_nop },
	[OP_FNINIT]	= { "fninit", "finit", NULL, em_fninit },
	[OP_FNCLEX]	= { "fnclex", "fclex", NULL, em_fnclex },
	[OP_FNSTCW]	= { "fnstcw", "fstcw", NULL, em_fnstcw },
	[OP_FLDCW]	= { "fldcw", NULL, NULL, em_fldcw },
	[OP_FNSTSW]	= { "fnstsw", "fstsw", NULL, em_fnstsw },
	[OP_FNSTSW_AX]	= { "fnstsw", "fstsw", NULL, em_fnstsw_ax },
	[OP_LDMXCSR]	= { "ldmxcsr", NULL, NULL, em_ldmxcsr },
	[OP_STMXCSR]	= { "stmxcsr", NULL, NULL, em_stmxcsr },
	[OP_FXSAVE]	= { "fxsave", NULL, "fxsave64", em_fxsave },
	[OP_FXRSTOR]	= { "fxrstor", NULL, "fxrstor64", em_fxrstor },
	[OP_LFENCE]	= { "lfence", NULL, NULL, em_nop },
	[OP_MFENCE]	= { "mfence", NULL, NULL, em_nop },
	[OP_SFENCE]	= { "sfence", NULL, NULL, em_nop },
	[OP_INT3]	= { "int3", NULL, NULL, em_int3 },
	[OP_POPCNT]	= { "popcnt", NULL, NULL, em_popcnt },
	[OP_IRET]	= { "iret", NULL, "iretq", em_iret },
	[OP_X87]	= { "x87", NULL, NULL, em_x87 },
};

static uint64_t next_rip(const struct x86_emu_state *s, size_t len)
{
	return trunc_bits(s->rip + len, s->code_bits);
}

static int execute(struct x86_emu_state *st, const struct x86_insn *d,
		   const struct x86_emu_ops *ops, void *opaque)
{
	struct emu e = { .s = *st, .d = d, .ops = ops, .opaque = opaque };
	int rc;

	e.s.exception = -1;
	e.s.cs_dirty = false;
	e.s.exception_has_error = false;
	e.s.error_code = 0;
	if (d->mem)
		e.la = linear_address(&e.s, d);

	rc = op_info[d->op].run(&e);
	if (rc)
		return rc;
	if (!e.fault && !e.jumped)
		e.s.rip = next_rip(&e.s, d->len);
	*st = e.s;
	return 0;
}

int x86_emulate(struct x86_emu_state *st, const uint8_t *insn, size_t len,
		const struct x86_emu_ops *ops, void *opaque)
{
	struct x86_insn d;
	int rc;

	if (!st || !insn)
		return -ENOTSUP;
	if (st->code_bits != 16 && st->code_bits != 32 && st->code_bits != 64)
		return -ENOTSUP;
	rc = decode(&d, insn, len, st->code_bits, true);
	if (rc)
		return rc;
	rc = execute(st, &d, ops, opaque);
	if (rc < 0 && d.wait_len) {
		/* Complete the fwait alone; the next exit reports the rest. */
		rc = decode(&d, insn, len, st->code_bits, false);
		if (!rc)
			rc = execute(st, &d, ops, opaque);
	}
	return rc;
}

const char *x86_emulate_name(const uint8_t *insn, size_t len)
{
	const struct op_info *info;
	struct x86_insn d;

	/* No mode here: assume 64-bit, where most exits come from. */
	if (!insn || decode(&d, insn, len, 64, true))
		return "unknown";
	info = &op_info[d.op];
	if (d.wait_len && info->wait_name)
		return info->wait_name;
	if ((d.rex & REX_W) && info->wide_name)
		return info->wide_name;
	return info->name;
}
