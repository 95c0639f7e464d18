// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The standard VGA driven through its register interface on a VM built
 * without KVM, as a guest's VGA BIOS and drivers would drive it: port I/O
 * on vm->pio, the 0xa0000 window and the PCI BARs on vm->mmio, PCI config
 * through the host bridge's 0xcf8/0xcfc. tests/display/test_display.py
 * runs it and reads the results with OCR and a real VNC client.
 *
 *   vga-harness text FONT.psf[.gz] OUT      mode 3 with FONT, text; screendump OUT
 *   vga-harness vbe OUT                     VBE 640x480x32 colour bars via BAR0
 *   vga-harness mode13 OUT                  mode 13h (chain-4 256 colours)
 *   vga-harness serve text|vbe [FONT] --vnc SPEC
 *        the same picture, served: prints "ready" and then reads commands from
 *        stdin: "password PW", "dump FILE", "vbe" (switch), "quit" (or EOF)
 * Exit 0 on success; a failing step prints one line and exits 1.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include "vmkit/device.h"
#include "vmkit/display.h"
#include "vmkit/evloop.h"
#include "vmkit/input.h"
#include "vmkit/vm.h"
#include "vmkit/vnc.h"

extern const struct vm_device_class pci_host_class, display_class, vga_class;

#define RAM_SIZE (2u << 20)

static struct vm vm;
static struct vm_config cfg;

static void die(const char *what, const char *why)
{
	fprintf(stderr, "vga-harness: %s: %s\n", what, why);
	exit(1);
}

/* vmm/core/memory.c's RAM backing, which this test does not use. */
int vm_ram_map(const struct mem_backing *mb, uint64_t size, uint8_t **hva, struct vk_err *err)
{
	return vk_fail(err, -ENOSYS, "no RAM backing here");
}

void vm_ram_unmap(uint8_t *hva, uint64_t size)
{
}

static void outb(uint16_t port, uint8_t v) { io_bus_write(&vm.pio, port, &v, 1); }
static uint8_t inb(uint16_t port) { uint8_t v = 0xff; io_bus_read(&vm.pio, port, &v, 1); return v; }
static void outw(uint16_t port, uint16_t v) { io_bus_write(&vm.pio, port, &v, 2); }
static void outl(uint16_t port, uint32_t v) { io_bus_write(&vm.pio, port, &v, 4); }
static uint32_t inl(uint16_t port) { uint32_t v = ~0u; io_bus_read(&vm.pio, port, &v, 4); return v; }
static void memb(uint64_t a, uint8_t v) { io_bus_write(&vm.mmio, a, &v, 1); }
static void meml(uint64_t a, uint32_t v) { io_bus_write(&vm.mmio, a, &v, 4); }

static void build_vm(void)
{
	struct vk_err err = { 0 };
	uint8_t *ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	cfg.cpus = 1;
	cfg.mem_bytes = RAM_SIZE;
	cfg.vga = VGA_STD;
	vm.cfg = &cfg;
	vm.kvm_fd = vm.vm_fd = -1;	/* no KVM: the VRAM BAR is served by MMIO handlers */
	vm.ram = ram;
	vm.ram_size = RAM_SIZE;
	vm.mem[0] = (struct mem_region){ 0, 0xa0000, ram };
	vm.nr_mem = 1;
	vm.low_mem_top = RAM_SIZE;
	io_bus_init(&vm.pio);
	io_bus_init(&vm.mmio);
	pthread_mutex_init(&vm.lock, NULL);
	if (evloop_new(&vm.loop))
		die("evloop", "cannot create");
	if (display_new(&cfg.display, &err) || input_router_new(&vm, &err) ||
	    pci_host_class.create(&vm, &err) || display_class.create(&vm, &err) ||
	    vga_class.create(&vm, &err))
		die("building the VM", err.msg);
}

/* ---- mode 3 as the VGA BIOS sets it (the register values of the VGA standard) ---- */

