// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer target for the devices' state loads (issue 15): what `vmkit
 * run --incoming` hands every device from a saved VM's file. The input is
 * a state stream (its last four bytes replaced by its CRC-32, so the
 * fuzzer explores the records); fresh devices of a VM without KVM load it
 * (the UART, RTC, PM, i8042, PCI host, virtio-rng and -balloon over
 * virtio-pci, VGA, virtio-tablet), then are driven a little as a guest would (ports, PCI
 * config, a queue notification with the loaded ring positions) and saved
 * again. Whatever loads must leave devices a guest cannot break the
 * monitor with; what is refused must leave them as created.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <zlib.h>

#include "vmkit/console.h"
#include "vmkit/device.h"
#include "vmkit/input.h"
#include "vmkit/savestate.h"
#include "vmkit/vm.h"

#define RAM_SIZE	(1u << 20)

extern const struct vm_device_class serial_class, rtc_class, pm_class, i8042_class,
	pci_host_class, virtio_rng_class, virtio_balloon_class, vga_class, virtio_tablet_class;

static const struct vm_device_class *const classes[] = {
	&serial_class, &rtc_class, &i8042_class, &pci_host_class, &pm_class, &virtio_rng_class,
	&virtio_balloon_class, &vga_class, &virtio_tablet_class,
};
#define NCLASSES (sizeof(classes) / sizeof(classes[0]))

static struct vm_config cfg = { .cpus = 1, .mem_bytes = RAM_SIZE, .rng_source = "/dev/zero",
				.balloon = true, .vga = VGA_STD, .tablet = true, .topo = { 1, 1, 1 } };
static struct vm vm;

static void setup(void)
{
	struct vk_err err = { 0 };
	uint8_t *p = mmap(NULL, RAM_SIZE + 8192, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		abort();
	mprotect(p, 4096, PROT_NONE);		/* guard pages: nothing reads past RAM */
	mprotect(p + 4096 + RAM_SIZE, 4096, PROT_NONE);
	vm.cfg = &cfg;
	vm.kvm_fd = vm.vm_fd = vm.stop_efd = -1;
	vm.ram = p + 4096;
	vm.ram_size = RAM_SIZE;
	vm.mem[0] = (struct mem_region){ 0, RAM_SIZE, vm.ram };
	vm.nr_mem = 1;
	vm.low_mem_top = RAM_SIZE;
	pthread_mutex_init(&vm.lock, NULL);
	pthread_cond_init(&vm.cond, NULL);
	if (console_open(&vm.con, CONSOLE_NONE, NULL, &err))
		abort();
}

static uint32_t cfg_read(unsigned int slot, unsigned int off)
{
	uint32_t a = 0x80000000u | slot << 11 | off, v = 0;

	io_bus_write(&vm.pio, 0xcf8, &a, 4);
	io_bus_read(&vm.pio, 0xcfc, &v, 4);
	return v;
}

/* A guest's next moves: reads that drain queues, config space, every queue notified. */
static void drive(void)
{
	unsigned int slot, i;
	uint64_t bar, v;

	for (i = 0; i < 8; i++) {
		io_bus_read(&vm.pio, 0x64, &v, 1);
		io_bus_read(&vm.pio, 0x60, &v, 1);
		io_bus_read(&vm.pio, 0x3f8 + (i & 7), &v, 1);
		io_bus_read(&vm.pio, 0x71, &v, 1);
		io_bus_read(&vm.pio, 0x3c9, &v, 1);
	}
	for (slot = 0; slot < 32; slot++) {
		if ((cfg_read(slot, 0) & 0xffff) != 0x1af4)
			continue;
		bar = cfg_read(slot, 0x10) & ~0xfull;
		bar |= (uint64_t)cfg_read(slot, 0x14) << 32;
		for (i = 0; i < 3; i++) {
			uint16_t q = i;

			io_bus_write(&vm.mmio, bar + 0x3000 + 4 * i, &q, 2);
		}
		io_bus_read(&vm.mmio, bar + 0x1000, &v, 1);	/* ISR */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vk_err err = { 0 };
	struct ss_reader *r;
	struct ss_writer *w;
	uint8_t *copy, *out;
	size_t i, len;
	uint32_t crc;

	if (size < 4)
		return 0;
	if (!vm.cfg)
		setup();
	copy = malloc(size);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	crc = htole32((uint32_t)crc32(0, copy, (uInt)(size - 4)));
	memcpy(copy + size - 4, &crc, 4);
	memset(vm.ram, 0, RAM_SIZE);
	io_bus_init(&vm.pio);
	io_bus_init(&vm.mmio);
	if (input_router_new(&vm, &err))
		abort();
	for (i = 0; i < NCLASSES; i++)
		if (classes[i]->create(&vm, &err))
			abort();
	if (!ss_parse(&r, copy, size, &err)) {
		for (i = 0; i < NCLASSES; i++)
			classes[i]->load(&vm, r, &err);
		ss_reader_free(r);
		drive();
		if (ss_writer_new(&w, &err))
			abort();
		for (i = 0; i < NCLASSES; i++)
			classes[i]->save(&vm, w);
		if (!ss_writer_finish_buf(w, &out, &len, &err))
			free(out);
	}
	for (i = NCLASSES; i--;)
		classes[i]->destroy(&vm);
	input_router_free(&vm);
	io_bus_free(&vm.pio);
	io_bus_free(&vm.mmio);
	free(copy);
	return 0;
}
