// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The vCPUs' and the in-kernel devices' state for save/restore (issue 15),
 * through KVM's x86 ioctls (Documentation/virt/kvm/api.rst): per vCPU its
 * registers, segment and control registers (SREGS2 where KVM has it, which
 * carries the PAE PDPTRs), FPU/SSE/AVX (XSAVE2, XSAVE or FPU, whichever
 * KVM offers), XCR0, the MSRs below that KVM reports, the LAPIC, the MP
 * state, pending events and debug registers, and the TSC frequency; for the
 * VM the PIC pair and IOAPIC, and kvmclock. The PIT is its class's
 * (vmm/hw/pit.c).
 *
 * Order on load follows what each piece depends on (QEMU does the same):
 * TSC frequency before the TSC MSR, SREGS (APIC base) before MSRs and the
 * LAPIC, the TSC deadline again after the LAPIC (loading the LAPIC stops
 * its timer), events last.
 *
 * PVM hosts (vm->pvm): KVM_GET_FPU returns zeros there and KVM_SET_FPU is
 * dropped (include/vmkit/vm.h, fx_shadow). What the monitor keeps instead,
 * the shadow of the x87/SSE state for the instructions it completes, is
 * saved and restored; the guest's live FPU registers are not reachable.
 *
 * None of this can run without /dev/kvm: it is written from the API
 * documentation and not yet run under KVM.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/kvm.h>

#include "vmkit/savestate.h"
#include "vmkit/vm.h"
#include "vmkit/x86.h"

#define MSR_IA32_TSC		0x10
#define MSR_IA32_TSC_DEADLINE	0x6e0
#define MAX_MSRS		128

/*
 * The MSRs worth carrying, as QEMU picks them (target/i386/kvm/kvm.c,
 * kvm_put_msrs), kept only where KVM_GET_MSR_INDEX_LIST names them: EFER
 * and APIC base travel in SREGS, the MTRRs and PAT for the guest's cache
 * attributes, the syscall MSRs, kvmclock and the paravirtual MSRs.
 */
static const uint32_t wanted[] = {
	MSR_IA32_TSC, 0x3b /* TSC_ADJUST */, 0x48 /* SPEC_CTRL */,
	0x174, 0x175, 0x176 /* SYSENTER_CS/ESP/EIP */, 0x17a /* MCG_STATUS */,
	0x1a0 /* MISC_ENABLE */, 0x277 /* PAT */, 0x2ff /* MTRRdefType */,
	0x250, 0x258, 0x259, 0x268, 0x269, 0x26a, 0x26b, 0x26c, 0x26d, 0x26e, 0x26f,
	0x200, 0x201, 0x202, 0x203, 0x204, 0x205, 0x206, 0x207,
	0x208, 0x209, 0x20a, 0x20b, 0x20c, 0x20d, 0x20e, 0x20f,
	0xda0 /* XSS */, 0xc0000081, 0xc0000082, 0xc0000083, 0xc0000084 /* STAR..FMASK */,
	0xc0000102 /* KERNEL_GS_BASE */, 0xc0000103 /* TSC_AUX */,
	0x11, 0x12 /* kvmclock, old */, 0x4b564d00, 0x4b564d01 /* kvmclock */,
	0x4b564d02 /* ASYNC_PF_EN */, 0x4b564d03 /* STEAL_TIME */, 0x4b564d04 /* PV_EOI_EN */,
	0x4b564d06 /* ASYNC_PF_INT */, MSR_IA32_TSC_DEADLINE,
};

struct msrs {
	struct kvm_msrs h;
	struct kvm_msr_entry e[MAX_MSRS];
};

