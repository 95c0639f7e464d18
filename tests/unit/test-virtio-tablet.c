// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-tablet (vmm/virtio/tablet.c, input.c) on a VM without KVM, driven
 * as Linux's virtio_pci_modern and virtio_input drivers drive it: the
 * function found through 0xcf8/0xcfc, its vendor capabilities walked to
 * the common, notify, ISR and device windows in BAR 0, features and
 * status, the configuration read with the select/subsel protocol as
 * virtinput_probe reads it (name, ids, event bits, the axes' ranges),
 * queues set up in guest RAM, event buffers posted and notified by MMIO
 * writes; then pointer events through the input router (input_abs, as the
 * VNC link sends them) read back from the used ring. Interrupts are INTx
 * (no MSI-X enabled), recorded by wrapping vm_set_irq. The management
 * layer's tablet: key is tested in test-tablet-def.c.
 */
#include <linux/input.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "vmkit/device.h"
#include "vmkit/input.h"
#include "vmkit/pci.h"
#include "vmkit/virtio-input.h"
#include "vmkit/vm.h"

#define RAM_SIZE	(1u << 20)
#define QSIZE		64
#define DESC(q)		(0x10000u + (q) * 0x4000u)
#define AVAIL(q)	(DESC(q) + 0x1000u)
#define USED(q)		(DESC(q) + 0x2000u)
#define BUFS		0x40000u

/* virtio-pci common configuration offsets */
#define CC_DFSELECT	0
#define CC_DF		4
#define CC_GFSELECT	8
#define CC_GF		12
#define CC_STATUS	20
#define CC_Q_SELECT	22
#define CC_Q_SIZE	24
#define CC_Q_ENABLE	28
#define CC_Q_NOFF	30
#define CC_Q_DESC	32
#define CC_Q_AVAIL	40
#define CC_Q_USED	48

extern const struct vm_device_class pci_host_class, virtio_tablet_class;

static unsigned int irq_rises;
static bool irq_level[64];

void __wrap_vm_set_irq(struct vm *vm, unsigned int gsi, bool level);
void __wrap_vm_set_irq(struct vm *vm, unsigned int gsi, bool level)
{
	if (gsi < 64) {
		irq_rises += level && !irq_level[gsi];
		irq_level[gsi] = level;
	}
}

static struct vm_config cfg;
static struct vm *vm;
static uint8_t *ram;
static unsigned int slot;
static uint64_t common, notify, isr, device;
static uint32_t notify_mult;
static uint16_t avail_idx[2], used_seen[2];

/* ---- the VM and its buses ---- */

static void outl(uint16_t port, uint32_t v) { io_bus_write(&vm->pio, port, &v, 4); }
static uint32_t inl(uint16_t port) { uint32_t v = ~0u; io_bus_read(&vm->pio, port, &v, 4); return v; }

static uint32_t cfg_read(unsigned int off)
{
	outl(0xcf8, 0x80000000u | slot << 11 | (off & 0xfc));
	return inl(0xcfc) >> 8 * (off & 3);
}

static void cfg_write(unsigned int off, uint32_t v)
{
	outl(0xcf8, 0x80000000u | slot << 11 | (off & 0xfc));
	outl(0xcfc, v);
}

static uint64_t rd(uint64_t a, unsigned int len)
{
	uint64_t v = 0;

	io_bus_read(&vm->mmio, a, &v, len);
	return v;
}

static void wr(uint64_t a, uint64_t v, unsigned int len)
{
	io_bus_write(&vm->mmio, a, &v, len);
}

static int setup(void **state)
{
	struct vk_err err = { 0 };

	ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(ram != MAP_FAILED);
	vm = calloc(1, sizeof(*vm));
	memset(&cfg, 0, sizeof(cfg));
	cfg.cpus = 1;
	cfg.mem_bytes = RAM_SIZE;
	cfg.tablet = true;
	vm->cfg = &cfg;
	vm->kvm_fd = vm->vm_fd = vm->stop_efd = -1;
	vm->ram = ram;
	vm->ram_size = RAM_SIZE;
	vm->mem[0] = (struct mem_region){ 0, RAM_SIZE, ram };
	vm->nr_mem = 1;
	vm->low_mem_top = RAM_SIZE;
	pthread_mutex_init(&vm->lock, NULL);
	io_bus_init(&vm->pio);
	io_bus_init(&vm->mmio);
	assert_int_equal(input_router_new(vm, &err), 0);
	assert_int_equal(pci_host_class.create(vm, &err), 0);
	assert_int_equal(virtio_tablet_class.create(vm, &err), 0);
	memset(avail_idx, 0, sizeof(avail_idx));
	memset(used_seen, 0, sizeof(used_seen));
	return 0;
}

static int teardown(void **state)
{
	virtio_tablet_class.destroy(vm);
	pci_host_class.destroy(vm);
	input_router_free(vm);
	io_bus_free(&vm->pio);
	io_bus_free(&vm->mmio);
	free(vm);
	munmap(ram, RAM_SIZE);
	return 0;
}

/* ---- virtio_pci_modern's probe ---- */

static void find_function(void)
{
	for (slot = 0; slot < 32; slot++)
		if (cfg_read(0) == 0x10521af4)
			break;
	assert_true(slot < 32);
	assert_int_equal(cfg_read(8) >> 8, 0x098000);		/* input controller, other */
	assert_true(cfg_read(6) & PCI_STATUS_CAP_LIST);
}

static void walk_caps(void)
{
	uint64_t bar0 = (cfg_read(0x10) & ~0xfu) | (uint64_t)cfg_read(0x14) << 32;
	unsigned int c, hops = 0;

	assert_true(bar0);
	for (c = cfg_read(0x34) & 0xfc; c && hops < 48; c = cfg_read(c + 1) & 0xfc, hops++) {
		uint32_t off;

		if ((cfg_read(c) & 0xff) != PCI_CAP_ID_VNDR)
			continue;
		assert_int_equal(cfg_read(c + 4) & 0xff, 0);	/* BAR 0 */
		off = cfg_read(c + 8);
		switch (cfg_read(c + 3) & 0xff) {
		case 1: common = bar0 + off; break;
		case 2: notify = bar0 + off; notify_mult = cfg_read(c + 16); break;
		case 3: isr = bar0 + off; break;
		case 4: device = bar0 + off; break;
		}
	}
	assert_true(common && notify && isr && device);
	cfg_write(4, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
}

static void negotiate(void)
{
	uint32_t hi;

	wr(common + CC_STATUS, 0, 1);
	wr(common + CC_STATUS, 1 | 2, 1);			/* ACKNOWLEDGE | DRIVER */
	wr(common + CC_DFSELECT, 1, 4);
	hi = rd(common + CC_DF, 4);
	assert_true(hi & 1);					/* VERSION_1 */
	wr(common + CC_GFSELECT, 1, 4);
	wr(common + CC_GF, 1, 4);
	wr(common + CC_STATUS, 1 | 2 | 8, 1);			/* FEATURES_OK */
	assert_int_equal(rd(common + CC_STATUS, 1), 1 | 2 | 8);
}

/* virtinput_cfg_select: select, subsel, then size. */
static unsigned int cfg_select(uint8_t sel, uint8_t subsel)
{
	wr(device + 0, sel, 1);
	wr(device + 1, subsel, 1);
	return rd(device + 2, 1);
}

static void read_bytes(unsigned int n, uint8_t *out)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		out[i] = rd(device + 8 + i, 1);
}

static bool bit(const uint8_t *bits, unsigned int n, unsigned int code)
{
	return code / 8 < n && (bits[code / 8] >> (code % 8) & 1);
}

static void setup_queue(unsigned int q)
{
	wr(common + CC_Q_SELECT, q, 2);
	assert_int_equal(rd(common + CC_Q_SIZE, 2), QSIZE);
	wr(common + CC_Q_DESC, DESC(q), 4);
	wr(common + CC_Q_DESC + 4, 0, 4);
	wr(common + CC_Q_AVAIL, AVAIL(q), 4);
	wr(common + CC_Q_AVAIL + 4, 0, 4);
	wr(common + CC_Q_USED, USED(q), 4);
	wr(common + CC_Q_USED + 4, 0, 4);
	wr(common + CC_Q_ENABLE, 1, 2);
	assert_int_equal(rd(common + CC_Q_ENABLE, 2), 1);
}

static void driver_ok(void)
{
	setup_queue(0);
	setup_queue(1);
	wr(common + CC_STATUS, 1 | 2 | 8 | 4, 1);
	assert_int_equal(rd(common + CC_STATUS, 1), 1 | 2 | 8 | 4);
}

static void probe(void)
{
	find_function();
	walk_caps();
	negotiate();
}

/* ---- rings ---- */

/* Post one buffer of len bytes (device-writable unless out) on queue q, descriptor i. */
static void post(unsigned int q, unsigned int i, uint32_t len, bool out)
{
	uint64_t addr = BUFS + q * 0x10000 + i * 16;
	uint16_t flags = out ? 0 : 2, next = 0;
	uint8_t *d = ram + DESC(q) + 16 * i;

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &next, 2);
	memcpy(ram + AVAIL(q) + 4 + 2 * (avail_idx[q] % QSIZE), &(uint16_t){ i }, 2);
	avail_idx[q]++;
	memcpy(ram + AVAIL(q) + 2, &avail_idx[q], 2);
}

