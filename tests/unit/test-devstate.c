// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Device state across save and restore (issue 15), without KVM: each
 * device is driven through its registers as a guest driver drives it (port
 * I/O, PCI config cycles at 0xCF8, MMIO on the VM's bus, rings in RAM),
 * saved, and loaded into a fresh VM built from the same config with the
 * same RAM; the restored VM must then behave as the first one would have.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmkit/console.h"
#include "vmkit/device.h"
#include "vmkit/hw.h"
#include "vmkit/input.h"
#include "vmkit/pci.h"
#include "vmkit/savestate.h"
#include "vmkit/vm-state.h"
#include "vmkit/vm.h"

extern const struct vm_device_class serial_class, rtc_class, pit_class, pci_host_class, pm_class,
	i8042_class, virtio_rng_class, virtio_balloon_class, fw_cfg_class, firmware_class,
	fw_boot_class, vga_class;

/* The classes this test builds, in the builder's order (firmware's and VGA only if asked). */
static const struct vm_device_class *const classes[] = {
	&serial_class, &rtc_class, &pit_class, &i8042_class, &pci_host_class, &pm_class, &fw_cfg_class, &firmware_class, &fw_boot_class,
	&virtio_rng_class, &virtio_balloon_class, &vga_class,
};
#define NCLASSES (sizeof(classes) / sizeof(classes[0]))

#define RAM_SIZE	(1u << 20)
#define ROM_SIZE	(256u << 10)
#define VARS_SIZE	(16u << 10)
#define FOUR_GIB	0x100000000ULL
#define VARS_AT		(FOUR_GIB - ROM_SIZE - VARS_SIZE)

struct tvm {
	struct vm vm;
	struct vm_config cfg;
	struct vcpu vcpu;
};

/* The firmware files of the UEFI VMs: made once, shared by source and destination. */
static char rom_path[64] = "/tmp/vmkit-test-romXXXXXX", vars_path[64] = "/tmp/vmkit-test-varsXXXXXX";

static void write_file(char *path, size_t size, uint8_t fill)
{
	uint8_t *b = malloc(size);
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	memset(b, fill, size);
	assert_int_equal(write(fd, b, size), (ssize_t)size);
	close(fd);
	free(b);
}

static struct tvm *tvm_new_fw(const uint8_t *ram, bool uefi)
{
	struct tvm *t = calloc(1, sizeof(*t));
	struct vk_err err = { 0 };
	unsigned int i;

	t->cfg = (struct vm_config){ .cpus = 1, .mem_bytes = RAM_SIZE, .rng_source = "/dev/zero",
				     .balloon = true, .topo = { 1, 1, 1 } };
	if (uefi) {
		t->cfg.firmware = FIRMWARE_UEFI;
		t->cfg.firmware_code = rom_path;
		t->cfg.firmware_vars = vars_path;
		t->cfg.vga = VGA_STD;
	}
	assert_int_equal(console_open(&t->vm.con, CONSOLE_NONE, NULL, &err), 0);
	t->vm.vcpus = &t->vcpu;
	t->vm.nr_vcpus = 1;
	t->vm.cfg = &t->cfg;
	t->vm.kvm_fd = t->vm.vm_fd = -1;	/* interrupts' ioctls fail harmlessly */
	t->vm.ram = calloc(1, RAM_SIZE);
	if (ram)
		memcpy(t->vm.ram, ram, RAM_SIZE);	/* as the RAM records restore it */
	t->vm.ram_size = RAM_SIZE;
	t->vm.mem[0] = (struct mem_region){ 0, RAM_SIZE, t->vm.ram };
	t->vm.nr_mem = 1;
	t->vm.low_mem_top = RAM_SIZE;
	io_bus_init(&t->vm.pio);
	io_bus_init(&t->vm.mmio);
	assert_int_equal(input_router_new(&t->vm, &err), 0);
	for (i = 0; i < NCLASSES; i++)
		assert_int_equal(classes[i]->create(&t->vm, &err), 0);
	return t;
}

static struct tvm *tvm_new(const uint8_t *ram)
{
	return tvm_new_fw(ram, false);
}

static void tvm_free(struct tvm *t)
{
	unsigned int i = NCLASSES;

	while (i--)
		classes[i]->destroy(&t->vm);
	input_router_free(&t->vm);
	console_close(t->vm.con);
	io_bus_free(&t->vm.pio);
	io_bus_free(&t->vm.mmio);
	free(t->vm.ram);
	free(t);
}

static void save(struct tvm *t, uint8_t **buf, size_t *len)
{
	struct vk_err err = { 0 };
	struct ss_writer *w;
	unsigned int i;

	assert_int_equal(ss_writer_new(&w, &err), 0);
	for (i = 0; i < NCLASSES; i++)
		if (classes[i]->save)
			classes[i]->save(&t->vm, w);
	assert_int_equal(ss_writer_finish_buf(w, buf, len, &err), 0);
}

static int load(struct tvm *t, const uint8_t *buf, size_t len, struct vk_err *err)
{
	struct ss_reader *r;
	unsigned int i;
	int ret = ss_parse(&r, buf, len, err);

	for (i = 0; !ret && i < NCLASSES; i++)
		if (classes[i]->load)
			ret = classes[i]->load(&t->vm, r, err);
	ss_reader_free(r);
	return ret;
}

/* ---- the guest's accesses ---- */

static uint8_t inb(struct tvm *t, uint16_t port)
{
	uint8_t v = 0;

	assert_true(io_bus_read(&t->vm.pio, port, &v, 1));
	return v;
}

static void outb(struct tvm *t, uint16_t port, uint8_t v)
{
	assert_true(io_bus_write(&t->vm.pio, port, &v, 1));
}

static uint16_t inw(struct tvm *t, uint16_t port)
{
	uint16_t v = 0;

	assert_true(io_bus_read(&t->vm.pio, port, &v, 2));
	return v;
}

static void outw(struct tvm *t, uint16_t port, uint16_t v)
{
	assert_true(io_bus_write(&t->vm.pio, port, &v, 2));
}

static uint32_t cfg_read(struct tvm *t, unsigned int slot, unsigned int off)
{
	uint32_t a = 0x80000000u | slot << 11 | (off & 0xfc), v = 0;

	assert_true(io_bus_write(&t->vm.pio, 0xcf8, &a, 4));
	assert_true(io_bus_read(&t->vm.pio, 0xcfc, &v, 4));
	return v;
}

static void cfg_write(struct tvm *t, unsigned int slot, unsigned int off, uint32_t v)
{
	uint32_t a = 0x80000000u | slot << 11 | (off & 0xfc);

	assert_true(io_bus_write(&t->vm.pio, 0xcf8, &a, 4));
	assert_true(io_bus_write(&t->vm.pio, 0xcfc, &v, 4));
}

static uint64_t mmio_read(struct tvm *t, uint64_t gpa, unsigned int len)
{
	uint64_t v = 0;

	assert_true(io_bus_read(&t->vm.mmio, gpa, &v, len));
	return v;
}

static void mmio_write(struct tvm *t, uint64_t gpa, uint64_t v, unsigned int len)
{
	assert_true(io_bus_write(&t->vm.mmio, gpa, &v, len));
}

/* ---- PM and the i8042 ---- */

/* What the guest reads from the controller from here on: status and data, in turn. */
static void i8042_drain(struct tvm *t, uint8_t *out, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i += 2) {
		out[i] = inb(t, 0x64);
		out[i + 1] = inb(t, 0x60);
	}
}