/* Which of wanted[] this host's KVM saves and restores; their count. */
static unsigned int msr_list(struct vm *vm, struct msrs *m)
{
	struct kvm_msr_list probe = { .nmsrs = 0 }, *l;
	unsigned int i, j, n = 0;

	memset(m, 0, sizeof(*m));
	if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) == 0 || errno != E2BIG ||
	    !probe.nmsrs)
		return 0;
	l = calloc(1, sizeof(*l) + probe.nmsrs * sizeof(uint32_t));
	if (!l)
		return 0;
	l->nmsrs = probe.nmsrs;
	if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, l) == 0)
		for (i = 0; i < ARRAY_SIZE(wanted); i++)
			for (j = 0; j < l->nmsrs; j++)
				if (l->indices[j] == wanted[i] && n < MAX_MSRS)
					m->e[n++].index = wanted[i];
	free(l);
	m->h.nmsrs = n;
	return n;
}

static bool has(struct vm *vm, long cap)
{
	return ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, cap) > 0;
}

/* Bytes of KVM's XSAVE area: XSAVE2's size, 4096 for XSAVE, 0 for none. */
static size_t xsave_size(struct vm *vm)
{
	int n = ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);

	if (n > (int)sizeof(struct kvm_xsave))
		return n;
	return has(vm, KVM_CAP_XSAVE) ? sizeof(struct kvm_xsave) : 0;
}

/* One ioctl's struct as a bytes field; a failure fails the whole save. */
static void get(struct vcpu *v, struct ss_writer *w, unsigned long req, const char *name,
		void *buf, size_t len, const char *what)
{
	if (ioctl(v->fd, req, buf) < 0) {
		ss_fail(w, -errno, what);
		return;
	}
	ss_put_bytes(w, name, buf, len);
}

static void save_fpu(struct vcpu *v, struct ss_writer *w)
{
	size_t n = xsave_size(v->vm);
	struct kvm_fpu fpu;
	void *x;

	if (v->fx_shadow)
		ss_put_bytes(w, "fx-shadow", v->fx_shadow, 512);
	if (!n) {
		get(v, w, KVM_GET_FPU, "fpu", &fpu, sizeof(fpu), "vCPU: KVM_GET_FPU");
		return;
	}
	x = calloc(1, n);
	if (!x) {
		ss_fail(w, -ENOMEM, "vCPU: XSAVE area");
		return;
	}
	get(v, w, n > sizeof(struct kvm_xsave) ? KVM_GET_XSAVE2 : KVM_GET_XSAVE, "xsave", x, n,
	    "vCPU: KVM_GET_XSAVE");
	free(x);
}

static void save_msrs(struct vcpu *v, struct ss_writer *w)
{
	struct msrs m;
	int n;

	if (!msr_list(v->vm, &m))
		return;
	n = ioctl(v->fd, KVM_GET_MSRS, &m);
	if (n < 0) {
		ss_fail(w, -errno, "vCPU: KVM_GET_MSRS");
		return;
	}
	/* n: the entries read, up to the first KVM could not; those are what we carry. */
	ss_put_bytes(w, "msrs", m.e, n * sizeof(m.e[0]));
}