static void kick(unsigned int q)
{
	wr(notify + q * notify_mult, q, 2);
}

static uint16_t used_idx(unsigned int q)
{
	uint16_t v;

	memcpy(&v, ram + USED(q) + 2, 2);
	return v;
}

/* The next used event, or false when there is none. */
static bool next_event(struct virtio_input_event *ev)
{
	uint32_t id, len;
	uint64_t addr;

	if (used_seen[0] == used_idx(0))
		return false;
	memcpy(&id, ram + USED(0) + 4 + 8 * (used_seen[0] % QSIZE), 4);
	memcpy(&len, ram + USED(0) + 8 + 8 * (used_seen[0] % QSIZE), 4);
	used_seen[0]++;
	assert_true(id < QSIZE);
	assert_int_equal(len, sizeof(*ev));
	memcpy(&addr, ram + DESC(0) + 16 * id, 8);
	memcpy(ev, ram + addr, sizeof(*ev));
	return true;
}

static void expect(uint16_t type, uint16_t code, int32_t value)
{
	struct virtio_input_event ev;

	assert_true(next_event(&ev));
	assert_int_equal(ev.type, type);
	assert_int_equal(ev.code, code);
	assert_int_equal((int32_t)ev.value, value);
}

static void expect_none(void)
{
	struct virtio_input_event ev;

	assert_false(next_event(&ev));
}