static const uint8_t seq3[5] = { 0x03, 0x00, 0x03, 0x00, 0x02 };
static const uint8_t crtc3[25] = { 0x5f, 0x4f, 0x50, 0x82, 0x55, 0x81, 0xbf, 0x1f, 0x00, 0x4f,
				   0x0d, 0x0e, 0x00, 0x00, 0x00, 0x00, 0x9c, 0x8e, 0x8f, 0x28,
				   0x1f, 0x96, 0xb9, 0xa3, 0xff };
static const uint8_t gc3[9] = { 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x0e, 0x00, 0xff };
static const uint8_t ar3[21] = { 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07, 0x38, 0x39,
				 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0x0c, 0x00, 0x0f, 0x08, 0x00 };

static void load_ega_palette(void)
{
	unsigned int i;

	/* The 64 EGA colours: bits 0-2 are 2/3 intensity B, G, R; bits 3-5 add 1/3. */
	outb(0x3c8, 0);
	for (i = 0; i < 64; i++) {
		outb(0x3c9, ((i >> 2) & 1) * 0x2a + ((i >> 5) & 1) * 0x15);
		outb(0x3c9, ((i >> 1) & 1) * 0x2a + ((i >> 4) & 1) * 0x15);
		outb(0x3c9, (i & 1) * 0x2a + ((i >> 3) & 1) * 0x15);
	}
}

static void set_mode3(void)
{
	unsigned int i;

	outb(0x3c2, 0x67);
	for (i = 0; i < sizeof(seq3); i++)
		outw(0x3c4, i | seq3[i] << 8);
	outw(0x3d4, 0x11 | 0x0e << 8);	/* unlock CRTC 0-7 */
	for (i = 0; i < sizeof(crtc3); i++)
		outw(0x3d4, i | crtc3[i] << 8);
	for (i = 0; i < sizeof(gc3); i++)
		outw(0x3ce, i | gc3[i] << 8);
	inb(0x3da);			/* attribute flip-flop to index */
	for (i = 0; i < sizeof(ar3); i++) {
		outb(0x3c0, i);
		outb(0x3c0, ar3[i]);
	}
	load_ega_palette();
	outb(0x3c0, 0x20);		/* palette address source: display on */
}

/* A PSF1 or PSF2 console font (Debian's console-setup-linux), 8 pixels wide. */
static int read_font(const char *path, uint8_t glyphs[256][32], unsigned int *height)
{
	gzFile f = gzopen(path, "rb");
	uint8_t h[32];
	unsigned int i, size, hdr;

	if (!f || gzread(f, h, 4) != 4)
		die(path, "cannot read");
	if (h[0] == 0x36 && h[1] == 0x04) {		/* PSF1 */
		*height = size = h[3];
		hdr = 4;
	} else if (h[0] == 0x72 && h[1] == 0xb5 && h[2] == 0x4a && h[3] == 0x86) {
		if (gzread(f, h + 4, 28) != 28)
			die(path, "short PSF2 header");
		hdr = h[8] | h[9] << 8;
		size = h[20] | h[21] << 8;
		*height = h[24];
		if (h[28] != 8)
			die(path, "not 8 pixels wide");
		gzseek(f, hdr, SEEK_SET);
	} else {
		die(path, "not a PSF font");
	}
	if (*height > 32 || size != *height)
		die(path, "unexpected glyph size");
	for (i = 0; i < 256; i++)
		if (gzread(f, glyphs[i], size) != (int)size)
			die(path, "short font");
	gzclose(f);
	return 0;
}

/* As the BIOS loads a font: plane 2 alone, no odd/even, A0000 64K; then back to text. */
static void load_font(const char *path)
{
	static uint8_t glyphs[256][32];
	unsigned int i, r, height;

	read_font(path, glyphs, &height);
	outw(0x3c4, 0x0402);
	outw(0x3c4, 0x0704);
	outw(0x3ce, 0x0204);
	outw(0x3ce, 0x0005);
	outw(0x3ce, 0x0406);
	for (i = 0; i < 256; i++)
		for (r = 0; r < 32; r++)
			memb(0xa0000 + i * 32 + r, r < height ? glyphs[i][r] : 0);
	outw(0x3c4, 0x0302);
	outw(0x3c4, 0x0204);
	outw(0x3ce, 0x0004);
	outw(0x3ce, 0x1005);
	outw(0x3ce, 0x0e06);
	outw(0x3d4, 0x09 | (0x40 | (height - 1)) << 8);
}