/* Section "cpu", instance = vCPU index, version 1. The vCPU is stopped (VM paused). */
void x86_vcpu_state_save(struct vcpu *v, struct ss_writer *w)
{
	struct kvm_sregs2 sregs2;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	struct kvm_xcrs xcrs;
	struct kvm_lapic_state lapic;
	struct kvm_mp_state mp;
	struct kvm_vcpu_events ev;
	struct kvm_debugregs dr;
	int khz;

	ss_begin(w, "cpu", v->id, 1);
	ss_put_u64(w, "apic-id", v->apic_id);
	get(v, w, KVM_GET_REGS, "regs", &regs, sizeof(regs), "vCPU: KVM_GET_REGS");
	if (has(v->vm, KVM_CAP_SREGS2))
		get(v, w, KVM_GET_SREGS2, "sregs2", &sregs2, sizeof(sregs2), "vCPU: KVM_GET_SREGS2");
	else
		get(v, w, KVM_GET_SREGS, "sregs", &sregs, sizeof(sregs), "vCPU: KVM_GET_SREGS");
	save_fpu(v, w);
	if (has(v->vm, KVM_CAP_XCRS))
		get(v, w, KVM_GET_XCRS, "xcrs", &xcrs, sizeof(xcrs), "vCPU: KVM_GET_XCRS");
	save_msrs(v, w);
	get(v, w, KVM_GET_LAPIC, "lapic", &lapic, sizeof(lapic), "vCPU: KVM_GET_LAPIC");
	get(v, w, KVM_GET_MP_STATE, "mp-state", &mp, sizeof(mp), "vCPU: KVM_GET_MP_STATE");
	get(v, w, KVM_GET_VCPU_EVENTS, "events", &ev, sizeof(ev), "vCPU: KVM_GET_VCPU_EVENTS");
	if (has(v->vm, KVM_CAP_DEBUGREGS))
		get(v, w, KVM_GET_DEBUGREGS, "debugregs", &dr, sizeof(dr), "vCPU: KVM_GET_DEBUGREGS");
	khz = ioctl(v->fd, KVM_GET_TSC_KHZ, 0);
	ss_put_u64(w, "tsc-khz", khz > 0 ? khz : 0);
	ss_end(w);
}

/* ---- load ---- */

/* A bytes field of exactly the struct's size into buf, then the ioctl; absent is fine if optional. */
static int set(struct vcpu *v, const struct ss_section *s, unsigned long req, const char *name,
	       void *buf, size_t len, bool optional, struct vk_err *err)
{
	const uint8_t *p;
	size_t n;

	if (ss_get_blob(s, name, &p, &n, err))
		return optional ? 0 : err->code;
	if (n != len)
		return vk_fail(err, -EINVAL, "state of cpu %u: %s is %zu bytes, this KVM's %zu",
			       v->id, name, n, len);
	memcpy(buf, p, len);
	if (ioctl(v->fd, req, buf) < 0)
		return vk_fail(err, -errno, "vCPU %u: restoring %s: %s", v->id, name,
			       strerror(errno));
	return 0;
}

/* A host without SREGS2 takes the same registers through SREGS (no PDPTRs). */
static int set_sregs(struct vcpu *v, const struct ss_section *s, struct vk_err *err)
{
	struct kvm_sregs2 s2;
	struct kvm_sregs s1 = { 0 };
	struct vk_err e2 = { 0 };

	if (ss_get_bytes(s, "sregs2", &s2, sizeof(s2), &e2))
		return set(v, s, KVM_SET_SREGS, "sregs", &s1, sizeof(s1), false, err);
	if (has(v->vm, KVM_CAP_SREGS2) && ioctl(v->fd, KVM_SET_SREGS2, &s2) == 0)
		return 0;
	s1.cs = s2.cs, s1.ds = s2.ds, s1.es = s2.es, s1.fs = s2.fs, s1.gs = s2.gs, s1.ss = s2.ss;
	s1.tr = s2.tr, s1.ldt = s2.ldt, s1.gdt = s2.gdt, s1.idt = s2.idt;
	s1.cr0 = s2.cr0, s1.cr2 = s2.cr2, s1.cr3 = s2.cr3, s1.cr4 = s2.cr4, s1.cr8 = s2.cr8;
	s1.efer = s2.efer, s1.apic_base = s2.apic_base;
	if (ioctl(v->fd, KVM_SET_SREGS, &s1) < 0)
		return vk_fail(err, -errno, "vCPU %u: restoring sregs: %s", v->id, strerror(errno));
	return 0;
}