static void post_events(unsigned int first, unsigned int n)
{
	unsigned int i;

	for (i = first; i < first + n; i++)
		post(0, i % QSIZE, 8, false);
	kick(0);
}

static void up(void)
{
	probe();
	driver_ok();
}

/* ---- tests ---- */

/* What virtinput_probe reads, in its order. */
static void test_probe_config(void **state)
{
	uint8_t buf[128];
	uint16_t ids[4];
	uint32_t min, max;
	unsigned int n, ax;

	probe();
	n = cfg_select(VIRTIO_INPUT_CFG_ID_NAME, 0);
	assert_int_equal(n, strlen("vmkit Virtio Tablet"));
	read_bytes(n, buf);
	assert_memory_equal(buf, "vmkit Virtio Tablet", n);
	assert_int_equal(cfg_select(VIRTIO_INPUT_CFG_ID_SERIAL, 0), 0);
	assert_int_equal(cfg_select(VIRTIO_INPUT_CFG_ID_DEVIDS, 0), 8);
	read_bytes(8, (uint8_t *)ids);
	assert_int_equal(ids[0], BUS_VIRTUAL);
	assert_int_equal(cfg_select(VIRTIO_INPUT_CFG_PROP_BITS, 0), 0);

	n = cfg_select(VIRTIO_INPUT_CFG_EV_BITS, EV_KEY);
	assert_true(n > BTN_MIDDLE / 8 && n <= 128);
	memset(buf, 0, sizeof(buf));
	read_bytes(n, buf);
	assert_true(bit(buf, n, BTN_LEFT) && bit(buf, n, BTN_RIGHT) && bit(buf, n, BTN_MIDDLE));
	assert_false(bit(buf, n, BTN_SIDE) || bit(buf, n, KEY_A));

	n = cfg_select(VIRTIO_INPUT_CFG_EV_BITS, EV_REL);
	read_bytes(n, buf);
	assert_true(bit(buf, n, REL_WHEEL));
	assert_false(bit(buf, n, REL_X) || bit(buf, n, REL_Y));

	n = cfg_select(VIRTIO_INPUT_CFG_EV_BITS, EV_ABS);
	read_bytes(n, buf);
	assert_true(bit(buf, n, ABS_X) && bit(buf, n, ABS_Y));
	assert_false(bit(buf, n, ABS_Z) || bit(buf, n, ABS_MT_SLOT));

	assert_int_equal(cfg_select(VIRTIO_INPUT_CFG_EV_BITS, EV_MSC), 0);
	assert_int_equal(cfg_select(VIRTIO_INPUT_CFG_EV_BITS, EV_SW), 0);
	assert_int_equal(cfg_select(VIRTIO_INPUT_CFG_EV_BITS, EV_LED), 0);
	assert_int_equal(cfg_select(VIRTIO_INPUT_CFG_EV_BITS, EV_SND), 0);

	for (ax = ABS_X; ax <= ABS_Y; ax++) {
		assert_int_equal(cfg_select(VIRTIO_INPUT_CFG_ABS_INFO, ax), 20);
		min = rd(device + 8, 4);
		max = rd(device + 12, 4);
		assert_int_equal(min, 0);
		assert_int_equal(max, 32767);
		assert_int_equal(rd(device + 16, 4), 0);	/* fuzz */
		assert_int_equal(rd(device + 20, 4), 0);	/* flat */
	}
	assert_int_equal(cfg_select(VIRTIO_INPUT_CFG_ABS_INFO, ABS_Z), 0);
	/* Unknown selectors, and reads and writes outside the window. */
	assert_int_equal(cfg_select(0x7f, 0), 0);
	assert_int_equal(rd(device + 8, 4), 0);
	assert_int_equal(rd(device + 200, 4), 0);
	wr(device + 2, 0x55, 1);		/* size is the device's */
	assert_int_equal(rd(device + 2, 1), 0);
	wr(device + 0x800, ~0ull, 8);
	assert_int_equal(cfg_select(VIRTIO_INPUT_CFG_ID_NAME, 1), 0);	/* subsel must be 0 */
	/* Both at once, as a 16-bit write. */
	wr(device, VIRTIO_INPUT_CFG_ABS_INFO | ABS_Y << 8, 2);
	assert_int_equal(rd(device + 2, 1), 20);
}