static void put_text(unsigned int row, unsigned int col, const char *s, uint8_t attr)
{
	for (; *s; s++, col++) {
		memb(0xb8000 + (row * 80 + col) * 2, *s);
		memb(0xb8000 + (row * 80 + col) * 2 + 1, attr);
	}
}

static void text_screen(const char *font)
{
	unsigned int i;

	set_mode3();
	load_font(font);
	for (i = 0; i < 80 * 25; i++) {
		memb(0xb8000 + i * 2, ' ');
		memb(0xb8000 + i * 2 + 1, 0x70);	/* black on light grey: OCR likes dark text */
	}
	put_text(2, 4, "VMKIT TEXT MODE WORKS", 0x70);
	put_text(4, 4, "The quick brown fox jumps over the lazy dog", 0x71);
	put_text(6, 4, "SeaBIOS (version 1.16.2-debian)", 0x70);
	outw(0x3d4, 0x0a | 0x20 << 8);	/* cursor off: a steady picture to compare */
}

/* ---- PCI, as a driver finds the adapter ---- */

static uint32_t cfg_read(unsigned int slot, unsigned int off)
{
	outl(0xcf8, 0x80000000u | slot << 11 | (off & 0xfc));
	return inl(0xcfc);
}

static void cfg_write(unsigned int slot, unsigned int off, uint32_t v)
{
	outl(0xcf8, 0x80000000u | slot << 11 | (off & 0xfc));
	outl(0xcfc, v);
}

/* The VGA's slot, with memory decode on; its BAR0 address in *fb. */
static unsigned int find_vga(uint64_t *fb)
{
	unsigned int slot;

	for (slot = 0; slot < 32; slot++) {
		if (cfg_read(slot, 0) != 0x11111234)
			continue;
		if ((cfg_read(slot, 8) >> 8) != 0x030000)
			die("pci", "1234:1111 is not a VGA display controller");
		cfg_write(slot, 4, cfg_read(slot, 4) | 2);
		*fb = (cfg_read(slot, 0x10) & ~0xfu) | (uint64_t)cfg_read(slot, 0x14) << 32;
		return slot;
	}
	die("pci", "no 1234:1111 device on bus 0");
	return 0;
}

static void vbe_set(unsigned int idx, uint16_t v)
{
	outw(0x1ce, idx);
	outw(0x1cf, v);
}

static const uint32_t bars[8] = { 0xffffff, 0xffff00, 0x00ffff, 0x00ff00,
				  0xff00ff, 0xff0000, 0x0000ff, 0x000000 };

static void vbe_screen(void)
{
	uint64_t fb;
	unsigned int x, y;

	find_vga(&fb);
	outw(0x1ce, 0);
	if (inb(0x1cf) != 0xc5)
		die("vbe", "no Bochs VBE id");
	vbe_set(4, 0);
	vbe_set(1, 640);
	vbe_set(2, 480);
	vbe_set(3, 32);
	vbe_set(4, 0x41);	/* enabled, linear framebuffer */
	for (y = 0; y < 480; y++)
		for (x = 0; x < 640; x++)
			meml(fb + (y * 640 + x) * 4, y < 400 ? bars[x / 80] : (x ^ y) & 8 ? 0xffffff : 0);
}

static void mode13_screen(void)
{
	unsigned int i;

	set_mode3();
	outw(0x3c4, 0x0e04);	/* chain-4, no odd/even */
	outw(0x3c4, 0x0f02);
	outw(0x3ce, 0x4005);	/* 256-colour shift */
	outw(0x3ce, 0x0506);	/* graphics, A0000 64K */
	outw(0x3d4, 0x4109);	/* double scan: 400 lines show 200 */
	outw(0x3d4, 0x2813);
	inb(0x3da);
	outb(0x3c0, 0x10);
	outb(0x3c0, 0x41);	/* graphics, 8-bit colour */
	outb(0x3c0, 0x20);
	outb(0x3c8, 0);
	for (i = 0; i < 256; i++) {
		outb(0x3c9, (i & 0xe0) >> 2);
		outb(0x3c9, (i & 0x1c) << 1);
		outb(0x3c9, (i & 0x03) << 4);
	}
	for (i = 0; i < 320 * 200; i++)
		memb(0xa0000 + i, (i % 320) / 40 * 32 + (i / 320) / 50);
}