static void platform_devices(void **state)
{
	uint8_t a[64], b[64], *buf;
	struct tvm *t = tvm_new(NULL), *u;
	struct vk_err err = { 0 };
	size_t len;

	/* ACPI PM: power button enabled and pressed, the OS's SCI_EN and a SLP_TYP kept. */
	outw(t, 0x602, 0x0100);
	pm_power_button(&t->vm);
	outw(t, 0x604, 0x0401);
	/* i8042: the mouse on and in IntelliMouse mode, keyboard LEDs, keys queued. */
	outb(t, 0x64, 0x60);
	outb(t, 0x60, 0x47);			/* both interrupts, translation */
	outb(t, 0x64, 0xa8);
	outb(t, 0x64, 0xd4), outb(t, 0x60, 0xf3), inb(t, 0x60), outb(t, 0x64, 0xd4),
		outb(t, 0x60, 200), inb(t, 0x60);
	outb(t, 0x64, 0xd4), outb(t, 0x60, 0xf3), inb(t, 0x60), outb(t, 0x64, 0xd4),
		outb(t, 0x60, 100), inb(t, 0x60);
	outb(t, 0x64, 0xd4), outb(t, 0x60, 0xf3), inb(t, 0x60), outb(t, 0x64, 0xd4),
		outb(t, 0x60, 80), inb(t, 0x60);
	outb(t, 0x64, 0xd4), outb(t, 0x60, 0xf4), inb(t, 0x60);
	outb(t, 0x60, 0xed), inb(t, 0x60);	/* set LEDs: the argument comes after the restore */
	input_key(&t->vm, 30, true);		/* dropped: the keyboard waits for the argument */
	outb(t, 0x60, 0x04), inb(t, 0x60);
	input_key(&t->vm, 30, true);
	input_key(&t->vm, 30, false);
	input_rel(&t->vm, 5, -3, 1, 0);
	outb(t, 0x64, 0xd4);			/* a command byte pending at the save */

	save(t, &buf, &len);
	u = tvm_new(t->vm.ram);
	assert_int_equal(load(u, buf, len, &err), 0);
	free(buf);

	assert_int_equal(inw(u, 0x600), inw(t, 0x600));
	assert_int_equal(inw(u, 0x600) & 0x100, 0x100);
	assert_int_equal(inw(u, 0x602), 0x0100);
	assert_int_equal(inw(u, 0x604), 0x0401);
	/* The pending 0xD4: both send the next byte to the mouse (get ID: IntelliMouse, 3). */
	outb(t, 0x60, 0xf2);
	outb(u, 0x60, 0xf2);
	i8042_drain(t, a, sizeof(a));
	i8042_drain(u, b, sizeof(b));
	assert_memory_equal(a, b, sizeof(a));
	/* The key in set 1, then the mouse's ACK and ID 3 (its queued motion was flushed by the command). */
	assert_memory_equal(a, "\x15\x1e\x15\x9e\x35\xfa\x35\x03", 8);
	outb(u, 0x64, 0x20);
	assert_int_equal(inb(u, 0x60), 0x47);
	tvm_free(u);
	tvm_free(t);
}