/* Events through the router, as the VNC link sends them; INTx raised for them. */
static void test_events(void **state)
{
	up();
	assert_true(input_has(vm, INPUT_ABS));
	post_events(0, 32);
	expect_none();
	irq_rises = 0;
	input_abs(vm, 100, 200, 0);
	expect(EV_ABS, ABS_X, 100);
	expect(EV_ABS, ABS_Y, 200);
	expect(EV_SYN, SYN_REPORT, 0);
	expect_none();
	assert_true(irq_rises >= 1);
	assert_true(rd(isr, 1) & 1);		/* reading acknowledges */
	assert_int_equal(rd(isr, 1), 0);

	input_abs(vm, 100, 200, INPUT_BTN_LEFT);	/* a click where the pointer is */
	expect(EV_KEY, BTN_LEFT, 1);
	expect(EV_SYN, SYN_REPORT, 0);
	input_abs(vm, 100, 200, 0);
	expect(EV_KEY, BTN_LEFT, 0);
	expect(EV_SYN, SYN_REPORT, 0);
	input_abs(vm, 100, 200, 0);		/* nothing changed: nothing sent */
	expect_none();

	input_abs(vm, 50, 60, INPUT_BTN_RIGHT | INPUT_BTN_MIDDLE);
	expect(EV_ABS, ABS_X, 50);
	expect(EV_ABS, ABS_Y, 60);
	expect(EV_KEY, BTN_RIGHT, 1);
	expect(EV_KEY, BTN_MIDDLE, 1);
	expect(EV_SYN, SYN_REPORT, 0);
	input_abs(vm, 50, 60, INPUT_BTN_WHEEL_UP);	/* a notch: press then release */
	expect(EV_KEY, BTN_RIGHT, 0);
	expect(EV_KEY, BTN_MIDDLE, 0);
	expect(EV_REL, REL_WHEEL, 1);
	expect(EV_SYN, SYN_REPORT, 0);
	input_abs(vm, 50, 60, 0);
	expect_none();
	input_abs(vm, 50, 60, INPUT_BTN_WHEEL_DOWN);
	expect(EV_REL, REL_WHEEL, -1);
	expect(EV_SYN, SYN_REPORT, 0);
	/* The router clamps to 0..32767. */
	input_abs(vm, 99999, 40000, 0);
	expect(EV_ABS, ABS_X, 32767);
	expect(EV_ABS, ABS_Y, 32767);
	expect(EV_SYN, SYN_REPORT, 0);
}

/* No buffers: motion merges into one report; buffers arriving later get it. */
static void test_pending_merge(void **state)
{
	unsigned int i;

	up();
	for (i = 0; i < 1000; i++)
		input_abs(vm, i, 2 * i, 0);
	post_events(0, 8);
	expect(EV_ABS, ABS_X, 999);
	expect(EV_ABS, ABS_Y, 1998);
	expect(EV_SYN, SYN_REPORT, 0);
	expect_none();
	assert_int_equal(virtio_input_dropped(virtio_tablet_input(
		*(struct virtio_tablet **)vm_device_state(vm, &virtio_tablet_class))), 0);
}

