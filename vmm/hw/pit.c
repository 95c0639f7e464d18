// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The i8254 PIT is KVM's in-kernel one, created when the guest first
 * touches it rather than with the VM. Creating it and tearing it down at
 * exit costs ~16 ms of a VM's life on some hosts (measured on PVM), and
 * many guests never use it: Linux with a TSC-deadline LAPIC timer and
 * kvmclock only writes it once, to switch it off.
 *
 * Until then its ports (0x40-0x43, 0x61) exit to us. The first access
 * creates the in-kernel PIT, which from then on serves every access in the
 * kernel, and is itself applied to the new PIT's (reset) state through
 * KVM_GET_PIT2/KVM_SET_PIT2, with the 8254's rules for that one access. An
 * access that raced with the creation on another vCPU is applied the same way.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/kvm.h>

#include "vmkit/device.h"
#include "vmkit/hw.h"
#include "vmkit/savestate.h"
#include "vmkit/vm.h"

#define PIT_BASE	0x40
#define PIT_CONTROL	3
#define SPEAKER_PORT	0x61
#define RW_LSB		1
#define RW_MSB		2
#define RW_WORD0	3
#define RW_WORD1	4

struct pit {
	struct vm *vm;
	pthread_mutex_t lock;
	bool created;
	int error;		/* creation failed: the ports stay ours, reading all ones */
};

static int create(struct pit *p)
{
	struct kvm_pit_config cfg = { .flags = KVM_PIT_SPEAKER_DUMMY };

	if (p->created || p->error)
		return p->error;
	if (ioctl(p->vm->vm_fd, KVM_CREATE_PIT2, &cfg) < 0)
		p->error = -errno;
	else
		p->created = true;
	return p->error;
}

/* The 8254's control word: counter latch, or a new mode for one counter. */
static void control_write(struct kvm_pit_state2 *st, uint8_t val)
{
	struct kvm_pit_channel_state *c;
	unsigned int access = (val >> 4) & 3;

	if ((val >> 6) == 3)
		return;		/* read-back: nothing latched yet on a fresh PIT matters */
	c = &st->channels[val >> 6];
	if (!access) {
		c->latched_count = c->count;
		c->count_latched = c->rw_mode;
		return;
	}
	c->rw_mode = c->read_state = c->write_state = access;
	c->mode = (val >> 1) & 7;
	if (c->mode > 5)
		c->mode -= 4;
	c->bcd = val & 1;
}

/* A counter's initial count, byte by byte as its access mode says. */
static void counter_write(struct kvm_pit_channel_state *c, uint8_t val)
{
	switch (c->write_state) {
	case RW_MSB:
		c->count = val << 8;
		break;
	case RW_WORD0:
		c->write_latch = val;
		c->write_state = RW_WORD1;
		return;
	case RW_WORD1:
		c->count = c->write_latch | (val << 8);
		c->write_state = RW_WORD0;
		break;
	default:
		c->count = val;
		break;
	}
	if (!c->count)
		c->count = 0x10000;
}

static void replay_write(struct pit *p, unsigned int port, uint8_t val)
{
	struct kvm_pit_state2 st;

	if (ioctl(p->vm->vm_fd, KVM_GET_PIT2, &st) < 0)
		return;
	if (port == SPEAKER_PORT)
		st.channels[2].gate = val & 1;	/* the speaker bit has no sound here */
	else if (port - PIT_BASE == PIT_CONTROL)
		control_write(&st, val);
	else
		counter_write(&st.channels[port - PIT_BASE], val);
	ioctl(p->vm->vm_fd, KVM_SET_PIT2, &st);
}

static void pit_read(void *dev, uint64_t off, void *data, unsigned int len)
{
	struct pit *p = dev;

	pthread_mutex_lock(&p->lock);
	/*
	 * A counter just loaded with its reset count (65536) reads 0; port 0x61
	 * reads gate 2 off and OUT2 low. Later reads go to the kernel's PIT.
	 */
	memset(data, create(p) ? 0xff : 0, len);
	pthread_mutex_unlock(&p->lock);
}

static void pit_write(void *dev, uint64_t off, const void *data, unsigned int len)
{
	struct pit *p = dev;

	pthread_mutex_lock(&p->lock);
	if (!create(p))
		replay_write(p, len && off < 4 ? PIT_BASE + off : SPEAKER_PORT, *(const uint8_t *)data);
	pthread_mutex_unlock(&p->lock);
}

/* Port 0x61 is its own range: offset 0 of it means the speaker port. */
static void speaker_write(void *dev, uint64_t off, const void *data, unsigned int len)
{
	pit_write(dev, 4, data, len);
}

static const struct io_ops pit_ops = { .read = pit_read, .write = pit_write };
static const struct io_ops speaker_ops = { .read = pit_read, .write = speaker_write };

int pit_create(struct vm *vm, struct vk_err *err)
{
	struct pit *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return vk_fail(err, -ENOMEM, "out of memory");
	p->vm = vm;
	pthread_mutex_init(&p->lock, NULL);
	r = io_bus_register(&vm->pio, PIT_BASE, 4, &pit_ops, p);
	if (!r)
		r = io_bus_register(&vm->pio, SPEAKER_PORT, 1, &speaker_ops, p);
	if (r) {
		free(p);
		return vk_fail(err, r, "pit: cannot claim ports 0x40-0x43, 0x61");
	}
	vm->pit = p;
	return 0;
}

void pit_destroy(struct vm *vm)
{
	struct pit *p = vm->pit;

	if (!p)
		return;
	pthread_mutex_destroy(&p->lock);
	free(p);
	vm->pit = NULL;
}

/*
 * Version 1: whether the guest has woken the in-kernel PIT, and if so its
 * state (KVM_GET_PIT2: counters, modes, latches, the speaker gate). A PIT
 * never touched stays uncreated on the restored VM too. KVM only: not yet
 * run under KVM.
 */
static void pit_save(struct vm *vm, struct ss_writer *w)
{
	struct pit *p = vm->pit;
	struct kvm_pit_state2 st = { 0 };

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	ss_begin(w, "pit", 0, 1);
	ss_put_u64(w, "created", p->created);
	if (p->created) {
		if (ioctl(vm->vm_fd, KVM_GET_PIT2, &st) < 0)
			ss_fail(w, -errno, "pit: KVM_GET_PIT2");
		ss_put_bytes(w, "pit2", &st, sizeof(st));
	}
	ss_end(w);
	pthread_mutex_unlock(&p->lock);
}

static int pit_load(struct vm *vm, const struct ss_reader *r, struct vk_err *err)
{
	const struct ss_section *s = ss_need(r, "pit", 0, err);
	struct kvm_pit_state2 st;
	struct pit *p = vm->pit;
	uint64_t created;
	int ret;

	if (!s)
		return err->code;
	ret = ss_get_u64(s, "created", &created, err);
	if (ret || !created)
		return ret;
	ret = ss_get_bytes(s, "pit2", &st, sizeof(st), err);
	if (ret)
		return ret;
	pthread_mutex_lock(&p->lock);
	ret = create(p);
	if (!ret && ioctl(vm->vm_fd, KVM_SET_PIT2, &st) < 0)
		ret = -errno;
	pthread_mutex_unlock(&p->lock);
	return ret ? vk_fail(err, ret, "pit: restoring the in-kernel PIT: %s", strerror(-ret)) : 0;
}

const struct vm_device_class pit_class = {
	.name = "pit", .create = pit_create, .destroy = pit_destroy,
	.save = pit_save, .load = pit_load,
};