/* ---- virtio-rng over virtio-pci ---- */

#define BAR0_AT		0xd0000000ULL	/* where "the guest" moves BAR 0 */
#define Q_DESC		0x10000
#define Q_AVAIL		0x11000
#define Q_USED		0x12000
#define DATA		0x20000

static unsigned int find_fn(struct tvm *t, uint32_t id)
{
	unsigned int slot;

	for (slot = 0; slot < 32; slot++)
		if (cfg_read(t, slot, 0) == id)
			return slot;
	fail_msg("device %08x not on the bus", id);
	return 0;
}

static uint8_t find_cap(struct tvm *t, unsigned int slot, uint8_t id)
{
	uint8_t off = cfg_read(t, slot, 0x34) & 0xff;

	while (off) {
		uint32_t h = cfg_read(t, slot, off);

		if ((h & 0xff) == id)
			return off;
		off = (h >> 8) & 0xff;
	}
	fail_msg("capability %02x missing", id);
	return 0;
}

/* As Linux's virtio_pci_modern probe and virtio_rng: MSI-X on, one queue of 8. */
static void rng_driver_start(struct tvm *t, unsigned int slot)
{
	uint64_t bar2 = cfg_read(t, slot, 0x18) & ~0xfULL;
	uint8_t msix = find_cap(t, slot, 0x11);

	cfg_write(t, slot, 0x10, (uint32_t)BAR0_AT | 4);
	cfg_write(t, slot, 0x14, 0);
	cfg_write(t, slot, 0x04, 0x6);		/* memory decode, bus master */
	cfg_write(t, slot, msix, cfg_read(t, slot, msix) | 0x80000000u);	/* MSI-X enable */
	mmio_write(t, bar2 + 16, 0xfee00000, 4);	/* vector 1: address, data, unmasked */
	mmio_write(t, bar2 + 24, 0x4041, 4);
	mmio_write(t, bar2 + 28, 0, 4);
	mmio_write(t, BAR0_AT + 20, 3, 1);		/* ACKNOWLEDGE | DRIVER */
	mmio_write(t, BAR0_AT + 8, 1, 4);		/* guest features, high half: VERSION_1 */
	mmio_write(t, BAR0_AT + 12, 1, 4);
	mmio_write(t, BAR0_AT + 20, 0xb, 1);		/* FEATURES_OK */
	mmio_write(t, BAR0_AT + 22, 0, 2);
	mmio_write(t, BAR0_AT + 24, 8, 2);
	mmio_write(t, BAR0_AT + 26, 1, 2);		/* queue 0 on vector 1 */
	mmio_write(t, BAR0_AT + 32, Q_DESC, 4);
	mmio_write(t, BAR0_AT + 40, Q_AVAIL, 4);
	mmio_write(t, BAR0_AT + 48, Q_USED, 4);
	mmio_write(t, BAR0_AT + 28, 1, 2);		/* enable */
	mmio_write(t, BAR0_AT + 20, 0xf, 1);		/* DRIVER_OK */
}