/* A report cut by a shortage of buffers completes when more arrive. */
static void test_report_split(void **state)
{
	up();
	post_events(0, 2);
	input_abs(vm, 7, 8, INPUT_BTN_LEFT);
	expect(EV_ABS, ABS_X, 7);
	expect(EV_ABS, ABS_Y, 8);
	expect_none();
	post_events(2, 4);
	expect(EV_KEY, BTN_LEFT, 1);
	expect(EV_SYN, SYN_REPORT, 0);
	expect_none();
}

/* Clicks while the guest reads nothing: bounded, the oldest dropped and counted. */
static void test_pending_bounded(void **state)
{
	struct virtio_tablet *t;
	unsigned int i, got = 0;
	struct virtio_input_event ev, last = { 0 };

	up();
	t = *(struct virtio_tablet **)vm_device_state(vm, &virtio_tablet_class);
	for (i = 0; i < 1000; i++)
		input_abs(vm, 5, 5, i & 1 ? INPUT_BTN_LEFT : 0);
	assert_true(virtio_input_dropped(virtio_tablet_input(t)) > 0);
	for (i = 0; i < VIRTIO_INPUT_PENDING_MAX / QSIZE + 1; i++) {
		post_events(0, QSIZE);
		while (next_event(&ev)) {
			got++;
			if (ev.type != EV_SYN)
				last = ev;
		}
	}
	assert_true(got <= VIRTIO_INPUT_PENDING_MAX);
	assert_true(got >= VIRTIO_INPUT_PENDING_MAX - 2);
	/* The newest survive: the last was the release of i = 998 -> 999 press. */
	assert_int_equal(last.type, EV_KEY);
	assert_int_equal(last.value, 1);
}

/* Buffers an event does not fit go back empty; the event waits for a good one. */
static void test_bad_buffers(void **state)
{
	uint32_t len;

	up();
	post(0, 0, 4, false);		/* too short */
	post(0, 1, 8, true);		/* device-readable */
	kick(0);
	input_abs(vm, 1, 2, 0);
	assert_int_equal(used_idx(0), 2);
	memcpy(&len, ram + USED(0) + 8, 4);
	assert_int_equal(len, 0);
	used_seen[0] = 2;
	post_events(2, 3);
	expect(EV_ABS, ABS_X, 1);
	expect(EV_ABS, ABS_Y, 2);
	expect(EV_SYN, SYN_REPORT, 0);
}

/* LED events on the status queue are taken and given back. */
static void test_status_queue(void **state)
{
	struct virtio_input_event led = { EV_LED, LED_CAPSL, 1 };

	up();
	memcpy(ram + BUFS + 0x10000, &led, sizeof(led));
	post(1, 0, 8, true);
	kick(1);
	assert_int_equal(used_idx(1), 1);
}

/* Before DRIVER_OK and after a reset, events go nowhere (and are not kept). */
static void test_not_ready_and_reset(void **state)
{
	probe();
	input_abs(vm, 3, 4, INPUT_BTN_LEFT);	/* no driver yet */
	driver_ok();
	post_events(0, 8);
	expect_none();
	input_abs(vm, 5, 6, INPUT_BTN_LEFT);
	expect(EV_ABS, ABS_X, 5);
	expect(EV_ABS, ABS_Y, 6);
	expect(EV_SYN, SYN_REPORT, 0);
	wr(common + CC_STATUS, 0, 1);		/* reset */
	assert_int_equal(rd(common + CC_STATUS, 1), 0);
	input_abs(vm, 9, 9, 0);
	assert_int_equal(cfg_select(VIRTIO_INPUT_CFG_ID_NAME, 0), 19);
}

/* The ring in the wrong place: the device asks for a reset, the monitor goes on. */
static void test_hostile_ring(void **state)
{
	up();
	/* A descriptor chain that loops on itself. */
	post(0, 0, 8, false);
	memcpy(ram + DESC(0) + 12, &(uint16_t){ 2 | 1 }, 2);	/* WRITE | NEXT to itself */
	kick(0);
	input_abs(vm, 1, 1, 0);
	assert_true(rd(common + CC_STATUS, 1) & 0x40);		/* NEEDS_RESET */
	input_abs(vm, 2, 2, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_probe_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_merge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_report_split, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_ready_and_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_ring, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