static void dump(const char *out)
{
	struct vk_err err = { 0 };
	size_t n = strlen(out);

	if (display_screendump(cfg.display, out, n > 4 && !strcmp(out + n - 4, ".png") ? "png" : "ppm",
			       &err))
		die("screendump", err.msg);
}

static void *loop_thread(void *arg)
{
	evloop_run(vm.loop);
	return NULL;
}

/* Keys and pointer events the guest would get, on stderr, for the keymap tests. */
static void log_key(void *dev, unsigned int code, bool down)
{
	fprintf(stderr, "key %u %d\n", code, down);
}

static void log_rel(void *dev, int dx, int dy, int dz, unsigned int buttons)
{
	fprintf(stderr, "rel %d %d %u\n", dx, dy, buttons);
}

static void log_abs(void *dev, unsigned int x, unsigned int y, unsigned int buttons)
{
	fprintf(stderr, "abs %u %u %u\n", x, y, buttons);
}

static const struct input_handler_ops log_ops = { .key = log_key, .rel = log_rel,
						  .abs = log_abs };

static void serve(const char *what, const char *font, const char *spec)
{
	struct vk_err err = { 0 };
	struct vnc_opts o;
	struct vnc *vnc;
	pthread_t t;
	char line[512];

	if (!strcmp(what, "text"))
		text_screen(font);
	else
		vbe_screen();
	setvbuf(stderr, NULL, _IOLBF, 0);
	/* HARNESS_TABLET=1: an absolute pointer is there too, as with --tablet. */
	if (input_register(&vm, INPUT_KBD | INPUT_REL | (getenv("HARNESS_TABLET") ? INPUT_ABS : 0),
			   &log_ops, &vm, &err))
		die("input", err.msg);
	if (vnc_parse(spec, &o, &err))
		die("vnc", err.msg);
	/* HARNESS_VNC_SANDBOX=off: as vmkit run --sandbox off (test_vnc_sandbox.py). */
	o.sandbox_off = getenv("HARNESS_VNC_SANDBOX") && !strcmp(getenv("HARNESS_VNC_SANDBOX"), "off");
	if (vnc_open(&vnc, cfg.display, &o, &err))
		die("vnc", err.msg);
	/* The device event loop runs the display's refresh timer, as in vmkit run. */
	pthread_create(&t, NULL, loop_thread, NULL);
	printf("ready\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\n")] = 0;
		if (!strncmp(line, "password ", 9)) {
			if (vnc_set_password(vnc, line + 9, &err))
				die("password", err.msg);
		} else if (!strncmp(line, "dump ", 5)) {
			dump(line + 5);
		} else if (!strcmp(line, "vbe")) {
			vbe_screen();
		} else if (!strcmp(line, "quit")) {
			break;
		}
		printf("ok\n");
		fflush(stdout);
	}
	vnc_close(vnc);
	exit(0);
}

int main(int argc, char **argv)
{
	if (argc < 3)
		die("usage", "text FONT OUT | vbe OUT | mode13 OUT | serve text|vbe [FONT] --vnc SPEC");
	build_vm();
	if (!strcmp(argv[1], "text") && argc == 4) {
		text_screen(argv[2]);
		dump(argv[3]);
	} else if (!strcmp(argv[1], "vbe") && argc == 3) {
		vbe_screen();
		dump(argv[2]);
	} else if (!strcmp(argv[1], "mode13") && argc == 3) {
		mode13_screen();
		dump(argv[2]);
	} else if (!strcmp(argv[1], "serve") && argc == 6 && !strcmp(argv[4], "--vnc")) {
		serve(argv[2], argv[3], argv[5]);
	} else {
		die("usage", "unknown command or wrong arguments");
	}
	return 0;
}