/* Offer buffer i (16 writable bytes), without notifying. */
static void rng_offer(struct tvm *t, unsigned int i)
{
	uint8_t *ram = t->vm.ram;
	uint64_t addr = DATA + 16 * i;
	uint32_t len = 16;
	uint16_t flags = 2, idx;

	memcpy(ram + Q_DESC + 16 * i, &addr, 8);
	memcpy(ram + Q_DESC + 16 * i + 8, &len, 4);
	memcpy(ram + Q_DESC + 16 * i + 12, &flags, 2);
	memcpy(ram + Q_AVAIL + 4 + 2 * (i % 8), &(uint16_t){ i }, 2);
	idx = i + 1;
	memcpy(ram + Q_AVAIL + 2, &idx, 2);
	memset(ram + addr, 0x5a, 16);
}

static uint16_t used_idx(struct tvm *t)
{
	uint16_t used;

	memcpy(&used, t->vm.ram + Q_USED + 2, 2);
	return used;
}

/* Offer buffer i and notify; returns the used index after. */
static uint16_t rng_request(struct tvm *t, unsigned int i)
{
	uint8_t *ram = t->vm.ram;
	uint64_t addr = DATA + 16 * i;
	uint32_t len = 16;
	uint16_t flags = 2, idx, used;

	memcpy(ram + Q_DESC + 16 * i, &addr, 8);
	memcpy(ram + Q_DESC + 16 * i + 8, &len, 4);
	memcpy(ram + Q_DESC + 16 * i + 12, &flags, 2);
	memcpy(ram + Q_AVAIL + 4 + 2 * (i % 8), &(uint16_t){ i }, 2);
	idx = i + 1;
	memcpy(ram + Q_AVAIL + 2, &idx, 2);
	memset(ram + addr, 0x5a, 16);
	mmio_write(t, BAR0_AT + 0x3000, 0, 2);	/* notify queue 0 */
	memcpy(&used, ram + Q_USED + 2, 2);
	return used;
}

static void virtio_over_pci(void **state)
{
	struct tvm *t = tvm_new(NULL), *u;
	struct vk_err err = { 0 };
	unsigned int slot;
	uint8_t *buf;
	uint32_t id, len32;
	size_t len;
	uint64_t bar2;

	slot = find_fn(t, 0x10441af4);
	rng_driver_start(t, slot);
	assert_int_equal(rng_request(t, 0), 1);
	assert_int_equal(t->vm.ram[DATA], 0);		/* /dev/zero reached the buffer */
	mmio_write(t, BAR0_AT + 22, 0, 2);		/* leave queue 0 selected */
	bar2 = cfg_read(t, slot, 0x18) & ~0xfULL;
	rng_offer(t, 1);	/* available, its notification not served before the save */

	save(t, &buf, &len);
	u = tvm_new(t->vm.ram);
	assert_int_equal(find_fn(u, 0x10441af4), slot);
	assert_int_equal(load(u, buf, len, &err), 0);
	free(buf);
	/* The registers read back as the driver left them. */
	assert_int_equal(cfg_read(u, slot, 0x10), (uint32_t)BAR0_AT | 4);
	assert_int_equal(cfg_read(u, slot, 0x04) & 0x6, 0x6);
	assert_int_equal(mmio_read(u, BAR0_AT + 20, 1), 0xf);
	assert_int_equal(mmio_read(u, BAR0_AT + 24, 2), 8);
	assert_int_equal(mmio_read(u, BAR0_AT + 26, 2), 1);
	assert_int_equal(mmio_read(u, BAR0_AT + 28, 2), 1);
	assert_int_equal(mmio_read(u, BAR0_AT + 40, 4), Q_AVAIL);
	assert_int_equal(mmio_read(u, bar2 + 24, 4), 0x4041);
	assert_int_equal(mmio_read(u, bar2 + 28, 4), 0);
	/* The buffer offered before the save is served by the load, as the second one. */
	assert_int_equal(used_idx(u), 2);
	memcpy(&id, u->vm.ram + Q_USED + 4 + 8, 4);
	memcpy(&len32, u->vm.ram + Q_USED + 8 + 8, 4);
	assert_int_equal(id, 1);
	assert_int_equal(len32, 16);
	assert_int_equal(u->vm.ram[DATA + 16], 0);
	assert_int_equal(used_idx(t), 1);	/* the saved VM never served it */
	/* The next request completes as the third. */
	assert_int_equal(rng_request(u, 2), 3);
	tvm_free(u);
	tvm_free(t);
}

