// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The CPUID each vCPU sees: KVM's supported set, with the APIC ID and
 * topology of that vCPU, and for --cpu baseline (the default on PVM hosts)
 * only the features a software-emulated CPL0 can execute. PVM's emulator
 * refuses xsave/xrstor, cmpxchg16b, popcnt, SSE4/AVX and friends: a guest
 * that is told they exist uses them in its kernel and stops.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/kvm.h>

#include "vmkit/vm.h"
#include "vmkit/x86.h"

#define MAX_CPUID_ENTRIES 256

/* Leaf 1 ECX bits a baseline guest may see (like QEMU's kvm64 + sse3). */
#define L1_ECX_BASELINE ((1u << 0) /* sse3 */ | (1u << 21) /* x2apic */ | \
			 (1u << 24) /* tsc-deadline */ | (1u << 31) /* hypervisor */)
/* Leaf 1 EDX: everything up to SSE2 is fine to keep as KVM reports it. */
#define L1_EDX_BASELINE 0xffffffffu
/* Leaf 7 EBX: erms only (rep movsb is one instruction to emulate, not a loop). */
#define L7_EBX_BASELINE ((1u << 9) /* erms */)
#define L7_EDX_BASELINE ((1u << 4) /* fsrm */)
/* 0x80000001 ECX: lahf_lm; EDX: syscall, nx, rdtscp, lm, 1g pages. */
#define X1_ECX_BASELINE ((1u << 0))
#define X1_EDX_BASELINE ((1u << 11) | (1u << 20) | (1u << 26) | (1u << 27) | (1u << 29) | \
			 0x0183f3ffu /* the leaf-1 EDX mirror bits AMD defines */)

static unsigned int bits_for(unsigned int n)
{
	unsigned int b = 0;

	while ((1u << b) < n)
		b++;
	return b;
}

uint32_t x86_apic_id(const struct vm *vm, unsigned int cpu)
{
	const struct vm_topology *t = &vm->cfg->topo;
	unsigned int tb = bits_for(t->threads), cb = bits_for(t->cores);
	unsigned int thread = cpu % t->threads;
	unsigned int core = (cpu / t->threads) % t->cores;
	unsigned int socket = cpu / (t->threads * t->cores);

	return (socket << (cb + tb)) | (core << tb) | thread;
}

/*
 * KVM lists only sub-leaf 0 of the extended topology leaves (0xb, 0x1f);
 * a guest that finds no core level counts every vCPU as its own socket.
 * Replace them with the SMT, core and terminating levels that topology()
 * fills in per vCPU.
 */
static void add_topology_leaves(struct kvm_cpuid2 *c)
{
	static const uint32_t leaves[] = { 0xb, 0x1f };
	unsigned int i, o = 0, l, sub;

	for (i = 0; i < c->nent; i++)
		if (c->entries[i].function != 0xb && c->entries[i].function != 0x1f)
			c->entries[o++] = c->entries[i];
	for (l = 0; l < ARRAY_SIZE(leaves); l++)
		for (sub = 0; sub < 3 && o < MAX_CPUID_ENTRIES; sub++)
			c->entries[o++] = (struct kvm_cpuid_entry2){
				.function = leaves[l], .index = sub,
				.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
			};
	c->nent = o;
}

/*
 * What KVM emulates but KVM_GET_SUPPORTED_CPUID leaves for the VMM to add, as
 * QEMU adds them: the TSC-deadline LAPIC timer (emulated by the in-kernel
 * LAPIC whenever KVM_CAP_TSC_DEADLINE_TIMER says so) and ARAT (the emulated
 * LAPIC timer never stops in an idle state). Without TSC-deadline, Linux
 * calibrates its LAPIC timer against the PIT and checks the two agree over
 * 100 ms; on a slow or busy host that check fails, Linux disables the LAPIC
 * timer ("APIC timer disabled due to verification failure") and ticks from
 * the PIT alone (our guest's early clock stood still on a nested KVM).
 */
static void add_emulated(struct vm *vm, struct kvm_cpuid2 *c)
{
	bool deadline = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
	unsigned int i;

	for (i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (e->function == 1 && deadline)
			e->ecx |= 1u << 24;	/* tsc-deadline */
		if (e->function == 6)
			e->eax |= 1u << 2;	/* arat */
	}
}

int x86_cpuid_init(struct vm *vm, struct vk_err *err)
{
	struct kvm_cpuid2 *c;

	c = calloc(1, sizeof(*c) + MAX_CPUID_ENTRIES * sizeof(c->entries[0]));
	if (!c)
		return vk_fail(err, -ENOMEM, "out of memory");
	c->nent = MAX_CPUID_ENTRIES;
	if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
		int e = errno;

		free(c);
		return vk_fail(err, -e, "KVM_GET_SUPPORTED_CPUID: %s", strerror(e));
	}
	add_emulated(vm, c);
	add_topology_leaves(c);
	vm->cpuid = c;
	return 0;
}