static int set_fpu(struct vcpu *v, const struct ss_section *s, struct vk_err *err)
{
	size_t n = xsave_size(v->vm), len;
	struct kvm_fpu fpu;
	const uint8_t *p;
	void *x;
	int r;

	if (v->fx_shadow && !ss_get_blob(s, "fx-shadow", &p, &len, err) && len == 512)
		memcpy(v->fx_shadow, p, 512);
	if (ss_get_blob(s, "xsave", &p, &len, err))
		return set(v, s, KVM_SET_FPU, "fpu", &fpu, sizeof(fpu), false, err);
	if (!n || len > n || len < sizeof(struct kvm_xsave))
		return vk_fail(err, -EINVAL, "state of cpu %u: an XSAVE area of %zu bytes, this host's "
			       "KVM takes %zu (CPU features differ)", v->id, len, n);
	x = calloc(1, n);	/* what the saving host did not have stays in its init state */
	if (!x)
		return vk_fail(err, -ENOMEM, "out of memory");
	memcpy(x, p, len);
	r = ioctl(v->fd, KVM_SET_XSAVE, x) < 0 ? -errno : 0;
	free(x);
	return r ? vk_fail(err, r, "vCPU %u: restoring xsave: %s", v->id, strerror(-r)) : 0;
}

static int set_msrs(struct vcpu *v, const struct ss_section *s, bool deadline_only,
		    struct vk_err *err)
{
	struct msrs m = { 0 };
	const uint8_t *p;
	size_t len, n, i, k = 0;
	int r;

	if (ss_get_blob(s, "msrs", &p, &len, err))
		return 0;	/* a host that listed none */
	if (len % sizeof(m.e[0]) || len / sizeof(m.e[0]) > MAX_MSRS)
		return vk_fail(err, -EINVAL, "state of cpu %u: MSR list damaged", v->id);
	n = len / sizeof(m.e[0]);
	for (i = 0; i < n; i++) {
		memcpy(&m.e[k], p + i * sizeof(m.e[0]), sizeof(m.e[0]));
		m.e[k].reserved = 0;
		if (!deadline_only || m.e[k].index == MSR_IA32_TSC_DEADLINE)
			k++;
	}
	m.h.nmsrs = k;
	r = ioctl(v->fd, KVM_SET_MSRS, &m);
	if (r < 0)
		return vk_fail(err, -errno, "vCPU %u: KVM_SET_MSRS: %s", v->id, strerror(errno));
	if ((size_t)r < k)
		return vk_fail(err, -EINVAL, "vCPU %u: this host's KVM refuses MSR %#x", v->id,
			       m.e[r].index);
	return 0;
}

/* The guest's TSC runs at the saved rate, or the restore says why it cannot. */
static int set_tsc_khz(struct vcpu *v, const struct ss_section *s, struct vk_err *err)
{
	uint64_t khz;
	int now;

	if (ss_get_u64(s, "tsc-khz", &khz, err) || !khz)
		return 0;
	now = ioctl(v->fd, KVM_GET_TSC_KHZ, 0);
	if (now > 0 && (uint64_t)now == khz)
		return 0;
	if (khz > UINT32_MAX || !has(v->vm, KVM_CAP_TSC_CONTROL) ||
	    ioctl(v->fd, KVM_SET_TSC_KHZ, (unsigned long)khz) < 0)
		return vk_fail(err, -EINVAL, "vCPU %u: the guest's TSC ran at %llu kHz, this host's "
			       "at %d kHz and KVM cannot scale it", v->id, (unsigned long long)khz,
			       now);
	return 0;
}