/* A stream from another VM, or with out-of-range values, is refused with one line. */
static void mismatches(void **state)
{
	struct tvm *t = tvm_new(NULL), *u;
	struct vk_err err = { 0 };
	struct ss_writer *w;
	struct ss_reader *r;
	uint8_t *buf;
	size_t len;

	save(t, &buf, &len);
	u = tvm_new(NULL);
	u->cfg.rng_source = NULL;
	virtio_rng_class.destroy(&u->vm);	/* this VM has no --rng */
	assert_int_equal(load(u, buf, len, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "--rng"));
	free(buf);
	tvm_free(u);

	/* A section cut short by a vmkit that wrote less: the missing field is named. */
	assert_int_equal(ss_writer_new(&w, &err), 0);
	ss_begin(w, "pm", 0, 1);
	ss_put_u64(w, "sts", 0);
	ss_end(w);
	assert_int_equal(ss_writer_finish_buf(w, &buf, &len, &err), 0);
	assert_int_equal(ss_parse(&r, buf, len, &err), 0);
	assert_int_equal(pm_class.load(&t->vm, r, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "state of pm: field 'en' missing"));
	assert_int_equal(i8042_class.load(&t->vm, r, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "no i8042 0 section"));
	ss_reader_free(r);
	free(buf);
	tvm_free(t);
}

/* ---- firmware's devices and the VGA ---- */

static void cfg_write8(struct tvm *t, unsigned int slot, unsigned int off, uint8_t v)
{
	uint32_t a = 0x80000000u | slot << 11 | (off & 0xfc);

	assert_true(io_bus_write(&t->vm.pio, 0xcf8, &a, 4));
	assert_true(io_bus_write(&t->vm.pio, 0xcfc + (off & 3), &v, 1));
}

static void firmware_and_vga(void **state)
{
	struct tvm *t, *u;
	struct vk_err err = { 0 };
	uint64_t vram;
	unsigned int slot;
	uint8_t *buf;
	size_t len;

	write_file(rom_path, ROM_SIZE, 0x90);
	write_file(vars_path, VARS_SIZE, 0xff);
	t = tvm_new_fw(NULL, true);
	/* PAM0 read-write: 0xf0000 is RAM now, and holds what the firmware copied there. */
	cfg_write8(t, 0, 0x59, 0x30);
	mmio_write(t, 0xf0000, 0x42, 1);
	/* The flash in read-status mode, as OVMF leaves it between two accesses. */
	mmio_write(t, VARS_AT, 0x70, 1);
	/* fw_cfg: the signature item, half read. */
	outw(t, 0x510, 0);
	assert_int_equal(inb(t, 0x511), 'Q');
	assert_int_equal(inb(t, 0x511), 'E');
	/* VGA: a palette entry written, another half read; a VBE mode's width; VRAM bytes. */
	outb(t, 0x3c8, 5), outb(t, 0x3c9, 10), outb(t, 0x3c9, 20), outb(t, 0x3c9, 30);
	outb(t, 0x3c7, 5);
	assert_int_equal(inb(t, 0x3c9), 10);
	outw(t, 0x1ce, 1), outw(t, 0x1cf, 640);
	slot = find_fn(t, 0x11111234);
	cfg_write(t, slot, 0x04, 0x2);
	vram = cfg_read(t, slot, 0x10) & ~0xfULL;
	mmio_write(t, vram + 0x1000, 0xdeadbeef, 4);

	save(t, &buf, &len);
	u = tvm_new_fw(t->vm.ram, true);
	assert_int_equal(load(u, buf, len, &err), 0);
	free(buf);
	assert_int_equal(mmio_read(u, 0xf0000, 1), 0x42);	/* RAM, not the ROM's 0x90 */
	mmio_write(u, 0xf0001, 0x43, 1);
	assert_int_equal(u->vm.ram[0xf0001], 0x43);
	assert_int_equal(mmio_read(u, VARS_AT, 1), 0x80);	/* status: ready */
	assert_int_equal(inb(u, 0x511), 'M');
	assert_int_equal(inb(u, 0x511), 'U');
	assert_int_equal(inb(u, 0x3c9), 20);
	assert_int_equal(inb(u, 0x3c9), 30);
	outw(u, 0x1ce, 1);
	assert_int_equal(inw(u, 0x1cf), 640);
	assert_int_equal(mmio_read(u, vram + 0x1000, 4), 0xdeadbeef);
	tvm_free(u);

	/* The same file into a VM booted without firmware: refused, saying why. */
	u = tvm_new(NULL);
	save(t, &buf, &len);
	assert_int_equal(load(u, buf, len, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "firmware"));
	free(buf);
	tvm_free(u);
	tvm_free(t);
	unlink(rom_path);
	unlink(vars_path);
}