static void baseline(struct kvm_cpuid_entry2 *e)
{
	switch (e->function) {
	case 1:
		e->ecx &= L1_ECX_BASELINE;
		e->edx &= L1_EDX_BASELINE;
		break;
	case 7:
		if (e->index == 0) {
			e->eax = 0;
			e->ebx &= L7_EBX_BASELINE;
			e->edx &= L7_EDX_BASELINE;
		} else {
			e->ebx = e->edx = e->eax = 0;
		}
		e->ecx = 0;
		break;
	case 0xd:	/* XSAVE state: none without XSAVE */
	case 0x14:	/* processor trace */
	case 0x12:	/* SGX */
	case 0x19:	/* key locker */
	case 0x1d:	/* AMX tiles */
	case 0x1e:
		e->eax = e->ebx = e->ecx = e->edx = 0;
		break;
	case 0x80000001:
		e->ecx &= X1_ECX_BASELINE;
		e->edx &= X1_EDX_BASELINE;
		break;
	}
}

/* Topology: leaf 1 counts, leaf 4 core counts, leaves 0xb/0x1f x2APIC levels. */
static void topology(const struct vm *vm, struct kvm_cpuid_entry2 *e, uint32_t apic_id)
{
	const struct vm_topology *t = &vm->cfg->topo;
	unsigned int per_pkg = t->cores * t->threads;
	unsigned int tb = bits_for(t->threads), cb = bits_for(t->cores);

	switch (e->function) {
	case 1:
		e->ebx = (e->ebx & 0x0000ffff) | (MIN(per_pkg, 255u) << 16) | (apic_id << 24);
		if (per_pkg > 1)
			e->edx |= 1u << 28;	/* HTT: more than one logical CPU per package */
		else
			e->edx &= ~(1u << 28);
		break;
	case 4:
		if ((e->eax & 0x1f) == 0)
			break;
		e->eax &= 0x3fff;
		e->eax |= ((1u << cb) - 1) << 26;
		e->eax |= ((e->eax & 0xe0) >= 0x60 ? per_pkg - 1 : t->threads - 1) << 14;
		break;
	case 0xb:
	case 0x1f:
		e->edx = apic_id;
		if (e->index == 0) {
			e->eax = tb;
			e->ebx = t->threads;
			e->ecx = 0 | (1u << 8);		/* SMT level */
		} else if (e->index == 1) {
			e->eax = tb + cb;
			e->ebx = per_pkg;
			e->ecx = 1 | (2u << 8);		/* core level */
		} else {
			e->eax = e->ebx = 0;
			e->ecx = e->index;		/* invalid level: end of list */
		}
		break;
	}
}

/* The CPUID table of one vCPU, set with KVM_SET_CPUID2. */
static int set_cpuid(struct vcpu *v, struct vk_err *err)
{
	struct vm *vm = v->vm;
	size_t sz = sizeof(*vm->cpuid) + vm->cpuid->nent * sizeof(vm->cpuid->entries[0]);
	_cleanup_free_ struct kvm_cpuid2 *c = malloc(sz);
	bool base = vm->cfg->cpu_model == CPU_MODEL_BASELINE;
	unsigned int i;

	if (!c)
		return vk_fail(err, -ENOMEM, "out of memory");
	memcpy(c, vm->cpuid, sz);
	for (i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		if (base)
			baseline(e);
		if (e->function == 0xa)
			e->eax = e->ebx = e->ecx = e->edx = 0;	/* no PMU */
		if (e->function == 1)
			e->ecx |= 1u << 31;			/* hypervisor present */
		topology(vm, e, v->apic_id);
	}
	if (ioctl(v->fd, KVM_SET_CPUID2, c) < 0)
		return vk_fail(err, -errno, "KVM_SET_CPUID2: %s", strerror(errno));
	return 0;
}

/* MSRs a firmware would leave set: fast strings, write-back default memory type. */
static int set_msrs(struct vcpu *v, struct vk_err *err)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[2];
	} m = {
		.hdr.nmsrs = 2,
		.e = { { .index = 0x1a0, .data = 1 },			/* IA32_MISC_ENABLE */
		       { .index = 0x2ff, .data = (1u << 11) | 6 } },	/* MTRRdefType: on, WB */
	};
	int r = ioctl(v->fd, KVM_SET_MSRS, &m);

	/* A host that refuses one of them is not fatal: guests cope with defaults. */
	(void)r;
	(void)err;
	return 0;
}

/* LINT0 as ExtINT (the 8259 passes through) and LINT1 as NMI, as a BIOS leaves them. */
static int set_lapic(struct vcpu *v, struct vk_err *err)
{
	struct kvm_lapic_state l;
	uint32_t lvt;

	if (ioctl(v->fd, KVM_GET_LAPIC, &l) < 0)
		return vk_fail(err, -errno, "KVM_GET_LAPIC: %s", strerror(errno));
	memcpy(&lvt, l.regs + 0x350, 4);
	lvt = (lvt & ~0x700u & ~0x10000u) | (7u << 8);	/* ExtINT, unmasked */
	memcpy(l.regs + 0x350, &lvt, 4);
	memcpy(&lvt, l.regs + 0x360, 4);
	lvt = (lvt & ~0x700u & ~0x10000u) | (4u << 8);	/* NMI, unmasked */
	memcpy(l.regs + 0x360, &lvt, 4);
	if (ioctl(v->fd, KVM_SET_LAPIC, &l) < 0)
		return vk_fail(err, -errno, "KVM_SET_LAPIC: %s", strerror(errno));
	return 0;
}

int x86_vcpu_cpu_init(struct vcpu *v, struct vk_err *err)
{
	int r = set_cpuid(v, err);

	if (!r)
		r = set_msrs(v, err);
	if (!r)
		r = set_lapic(v, err);
	return r;
}