static int set_events(struct vcpu *v, const struct ss_section *s, struct vk_err *err)
{
	struct kvm_vcpu_events ev;
	int r = ss_get_bytes(s, "events", &ev, sizeof(ev), err);

	if (r)
		return r;
	/* As read, plus the parts KVM_GET always fills: NMI pending and the SIPI vector. */
	ev.flags &= KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM;
	ev.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
	if (ioctl(v->fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
		return vk_fail(err, -errno, "vCPU %u: restoring events: %s", v->id, strerror(errno));
	return 0;
}

int x86_vcpu_state_load(struct vcpu *v, const struct ss_reader *r, struct vk_err *err)
{
	const struct ss_section *s = ss_need(r, "cpu", v->id, err);
	struct kvm_regs regs;
	struct kvm_xcrs xcrs;
	struct kvm_lapic_state lapic;
	struct kvm_mp_state mp;
	struct kvm_debugregs dr;
	int ret;

	if (!s)
		return err->code;
	ret = set_tsc_khz(v, s, err);
	if (!ret)
		ret = set(v, s, KVM_SET_REGS, "regs", &regs, sizeof(regs), false, err);
	if (!ret)
		ret = set_fpu(v, s, err);
	if (!ret && has(v->vm, KVM_CAP_XCRS))
		ret = set(v, s, KVM_SET_XCRS, "xcrs", &xcrs, sizeof(xcrs), true, err);
	if (!ret)
		ret = set_sregs(v, s, err);
	if (!ret)
		ret = set_msrs(v, s, false, err);
	if (!ret)
		ret = set(v, s, KVM_SET_MP_STATE, "mp-state", &mp, sizeof(mp), false, err);
	if (!ret)
		ret = set(v, s, KVM_SET_LAPIC, "lapic", &lapic, sizeof(lapic), false, err);
	if (!ret)
		ret = set_msrs(v, s, true, err);
	if (!ret)
		ret = set_events(v, s, err);
	if (!ret && has(v->vm, KVM_CAP_DEBUGREGS))
		ret = set(v, s, KVM_SET_DEBUGREGS, "debugregs", &dr, sizeof(dr), true, err);
	return ret;
}

/* ---- the VM's in-kernel state: PIC pair, IOAPIC, kvmclock ---- */

static const char *const chip_names[] = { "pic-master", "pic-slave", "ioapic" };

void x86_vm_state_save(struct vm *vm, struct ss_writer *w)
{
	struct kvm_irqchip chip;
	struct kvm_clock_data clock = { 0 };
	unsigned int i;

	ss_begin(w, "irqchip", 0, 1);
	for (i = 0; i < 3; i++) {
		memset(&chip, 0, sizeof(chip));
		chip.chip_id = i;
		if (ioctl(vm->vm_fd, KVM_GET_IRQCHIP, &chip) < 0)
			ss_fail(w, -errno, "KVM_GET_IRQCHIP");
		ss_put_bytes(w, chip_names[i], &chip, sizeof(chip));
	}
	ss_end(w);
	if (ioctl(vm->vm_fd, KVM_GET_CLOCK, &clock) < 0)
		ss_fail(w, -errno, "KVM_GET_CLOCK");
	ss_begin(w, "clock", 0, 1);
	ss_put_u64(w, "kvmclock-ns", clock.clock);
	ss_end(w);
}

int x86_vm_state_load(struct vm *vm, const struct ss_reader *r, struct vk_err *err)
{
	const struct ss_section *s = ss_need(r, "irqchip", 0, err);
	struct kvm_irqchip chip;
	struct kvm_clock_data clock = { 0 };
	uint64_t ns = 0;
	unsigned int i;
	int ret = 0;

	for (i = 0; s && !ret && i < 3; i++) {
		ret = ss_get_bytes(s, chip_names[i], &chip, sizeof(chip), err);
		if (!ret && chip.chip_id != i)
			ret = vk_fail(err, -EINVAL, "state of irqchip: %s damaged", chip_names[i]);
		if (!ret && ioctl(vm->vm_fd, KVM_SET_IRQCHIP, &chip) < 0)
			ret = vk_fail(err, -errno, "KVM_SET_IRQCHIP %s: %s", chip_names[i],
				      strerror(errno));
	}
	if (!s)
		return err->code;
	s = ss_need(r, "clock", 0, err);
	if (!s)
		return err->code;
	if (!ret)
		ret = ss_get_u64(s, "kvmclock-ns", &ns, err);
	clock.clock = ns;
	if (!ret && ioctl(vm->vm_fd, KVM_SET_CLOCK, &clock) < 0)
		ret = vk_fail(err, -errno, "KVM_SET_CLOCK: %s", strerror(errno));
	return ret;
}