/* Held for a save, a device leaves its rings alone; released, it serves what came. */
static void hold_defers_notifications(void **state)
{
	struct tvm *t = tvm_new(NULL);

	rng_driver_start(t, find_fn(t, 0x10441af4));
	assert_int_equal(rng_request(t, 0), 1);
	vm_devices_hold(&t->vm, true);
	assert_int_equal(rng_request(t, 1), 1);		/* notified, not served */
	vm_devices_hold(&t->vm, false);
	assert_int_equal(used_idx(t), 2);
	assert_int_equal(rng_request(t, 2), 3);
	tvm_free(t);
}

/* ---- the whole VM to a file and back (vmm/core/vm-state.c) ---- */

static void flip(const char *path, off_t off)
{
	int fd = open(path, O_RDWR);
	uint8_t b;

	assert_int_equal(pread(fd, &b, 1, off), 1);
	b ^= 0x10;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
	close(fd);
}

static void expect_refused(const char *path, const struct vm_config *cfg, const char *why)
{
	struct vm_state_file *f = NULL;
	struct vk_err err = { 0 };

	assert_int_not_equal(vm_state_open(&f, path, cfg, &err), 0);
	assert_null(f);
	if (!strstr(err.msg, why))
		fail_msg("'%s' not in '%s'", why, err.msg);
}

static void save_file(void **state)
{
	char path[] = "/tmp/vmkit-test-savedXXXXXX";
	struct tvm *t = tvm_new(NULL), *u;
	struct vm_state_file *f;
	struct vk_err err = { 0 };
	struct vm_config other;
	struct stat st;
	unsigned int slot;
	int fd;

	fd = mkstemp(path);
	close(fd);
	slot = find_fn(t, 0x10441af4);
	rng_driver_start(t, slot);
	assert_int_equal(rng_request(t, 0), 1);
	memset(t->vm.ram + 0x50000, 0x11, 3 * 4096);	/* a run of pages */
	assert_int_equal(used_idx(t), 1);
	assert_int_equal(vm_state_save_file(&t->vm, path, &err), 0);

	assert_int_equal(vm_state_open(&f, path, &t->cfg, &err), 0);
	assert_string_equal(vm_state_file_name(f), "");
	u = tvm_new(NULL);
	memset(u->vm.ram + 0x80000, 0x22, 4096);	/* what the loader put there goes */
	assert_int_equal(vm_state_restore(&u->vm, f, &err), 0);
	vm_state_close(f);
	assert_memory_equal(u->vm.ram, t->vm.ram, RAM_SIZE);
	assert_int_equal(rng_request(u, 1), 2);
	tvm_free(u);

	/* Another VM's options: one line naming what differs, before anything is built. */
	other = t->cfg;
	other.mem_bytes = 2 * RAM_SIZE;
	expect_refused(path, &other, "saved from a VM with 1048576 bytes of memory, this one has 2097152");
	other = t->cfg;
	other.balloon = false;
	expect_refused(path, &other, "balloon");
	/* A flipped byte in the RAM, in the state; a truncated file. */
	assert_int_equal(stat(path, &st), 0);
	flip(path, st.st_size - 100);
	expect_refused(path, &t->cfg, "RAM checksum mismatch");
	flip(path, st.st_size - 100);
	flip(path, 200);
	expect_refused(path, &t->cfg, "checksum mismatch");
	flip(path, 200);
	assert_int_equal(truncate(path, st.st_size - 5000), 0);
	expect_refused(path, &t->cfg, "damaged or truncated");
	assert_int_equal(truncate(path, 10), 0);
	expect_refused(path, &t->cfg, "not a vmkit saved VM");
	unlink(path);
	tvm_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(platform_devices),
		cmocka_unit_test(virtio_over_pci),
		cmocka_unit_test(mismatches),
		cmocka_unit_test(firmware_and_vga),
		cmocka_unit_test(hold_defers_notifications),
		cmocka_unit_test(save_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
